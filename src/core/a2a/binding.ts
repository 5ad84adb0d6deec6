/**
 * A2A over libp2p: a custom protocol binding of A2A's JSON-RPC binding (A2A spec §5.8).
 * docs/protocol.md is the normative description; these constants are its numbers.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidInputError } from '../errors.js'
import type { AgentCardJson, AgentInterfaceJson, AgentSkillJson } from './json.js'

/** libp2p protocol id of the binding. One long-lived stream per peer pair carries many calls. */
export const A2A_PROTOCOL = '/starling/a2a/1.0.0'

/** The `protocolBinding` value that names this binding in an agent card's `supportedInterfaces`. */
export const A2A_BINDING_URI = 'urn:starling:a2a-libp2p:1.0'

/** A2A protocol version the binding speaks, sent as the `A2A-Version` service parameter. */
export const A2A_VERSION = '1.0'

/**
 * Largest JSON-RPC message (request or response, its UTF-8 JSON) on an A2A stream, in bytes:
 * 56 MiB. A message carries at most 40 MiB of files (DEFAULT_MAX_PARTS_BYTES in ./parts.ts),
 * 53.3 MiB once base64-encoded, plus its JSON. Messages over 64 KiB travel as fragments
 * interleaved with other calls (docs/protocol.md §1); larger ones are refused, never cut.
 * A receiver also holds at most this much of unfinished messages per stream.
 */
export const DEFAULT_A2A_MAX_MESSAGE_BYTES = 56 * 1024 * 1024

/**
 * The message limit by its older name, which callers pass as `maxFrameBytes`: when every
 * message was one frame, the frame limit was the message limit. No frame on the wire is larger
 * than 4 MiB (DEFAULT_MAX_FRAME_BYTES in ../rpc/frame.ts).
 */
export const DEFAULT_A2A_MAX_FRAME_BYTES = DEFAULT_A2A_MAX_MESSAGE_BYTES

/** The interface URL of an agent reachable over the binding: `libp2p://<PeerID>`. */
export function interfaceUrl (peerId: string): string {
  return `libp2p://${peerId}`
}

/** The PeerID named by a `libp2p://<PeerID>` interface URL. */
export function peerIdFromInterfaceUrl (url: string): string {
  const match = /^libp2p:\/\/([1-9A-HJ-NP-Za-km-z]+)\/?$/.exec(url)
  if (match?.[1] == null) throw new InvalidInputError(`not a libp2p interface URL: ${url}`)
  try {
    return peerIdFromString(match[1]).toString()
  } catch (err) {
    throw new InvalidInputError(`not a PeerID in ${url}`, { cause: err })
  }
}

/** Whether `value` parses as a libp2p PeerID. */
export function isPeerId (value: string): boolean {
  try {
    peerIdFromString(value)
    return true
  } catch {
    return false
  }
}

/**
 * The A2A extension (`capabilities.extensions[].uri`) by which an agent's signed card says it
 * may be tasked over HTTP through its relay's A2A bridge (relay/bridge/, docs/protocol.md). A
 * relay bridges only agents whose current card declares it: the choice is the agent's own.
 */
export const HTTP_BRIDGE_EXTENSION_URI = 'https://starling.dev/ext/http-bridge/v1'

/** What a person or a config file says about an agent; the card is derived from it. */
export interface AgentProfile {
  name: string
  description: string
  skills: SkillSpec[]
  /** Reachable over HTTP through the relay's A2A bridge (off unless true). */
  bridge?: boolean
}

export interface SkillSpec {
  id: string
  name?: string
  description?: string
  tags?: string[]
}

/** The `supportedInterfaces` entry that reaches `peerId` over this binding. */
export function bindingInterface (peerId: string): AgentInterfaceJson {
  return { url: interfaceUrl(peerId), protocolBinding: A2A_BINDING_URI, protocolVersion: A2A_VERSION }
}

/** Builds the A2A v1.0 agent card of a Starling peer from its profile. */
export function buildAgentCard (peerId: string, profile: AgentProfile): AgentCardJson {
  return {
    name: profile.name,
    description: profile.description,
    supportedInterfaces: [bindingInterface(peerId)],
    version: '1.0.0',
    capabilities: {
      streaming: true,
      pushNotifications: true,
      extendedAgentCard: false,
      ...(profile.bridge === true ? { extensions: [bridgeExtension()] } : {})
    },
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: profile.skills.map(toSkill)
  }
}

function bridgeExtension (): { uri: string, description: string, required: boolean } {
  return {
    uri: HTTP_BRIDGE_EXTENSION_URI,
    description: 'This agent may be tasked over HTTP (A2A JSON-RPC) through its relay\'s bridge at <relay>/a2a/<PeerID>',
    required: false
  }
}

/** Whether an agent card declares the HTTP bridge extension (its agent opted in). */
export function allowsHttpBridge (card: { capabilities?: { extensions?: unknown[] } }): boolean {
  return card.capabilities?.extensions?.some(e => (e as { uri?: unknown } | null)?.uri === HTTP_BRIDGE_EXTENSION_URI) === true
}

function toSkill (spec: SkillSpec): AgentSkillJson {
  return {
    id: spec.id,
    name: spec.name ?? spec.id,
    description: spec.description ?? '',
    tags: spec.tags ?? []
  }
}

/** Skill ids from a comma-separated list (`--skills a,b`): trimmed, non-empty, unique. */
export function parseSkillList (list: string): SkillSpec[] {
  const ids = [...new Set(list.split(',').map(s => s.trim()).filter(s => s.length > 0))]
  return ids.map(id => ({ id }))
}
