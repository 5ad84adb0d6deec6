import { afterEach, describe, expect, it } from 'vitest'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import NodeWebSocket from 'ws'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { tcpAddr, testRelay } from '../src/native/test-helpers.js'
import { CircuitLimits } from './circuit-limits.js'
import { addressKey } from './ip-limits.js'
import type { RunningRelay } from './relay.js'

const started: Array<Pick<Libp2p, 'stop'>> = []
afterEach(async () => {
  await Promise.all(started.splice(0).reverse().map(async s => { await s.stop() }))
})

async function relayWith (overrides: Parameters<typeof testRelay>[0]): Promise<RunningRelay> {
  const relay = await testRelay(overrides)
  started.push(relay)
  return relay
}

/** A native peer whose TCP connections leave from `localAddress` (any 127.x.y.z is this machine on Linux). */
async function peerFrom (localAddress: string): Promise<Libp2p> {
  const dialOpts = { noDelay: true, localAddress }
  const node = await createLibp2p({
    addresses: { listen: ['/p2p-circuit'] },
    transports: [tcp({ dialOpts }), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionMonitor: { enabled: false }
  })
  started.push(node)
  return node
}

/** Dials the relay and waits for the reservation (the peer's circuit address). */
async function reserve (peer: Libp2p, relay: RunningRelay): Promise<void> {
  const reserved = new Promise<void>((resolve) => {
    const check = (): void => {
      if (peer.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit'))) {
        peer.removeEventListener('self:peer:update', check)
        resolve()
      }
    }
    peer.addEventListener('self:peer:update', check)
  })
  await peer.dial(multiaddr(tcpAddr(relay)))
  await reserved
}

const circuitTo = (relay: RunningRelay, peer: Libp2p) => multiaddr(`${tcpAddr(relay)}/p2p-circuit/p2p/${peer.peerId.toString()}`)

describe('connections per IP address', () => {
  it('refuses the connection past the cap from one address, while another address still connects, and frees a slot when one closes', async () => {
    const relay = await relayWith({ maxConnectionsPerIp: 2 })
    const relayAddr = multiaddr(tcpAddr(relay))
    const [a, b, c] = await Promise.all([peerFrom('127.0.0.2'), peerFrom('127.0.0.2'), peerFrom('127.0.0.2')])
    const other = await peerFrom('127.0.0.3')

    // the relay's side of a connection opens once its end of the handshake is done too
    const opened = (peer: Libp2p): Promise<Connection> => new Promise((resolve) => {
      relay.node.addEventListener('connection:open', (evt) => { if (evt.detail.remotePeer.equals(peer.peerId)) resolve(evt.detail) })
    })
    const aAtRelay = opened(a)
    await a.dial(relayAddr)
    await b.dial(relayAddr)
    await expect(c.dial(relayAddr)).rejects.toThrow()
    const otherAtRelay = opened(other)
    await other.dial(relayAddr)
    // the relay sees each of them from the address they left from
    expect((await aAtRelay).remoteAddr.toString()).toMatch(/^\/ip4\/127\.0\.0\.2\/tcp\//)
    expect((await otherAtRelay).remoteAddr.toString()).toMatch(/^\/ip4\/127\.0\.0\.3\/tcp\//)
    expect(relay.node.getConnections(c.peerId)).toHaveLength(0)

    const gone = new Promise<void>((resolve) => {
      relay.node.addEventListener('peer:disconnect', (evt) => { if (evt.detail.equals(a.peerId)) resolve() })
    })
    await a.hangUp(relay.node.peerId)
    await gone
    const connection = await c.dial(relayAddr)
    expect(connection.status).toBe('open')
  })

  it('caps browsers\' WebSocket connections through the HTTP port by their own address', async () => {
    const relay = await relayWith({ maxConnectionsPerIp: 1 })
    const wsAddr = relay.multiaddrs().find(a => a.includes('/ws/'))
    if (wsAddr == null) throw new Error('the relay has no WebSocket address')
    // Node 20 has no global WebSocket (what @libp2p/websockets dials with): one from `ws` that
    // leaves from the address the next dial is for
    let from = '127.0.0.2'
    const original = (globalThis as { WebSocket?: unknown }).WebSocket
    ;(globalThis as { WebSocket?: unknown }).WebSocket = class extends NodeWebSocket {
      constructor (url: string) { super(url, { localAddress: from }) }
    }
    started.push({ stop: async () => { (globalThis as { WebSocket?: unknown }).WebSocket = original } })
    const browser = async (): Promise<Libp2p> => {
      const node = await createLibp2p({
        transports: [webSockets()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionGater: { denyDialMultiaddr: () => false },
        connectionMonitor: { enabled: false }
      })
      started.push(node)
      return node
    }
    const [first, second, elsewhere] = await Promise.all([browser(), browser(), browser()])
    await first.dial(multiaddr(wsAddr))
    await expect(second.dial(multiaddr(wsAddr))).rejects.toThrow()
    from = '127.0.0.3'
    const connection = await elsewhere.dial(multiaddr(wsAddr))
    expect(connection.status).toBe('open')
  })

  it('counts IPv4 addresses one by one, IPv4-mapped IPv6 as IPv4, and IPv6 by /64', () => {
    expect(addressKey('127.0.0.2')).toBe('127.0.0.2')
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7')
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'))
    expect(addressKey('::1')).toBe('0:0:0:0::/64')
  })
})

describe('circuits', () => {
  it('refuses a circuit past the relay\'s cap with PERMISSION_DENIED', async () => {
    const relay = await relayWith({ maxCircuits: 1, maxConnectionsPerIp: 0 })
    const [caller, first, second] = await Promise.all([peerFrom('127.0.0.1'), peerFrom('127.0.0.1'), peerFrom('127.0.0.1')])
    await Promise.all([reserve(first, relay), reserve(second, relay)])

    const circuit = await caller.dial(circuitTo(relay, first))
    expect(circuit.limits).toBeDefined()
    await expect(caller.dial(circuitTo(relay, second))).rejects.toThrow(/PERMISSION_DENIED/)
    // the circuit that was let through still works
    expect(circuit.status).toBe('open')
  })

  it('refuses a peer\'s circuit past its per-peer cap, as caller and as callee, while other peers still get theirs', async () => {
    const relay = await relayWith({ maxCircuitsPerPeer: 1, maxConnectionsPerIp: 0 })
    const [caller, other, first, second] = await Promise.all([peerFrom('127.0.0.1'), peerFrom('127.0.0.1'), peerFrom('127.0.0.1'), peerFrom('127.0.0.1')])
    await Promise.all([reserve(first, relay), reserve(second, relay)])

    await caller.dial(circuitTo(relay, first))
    // the caller is at its cap
    await expect(caller.dial(circuitTo(relay, second))).rejects.toThrow(/PERMISSION_DENIED/)
    // `first` is at its cap as the callee
    await expect(other.dial(circuitTo(relay, first))).rejects.toThrow(/PERMISSION_DENIED/)
    // a pair with room left
    const circuit = await other.dial(circuitTo(relay, second))
    expect(circuit.remotePeer.equals(second.peerId)).toBe(true)
  })
})

/** A stand-in for a connection with hop streams, enough for CircuitLimits. */
class FakeStream extends EventTarget {
  protocol = '/libp2p/circuit/relay/0.2.0/hop'
  direction = 'inbound'
  status = 'open'
  writeStatus = 'writable'
  timeline: { open: number }
  constructor (openedAt: number) {
    super()
    this.timeline = { open: openedAt }
  }

  close (): void {
    this.status = 'closed'
    this.dispatchEvent(new Event('close'))
  }
}

describe('circuit counting', () => {
  const peer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

  it('frees a circuit\'s place when its caller\'s hop stream closes, for the relay and for both peers', async () => {
    const [A, B, C, D] = await Promise.all([peer(), peer(), peer(), peer()])
    const streams = new Map<string, FakeStream[]>([A, B, C, D].map(p => [p.toString(), []]))
    const limits = new CircuitLimits({ maxCircuits: 2, maxCircuitsPerPeer: 1 })
    limits.bind({
      getConnections: (p?: PeerId) => p == null ? [] : [{ streams: streams.get(p.toString()) } as unknown as Connection]
    })
    const hop = (from: PeerId, at: number): FakeStream => {
      const s = new FakeStream(at)
      streams.get(from.toString())?.push(s)
      return s
    }

    const ab = hop(A, 1)
    expect(limits.denyOutboundRelayedConnection(A, B)).toBe(false)
    expect([limits.size, limits.countFor(A), limits.countFor(B)]).toEqual([1, 1, 1])
    hop(C, 2)
    // B is at its cap as the callee
    expect(limits.denyOutboundRelayedConnection(C, B)).toBe(true)
    expect(limits.refused.perPeer).toBe(1)

    ab.close()
    expect([limits.size, limits.countFor(A), limits.countFor(B)]).toEqual([0, 0, 0])
    expect(limits.denyOutboundRelayedConnection(C, B)).toBe(false)
    expect(limits.countFor(B)).toBe(1)
    // a stream already counted is never counted again for another circuit
    hop(A, 3)
    // a reservation the relay has already answered, newer, is not taken for the circuit
    const reservation = hop(A, 4)
    reservation.writeStatus = 'closed'
    expect(limits.denyOutboundRelayedConnection(A, D)).toBe(false)
    reservation.close()
    expect([limits.size, limits.countFor(A), limits.countFor(D)]).toEqual([2, 1, 1])
    expect(limits.denyOutboundRelayedConnection(A, C)).toBe(true)
    expect(limits.refused.total).toBe(1)
  })
})
