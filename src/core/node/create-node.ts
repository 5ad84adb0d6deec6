/**
 * The one libp2p node factory for every Starling peer. The platform injects its transports
 * (WebSockets + WebRTC in the browser, TCP + WebRTC natively) and its peer discovery (mDNS
 * natively); everything above the transports —
 * encryption, multiplexing, relaying, identify, ping — is the same everywhere.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { isPrivate } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { TCP } from '@multiformats/multiaddr-matcher'
import { createLibp2p } from 'libp2p'
import type { Libp2pOptions } from 'libp2p'
import type { Identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p, PrivateKey } from '@libp2p/interface'
import type { ICryptoInterface } from '@libp2p/noise'
import type { Ping } from '@libp2p/ping'
import { LAN_CONNECTION_GATER, lanDiscovery } from './lan-peers.js'
import type { PeerDiscoveryFactory } from './lan-peers.js'
import { SilentPeerReaper, watchedBy } from './silent-peers.js'

/** A transport as libp2p's `transports` option takes it. */
export type TransportFactory = NonNullable<Libp2pOptions['transports']>[number]

export interface StarlingNodeInit {
  privateKey: PrivateKey
  /** The platform's transports; the circuit relay transport is always added. */
  transports: TransportFactory[]
  /** Addresses to listen on, e.g. `/p2p-circuit` (a relay reservation) and `/webrtc`. */
  listen: string[]
  connectionGater?: ConnectionGater
  /** What identify tells other peers this node runs, e.g. `starling-pwa`. */
  userAgent?: string
  /** Noise's crypto, when the platform has a faster one (Node: src/native/fast-x25519.ts). */
  noiseCrypto?: ICryptoInterface
  /** How long a connection may stay silent before it is closed, in ms. */
  silenceTimeoutMs?: number
  /**
   * Finds peers without the relay, e.g. `mdns()` on a LAN (Node only). Only the private direct
   * addresses they give are kept, and such peers are dialled directly (./lan-peers.ts).
   */
  peerDiscovery?: PeerDiscoveryFactory[]
}

export type StarlingServices = {
  identify: Identify
  ping: Ping
  silentPeers: SilentPeerReaper
}

/**
 * How long a connection may bring nothing before it is closed as dead, in ms. yamux on both
 * ends pings every 30 s (and a relay answers); background browser tabs may run timers only once
 * a minute.
 */
export const DEFAULT_SILENCE_TIMEOUT_MS = 120_000

export type StarlingNode = Libp2p<StarlingServices>

/** The version identify reports for a Starling node. */
export const STARLING_VERSION = '0.1.0'

export async function createStarlingNode (init: StarlingNodeInit): Promise<StarlingNode> {
  const reaper = new SilentPeerReaper(init.silenceTimeoutMs ?? DEFAULT_SILENCE_TIMEOUT_MS)
  return await createLibp2p({
    privateKey: init.privateKey,
    nodeInfo: { name: 'starling', version: STARLING_VERSION, userAgent: init.userAgent ?? `starling/${STARLING_VERSION}` },
    addresses: {
      listen: init.listen,
      // a LAN listener (`/ip4/0.0.0.0/tcp/…`) takes connections from private addresses only
      // (./lan-peers.ts): its public addresses are not announced, so nobody tries them
      announceFilter: (addrs) => addrs.filter(a => !TCP.exactMatch(a) || isPrivate(a))
    },
    transports: [
      ...init.transports,
      // reserve a slot on the relay and reach other peers through it; also the signalling
      // channel for WebRTC, which is why the browser can upgrade to a direct connection
      circuitRelayTransport({ reservationCompletionTimeout: 10_000 })
    ],
    peerDiscovery: init.peerDiscovery?.map(discovery => lanDiscovery(discovery)),
    connectionEncrypters: [noise({ crypto: init.noiseCrypto })],
    streamMuxers: [yamux()],
    // a dead relay or peer is found by its silence, not by pinging it: libp2p's connection
    // monitor opens a ping stream every 10 s, which at thousands of peers is most of a relay's
    // CPU (bench relay section); yamux's keep-alive pings, which the relay answers, suffice
    connectionGater: watchedBy(reaper, lanGated(init.connectionGater)),
    connectionMonitor: { enabled: false },
    connectionManager: {
      // a peer talks to its relay and to the handful of agents it has tasks with
      maxConnections: 64
    },
    services: {
      identify: identify(),
      ping: ping(),
      silentPeers: () => reaper
    }
  })
}

/** `gater` with direct TCP connections from public addresses refused (./lan-peers.ts). */
function lanGated (gater: ConnectionGater = {}): ConnectionGater {
  return {
    ...gater,
    denyInboundConnection: async (maConn) =>
      await LAN_CONNECTION_GATER.denyInboundConnection?.(maConn) === true || await gater.denyInboundConnection?.(maConn) === true
  }
}
