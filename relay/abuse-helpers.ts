/**
 * For relay/abuse.test.ts: plain libp2p peers that misbehave on purpose, a seeded generator of
 * bad frames, and well-behaved peers that check the relay still serves everyone else.
 */
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import * as varint from 'uint8-varint'
import type { Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { RpcClient } from '../src/core/rpc/client.js'
import { REGISTRY_PROTOCOL, RegistryMethod } from '../src/core/registry/protocol.js'
import { MESH_MAX_FRAME_BYTES, MESH_PROTOCOL, MeshMethod } from '../src/core/mesh/protocol.js'
import { buildAgentCard } from '../src/core/a2a/binding.js'
import { tcpAddr } from '../src/native/test-helpers.js'
import type { RunningRelay } from './relay.js'

/**
 * Who a test peer is: its key (a fresh one when absent) and what it serves before it dials the
 * relay (a member of a private relay's mesh answers the relay's `Credentials` question).
 */
export interface PeerIdentity {
  privateKey?: PrivateKey
  setup?: (node: Libp2p) => Promise<void>
}

/** A bare peer: TCP, Noise, yamux; no services, no pings of its own unless `keepAliveMs`. */
export async function barePeer (options: { keepAliveMs?: number } & PeerIdentity = {}): Promise<Libp2p> {
  const node = await createLibp2p({
    privateKey: options.privateKey,
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(options.keepAliveMs == null ? { enableKeepAlive: false } : { keepAliveInterval: options.keepAliveMs })],
    connectionMonitor: { enabled: false }
  })
  await options.setup?.(node)
  return node
}

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type FrameKind = 'random body' | 'truncated' | 'no prefix' | 'huge prefix' | 'json, not a request' | 'empty' | 'a request only members may make'

/** One bad frame: what it is and its bytes. */
export function badFrame (random: () => number): { kind: FrameKind, bytes: Uint8Array } {
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(random() * 256))
  const int = (n: number): number => Math.floor(random() * n)
  const roll = random()
  if (roll < 0.35) {
    const body = bytes(1 + int(300))
    return { kind: 'random body', bytes: concat(varint.encode(body.length), body) }
  }
  if (roll < 0.6) {
    // a prefix promising more than follows (the stream then ends)
    const promised = 10 + int(5000)
    return { kind: 'truncated', bytes: concat(varint.encode(promised), bytes(int(Math.min(promised, 200)))) }
  }
  if (roll < 0.75) return { kind: 'no prefix', bytes: bytes(1 + int(64)) }
  if (roll < 0.85) {
    // a length far past any limit, or 10+ bytes of continuation bits
    return random() < 0.5
      ? { kind: 'huge prefix', bytes: varint.encode(2 ** 40 + int(1000)) }
      : { kind: 'huge prefix', bytes: new Uint8Array(12).fill(0xff) }
  }
  if (roll < 0.95) {
    const values = ['"hi"', '[]', '{}', '{"jsonrpc":"2.0"}', '{"jsonrpc":"2.0","id":1,"method":7}', 'null', '1e999', '{"jsonrpc":"2.0","id":{},"method":"registry.discover"}']
    const body = new TextEncoder().encode(values[int(values.length)])
    return { kind: 'json, not a request', bytes: concat(varint.encode(body.length), body) }
  }
  return { kind: 'empty', bytes: varint.encode(0) }
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

export type StreamOutcome = 'answered' | 'reset' | 'closed'

/**
 * Sends `frames` on `stream`, closes our side, and resolves with how the relay ended it: a
 * reset, a close after sending us something (an error, or for ping an echo), or a bare close.
 * `received` is everything the relay sent. With `answered`, the stream counts as answered (and
 * is reset by us) once what was received satisfies it: a relay refusing a hop request writes its
 * status and leaves the stream open (libp2p's circuit relay server).
 */
export async function sendAndEnd (stream: Stream, frames: Uint8Array[], options: { answered?: (received: Uint8Array[]) => boolean } = {}): Promise<{ outcome: StreamOutcome, received: Uint8Array[] }> {
  const received: Uint8Array[] = []
  const ended = new Promise<StreamOutcome>((resolve) => {
    stream.addEventListener('message', (evt) => {
      received.push(evt.data.subarray())
      if (options.answered?.(received) === true) {
        resolve('answered')
        stream.abort(new Error('answered'))
      }
    })
    stream.addEventListener('close', (evt) => {
      resolve(evt.error != null ? 'reset' : received.length > 0 ? 'answered' : 'closed')
    })
  })
  const writing = (async () => {
    for (const frame of frames) {
      if (stream.writeStatus !== 'writable') break
      if (!stream.send(frame)) await stream.onDrain().catch(() => {})
    }
    if (stream.writeStatus === 'writable') await stream.close().catch(() => {})
  })().catch(() => {
    // the relay reset the stream while we wrote: `ended` says so
  })
  const outcome = await ended
  await writing
  return { outcome, received }
}

