/**
 * Abuse and bad input against a real relay (in process, over TCP on loopback), from real libp2p
 * peers, in open mode and in private mode (members of the meshes it serves only): 10,000 random
 * and truncated frames to every protocol it serves, streams opened and never written, more
 * streams than a peer may hold. On a private relay the attackers are no members (one shows none,
 * one a stolen credential, one another mesh's, one never answers the relay's question) and some
 * of their streams carry the requests only members may make: none of them reserves, publishes,
 * discovers, reads revocations, revokes or reaches a member through the circuit. Through all of
 * it a well-behaved peer (a member, in private mode) still reserves, publishes, discovers and
 * makes round trips through the relay's circuit, and the memory of the process holding the relay
 * stays within a generous bound once the attackers are gone.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import { buildAgentCard } from '../src/core/a2a/binding.js'
import { revoke } from '../src/core/mesh/credentials.js'
import type { CredentialBundle } from '../src/core/mesh/credentials.js'
import { MESH_PROTOCOL, MeshErrorCode, MeshMethod } from '../src/core/mesh/protocol.js'
import { REGISTRY_MAX_FRAME_BYTES, REGISTRY_PROTOCOL, RegistryMethod } from '../src/core/registry/protocol.js'
import { encodeFrame, FrameDecoder } from '../src/core/rpc/frame.js'
import { RpcErrorCode } from '../src/core/rpc/jsonrpc.js'
import { tcpAddr, testRelay } from '../src/native/test-helpers.js'
import type { RelayConfig } from './config.js'
import { MAX_MESH_STREAMS_PER_PEER } from './mesh/service.js'
import { answerCredentials, testMesh } from './mesh/test-helpers.js'
import { MAX_REGISTRY_STREAMS_PER_PEER } from './registry/service.js'
import type { RunningRelay } from './relay.js'
import {
  badFrame, barePeer, concatAll, echoBehindRelay, hasHopStatus, HOP, HOP_RESERVE, hopConnect, HopStatus, hopStatus,
  memoryAfterGc, prng, sendAndEnd, sendAndEndOnClose, wellBehaved
} from './abuse-helpers.js'
import type { FrameKind, PeerIdentity, StreamOutcome } from './abuse-helpers.js'

const IDENTIFY = '/ipfs/id/1.0.0'
const PING = '/ipfs/ping/1.0.0'

const MiB = 1024 * 1024

type Mode = 'open' | 'private'

/** Share of the registry, mesh and hop streams on which a private relay's attackers make members' requests. */
const TRESPASS_SHARE = 0.2

/** A peer that answers the relay's `Credentials` with `bundles`, whatever meshes it is asked about. */
function showing (bundles: CredentialBundle[], privateKey?: PrivateKey): PeerIdentity {
  return { privateKey, setup: async (node) => { await answerCredentials(node, bundles, { showAll: true }) } }
}

/** The frames a JSON-RPC stream received, decoded as far as they read (a reset may cut the last). */
function answersOn (received: Uint8Array[]): Array<{ id?: unknown, result?: unknown, error?: { code: number } }> {
  const decoder = new FrameDecoder()
  const out: Array<{ id?: unknown, result?: unknown, error?: { code: number } }> = []
  try {
    for (const chunk of received) for (const f of decoder.push(chunk)) if (f.ok) out.push(f.value as { id?: unknown })
  } catch {
    // a reply cut short by a reset: the answers before it count
  }
  return out
}

/** The relay under test and the peers of a test, stopped after it. */
let relay: RunningRelay | undefined
const nodes: Libp2p[] = []

afterEach(async () => {
  await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
  await relay?.stop()
  relay = undefined
})

