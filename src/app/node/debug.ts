/**
 * A read-only debug handle on the running peer, for people with devtools open and for the
 * end-to-end tests (e2e/pwa.spec.ts). It exists only when the page was opened with `?debug` in
 * its URL (e.g. http://127.0.0.1:8080/?debug): then `window.starling` holds
 *
 *   peerId          our PeerID
 *   relayStatus()   the relay link's status (state, relay PeerID, error)
 *   connections()   every open connection: { peerId, kind: 'webrtc' | 'relayed' | 'direct', remoteAddr, relay }
 *
 * It hands out copies of plain data only: nothing on it can change the peer.
 */
import type { PeerConnectionInfo, StarlingPeer } from '../../core/peer.js'
import type { RelayStatus } from '../../core/node/relay-link.js'

export interface StarlingDebugHandle {
  readonly peerId: string
  relayStatus: () => RelayStatus
  connections: () => PeerConnectionInfo[]
}

declare global {
  interface Window {
    /** Only with `?debug` in the page URL; see src/app/node/debug.ts. */
    starling?: StarlingDebugHandle
  }
}

export function debugEnabled (): boolean {
  return new URLSearchParams(window.location.search).has('debug')
}

/** Puts the handle on `window` when debugging is on; returns the function that removes it. */
export function exposeDebugHandle (peer: StarlingPeer): () => void {
  if (!debugEnabled()) return () => {}
  const handle: StarlingDebugHandle = Object.freeze({
    peerId: peer.peerId,
    relayStatus: () => structuredClone(peer.relayStatus),
    connections: () => structuredClone(peer.connections())
  })
  window.starling = handle
  return () => {
    if (window.starling === handle) delete window.starling
  }
}
