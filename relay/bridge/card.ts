/**
 * The agent card the bridge serves for a mesh agent: the card the agent published (signed, in
 * the relay's registry) with HTTP interfaces in front, so an ordinary A2A client picks JSON-RPC
 * over HTTP at `<relay>/a2a/<PeerID>`, and the agent's own libp2p interface after them.
 */
import { A2A_BINDING_URI, allowsHttpBridge } from '../../src/core/a2a/binding.js'
import type { AgentCardJson } from '../../src/core/a2a/json.js'

/** The A2A version the bridge speaks to HTTP callers by default. */
export const BRIDGE_A2A_VERSION = '1.0'

/** The older version the SDK's compatibility layer answers (a request without `A2A-Version`). */
export const BRIDGE_LEGACY_A2A_VERSION = '0.3'

/** Path prefix of the bridge on the relay's HTTP port. */
export const BRIDGE_PATH = '/a2a'

/** Where an HTTP client sends JSON-RPC calls for `peerId`, given the relay's public origin. */
export function bridgeUrl (origin: string, peerId: string): string {
  return `${origin}${BRIDGE_PATH}/${peerId}`
}

/** Where the bridged card of `peerId` is served. */
export function bridgeCardUrl (origin: string, peerId: string): string {
  return `${bridgeUrl(origin, peerId)}/.well-known/agent-card.json`
}

/** Whether the bridge may serve this card: its agent declared the HTTP bridge extension. */
export const bridgeAllowed = allowsHttpBridge

/**
 * The card served over HTTP. Push notifications are turned off: the agent would push to the
 * relay (the caller it sees), and HTTP callers cannot receive libp2p pushes.
 */
export function bridgedCard (card: AgentCardJson, url: string): AgentCardJson {
  return {
    ...card,
    supportedInterfaces: [
      { url, protocolBinding: 'JSONRPC', protocolVersion: BRIDGE_A2A_VERSION },
      // the SDK's v0.3 compatibility layer answers only when the card lists a 0.3 interface
      { url, protocolBinding: 'JSONRPC', protocolVersion: BRIDGE_LEGACY_A2A_VERSION },
      ...card.supportedInterfaces.filter(i => i.protocolBinding === A2A_BINDING_URI)
    ],
    capabilities: { ...card.capabilities, pushNotifications: false }
  }
}
