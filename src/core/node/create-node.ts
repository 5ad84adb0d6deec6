/**
 * The one libp2p node factory for every Starling peer. The platform injects its transports
 * (WebSockets + WebRTC in the browser, TCP natively); everything above the transports —
 * encryption, multiplexing, relaying, identify, ping — is the same everywhere.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import type { Libp2pOptions } from 'libp2p'
import type { Identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p, PrivateKey } from '@libp2p/interface'
import type { ICryptoInterface } from '@libp2p/noise'
import type { Ping } from '@libp2p/ping'
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
    addresses: { listen: init.listen },
    transports: [
      ...init.transports,
      // reserve a slot on the relay and reach other peers through it; also the signalling
      // channel for WebRTC, which is why the browser can upgrade to a direct connection
      circuitRelayTransport({ reservationCompletionTimeout: 10_000 })
    ],
    connectionEncrypters: [noise({ crypto: init.noiseCrypto })],
    streamMuxers: [yamux()],
    // a dead relay or peer is found by its silence, not by pinging it: libp2p's connection
    // monitor opens a ping stream every 10 s, which at thousands of peers is most of a relay's
    // CPU (bench relay section); yamux's keep-alive pings, which the relay answers, suffice
    connectionGater: watchedBy(reaper, init.connectionGater),
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