/** Writes nothing and never closes our side: resolves with how the relay ends the stream. */
export async function sendAndEndOnClose (stream: Stream): Promise<{ outcome: StreamOutcome }> {
  let received = 0
  stream.addEventListener('message', () => { received++ })
  return await new Promise((resolve) => {
    stream.addEventListener('close', (evt) => {
      resolve({ outcome: evt.error != null ? 'reset' : received > 0 ? 'answered' : 'closed' })
    })
  })
}

/** The `status` field (5) of a length-prefixed HopMessage, if there is one. */
export function hopStatus (bytes: Uint8Array): number | undefined {
  try {
    const length = varint.decode(bytes)
    let at = varint.encodingLength(length)
    const end = at + length
    while (at < end) {
      const tag = varint.decode(bytes, at)
      at += varint.encodingLength(tag)
      const wire = tag & 7
      if (wire === 0) {
        const value = varint.decode(bytes, at)
        if (tag >>> 3 === 5) return value
        at += varint.encodingLength(value)
      } else if (wire === 2) {
        const n = varint.decode(bytes, at)
        at += varint.encodingLength(n) + n
      } else {
        return undefined
      }
    }
  } catch {
    // not a protobuf message: no status
  }
  return undefined
}

export const HOP = '/libp2p/circuit/relay/0.2.0/hop'
/** HopMessage.Status values the tests read. */
export const HopStatus = { OK: 100, PERMISSION_DENIED: 202, MALFORMED_MESSAGE: 400, UNEXPECTED_MESSAGE: 401 } as const

/** A length-prefixed HopMessage { type: RESERVE }. */
export const HOP_RESERVE = Uint8Array.from([2, 0x08, 0x00])

/** A length-prefixed HopMessage { type: CONNECT, peer: { id: `peer` } }. */
export function hopConnect (peer: PeerId): Uint8Array {
  const id = peer.toMultihash().bytes
  const target = concat(Uint8Array.from([0x0a, ...varint.encode(id.length)]), id)
  const body = concat(Uint8Array.from([0x08, 0x01, 0x12, ...varint.encode(target.length)]), target)
  return concat(varint.encode(body.length), body)
}

/** Whether the bytes received on a hop stream hold a status. */
export const hasHopStatus = (received: Uint8Array[]): boolean => hopStatus(concatAll(received)) != null

/** Sends a RESERVE on a new hop stream from `node` to the relay; resolves with the relay's status. */
export async function reserveOn (node: Libp2p, relay: RunningRelay, options: { signal?: AbortSignal } = {}): Promise<number | undefined> {
  const stream = await node.dialProtocol(multiaddr(tcpAddr(relay)), HOP, options)
  const { received } = await sendAndEnd(stream, [HOP_RESERVE], { answered: hasHopStatus })
  return hopStatus(concatAll(received))
}

/** A peer that holds a reservation on the relay and echoes on `/abuse/echo/1.0.0`, relayed connections included. */
export async function echoBehindRelay (relay: RunningRelay, identity: PeerIdentity = {}): Promise<{ node: Libp2p, circuitAddr: string }> {
  const node = await createLibp2p({
    privateKey: identity.privateKey,
    transports: [tcp(), circuitRelayTransport({ reservationCompletionTimeout: 10_000 })],
    addresses: { listen: ['/p2p-circuit'] },
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    // the attackers, the relay and this peer share one event loop in the test: handshakes get
    // the time a saturated loop needs (libp2p's 3 s would measure the test process, not the relay)
    connectionManager: { inboundUpgradeTimeout: 30_000 },
    services: { identify: identify() }
  })
  await identity.setup?.(node)
  await node.handle(ECHO_PROTOCOL, async (stream) => {
    for await (const chunk of stream) stream.send(chunk)
    await stream.close()
  }, { runOnLimitedConnection: true })
  const reserved = new Promise<void>((resolve) => {
    const check = (): void => {
      if (node.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit'))) {
        node.removeEventListener('self:peer:update', check)
        resolve()
      }
    }
    node.addEventListener('self:peer:update', check)
  })
  await node.dial(multiaddr(tcpAddr(relay)))
  await reserved
  return { node, circuitAddr: `${tcpAddr(relay)}/p2p-circuit/p2p/${node.peerId.toString()}` }
}

