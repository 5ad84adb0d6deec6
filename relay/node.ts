/**
 * The relay's libp2p node: circuit relay v2 for everyone, TCP for native peers, WebSockets for
 * browsers. Browsers reach the WebSocket listener through the relay's own HTTP port (see
 * ./ws-bridge.ts), so one URL serves the PWA, the API and the mesh.
 *
 * Tuned for thousands of mostly idle peers. Measured with `npm run bench -- --only relay` on a
 * 2-core machine, where opening a ping stream costs the relay ~1 ms of CPU: the relay as it was
 * (libp2p's defaults but a 60 s connection monitor) held a reservation for ~53 KiB and 3156 of
 * them cost 13 % of a core while idle; now ~30 KiB, and 5000 cost ~7 %.
 * - The relay sends nothing on an idle connection. libp2p's connection monitor opens a ping
 *   stream to every peer at once, each interval: ~8 % of a core at 5000 peers once a minute, in
 *   one burst that stalls relayed traffic for seconds; and yamux pinged every peer every 30 s.
 *   js-libp2p and go-libp2p peers keep their connection alive themselves (yamux pings every
 *   30 s): the relay answers those, and closes a connection silent for `idleTimeout`
 *   (SilentPeerReaper). What remains of its idle CPU is answering them.
 * - It does not identify its peers (they identify the relay, which is what they need to
 *   reserve): nothing on the relay reads their addresses or protocols, and it saves a stream, a
 *   signed record check and most of a peer store entry per connection.
 * - libp2p's per-connection and per-stream loggers are skipped unless DEBUG is set.
 * - Small Buffers come from 512-byte slabs, not Node's 8 KiB ones: a connection's few long-lived
 *   small buffers (its address, its peer's key) each held a whole slab, ~5 KiB per connection.
 * - Listing all connections is linear (libp2p's own concatenates arrays, quadratic in
 *   connections, and runs twice for every new connection: ~12 ms each at 5000 peers).
 * - Noise's X25519 keeps the key objects it makes (fastX25519): a handshake costs the relay
 *   ~0.2 ms of key agreement instead of ~1.5 ms, which a crowd reconnecting after a restart
 *   waits on. With the linear listing, setting up a reservation costs the relay ~6–8 ms of CPU
 *   instead of ~21 ms.
 */
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import type { Libp2pOptions } from 'libp2p'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { Identify } from '@libp2p/identify'
import type { Connection, ConnectionGater, Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import { coalescing } from '../src/core/node/coalesce.js'
import { silentLogger } from '../src/core/node/silent-logger.js'
import { SilentPeerReaper, watchedBy } from '../src/core/node/silent-peers.js'
import { fastX25519 } from '../src/native/fast-x25519.js'
import { CircuitLimits } from './circuit-limits.js'
import type { ConnectionSource } from './circuit-limits.js'
import type { RelayConfig } from './config.js'
import { ConnectionsPerIp } from './ip-limits.js'
import { webSocketsBehindHttp } from './ws-bridge.js'
import type { WebSocketBridge } from './ws-bridge.js'

export type RelayServices = {
  identify: Identify
  ping: Ping
  relay: CircuitRelayService
  silentPeers: SilentPeerReaper
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
  /** libp2p's metrics implementation (relay/metrics.ts); none when absent. */
  metrics?: Libp2pOptions['metrics']
  /**
   * Private mode (relay/mesh/service.ts): who may reserve and be relayed. Asked before the
   * circuit caps, so a refused circuit is never counted. Absent: anyone (open mode).
   */
  access?: Required<Pick<ConnectionGater, 'denyInboundRelayReservation' | 'denyOutboundRelayedConnection'>>
}

/** The part of libp2p's connection manager that `linearConnectionList` replaces. */
interface ConnectionLister {
  getConnections: (peerId?: PeerId) => Connection[]
  getConnectionsMap: () => { values: () => Iterable<Connection[]> }
}

/**
 * A service that makes the connection manager list all connections in linear time. libp2p
 * 3.3's `getConnections()` concatenates one array per peer onto a growing copy, and both the
 * inbound connection check and the connection pruner call it for every new connection.
 */
function linearConnectionList () {
  return (components: { connectionManager: ConnectionLister }): object => {
    const manager = components.connectionManager
    const byPeer = manager.getConnectionsMap()
    const forPeer = manager.getConnections.bind(manager)
    manager.getConnections = (peerId?: PeerId): Connection[] => {
      if (peerId != null) return forPeer(peerId)
      const all: Connection[] = []
      for (const list of byPeer.values()) for (const connection of list) all.push(connection)
      return all
    }
    return {}
  }
}

/** Hop and stop streams a connection may have open beyond its peer's circuits. */
const HOP_STREAM_HEADROOM = 4

/** The circuit relay service, with `limits` given the connection manager it counts circuits on. */
function countingCircuits<C extends { connectionManager: ConnectionSource }, S> (limits: CircuitLimits, factory: (components: C) => S): (components: C) => S {
  return (components) => {
    limits.bind(components.connectionManager)
    return factory(components)
  }
}

/** The circuit caps' gater, behind the private mode's membership checks when there are any. */
function relayGater (circuits: CircuitLimits, access: RelayNodeInit['access']): ConnectionGater {
  if (access == null) return circuits.gater()
  return {
    denyInboundRelayReservation: access.denyInboundRelayReservation,
    denyOutboundRelayedConnection: async (source, destination) =>
      (await access.denyOutboundRelayedConnection(source, destination)) || circuits.denyOutboundRelayedConnection(source, destination)
  }
}

export async function createRelayNode ({ config, privateKey, wsAnnounce, bridge, metrics, access }: RelayNodeInit): Promise<RelayNode> {
  // Node carves Buffers under half its pool size out of shared slabs; one long-lived slice keeps
  // its whole slab. With 8 KiB slabs a connection's few long-lived small buffers held ~6 KiB;
  // 512-byte slabs keep the tiny per-message buffers (length prefixes, frame headers) pooled,
  // so relayed traffic costs no more CPU (measured; with no pool at all it cost ~10 % more).
  // Process-wide, and the relay is the process.
  Buffer.poolSize = 512
  const reaper = new SilentPeerReaper(config.idleTimeout * 1000)
  const perIp = new ConnectionsPerIp(config.maxConnectionsPerIp)
  const circuits = new CircuitLimits({ maxCircuits: config.maxCircuits, maxCircuitsPerPeer: config.maxCircuitsPerPeer })
  return await createLibp2p({
    privateKey,
    metrics,
    logger: process.env.DEBUG == null || process.env.DEBUG === '' ? silentLogger() : undefined,
    addresses: {
      listen: [`/ip4/${config.host}/tcp/${config.tcpPort}`, INTERNAL_WS_LISTEN],
      announce: config.announce.length > 0 ? config.announce : undefined,
      appendAnnounce: config.announce.length > 0 ? undefined : wsAnnounce,
      // the internal WebSocket listener is not reachable from outside: never announce it
      announceFilter: (addrs) => addrs.filter(a => !bridge.isInternal(a))
    },
    // one write per encrypted message (src/core/node/coalesce.ts): answering a peer's keep-alive
    // ping is the relay's main idle work, and half of it was the second syscall
    transports: [coalescing(tcp()), coalescing(webSocketsBehindHttp(bridge))],
    connectionEncrypters: [noise({ crypto: fastX25519() })],
    // peers ping the relay every 30 s; the relay answers and sends no pings of its own
    streamMuxers: [yamux({ enableKeepAlive: false })],
    // every connection is watched for silence (SilentPeerReaper): the relay pings no one
    // every connection is capped per IP address, every circuit counted (./ip-limits.ts, ./circuit-limits.ts)
    // in private mode, reservations and circuits are for members only (relay/mesh/service.ts)
    connectionGater: watchedBy(reaper, { ...perIp.gater(), ...relayGater(circuits, access) }),
    connectionManager: {
      maxConnections: config.maxConnections,
      // browsers behind one NAT, and every peer behind a TLS proxy, share an address
      inboundConnectionThreshold: config.newConnectionsPerHost,
      maxIncomingPendingConnections: 256
    },
    // dead peers are found by their silence (SilentPeerReaper), not by pinging everyone
    connectionMonitor: { enabled: false },
    services: {
      connectionList: linearConnectionList(),
      silentPeers: () => reaper,
      // peers identify the relay to learn it relays; the relay has no use for their details
      identify: identify({ runOnConnectionOpen: false }),
      ping: ping(),
      relay: countingCircuits(circuits, circuitRelayServer({
        reservations: {
          maxReservations: config.maxReservations,
          reservationTtl: 60 * 60 * 1000,
          // every relayed connection gets these limits; Starling protocols opt in to run on them
          applyDefaultLimit: true,
          defaultDataLimit: BigInt(config.relayDataLimit),
          defaultDurationLimit: config.relayDurationLimit * 1000
        },
        // a circuit holds its caller's hop stream and its callee's stop stream open; the gater
        // refuses a peer's circuits past its cap with PERMISSION_DENIED; these stream caps only
        // stop what gets past it (reservation renewals, refused requests on their way out)
        maxInboundHopStreams: config.maxCircuitsPerPeer + HOP_STREAM_HEADROOM,
        maxOutboundStopStreams: config.maxCircuitsPerPeer + HOP_STREAM_HEADROOM
      }))
    }
  })
}
