/**
 * Reaches other peers and keeps one RPC stream per (peer, protocol), on the best connection
 * there is: a direct one (WebRTC) when it exists, else a circuit through our relay. When a
 * direct connection appears, new calls move to a stream on it and the relayed stream closes
 * once its calls are done.
 *
 * Relayed connections are limited in data and time by their relay (../rpc/allowance.ts). A
 * request that does not fit what remains of its circuit is never started on it: it goes over a
 * direct connection if there is one, else over a fresh circuit if a fresh one can hold it, else
 * it waits (bounded) for a direct connection where one may come, else it fails with
 * TooLargeForRelayError, which says why, so the caller can try again later. A circuit down to its
 * reserve, or one the remote could not answer on, is not used for new calls.
 *
 * A peer found on the local network (./lan-peers.ts) is dialled directly at the addresses it
 * announced there, before (or, with no relay, instead of) the relay: on a LAN that connection
 * has no relay limits and does not depend on the relay being up.
 */
import { logger } from '@libp2p/logger'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { errorMessage, InvalidInputError, PeerUnreachableError, toError, TooLargeForRelayError } from '../errors.js'
import { allowanceFor, TransferAllowance } from '../rpc/allowance.js'
import { RpcClient } from '../rpc/client.js'
import type { RpcClientInit } from '../rpc/client.js'
import { WEBRTC_SIGNALING_PROTOCOL } from './direct-upgrade.js'
import { lanAddrs } from './lan-peers.js'
import type { RelayLink } from './relay-link.js'

const log = logger('starling:connector')

/** Time allowed to reach a peer through the relay, in ms. */
export const DEFAULT_PEER_DIAL_TIMEOUT_MS = 15_000

/**
 * Time allowed to reach a peer found on the LAN at its own addresses, in ms: a TCP handshake on
 * a LAN takes milliseconds, and past this the relay is tried.
 */
export const DEFAULT_LAN_DIAL_TIMEOUT_MS = 3_000

/** Parsed PeerIDs kept for reuse (the set is dropped and rebuilt past this). */
const MAX_CACHED_PEER_IDS = 1024

/** How long an RPC stream with nothing in flight stays open, in ms. */
export const DEFAULT_STREAM_IDLE_MS = 60_000

/**
 * How long a message too large for the relay waits for a direct connection to the peer, in ms,
 * when one may come (both ends do WebRTC): browsers usually have one within a second of the
 * circuit. Without one by then, it goes over a fresh circuit or fails.
 */
export const DEFAULT_DIRECT_WAIT_MS = 10_000

export interface ConnectorInit {
  node: Libp2p
  relay: RelayLink
  dialTimeoutMs?: number
  lanDialTimeoutMs?: number
  directWaitMs?: number
}

export interface RpcStreamOptions extends Omit<RpcClientInit, 'idleTimeout' | 'allowance' | 'reroute'> {
  protocol: string
  signal?: AbortSignal
  idleTimeoutMs?: number
}

export class PeerConnector {
  private readonly node: Libp2p
  private readonly relay: RelayLink
  private readonly dialTimeoutMs: number
  private readonly lanDialTimeoutMs: number
  private readonly directWaitMs: number
  private readonly clients = new Map<string, RpcClient>()
  private readonly opening = new Map<string, Promise<RpcClient>>()
  private readonly dialing = new Map<string, Promise<Connection>>()
  /** Parsed PeerIDs of the peers we talk to: parsing one decodes base58 and a multihash. */
  private readonly peerIds = new Map<string, PeerId>()
  /** The data allowance of a fresh circuit through our relay, as last seen on a new one. */
  private circuitBytes?: number
  /** The time a fresh circuit has, in seconds, likewise. */
  private circuitSeconds?: number

  constructor (init: ConnectorInit) {
    this.node = init.node
    this.relay = init.relay
    this.dialTimeoutMs = init.dialTimeoutMs ?? DEFAULT_PEER_DIAL_TIMEOUT_MS
    this.lanDialTimeoutMs = init.lanDialTimeoutMs ?? DEFAULT_LAN_DIAL_TIMEOUT_MS
    this.directWaitMs = init.directWaitMs ?? DEFAULT_DIRECT_WAIT_MS
    // a limited connection's allowance is taken when it opens, before anything but the
    // handshake used it: that is how much a fresh circuit holds
    this.node.addEventListener('connection:open', this.onConnectionOpen)
  }

