/**
 * What LAN discovery lets in: of a discovered peer's claimed addresses only private direct TCP
 * ones are kept (and dialled), only while the answer holds; direct TCP connections from public
 * addresses are refused. Real libp2p nodes; the discovery service is a stand-in that announces
 * what a stranger on the LAN could.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerDiscoverySymbol } from '@libp2p/interface'
import type { MultiaddrConnection, PeerDiscovery, PeerDiscoveryEvents, PeerInfo } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { afterEach, describe, expect, it } from 'vitest'
import { createStarlingNode } from './create-node.js'
import type { StarlingNode } from './create-node.js'
import { isLanAddr, LAN_CONNECTION_GATER, LAN_PEER_TAG, lanAddrs } from './lan-peers.js'

/** A discovery service the test speaks for. */
class StandInDiscovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery {
  readonly [peerDiscoverySymbol] = this
  readonly [Symbol.toStringTag] = 'stand-in-discovery'
  started = false
  async start (): Promise<void> { this.started = true }
  async stop (): Promise<void> { this.started = false }
  announce (peer: PeerInfo): void { this.safeDispatchEvent('peer', { detail: peer }) }
}

/** Resolves with the next peer the node's discovery reports. */
async function nextDiscovery (node: StarlingNode): Promise<PeerInfo> {
  return await new Promise(resolve => {
    node.addEventListener('peer:discovery', (evt) => { resolve(evt.detail) }, { once: true })
  })
}

const nodes: StarlingNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
})

async function node (discovery?: StandInDiscovery, listen: string[] = []): Promise<StarlingNode> {
  const created = await createStarlingNode({
    privateKey: await generateKeyPair('Ed25519'),
    transports: [tcp()],
    listen,
    peerDiscovery: discovery == null ? undefined : [() => discovery]
  })
  nodes.push(created)
  return created
}

describe('LAN discovery', () => {
  it('keeps only the private TCP addresses a peer claims, tags it, and gives them for dialling', async () => {
    const discovery = new StandInDiscovery()
    const local = await node(discovery)
    expect(discovery.started).toBe(true)
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const found = nextDiscovery(local)
    discovery.announce({
      id: stranger,
      multiaddrs: [
        multiaddr('/ip4/8.8.8.8/tcp/4001'),
        multiaddr('/ip4/127.0.0.1/tcp/4001'),
        multiaddr('/ip4/192.168.1.20/tcp/4001'),
        multiaddr('/ip4/192.168.1.20/udp/4001/quic-v1'),
        multiaddr('/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWGrKXt2DGWhgjBsZgauq25r2jDjrBeSgDwjNWC9Rv5Y5i/p2p-circuit')
      ]
    })
    expect((await found).multiaddrs.map(String)).toEqual(['/ip4/192.168.1.20/tcp/4001'])
    const peer = await local.peerStore.get(stranger)
    expect(peer.tags.has(LAN_PEER_TAG)).toBe(true)
    expect(peer.addresses.map(a => a.multiaddr.toString())).not.toContain('/ip4/8.8.8.8/tcp/4001')
    expect((await lanAddrs(local.peerStore, stranger)).map(String)).toEqual([`/ip4/192.168.1.20/tcp/4001/p2p/${stranger.toString()}`])
  })

  it('ignores an answer with no private TCP address, and answers about ourselves', async () => {
    const discovery = new StandInDiscovery()
    const local = await node(discovery)
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    discovery.announce({ id: stranger, multiaddrs: [multiaddr('/ip4/1.1.1.1/tcp/80'), multiaddr('/ip4/127.0.0.1/tcp/22')] })
    discovery.announce({ id: local.peerId, multiaddrs: [multiaddr('/ip4/192.168.1.21/tcp/4001')] })
    // a good answer after the bad ones: once it is in, the bad ones would have been too
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const found = nextDiscovery(local)
    discovery.announce({ id: other, multiaddrs: [multiaddr('/ip4/192.168.1.22/tcp/4001')] })
    expect((await found).id.equals(other)).toBe(true)
    await expect(local.peerStore.has(stranger)).resolves.toBe(false)
    expect(await lanAddrs(local.peerStore, local.peerId)).toEqual([])
  })

  it('gives no LAN address for a peer known only otherwise (identify, the relay)', async () => {
    const local = await node()
    const known = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    await local.peerStore.merge(known, { multiaddrs: [multiaddr('/ip4/192.168.1.23/tcp/4001')] })
    expect(await lanAddrs(local.peerStore, known)).toEqual([])
  })

  it('tells LAN addresses from the others', () => {
    expect(isLanAddr(multiaddr('/ip4/10.77.0.1/tcp/1'))).toBe(true)
    expect(isLanAddr(multiaddr('/ip6/fe80::1/tcp/1'))).toBe(true)
    expect(isLanAddr(multiaddr('/ip4/127.0.0.1/tcp/1'))).toBe(false)
    expect(isLanAddr(multiaddr('/ip4/0.0.0.0/tcp/1'))).toBe(false)
    expect(isLanAddr(multiaddr('/ip6/::1/tcp/1'))).toBe(false)
    expect(isLanAddr(multiaddr('/ip4/93.184.216.34/tcp/1'))).toBe(false)
    expect(isLanAddr(multiaddr('/ip4/10.77.0.1/tcp/1/ws'))).toBe(false)
  })
})

describe('the LAN connection gate', () => {
  const inbound = (addr: string): MultiaddrConnection => ({ remoteAddr: multiaddr(addr) }) as unknown as MultiaddrConnection

  it('refuses direct TCP connections from public addresses only', async () => {
    const deny = LAN_CONNECTION_GATER.denyInboundConnection
    expect(await deny?.(inbound('/ip4/93.184.216.34/tcp/5555'))).toBe(true)
    expect(await deny?.(inbound('/ip6/2001:4860::1/tcp/5555'))).toBe(true)
    expect(await deny?.(inbound('/ip4/192.168.1.20/tcp/5555'))).toBe(false)
    expect(await deny?.(inbound('/ip4/127.0.0.1/tcp/5555'))).toBe(false)
    // relayed and WebRTC connections come through our relay: not this gate's business
    expect(await deny?.(inbound('/ip4/93.184.216.34/tcp/4001/p2p/12D3KooWGrKXt2DGWhgjBsZgauq25r2jDjrBeSgDwjNWC9Rv5Y5i/p2p-circuit'))).toBe(false)
  })

  it('lets a peer on a private address connect to a node listening on TCP', async () => {
    const listener = await node(undefined, ['/ip4/127.0.0.1/tcp/0'])
    const dialer = await node()
    const addr = listener.getMultiaddrs()[0]
    expect(addr).toBeDefined()
    const connection = await dialer.dial(addr!)
    expect(connection.remotePeer.equals(listener.peerId)).toBe(true)
  })
})
