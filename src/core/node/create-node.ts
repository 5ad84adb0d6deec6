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
import type { Ping } from '@libp2p/ping'

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
}

export type StarlingServices = {
  identify: Identify
  ping: Ping
}

export type StarlingNode = Libp2p<StarlingServices>

/** The version identify reports for a Starling node. */
export const STARLING_VERSION = '0.1.0'

export async function createStarlingNode (init: StarlingNodeInit): Promise<StarlingNode> {
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
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: init.connectionGater,
    connectionManager: {
      // a peer talks to its relay and to the handful of agents it has tasks with
      maxConnections: 64
    },
    services: {
      identify: identify(),
      ping: ping()
    }
  })
}
