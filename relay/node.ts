/**
 * The relay's libp2p node: circuit relay v2 for everyone, TCP for native peers, WebSockets for
 * browsers. Browsers reach the WebSocket listener through the relay's own HTTP port (see
 * ./ws-bridge.ts), so one URL serves the PWA, the API and the mesh.
 */
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { RelayConfig } from './config.js'
import { webSocketsBehindHttp } from './ws-bridge.js'
import type { WebSocketBridge } from './ws-bridge.js'

export type RelayServices = {
  identify: Identify
  ping: Ping
  relay: CircuitRelayService
}

export type RelayNode = Libp2p<RelayServices>

/** Listen address of the internal WebSocket listener; only the HTTP server talks to it. */
const INTERNAL_WS_LISTEN = '/ip4/127.0.0.1/tcp/0/ws'

export interface RelayNodeInit {
  config: RelayConfig
  privateKey: PrivateKey
  /** Multiaddrs to announce for browsers (the HTTP port, as `/ws`), known once HTTP listens. */
  wsAnnounce: string[]
  bridge: WebSocketBridge
}

export async function createRelayNode ({ config, privateKey, wsAnnounce, bridge }: RelayNodeInit): Promise<RelayNode> {
  return await createLibp2p({
    privateKey,
    addresses: {
      listen: [`/ip4/${config.host}/tcp/${config.tcpPort}`, INTERNAL_WS_LISTEN],
      announce: config.announce.length > 0 ? config.announce : undefined,
      appendAnnounce: config.announce.length > 0 ? undefined : wsAnnounce,
      // the internal WebSocket listener is not reachable from outside: never announce it
      announceFilter: (addrs) => addrs.filter(a => !bridge.isInternal(a))
    },
    transports: [tcp(), webSocketsBehindHttp(bridge)],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: config.maxConnections,
      // browsers behind one NAT, and every peer behind a TLS proxy, share an address
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 256
    },
    connectionMonitor: {
      // the ping on every connection is the relay's idle CPU; once a minute still finds dead peers
      pingInterval: 60_000
    },
    services: {
      identify: identify(),
      ping: ping(),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: config.maxReservations,
          reservationTtl: 60 * 60 * 1000,
          // every relayed connection gets these limits; Starling protocols opt in to run on them
          applyDefaultLimit: true,
          defaultDataLimit: BigInt(config.relayDataLimit),
          defaultDurationLimit: config.relayDurationLimit * 1000
        },
        maxInboundHopStreams: 64,
        maxOutboundStopStreams: Math.max(300, config.maxReservations)
      })
    }
  })
}