  /** An open connection to `peerId`, the best one we have, or a new one through the relay. */
  async connection (peerId: string, options: { signal?: AbortSignal } = {}): Promise<Connection> {
    const existing = this.best(peerId)
    if (existing != null) return existing
    // what is open is relayed and spent: a new circuit, not the same one again
    const fresh = this.node.getConnections(this.peer(peerId)).some(c => c.status === 'open')
    let pending = this.dialing.get(peerId)
    if (pending == null) {
      pending = this.dial(peerId, options.signal, fresh).finally(() => this.dialing.delete(peerId))
      this.dialing.set(peerId, pending)
    }
    return await pending
  }

  /** The shared RPC stream to `peerId` for `options.protocol`. */
  async rpc (peerId: string, options: RpcStreamOptions): Promise<RpcClient> {
    const key = `${peerId} ${options.protocol}`
    const current = this.clients.get(key)
    if (current?.isOpen === true && current.allowance?.exhausted !== true && !this.hasBetterConnection(peerId, current)) return current

    let pending = this.opening.get(key)
    if (pending == null) {
      pending = this.openOnBest(peerId, key, options).finally(() => this.opening.delete(key))
      this.opening.set(key, pending)
    }
    return await pending
  }

  /**
   * Opens the stream on the best connection to `peerId`. A direct WebRTC connection that cannot
   * open a stream (its data channel fails; seen under load in Chromium, and it stays "open" to
   * libp2p) is of no use to anyone: it is closed, and the stream goes on the next best path — the
   * circuit — instead of every retry failing on it until ICE gives up.
   */
  private async openOnBest (peerId: string, key: string, options: RpcStreamOptions): Promise<RpcClient> {
    const connection = await this.connection(peerId, { signal: options.signal })
    try {
      return await this.open(peerId, key, options, connection)
    } catch (err) {
      if (options.signal?.aborted === true || !WebRTC.matches(connection.remoteAddr) || isProtocolRefusal(err)) throw toError(err)
      log('opening %s to %s over WebRTC failed, closing that connection - %s', options.protocol, peerId, errorMessage(err))
      connection.abort(toError(err))
      return await this.open(peerId, key, options, await this.connection(peerId, { signal: options.signal }))
    }
  }

  /** Closes every stream this connector opened. */
  async close (): Promise<void> {
    this.node.removeEventListener('connection:open', this.onConnectionOpen)
    const clients = [...this.clients.values()]
    this.clients.clear()
    await Promise.all(clients.map(async c => { await c.close() }))
  }

  private readonly onConnectionOpen = (evt: CustomEvent<Connection>): void => {
    const allowance = allowanceFor(evt.detail)
    if (allowance == null) return
    this.circuitBytes = allowance.initialBytes
    this.circuitSeconds = allowance.initialSeconds
  }

  /** Whether `bytes` would fit a fresh circuit, as far as we know what one holds. */
  private fitsFreshCircuit (bytes: number): boolean {
    if (this.circuitBytes == null && this.circuitSeconds == null) return true
    const fresh = new TransferAllowance({
      bytes: this.circuitBytes == null ? undefined : BigInt(this.circuitBytes),
      seconds: this.circuitSeconds
    })
    return fresh.shortfall(bytes) == null
  }

  private async open (peerId: string, key: string, options: RpcStreamOptions, connection: Connection): Promise<RpcClient> {
    const stream = await connection.newStream(options.protocol, {
      // Starling protocols must work before (and without) a direct connection
      runOnLimitedConnection: true,
      signal: options.signal
    })
    const allowance = allowanceFor(connection)
    const client = new RpcClient(stream, {
      ...options,
      idleTimeout: options.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_MS,
      allowance,
      reroute: allowance == null
        ? undefined
        : async (bytes, { signal }) => await this.reroute(peerId, key, { ...options, signal }, bytes)
    })
    const previous = this.clients.get(key)
    this.clients.set(key, client)
    client.onClose(() => {
      if (this.clients.get(key) === client) this.clients.delete(key)
    })
    if (allowance != null) stream.addEventListener('close', () => { this.closeIfSpent(connection) }, { once: true })
    // a stream replaced by one on a better connection finishes its calls, then goes
    if (previous != null && previous !== client && previous.inFlight === 0) void previous.close()
    log('opened %s to %s over %s', options.protocol, peerId, connection.remoteAddr.toString())
    return client
  }

