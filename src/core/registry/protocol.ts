/**
 * The skill registry protocol (v1): JSON-RPC 2.0 on a Starling stream to a relay.
 * See docs/protocol.md §Registry. The relay serves it (relay/registry); peers use ./client.ts.
 */
import type { AgentCardJson } from '../a2a/json.js'

export const REGISTRY_PROTOCOL = '/starling/registry/1.0.0'

/** Largest registry frame, in bytes: 256 KiB (a card is at most 64 KiB, a page of results more). */
export const REGISTRY_MAX_FRAME_BYTES = 256 * 1024

export const RegistryMethod = {
  /** Publish or renew the caller's own card. */
  Publish: 'registry.publish',
  /** Remove the caller's own entry. */
  Remove: 'registry.remove',
  /** Find agents by skill id and tags. */
  Discover: 'registry.discover'
} as const

export interface PublishParams {
  card: AgentCardJson
  /** How long the entry lives without renewal, in seconds (the relay clamps it). */
  ttlSeconds?: number
  /**
   * The card sealed as the publisher's signed agent record (./agent-record.ts), base64: a relay
   * that checks it hands it out with the entry, so anyone can verify the card's publisher.
   */
  record?: string
}

export interface PublishResult {
  /** ISO 8601 time the entry lapses unless renewed. */
  expiresAt: string
  ttlSeconds: number
}

export interface RemoveResult {
  removed: boolean
}

export interface DiscoverParams {
  /** Only agents with a skill of this id. */
  skill?: string
  /** Only agents whose matching skill carries all of these tags (any skill when `skill` is unset). */
  tags?: string[]
  /** Free text: every word must start a word of the agent's name, description or skill names. */
  text?: string
  /** At most this many entries (the relay caps it). */
  limit?: number
  /** The `next` of the previous page: asks for the following one. */
  after?: string
  /** Ask for a stable order and a `next` cursor (implied by `after`). */
  paged?: boolean
}

/** One agent as the registry describes it. */
export interface AgentEntry {
  peerId: string
  card: AgentCardJson
  /** Multiaddrs the agent can be reached at through the relay. */
  addresses: string[]
  /** ISO 8601 time the entry lapses unless renewed. */
  expiresAt: string
  /** Whether the agent is connected to the relay right now. */
  online: boolean
  /** The publisher's signed agent record, base64, when it sent one. */
  record?: string
}

export interface DiscoverResult {
  agents: AgentEntry[]
  /** Where the next page starts (paged discovers only); absent on the last page. */
  next?: string
}

/** Whether `value` looks like a DiscoverResult (a relay's answer is checked before use). */
export function isDiscoverResult (value: unknown): value is DiscoverResult {
  if (typeof value !== 'object' || value === null) return false
  const agents = (value as { agents?: unknown }).agents
  return Array.isArray(agents) && agents.every(a =>
    typeof a === 'object' && a !== null &&
    typeof (a as AgentEntry).peerId === 'string' &&
    typeof (a as AgentEntry).card === 'object' && (a as AgentEntry).card !== null &&
    typeof (a as AgentEntry).card.name === 'string' &&
    Array.isArray((a as AgentEntry).card.skills) &&
    Array.isArray((a as AgentEntry).addresses)
  )
}
