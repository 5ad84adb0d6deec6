/**
 * The browser's StarlingPeer: WebSockets to the relay, WebRTC between browsers (signalled over
 * the relayed circuit), the IndexedDB storage, and no task handler: a person answers.
 *
 * The options exist for the browser benchmark's page (bench/browser/page/main.tsx), which
 * answers tasks itself and decides when to upgrade to WebRTC; the app never passes any.
 */
import { Buffer } from 'buffer'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { coalescing } from '../../core/node/coalesce.js'
import type { AgentProfile } from '../../core/a2a/binding.js'
import { STARLING_VERSION } from '../../core/node/create-node.js'
import type { MeshStore } from '../../core/mesh/store.js'
import { StarlingPeer } from '../../core/peer.js'
import type { PeerStorage } from '../../core/store/types.js'
import type { TaskHandler } from '../../core/tasks/executor.js'
import { peerTail } from '../model/format.js'
import { extraRelays } from '../data/relays.js'
import { RelayChoice } from './relay-info.js'

// @a2a-js/sdk's codecs call globalThis.Buffer.from(...) on file (raw) parts, and browsers have no
// Buffer: without this a task with a file throws in the page. Set here, in the lazily loaded
// network module, so the first screen's download does not carry it.
;(globalThis as { Buffer?: unknown }).Buffer ??= Buffer

/** The profile a browser peer starts with; it names the peer after its PeerID. */
export function defaultProfile (peerId: string): AgentProfile {
  return {
    name: `Browser agent ${peerTail(peerId)}`,
    description: 'A person answering from a browser tab',
    skills: [{ id: 'chat', name: 'chat', description: 'Ask a person anything, in plain text' }]
  }
}

export interface BrowserPeerOptions {
  /** Answers inbound tasks automatically (default: none, a person answers from the inbox). */
  handler?: TaskHandler
  /** Upgrade relayed connections to other browsers to direct WebRTC ones (default: true). */
  directUpgrade?: boolean
  /** Hold tasks from unknown senders under requests (default: true; the benchmark's page answers everyone). */
  askUnknownSenders?: boolean
}

/**
 * `storage.meshes`, when there (openIdbStorage's storage has it), keeps the private meshes across
 * reloads; without it they live in memory only.
 */
export async function createBrowserPeer (storage: PeerStorage & { meshes?: MeshStore }, origin: string, options: BrowserPeerOptions = {}): Promise<StarlingPeer> {
  const relayInfo = new RelayChoice({ origin, extra: () => extraRelays.get() })
  return await StarlingPeer.create({
    storage,
    meshStore: storage.meshes,
    transports: [
      // one WebSocket frame per encrypted message, not two (src/core/node/coalesce.ts)
      coalescing(webSockets()),
      // read at every WebRTC dial and answer: always the ICE servers of the last relay answer
      webRTC({ rtcConfiguration: () => ({ iceServers: relayInfo.iceServers }) })
    ],
    listen: ['/p2p-circuit', '/webrtc'],
    relayAddrs: async ({ signal }) => await relayInfo.relayAddrs({ signal }),
    // a first visit names the agent after its new PeerID
    defaultProfile,
    handler: options.handler,
    // a person answers: a task from a stranger waits under requests until they accept or block it
    askUnknownSenders: options.askUnknownSenders ?? true,
    directUpgrade: options.directUpgrade ?? true,
    // The default gater refuses ws:// and private addresses. This page only ever dials its
    // relays (its own origin's and those the person added) and circuits or WebRTC through them.
    connectionGater: { denyDialMultiaddr: () => false },
    userAgent: `starling-pwa/${STARLING_VERSION}`
  })
}
