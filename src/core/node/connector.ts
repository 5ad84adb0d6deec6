/**
 * Reaches other peers and keeps one RPC stream per (peer, protocol), on the best connection
 * there is: a direct one (WebRTC) when it exists, else a circuit through our relay. When a
 * direct connection appears, new calls move to a stream on it and the relayed stream closes
 * once its calls are done.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { InvalidInputError, PeerUnreachableError } from '../errors.js'
import { RpcClient } from '../rpc/client.js'
import type { RpcClientInit } from '../rpc/client.js'
import type { RelayLink } from './relay-link.js'

const log = logger('starling:connector')

/** Time allowed to reach a peer through the relay, in ms. */
export const DEFAULT_PEER_DIAL_TIMEOUT_MS = 15_000

/** Parsed PeerIDs kept for reuse (the set is dropped and rebuilt past this). */
const MAX_CACHED_PEER_IDS = 1024

/** How long an RPC stream with nothing in flight stays open, in ms. */
export const DEFAULT_STREAM_IDLE_MS = 60_000

export interface ConnectorInit {
  node: Libp2p
  relay: RelayLink
  dialTimeoutMs?: number
}

export interface RpcStreamOptions extends Omit<RpcClientInit, 'idleTimeout'> {
  protocol: string
  signal?: AbortSignal
  idleTimeoutMs?: number
}

export class PeerConnector {
  private readonly node: Libp2p
  private readonly relay: RelayLink
  private readonly dialTimeoutMs: number
  private readonly clients = new Map<string, RpcClient>()
  private readonly opening = new Map<string, Promise<RpcClient>>()
  private readonly dialing = new Map<string, Promise<Connection>>()
  /** Parsed PeerIDs of the peers we talk to: parsing one decodes base58 and a multihash. */
  private readonly peerIds = new Map<string, PeerId>()

  constructor (init: ConnectorInit) {
    this.node = init.node
    this.relay = init.relay
    this.dialTimeoutMs = init.dialTimeoutMs ?? DEFAULT_PEER_DIAL_TIMEOUT_MS
  }

  /** An open connection to `peerId`, the best one we have, or a new one through the relay. */
  async connection (peerId: string, options: { signal?: AbortSignal } = {}): Promise<Connection> {
    const existing = this.best(peerId)
    if (existing != null) return existing
    let pending = this.dialing.get(peerId)
    if (pending == null) {
      pending = this.dial(peerId, options.signal).finally(() => this.dialing.delete(peerId))
      this.dialing.set(peerId, pending)
    }
    return await pending
  }

  /** The shared RPC stream to `peerId` for `options.protocol`. */
  async rpc (peerId: string, options: RpcStreamOptions): Promise<RpcClient> {
    const key = `${peerId} ${options.protocol}`
    const current = this.clients.get(key)
    if (current?.isOpen === true && !this.hasBetterConnection(peerId, current)) return current

    let pending = this.opening.get(key)
    if (pending == null) {
      pending = this.open(peerId, key, options).finally(() => this.opening.delete(key))
      this.opening.set(key, pending)
    }
    return await pending
  }

  /** Closes every stream this connector opened. */
  async close (): Promise<void> {
    const clients = [...this.clients.values()]
    this.clients.clear()
    await Promise.all(clients.map(async c => { await c.close() }))
  }

  private async open (peerId: string, key: string, options: RpcStreamOptions): Promise<RpcClient> {
    const connection = await this.connection(peerId, { signal: options.signal })
    const stream = await connection.newStream(options.protocol, {
      // Starling protocols must work before (and without) a direct connection
      runOnLimitedConnection: true,
      signal: options.signal
    })
    const client = new RpcClient(stream, {
      ...options,
      idleTimeout: options.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_MS
    })
    const previous = this.clients.get(key)
    this.clients.set(key, client)
    client.onClose(() => {
      if (this.clients.get(key) === client) this.clients.delete(key)
    })
    // a stream replaced by one on a better connection finishes its calls, then goes
    if (previous != null && previous !== client && previous.inFlight === 0) void previous.close()
    log('opened %s to %s over %s', options.protocol, peerId, connection.remoteAddr.toString())
    return client
  }

  private peer (peerId: string): PeerId {
    let id = this.peerIds.get(peerId)
    if (id == null) {
      try {
        id = peerIdFromString(peerId)
      } catch (err) {
        throw new InvalidInputError(`not a PeerID: ${peerId}`, { cause: err })
      }
      if (this.peerIds.size >= MAX_CACHED_PEER_IDS) this.peerIds.clear()
      this.peerIds.set(peerId, id)
    }
    return id
  }

  private best (peerId: string): Connection | undefined {
    let fallback: Connection | undefined
    for (const c of this.node.getConnections(this.peer(peerId))) {
      if (c.status !== 'open') continue
      if (c.limits == null) return c
      fallback ??= c
    }
    return fallback
  }

  /** Whether `client` runs on a relayed connection while a direct one to the peer exists. */
  private hasBetterConnection (peerId: string, client: RpcClient): boolean {
    const best = this.best(peerId)
    if (best == null || best.limits != null) return false
    return !best.streams.includes(client.stream)
  }

  private async dial (peerId: string, signal?: AbortSignal): Promise<Connection> {
    const relay = this.relay.relayAddress()
    const relayId = this.relay.status.relayPeerId
    const target = relayId === peerId ? relay : relay.encapsulate(`/p2p-circuit/p2p/${peerId}`)
    try {
      return await this.node.dial(target, {
        signal: AbortSignal.any([AbortSignal.timeout(this.dialTimeoutMs), ...(signal != null ? [signal] : [])])
      })
    } catch (err) {
      throw new PeerUnreachableError(peerId, { cause: err })
    }
  }
}