  /**
   * Closes a spent circuit (down to its reserve, or one the remote could not answer on) once no
   * stream runs on it any more: its relay would keep it open, and count it against both peers'
   * connection limits, until its time limit.
   */
  private closeIfSpent (connection: Connection): void {
    if (connection.status !== 'open' || allowanceFor(connection)?.exhausted !== true) return
    if (connection.streams.some(s => s.status === 'open')) return
    log('closing a spent circuit to %p', connection.remotePeer)
    void connection.close().catch((err: unknown) => { log('closing a spent circuit failed - %e', err) })
  }

  /**
   * A client for a request of `bytes` that does not fit the circuit its stream runs on: on a
   * connection where it fits, found, awaited or dialled; else TooLargeForRelayError.
   */
  private async reroute (peerId: string, key: string, options: RpcStreamOptions, bytes: number): Promise<RpcClient> {
    const { signal } = options
    const fitting = this.fitting(peerId, bytes)
    if (fitting != null) return await this.clientOn(peerId, key, options, fitting)

    if (await this.mayGoDirect(peerId)) {
      log('%d bytes for %s wait up to %d ms for a direct connection', bytes, peerId, this.directWaitMs)
      const direct = await this.untilDirect(peerId, signal)
      if (direct != null) return await this.clientOn(peerId, key, options, direct)
    }

    if (this.fitsFreshCircuit(bytes)) {
      log('%d bytes for %s go over a fresh circuit', bytes, peerId)
      // calls that overflow at the same moment share one new circuit
      let pending = this.dialing.get(`${peerId} fresh`)
      if (pending == null) {
        pending = this.dial(peerId, signal, true).finally(() => this.dialing.delete(`${peerId} fresh`))
        this.dialing.set(`${peerId} fresh`, pending)
      }
      const fresh = await pending
      if (allowanceFor(fresh)?.shortfall(bytes) == null) return await this.clientOn(peerId, key, options, fresh)
    }

    signal?.throwIfAborted()
    throw this.tooLarge(peerId, bytes)
  }

  /** Why `bytes` cannot go to `peerId`, in the terms of the circuit that came closest. */
  private tooLarge (peerId: string, bytes: number): TooLargeForRelayError {
    let closest: { limit: 'data' | 'duration', remaining: number } | undefined
    for (const c of this.node.getConnections(this.peer(peerId))) {
      const shortfall = c.status === 'open' ? allowanceFor(c)?.shortfall(bytes) : undefined
      if (shortfall != null && (closest == null || shortfall.remaining > closest.remaining)) closest = shortfall
    }
    if (closest?.limit === 'duration') {
      return new TooLargeForRelayError(
        `a message of ${bytes} bytes to ${peerId} cannot be sent before its relay closes the circuit (${closest.remaining} s left), and there is no direct connection to the peer`,
        { size: bytes, limit: 'duration', peerId })
    }
    const perCircuit = this.circuitBytes == null ? '' : ` (the relay allows ${this.circuitBytes} bytes per circuit)`
    return new TooLargeForRelayError(
      `a message of ${bytes} bytes to ${peerId} does not fit a relayed connection${perCircuit}, and there is no direct connection to the peer`,
      { size: bytes, remaining: closest?.remaining, limit: 'data', peerId })
  }

  /** A direct connection to `peerId`, else the circuit where `bytes` fit with the most to spare. */
  private fitting (peerId: string, bytes: number): Connection | undefined {
    return this.best(peerId, allowance => allowance.shortfall(bytes) == null)
  }

  /** The open client for `key` when it runs on `connection`, else a new stream on it. */
  private async clientOn (peerId: string, key: string, options: RpcStreamOptions, connection: Connection): Promise<RpcClient> {
    const current = this.clients.get(key)
    if (current?.isOpen === true && connection.streams.includes(current.stream)) return current
    return await this.open(peerId, key, options, connection)
  }