export const ECHO_PROTOCOL = '/abuse/echo/1.0.0'

export interface WellBehavedInit extends PeerIdentity {
  /** Also reads the revocations of this mesh on each check (on a private relay, as its member). */
  revocationsOf?: string
}

/**
 * A well-behaved peer: publishes a card, then on each `check()` reserves a slot, publishes again,
 * discovers itself in the registry (and nobody else), reads its mesh's revocations when told
 * one, and makes a round trip through the relay to `echo`.
 */
export async function wellBehaved (relay: RunningRelay, echo: { circuitAddr: string }, init: WellBehavedInit = {}): Promise<{ node: Libp2p, check: (label: string) => Promise<void>, stalls: string[] }> {
  const node = await createLibp2p({
    privateKey: init.privateKey,
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    // see echoBehindRelay: the test's own saturated event loop, not the relay, sets this pace
    connectionManager: { inboundUpgradeTimeout: 30_000 },
    services: { identify: identify() }
  })
  await init.setup?.(node)
  const me = node.peerId.toString()
  const card = buildAgentCard(me, { name: 'bystander', description: '', skills: [{ id: 'bystanding' }] })
  const rpc = new RpcClient(await node.dialProtocol(multiaddr(tcpAddr(relay)), REGISTRY_PROTOCOL))
  await rpc.request(RegistryMethod.Publish, { card })
  let round = 0
  const stalls: string[] = []
  const check = async (label: string): Promise<void> => {
    const status = await reserveOn(node, relay, { signal: AbortSignal.timeout(8_000) })
    if (status !== HopStatus.OK) throw new Error(`${label}: the reservation was answered with status ${status}`)
    await rpc.request(RegistryMethod.Publish, { card })
    const found = await rpc.request(RegistryMethod.Discover, { skill: 'bystanding' }) as { agents: Array<{ peerId: string }> }
    if (found.agents.map(a => a.peerId).join() !== me) throw new Error(`${label}: discover returned ${JSON.stringify(found)}`)
    if (init.revocationsOf != null) {
      const mesh = new RpcClient(await node.dialProtocol(multiaddr(tcpAddr(relay)), MESH_PROTOCOL), { maxMessageBytes: MESH_MAX_FRAME_BYTES })
      try {
        const read = await mesh.request(MeshMethod.Revocations, { meshIds: [init.revocationsOf] })
        if (JSON.stringify(read) !== '{"revocations":[]}') throw new Error(`${label}: revocations returned ${JSON.stringify(read)}`)
      } finally {
        await mesh.close()
      }
    }
    const text = `${label} ${round++}`
    // a circuit whose handshake stalled while the relay was flooded is given up and dialled
    // afresh, as a real peer's dial timeout would: counted in `stalls`, never silent
    for (let attempt = 1; ; attempt++) {
      try {
        const stream = await node.dialProtocol(multiaddr(echo.circuitAddr), ECHO_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(8_000) })
        const { received } = await sendAndEnd(stream, [new TextEncoder().encode(text)])
        const back = new TextDecoder().decode(concatAll(received))
        if (back !== text) throw new Error(`${label}: the relayed echo returned "${back}" for "${text}"`)
        return
      } catch (err) {
        if (attempt >= 3 || (err instanceof Error && err.message.includes('relayed echo returned'))) throw err
        stalls.push(`${label}: ${err instanceof Error ? err.message : String(err)}`)
        await node.hangUp(multiaddr(echo.circuitAddr)).catch(() => {})
      }
    }
  }
  return { node, check, stalls }
}

export function concatAll (chunks: Uint8Array[]): Uint8Array {
  return chunks.reduce((a, b) => concat(a, b), new Uint8Array(0))
}

let collect: (() => void) | undefined

/** This process's heap and RSS after a full garbage collection, in bytes. */
export function memoryAfterGc (): { heapUsed: number, rss: number } {
  if (collect == null) {
    setFlagsFromString('--expose-gc')
    collect = runInNewContext('gc') as () => void
  }
  collect()
  collect()
  const { heapUsed, rss } = process.memoryUsage()
  return { heapUsed, rss }
}