describe.each<Mode>(['open', 'private'])('a relay in %s mode under abuse', (mode) => {
  /**
   * Starts the relay under test. `member()` is who a well-behaved peer is: nobody in particular in
   * open mode; in private mode a new member of the served mesh, answering the relay's question.
   */
  async function start (overrides: Partial<RelayConfig> = {}): Promise<{ meshId?: string, member: () => Promise<{ identity: PeerIdentity, credential?: CredentialBundle }> }> {
    if (mode === 'open') {
      relay = await testRelay(overrides)
      return { member: async () => ({ identity: {} }) }
    }
    const mesh = await testMesh()
    relay = await testRelay({ ...overrides, mode: 'private', meshes: [mesh.meshId] })
    return {
      meshId: mesh.meshId,
      member: async () => {
        const m = await mesh.member()
        return { identity: { privateKey: m.key, setup: async (node) => { await answerCredentials(node, [m.credential]) } }, credential: m.credential }
      }
    }
  }

  async function attackerConnection (identity: PeerIdentity = {}, keepAliveMs?: number): Promise<{ node: Libp2p, connection: Connection }> {
    const node = await barePeer({ keepAliveMs, ...identity })
    nodes.push(node)
    const connection = await node.dial(multiaddr(tcpAddr(relay!)))
    // one ping round trip first: until the relay has set the connection up, a peer opening more
    // than 10 streams at once has its connection aborted (libp2p's MaxEarlyStreamsError)
    const { outcome } = await sendAndEnd(await connection.newStream(PING), [new Uint8Array(32)])
    expect(outcome).toBe('answered')
    return { node, connection }
  }

  it('takes 10,000 random and truncated frames on every protocol it serves, answers each bad stream, grants strangers nothing, keeps serving others and keeps its memory bounded', async () => {
    const { meshId, member } = await start()
    // what the relay serves to a remote: nothing else should exist to be fuzzed
    const served = mode === 'open' ? [HOP, IDENTIFY, PING, REGISTRY_PROTOCOL] : [HOP, IDENTIFY, PING, REGISTRY_PROTOCOL, MESH_PROTOCOL]
    expect(relay!.node.getProtocols().sort()).toEqual(served.sort())
    const echo = await echoBehindRelay(relay!, (await member()).identity)
    nodes.push(echo.node)
    const bystanderIs = await member()
    const bystander = await wellBehaved(relay!, echo, { ...bystanderIs.identity, revocationsOf: meshId })
    nodes.push(bystander.node)
    await bystander.check('before')
    const before = memoryAfterGc()

    // in private mode, no member among them: each fails the relay's question its own way
    const strangers: PeerIdentity[] = mode === 'open'
      ? [{}, {}, {}, {}]
      : await (async () => {
        const elsewhere = await (await testMesh('elsewhere')).member()
        return [
          {},
          showing([bystanderIs.credential!]),
          showing([elsewhere.credential], elsewhere.key),
          { setup: async (node: Libp2p) => { await node.handle(MESH_PROTOCOL, () => {}) } }
        ]
      })()
    const attackers = await Promise.all(strangers.map(async identity => await attackerConnection(identity)))
    // a revocation of the bystander signed by a stranger, with the stolen credential as its "proof"
    const forged = mode === 'private' ? await revoke(await generateKeyPair('Ed25519'), bystanderIs.credential, meshId!, { member: bystander.node.peerId.toString() }) : undefined

    const random = prng(0x5747)
    // per protocol: streams, frames on each, parallel lanes on each attacker (within its stream
    // limit). A private relay serves the mesh protocol too: the same frames, spread over one more
    const plan = mode === 'open'
      ? [
          { protocol: REGISTRY_PROTOCOL, streams: 100, framesEach: 50, lanes: MAX_REGISTRY_STREAMS_PER_PEER },
          { protocol: PING, streams: 150, framesEach: 20, lanes: 2 },
          { protocol: HOP, streams: 1500, framesEach: 1, lanes: 8 },
          { protocol: IDENTIFY, streams: 500, framesEach: 1, lanes: 1 }
        ]
      : [
          { protocol: REGISTRY_PROTOCOL, streams: 60, framesEach: 50, lanes: MAX_REGISTRY_STREAMS_PER_PEER },
          { protocol: MESH_PROTOCOL, streams: 40, framesEach: 50, lanes: MAX_MESH_STREAMS_PER_PEER },
          { protocol: PING, streams: 150, framesEach: 20, lanes: 2 },
          { protocol: HOP, streams: 1500, framesEach: 1, lanes: 8 },
          { protocol: IDENTIFY, streams: 500, framesEach: 1, lanes: 1 }
        ]
    expect(plan.map(p => p.protocol).sort()).toEqual(served.sort())

    let trespassIds = 0
    /**
     * On a private relay, what only members may do, from a stranger: publish and discover; read
     * revocations and revoke; reserve, and open a circuit to a member. Undefined elsewhere.
     */
    const trespass = (protocol: string, attacker: Libp2p, count: number): Uint8Array[] | undefined => {
      if (mode !== 'private' || random() >= TRESPASS_SHARE) return undefined
      const request = (i: number): unknown => {
        const id = `trespass ${trespassIds++}`
        if (protocol === REGISTRY_PROTOCOL) {
          return i % 2 === 0
            ? { jsonrpc: '2.0', id, method: RegistryMethod.Publish, params: { card: buildAgentCard(attacker.peerId.toString(), { name: 'intruder', description: '', skills: [{ id: 'bystanding' }] }) } }
            : { jsonrpc: '2.0', id, method: RegistryMethod.Discover, params: { skill: 'bystanding' } }
        }
        return i % 2 === 0
          ? { jsonrpc: '2.0', id, method: MeshMethod.Revocations, params: { meshIds: [meshId] } }
          : { jsonrpc: '2.0', id, method: MeshMethod.Revoke, params: { revocation: forged } }
      }
      if (protocol === REGISTRY_PROTOCOL || protocol === MESH_PROTOCOL) return Array.from({ length: count }, (_, i) => encodeFrame(request(i)))
      if (protocol === HOP) return [[HOP_RESERVE, hopConnect(echo.node.peerId), hopConnect(bystander.node.peerId)][Math.floor(random() * 3)]!]
      return undefined
    }

    type Result = { protocol: string, from: number, outcome: StreamOutcome, received: Uint8Array[], kinds: FrameKind[], sent: Uint8Array[] }
    const results = new Map<string, Result[]>(plan.map(p => [p.protocol, []]))
    const kindsSent = new Map<FrameKind, number>()
    let framesSent = 0
    let openFailures = 0
    const openErrors = new Map<string, number>()

    const fuzz = Promise.all(plan.flatMap(({ protocol, streams, framesEach, lanes }) => {
      let left = streams
      return attackers.flatMap(({ node, connection }, from) => Array.from({ length: lanes }, async () => {
        while (left > 0) {
          left--
          const asked = trespass(protocol, node, framesEach)
          const frames = asked?.map(bytes => ({ kind: 'a request only members may make' as const, bytes })) ?? Array.from({ length: framesEach }, () => badFrame(random))
          for (const f of frames) kindsSent.set(f.kind, (kindsSent.get(f.kind) ?? 0) + 1)
          framesSent += frames.length
          let stream: Stream
          try {
            stream = await connection.newStream(protocol)
          } catch (err) {
            openFailures++
            const key = `${protocol}: ${(err as Error).name} ${(err as Error).message}`.slice(0, 160)
            openErrors.set(key, (openErrors.get(key) ?? 0) + 1)
            continue
          }
          // a hop stream is answered by its status: a relay refusing a well-formed request leaves the stream open
          const { outcome, received } = await sendAndEnd(stream, frames.map(f => f.bytes), protocol === HOP ? { answered: hasHopStatus } : {})
          results.get(protocol)!.push({ protocol, from, outcome, received, kinds: frames.map(f => f.kind), sent: frames.map(f => f.bytes) })
        }
      }))
    }))

    // a well-behaved peer keeps reserving, publishing, discovering and making relayed round trips
    // while it runs. The attackers, the relay and the bystander share this process's one event
    // loop, so a probe may time out because the test itself is saturated: those are counted, not
    // fatal, as long as probes keep getting through during the flood and every one after it does
    let fuzzing = true
    let probesDuring = 0
    const probeFailures: string[] = []
    const finished = fuzz.finally(() => { fuzzing = false })
    do {
      try {
        await bystander.check('during')
        probesDuring++
      } catch (err) {
        probeFailures.push(err instanceof Error ? err.message : String(err))
      }
    } while (fuzzing)
    await finished
    await bystander.check('after')

    // the attackers, still connected, hold nothing: no reservation, no entry, no membership
    const members = [echo.node.peerId.toString(), bystander.node.peerId.toString()].sort()
    const held = (): { reservations: string[], listed: string[], admitted?: string[] } => ({
      reservations: [...relay!.node.services.relay.reservations.keys()].map(String).sort(),
      listed: [...members, ...attackers.map(a => a.node.peerId.toString())].filter(p => relay!.registry.registry.get(p) != null),
      ...(relay!.mesh != null ? { admitted: relay!.mesh.membership.peers().sort() } : {})
    })
    const whileConnected = held()
    expect(attackers.every(a => a.connection.status === 'open'), 'the attackers are still connected').toBe(true)

    // the attackers leave; the relay drops everything they held
    const relayNode = relay!.node
    await Promise.all(attackers.map(async ({ node }) => {
      const gone = new Promise<void>((resolve) => {
        const onDisconnect = (evt: CustomEvent): void => {
          if (String(evt.detail) === node.peerId.toString()) {
            relayNode.removeEventListener('peer:disconnect', onDisconnect)
            resolve()
          }
        }
        relayNode.addEventListener('peer:disconnect', onDisconnect)
      })
      await node.stop()
      await gone
    }))
    const after = memoryAfterGc()
    await bystander.check('after the attackers left')

    const tally = (list: Result[]): Record<string, number> => {
      const out: Record<string, number> = {}
      for (const r of list) out[r.outcome] = (out[r.outcome] ?? 0) + 1
      return out
    }
    const all = [...results.values()].flat()
    const rpc = all.filter(r => r.protocol === REGISTRY_PROTOCOL || r.protocol === MESH_PROTOCOL)
    const hop = results.get(HOP)!
    const ping = results.get(PING)!
    const ident = results.get(IDENTIFY)!
    const isTrespass = (r: Result): boolean => r.kinds[0] === 'a request only members may make'
    const errorCodes = new Map<Result, number[]>(rpc.map(r => [r, answersOn(r.received).filter(a => a.error != null).map(a => a.error!.code)]))
    const rpcLine = (protocol: string): string => {
      const list = results.get(protocol) ?? []
      const codes: Record<string, number> = {}
      for (const r of list) for (const c of errorCodes.get(r)!) codes[c] = (codes[c] ?? 0) + 1
      return `${protocol} streams: ${JSON.stringify(tally(list))} (${list.filter(isTrespass).length} with members' requests), JSON-RPC errors by code ${JSON.stringify(codes)}, ${list.filter(r => !carriesAFrame(r.sent)).length} streams held only an unfinished frame`
    }
    const hopStatuses = new Map<string, number>()
    for (const r of hop) {
      const status = r.received.length > 0 ? hopStatus(concatAll(r.received)) : undefined
      const key = `${isTrespass(r) ? 'members\' request: ' : ''}${r.outcome}${status == null ? '' : ` status ${status}`}`
      hopStatuses.set(key, (hopStatuses.get(key) ?? 0) + 1)
    }
    console.log([
      `${mode} relay: frames sent: ${framesSent} on ${plan.reduce((n, p) => n + p.streams, 0)} streams (${openFailures} streams could not be opened: ${JSON.stringify(Object.fromEntries(openErrors))}); kinds ${JSON.stringify(Object.fromEntries(kindsSent))}`,
      rpcLine(REGISTRY_PROTOCOL),
      ...(mode === 'private' ? [rpcLine(MESH_PROTOCOL)] : []),
      `hop streams: ${JSON.stringify(Object.fromEntries(hopStatuses))}`,
      `ping streams: ${JSON.stringify(tally(ping))}`,
      `identify streams: ${JSON.stringify(tally(ident))}`,
      `held with the attackers connected: ${JSON.stringify(whileConnected)}`,
      `well-behaved probes during the fuzzing: ${probesDuring} through, ${probeFailures.length} timed out or failed${probeFailures.length > 0 ? ` (${probeFailures[0]})` : ''}; circuit handshakes given up and redialled: ${bystander.stalls.length}`,
      `heap of the process holding the relay (after GC, attackers gone) ${(before.heapUsed / MiB).toFixed(1)} → ${(after.heapUsed / MiB).toFixed(1)} MiB, RSS ${(before.rss / MiB).toFixed(1)} → ${(after.rss / MiB).toFixed(1)} MiB`
    ].join('\n'))

    expect(plan.reduce((n, p) => n + p.streams * p.framesEach, 0)).toBe(10_000)
    expect(framesSent).toBe(10_000)
    expect(openFailures).toBe(0)
    expect(all.length).toBe(2250)
    expect(probesDuring).toBeGreaterThan(0)
    expect(probeFailures.length).toBeLessThanOrEqual(probesDuring)
    // registry and mesh: every stream got at least one JSON-RPC error back, or was reset — a
    // stream whose bytes all sat inside one frame that never finished too (the parse error says
    // the stream ended inside a message)
    for (const r of rpc) {
      const codes = errorCodes.get(r)!
      expect(r.outcome === 'reset' || codes.length > 0, `${r.protocol} stream (${r.kinds.join(', ')}): ${r.outcome}, ${codes.length} errors`).toBe(true)
    }
    // hop: each stream was reset, or answered with a refusal status (never OK: 100)
    const refusals: number[] = mode === 'open' ? [HopStatus.MALFORMED_MESSAGE, HopStatus.UNEXPECTED_MESSAGE] : [HopStatus.MALFORMED_MESSAGE, HopStatus.UNEXPECTED_MESSAGE, HopStatus.PERMISSION_DENIED]
    for (const r of hop) {
      if (r.outcome === 'reset') continue
      const status = hopStatus(concatAll(r.received))
      expect(refusals, `hop stream (${r.kinds.join(', ')}): ${r.outcome}, status ${status}`).toContain(status)
    }
    // ping echoes whatever it is sent (that is the protocol) and ends every stream;
    // identify sends the relay's identity and closes, reading nothing
    expect(ping.every(r => r.outcome === 'answered' || r.outcome === 'reset')).toBe(true)
    expect(ident.every(r => r.outcome === 'answered')).toBe(true)
    if (mode === 'private') {
      // strangers asking what only members may: every request answered with a refusal (or the
      // stream reset); not one answer with a result, not one reservation or circuit granted
      const trespassing = all.filter(isTrespass)
      const allowed: Record<string, number[]> = {
        [REGISTRY_PROTOCOL]: [RpcErrorCode.Forbidden, RpcErrorCode.TooManyRequests],
        [MESH_PROTOCOL]: [MeshErrorCode.Refused, RpcErrorCode.TooManyRequests]
      }
      for (const r of trespassing.filter(t => t.protocol !== HOP)) {
        const answers = answersOn(r.received)
        expect(answers.filter(a => a.result !== undefined), `${r.protocol}: a stranger's request succeeded`).toEqual([])
        if (r.outcome === 'reset') continue
        const ids = r.sent.map(bytes => String(([...new FrameDecoder().push(bytes)][0] as { value: { id: string } }).value.id))
        expect(answers.map(a => String(a.id)).sort(), `${r.protocol}: each request answered once`).toEqual(ids.sort())
        for (const a of answers) expect(allowed[r.protocol], `${r.protocol}: ${JSON.stringify(a)}`).toContain(a.error?.code)
      }
      for (const r of trespassing.filter(t => t.protocol === HOP)) {
        if (r.outcome !== 'reset') expect(hopStatus(concatAll(r.received)), 'a stranger\'s RESERVE or CONNECT').toBe(HopStatus.PERMISSION_DENIED)
      }
      // each stranger, whichever way it failed the relay's question (the one that never answers
      // included), was refused a reservation or a circuit
      expect(attackers.map((_, i) => trespassing.some(r => r.from === i && r.protocol === HOP && hopStatus(concatAll(r.received)) === HopStatus.PERMISSION_DENIED)))
        .toEqual(attackers.map(() => true))
      // the access checks themselves answered (not only the rate and in-flight limits), on each protocol
      const count = (protocol: string, code: number): number => trespassing.filter(r => r.protocol === protocol).reduce((n, r) => n + errorCodes.get(r)!.filter(c => c === code).length, 0)
      expect(count(REGISTRY_PROTOCOL, RpcErrorCode.Forbidden)).toBeGreaterThan(0)
      expect(count(MESH_PROTOCOL, MeshErrorCode.Refused)).toBeGreaterThan(0)
      expect(trespassing.filter(r => r.protocol === HOP && hopStatus(concatAll(r.received)) === HopStatus.PERMISSION_DENIED).length).toBeGreaterThan(0)
    }
    // nothing of the attackers was granted: the relay holds the reservations, entry and
    // memberships of the well-behaved peers only, and after they left, their connections neither
    const expected = { reservations: members, listed: [bystander.node.peerId.toString()], ...(mode === 'private' ? { admitted: members } : {}) }
    expect(whileConnected).toEqual(expected)
    expect(held()).toEqual(expected)
    expect(relay!.node.getConnections().map(c => c.remotePeer.toString()).sort()).toEqual(members)
    // memory: generous bounds, far above what a working relay needs and far below a leak of
    // what 10,000 frames and 2,250 streams carried (~1.5 MiB of input, ~30 KiB per connection)
    expect(after.heapUsed - before.heapUsed).toBeLessThan(32 * MiB)
    expect(after.rss - before.rss).toBeLessThan(128 * MiB)
  })

  it('refuses the stream past each protocol\'s per-peer limit, and takes a new one once one of the held ones ends', async () => {
    const { meshId, member } = await start()
    // on a private relay the peer is a member: the limits hold for members, and the stream taken
    // again is served in full
    const { connection } = await attackerConnection((await member()).identity)
    const limits = [
      { protocol: REGISTRY_PROTOCOL, limit: MAX_REGISTRY_STREAMS_PER_PEER, valid: encodeFrame({ jsonrpc: '2.0', id: 1, method: RegistryMethod.Discover, params: {} }), result: { agents: [] } },
      ...(mode === 'private' ? [{ protocol: MESH_PROTOCOL, limit: MAX_MESH_STREAMS_PER_PEER, valid: encodeFrame({ jsonrpc: '2.0', id: 1, method: MeshMethod.Revocations, params: { meshIds: [meshId] } }), result: { revocations: [] } }] : []),
      { protocol: PING, limit: 2, valid: new Uint8Array(32).fill(7) },
      { protocol: IDENTIFY, limit: 1, valid: undefined },
      { protocol: HOP, limit: 64, valid: HOP_RESERVE }
    ]
    for (const { protocol, limit, valid, result } of limits) {
      // `limit` streams opened and never written to: all accepted
      const held = await Promise.all(Array.from({ length: limit }, async () => await connection.newStream(protocol)))
      expect(held.map(s => s.status), protocol).toEqual(held.map(() => 'open'))
      // the next one is refused: the relay resets it as soon as it is negotiated
      const extra = await connection.newStream(protocol).catch((err: Error) => err)
      expect(extra instanceof Error ? 'refused' : extra.status, protocol).toMatch(/^(refused|reset)$/)
      expect(held.map(s => s.status), `${protocol}: the held streams are untouched`).toEqual(held.map(() => 'open'))
      // one held stream ends: a new stream is taken and served
      const first = held[0]!
      const ended = new Promise<void>((resolve) => { first.addEventListener('close', () => { resolve() }) })
      await first.close().catch(() => {})
      await ended
      const again = await connection.newStream(protocol)
      expect(again.status, protocol).toBe('open')
      const { outcome, received } = await sendAndEnd(again, valid == null ? [] : [valid])
      expect(outcome, protocol).toBe('answered')
      const bytes = concatAll(received)
      if (result != null) expect([...new FrameDecoder().push(bytes)][0], protocol).toMatchObject({ ok: true, value: { id: 1, result } })
      if (protocol === PING) expect(bytes).toEqual(valid)
      if (protocol === HOP) expect(hopStatus(bytes), 'RESERVE answered OK').toBe(HopStatus.OK)
      for (const s of held.slice(1)) s.abort(new Error('done'))
    }
  })

  it('closes the idle streams of a peer that sends nothing, with its connection; a peer that keeps its connection alive keeps them', async () => {
    await start({ idleTimeout: 2 })
    const rpcProtocols = mode === 'open' ? [REGISTRY_PROTOCOL, REGISTRY_PROTOCOL] : [REGISTRY_PROTOCOL, REGISTRY_PROTOCOL, MESH_PROTOCOL, MESH_PROTOCOL]
    const silent = await attackerConnection()
    const lively = await attackerConnection({}, 300)
    const silentStreams = await Promise.all([...rpcProtocols, HOP].map(async p => await silent.connection.newStream(p)))
    const livelyStreams = await Promise.all(rpcProtocols.map(async p => await lively.connection.newStream(p)))
    const startedAt = Date.now()
    const outcomes = await Promise.all(silentStreams.map(async s => (await sendAndEndOnClose(s)).outcome))
    console.log(`${mode} relay: a silent peer's idle ${rpcProtocols.join(', ')} and hop streams ended after ${Date.now() - startedAt} ms (idle timeout 2 s): ${outcomes.join(', ')}`)
    // they end with the connection (a bare close or a reset, as the socket ends); nothing else ended them
    for (const outcome of outcomes) expect(['closed', 'reset']).toContain(outcome)
    expect(silent.connection.status).not.toBe('open')
    expect(relay!.node.getConnections(silent.node.peerId)).toEqual([])
    // the relay closed the silent connection while the lively peer's idle streams, open as long,
    // are still there: nothing closes an idle stream on a live connection
    expect(livelyStreams.map(s => s.status)).toEqual(rpcProtocols.map(() => 'open'))
    expect(relay!.node.getConnections(lively.node.peerId)).toHaveLength(1)
  }, 20_000)
})

// ping is libp2p's own service, the same whatever the relay's mode: tested once
describe('a relay\'s ping service under abuse', () => {
  it('resets a ping stream on which nothing is ever sent, at ping\'s 10 s timeout', async () => {
    relay = await testRelay()
    const node = await barePeer()
    nodes.push(node)
    const connection = await node.dial(multiaddr(tcpAddr(relay)))
    const startedAt = Date.now()
    const { outcome } = await sendAndEndOnClose(await connection.newStream(PING))
    console.log(`idle ping stream reset by the relay after ${Date.now() - startedAt} ms`)
    expect(outcome).toBe('reset')
    // the connection itself stays
    expect(connection.status).toBe('open')
  }, 20_000)
})

/** Whether `frames`, read as a registry stream (256 KiB limit), hold a whole frame or a prefix past the limit. */
function carriesAFrame (frames: Uint8Array[]): boolean {
  const decoder = new FrameDecoder(REGISTRY_MAX_FRAME_BYTES)
  try {
    for (const frame of frames) for (const body of decoder.bodies(frame)) { if (body != null) return true }
  } catch {
    return true
  }
  return false
}