  /** Whether a direct connection may come: both ends do WebRTC signalling. */
  private async mayGoDirect (peerId: string): Promise<boolean> {
    if (this.directWaitMs <= 0 || !this.node.getProtocols().includes(WEBRTC_SIGNALING_PROTOCOL)) return false
    try {
      const peer = await this.node.peerStore.get(this.peer(peerId))
      return peer.protocols.includes(WEBRTC_SIGNALING_PROTOCOL)
    } catch {
      return false
    }
  }

  /** A direct connection to `peerId` once one opens, or undefined after directWaitMs. */
  private async untilDirect (peerId: string, signal?: AbortSignal): Promise<Connection | undefined> {
    const id = this.peer(peerId)
    const open = this.node.getConnections(id).find(c => c.status === 'open' && c.limits == null)
    if (open != null) return open
    return await new Promise<Connection | undefined>((resolve, reject) => {
      const done = (connection?: Connection, err?: unknown): void => {
        clearTimeout(timer)
        this.node.removeEventListener('connection:open', onOpen)
        signal?.removeEventListener('abort', onAbort)
        if (err != null) reject(err)
        else resolve(connection)
      }
      const onOpen = (evt: CustomEvent<Connection>): void => {
        if (evt.detail.remotePeer.equals(id) && evt.detail.limits == null) done(evt.detail)
      }
      const onAbort = (): void => { done(undefined, signal?.reason) }
      const timer = setTimeout(() => { done() }, this.directWaitMs)
      this.node.addEventListener('connection:open', onOpen)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
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

  /**
   * A direct connection, else the relayed one with the most left that `fits` accepts; spent
   * circuits do not count.
   */
  private best (peerId: string, fits: (allowance: TransferAllowance) => boolean = () => true): Connection | undefined {
    let best: Connection | undefined
    let bestRemaining = -1
    for (const c of this.node.getConnections(this.peer(peerId))) {
      if (c.status !== 'open') continue
      const allowance = allowanceFor(c)
      if (allowance == null) return c
      if (allowance.exhausted || !fits(allowance)) continue
      const remaining = allowance.remainingBytes() ?? Number.POSITIVE_INFINITY
      if (remaining > bestRemaining) {
        best = c
        bestRemaining = remaining
      }
    }
    return best
  }

  /** Whether `client` runs on a relayed connection while a direct one to the peer exists. */
  private hasBetterConnection (peerId: string, client: RpcClient): boolean {
    if (client.allowance == null) return false
    const best = this.best(peerId)
    if (best == null || best.limits != null) return false
    return !best.streams.includes(client.stream)
  }

  /**
   * Dials `peerId` at its LAN addresses when it was found on the LAN, else (or when that fails)
   * through the relay; `fresh`: a new circuit even when one is open.
   */
  private async dial (peerId: string, signal?: AbortSignal, fresh = false): Promise<Connection> {
    const lan = await lanAddrs(this.node.peerStore, this.peer(peerId))
    if (lan.length > 0) {
      try {
        const connection = await this.node.dial(lan, {
          signal: AbortSignal.any([AbortSignal.timeout(this.lanDialTimeoutMs), ...(signal != null ? [signal] : [])])
        })
        log('reached %s on the LAN at %a', peerId, connection.remoteAddr)
        return connection
      } catch (err) {
        signal?.throwIfAborted()
        log('%s is not reachable at its LAN addresses - %e', peerId, err)
        if (this.relay.status.state !== 'connected' && this.relay.status.state !== 'reserved') throw new PeerUnreachableError(peerId, { cause: err })
      }
    }
    const relay = this.relay.relayAddress()
    const relayId = this.relay.status.relayPeerId
    const target = relayId === peerId ? relay : relay.encapsulate(`/p2p-circuit/p2p/${peerId}`)
    try {
      return await this.node.dial(target, {
        signal: AbortSignal.any([AbortSignal.timeout(this.dialTimeoutMs), ...(signal != null ? [signal] : [])]),
        force: fresh
      })
    } catch (err) {
      throw new PeerUnreachableError(peerId, { cause: err })
    }
  }
}

/** The remote does not speak the protocol: the connection is fine, the answer is no. */
function isProtocolRefusal (err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name
  return name === 'UnsupportedProtocolError' || name === 'ProtocolError'
}
