/**
 * Peers on the local network, found without a relay (mDNS on Node), and what that may open.
 *
 * A discovery answer on a LAN comes from anyone on it and is not signed, so it is taken as a
 * hint only:
 * - lanDiscovery() wraps a peer discovery service and keeps, of the addresses a discovered peer
 *   claims, only private direct TCP ones (a public address in an answer would have us dial out
 *   to the Internet on a stranger's word). The peer is tagged in the peer store for as long as
 *   the answer holds (LAN_PEER_TAG) and its addresses are kept beside the tag, so the connector
 *   dials it directly, with or without a relay. Dialling proves nothing but reachability: the
 *   Noise handshake checks that whoever answers holds the PeerID's key.
 * - LAN_CONNECTION_GATER refuses direct TCP connections from public addresses: a LAN listener
 *   (`/ip4/0.0.0.0/tcp/…`) would otherwise take connections from the Internet, bypassing the
 *   relay's limits. Relayed and WebRTC connections are not concerned: they reach us through our
 *   relay, as before.
 *
 * What reaches us directly is what reaches us through the relay: the same protocols, the same
 * handlers, the same frame limits; only the relay's data and time limits do not apply.
 */
import { peerDiscoverySymbol } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { isPrivate } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { TCP } from '@multiformats/multiaddr-matcher'
import { TypedEventEmitter } from 'main-event'
import type { ConnectionGater, Peer, PeerDiscovery, PeerDiscoveryEvents, PeerId, PeerInfo, PeerStore, PeerUpdate, Startable } from '@libp2p/interface'
import type { Libp2pOptions } from 'libp2p'
import type { Multiaddr } from '@multiformats/multiaddr'

const log = logger('starling:lan-peers')

/** A peer discovery service as libp2p's `peerDiscovery` option takes it (e.g. `mdns()`). */
export type PeerDiscoveryFactory = NonNullable<Libp2pOptions['peerDiscovery']>[number]

type DiscoveryComponents = Parameters<PeerDiscoveryFactory>[0]

/** Peer store tag of a peer a LAN discovery service found; it lapses with the answer. */
export const LAN_PEER_TAG = 'starling-lan'

/** Peer store metadata key holding the LAN addresses of a tagged peer (JSON list of strings). */
export const LAN_ADDRS_KEY = 'starling-lan-addrs'

/**
 * How long a LAN answer holds, in ms: mDNS records live 120 s and peers ask every 10 s, so a
 * peer that left the network stops being dialled directly two minutes later.
 */
export const DEFAULT_LAN_PEER_TTL_MS = 120_000

/** At most this many addresses are kept per discovered peer (an answer may list any number). */
export const MAX_LAN_ADDRS = 8

/**
 * `/ip4|ip6/<private>/tcp/<port>`: an address on the local network, without relay or WebRTC.
 * Loopback and unspecified addresses are not: from another host they would point at our own.
 */
export function isLanAddr (ma: Multiaddr): boolean {
  if (!TCP.exactMatch(ma) || !isPrivate(ma)) return false
  const host = ma.getComponents()[0]?.value ?? ''
  return !/^(127\.|0\.)/.test(host) && host !== '::1' && host !== '::'
}

/** Whether a peer store entry is a LAN peer whose answer still holds. */
export function isLanPeer (peer: Pick<Peer, 'tags'>): boolean {
  return peer.tags.has(LAN_PEER_TAG)
}

/**
 * The addresses to dial `peerId` at directly, each ending in `/p2p/<peer>`: those the LAN
 * discovery gave while its answer holds, else none.
 */
export async function lanAddrs (peerStore: PeerStore, peerId: PeerId): Promise<Multiaddr[]> {
  try {
    return lanAddrsOf(await peerStore.get(peerId))
  } catch {
    return []
  }
}

/** lanAddrs() of a peer store entry. */
export function lanAddrsOf (peer: Pick<Peer, 'id' | 'tags' | 'metadata'>): Multiaddr[] {
  const stored = peer.metadata.get(LAN_ADDRS_KEY)
  if (!isLanPeer(peer) || stored == null) return []
  try {
    const list: unknown = JSON.parse(new TextDecoder().decode(stored))
    if (!Array.isArray(list)) return []
    return list
      .filter((a): a is string => typeof a === 'string')
      .map(a => multiaddr(a))
      .filter(isLanAddr)
      .map(a => a.encapsulate(`/p2p/${peer.id.toString()}`))
  } catch (err) {
    log('bad LAN addresses stored for %p - %e', peer.id, err)
    return []
  }
}

/** Whether a peer store update is a LAN discovery of a peer that was not a LAN peer before. */
export function lanPeerFound (update: PeerUpdate): boolean {
  return isLanPeer(update.peer) && (update.previous == null || !isLanPeer(update.previous))
}

export interface LanDiscoveryInit {
  /** How long an answer holds, in ms. */
  ttlMs?: number
}

/** Wraps a peer discovery service (mDNS): see the module comment. */
export function lanDiscovery (inner: PeerDiscoveryFactory, init: LanDiscoveryInit = {}): PeerDiscoveryFactory {
  return (components) => new LanDiscovery(inner(components), components, init.ttlMs ?? DEFAULT_LAN_PEER_TTL_MS)
}

class LanDiscovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery, Startable {
  private readonly inner: PeerDiscovery
  private readonly components: DiscoveryComponents
  private readonly ttlMs: number

  constructor (inner: PeerDiscovery, components: DiscoveryComponents, ttlMs: number) {
    super()
    this.inner = inner
    this.components = components
    this.ttlMs = ttlMs
  }

  readonly [peerDiscoverySymbol] = this
  readonly [Symbol.toStringTag] = 'starling-lan-discovery'

  async start (): Promise<void> {
    this.inner.addEventListener('peer', this.onPeer)
    await (this.inner as Partial<Startable>).start?.()
  }

  async stop (): Promise<void> {
    this.inner.removeEventListener('peer', this.onPeer)
    await (this.inner as Partial<Startable>).stop?.()
  }

  private readonly onPeer = (evt: CustomEvent<PeerInfo>): void => {
    const { id, multiaddrs } = evt.detail
    if (id.equals(this.components.peerId)) return
    const addrs = multiaddrs.filter(isLanAddr).slice(0, MAX_LAN_ADDRS)
    if (addrs.length === 0) {
      log.trace('ignoring %p: no private TCP address in its answer', id)
      return
    }
    const encoded = new TextEncoder().encode(JSON.stringify(addrs.map(a => a.toString())))
    this.components.peerStore.merge(id, {
      multiaddrs: addrs,
      tags: { [LAN_PEER_TAG]: { value: 1, ttl: this.ttlMs } },
      metadata: { [LAN_ADDRS_KEY]: encoded }
    }).then(() => {
      this.safeDispatchEvent('peer', { detail: { id, multiaddrs: addrs } })
    }, (err: unknown) => {
      log.error('could not store LAN peer %p - %e', id, err)
    })
  }
}

/**
 * Refuses direct TCP connections from public addresses (see the module comment). Relayed and
 * WebRTC connections, and TCP connections from private addresses, pass.
 */
export const LAN_CONNECTION_GATER: ConnectionGater = {
  denyInboundConnection: (maConn) => TCP.exactMatch(maConn.remoteAddr) && !isPrivate(maConn.remoteAddr)
}
