/**
 * Abuse and bad input against a real relay (in process, over TCP on loopback), from real libp2p
 * peers: 10,000 random and truncated frames to every protocol it serves, streams opened and
 * never written, more streams than a peer may hold. Through all of it a well-behaved peer
 * still discovers agents and makes round trips through the relay's circuit, and the memory of
 * the process holding the relay stays within a generous bound once the attackers are gone.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { REGISTRY_MAX_FRAME_BYTES, REGISTRY_PROTOCOL, RegistryMethod } from '../src/core/registry/protocol.js'
import { encodeFrame, FrameDecoder } from '../src/core/rpc/frame.js'
import { tcpAddr, testRelay } from '../src/native/test-helpers.js'
import { MAX_REGISTRY_STREAMS_PER_PEER } from './registry/service.js'
import type { RunningRelay } from './relay.js'
import { badFrame, barePeer, echoBehindRelay, hopStatus, memoryAfterGc, prng, sendAndEnd, sendAndEndOnClose, wellBehaved } from './abuse-helpers.js'
import type { FrameKind, StreamOutcome } from './abuse-helpers.js'

const IDENTIFY = '/ipfs/id/1.0.0'
const PING = '/ipfs/ping/1.0.0'
const HOP = '/libp2p/circuit/relay/0.2.0/hop'
/** HopMessage.Status.MALFORMED_MESSAGE and UNEXPECTED_MESSAGE. */
const HOP_MALFORMED = 400
const HOP_UNEXPECTED = 401

const MiB = 1024 * 1024

describe('relay under abuse', () => {
  let relay: RunningRelay | undefined
  const nodes: Libp2p[] = []

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    await relay?.stop()
    relay = undefined
  })

  async function attackerConnection (keepAliveMs?: number): Promise<{ node: Libp2p, connection: Connection }> {
    const node = await barePeer({ keepAliveMs })
    nodes.push(node)
    const connection = await node.dial(multiaddr(tcpAddr(relay!)))
    // one ping round trip first: until the relay has set the connection up, a peer opening more
    // than 10 streams at once has its connection aborted (libp2p's MaxEarlyStreamsError)
    const { outcome } = await sendAndEnd(await connection.newStream(PING), [new Uint8Array(32)])
    expect(outcome).toBe('answered')
    return { node, connection }
  }

  it('takes 10,000 random and truncated frames on every protocol it serves, answers each bad stream, keeps serving others and keeps its memory bounded', async () => {
    relay = await testRelay()
    // what the relay serves to a remote: nothing else should exist to be fuzzed
    expect(relay.node.getProtocols().sort()).toEqual([HOP, IDENTIFY, PING, REGISTRY_PROTOCOL].sort())
    const echo = await echoBehindRelay(relay)
    nodes.push(echo.node)
    const bystander = await wellBehaved(relay, echo)
    nodes.push(bystander.node)
    await bystander.check('before')
    const before = memoryAfterGc()

    const attackers = await Promise.all([1, 2, 3, 4].map(async () => await attackerConnection()))
    const random = prng(0x5747)
    // per protocol: streams, frames on each, parallel lanes on each attacker (within its stream limit)
    const plan = [
      { protocol: REGISTRY_PROTOCOL, streams: 100, framesEach: 50, lanes: MAX_REGISTRY_STREAMS_PER_PEER },
      { protocol: PING, streams: 150, framesEach: 20, lanes: 2 },
      { protocol: HOP, streams: 1500, framesEach: 1, lanes: 8 },
      { protocol: IDENTIFY, streams: 500, framesEach: 1, lanes: 1 }
    ]
    type Result = { outcome: StreamOutcome, received: Uint8Array[], kinds: FrameKind[], sent: Uint8Array[] }
    const results = new Map<string, Result[]>(plan.map(p => [p.protocol, []]))
    const kindsSent = new Map<FrameKind, number>()
    let framesSent = 0
    let openFailures = 0
    const openErrors = new Map<string, number>()

    const fuzz = Promise.all(plan.flatMap(({ protocol, streams, framesEach, lanes }) => {
      let left = streams
      return attackers.flatMap(({ connection }) => Array.from({ length: lanes }, async () => {
        while (left > 0) {
          left--
          const frames = Array.from({ length: framesEach }, () => badFrame(random))
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
          const { outcome, received } = await sendAndEnd(stream, frames.map(f => f.bytes))
          results.get(protocol)!.push({ outcome, received, kinds: frames.map(f => f.kind), sent: frames.map(f => f.bytes) })
        }
      }))
    }))

    // a well-behaved peer keeps discovering and making relayed round trips while it runs. The
    // attackers, the relay and the bystander share this process's one event loop, so a probe may
    // time out because the test itself is saturated: those are counted, not fatal, as long as
    // probes keep getting through during the flood and every one after it does
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

    // the attackers leave; the relay drops everything they held
    const relayNode = relay.node
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
    const registry = results.get(REGISTRY_PROTOCOL)!
    const hop = results.get(HOP)!
    const ping = results.get(PING)!
    const ident = results.get(IDENTIFY)!
    const registryErrors = registry.map(r => {
      const decoder = new FrameDecoder()
      let errors = 0
      try {
        for (const chunk of r.received) for (const f of decoder.push(chunk)) if (f.ok && (f.value as { error?: unknown }).error != null) errors++
      } catch {
        // a reply cut short by a reset: the errors before it count
      }
      return errors
    })
    const hopStatuses = new Map<string, number>()
    for (const r of hop) {
      const status = r.received.length > 0 ? hopStatus(Uint8Array.from(r.received.flatMap(c => [...c]))) : undefined
      const key = `${r.outcome}${status == null ? '' : ` status ${status}`}`
      hopStatuses.set(key, (hopStatuses.get(key) ?? 0) + 1)
    }
    console.log([
      `frames sent: ${framesSent} on ${plan.reduce((n, p) => n + p.streams, 0)} streams (${openFailures} streams could not be opened: ${JSON.stringify(Object.fromEntries(openErrors))}); kinds ${JSON.stringify(Object.fromEntries(kindsSent))}`,
      `registry streams: ${JSON.stringify(tally(registry))}, ${registryErrors.reduce((a, b) => a + b, 0)} JSON-RPC errors received, ${registry.filter(r => !carriesAFrame(r.sent)).length} streams held only an unfinished frame`,
      `hop streams: ${JSON.stringify(Object.fromEntries(hopStatuses))}`,
      `ping streams: ${JSON.stringify(tally(ping))}`,
      `identify streams: ${JSON.stringify(tally(ident))}`,
      `well-behaved probes during the fuzzing: ${probesDuring} through, ${probeFailures.length} timed out or failed${probeFailures.length > 0 ? ` (${probeFailures[0]})` : ''}; circuit handshakes given up and redialled: ${bystander.stalls.length}`,
      `heap of the process holding the relay (after GC, attackers gone) ${(before.heapUsed / MiB).toFixed(1)} → ${(after.heapUsed / MiB).toFixed(1)} MiB, RSS ${(before.rss / MiB).toFixed(1)} → ${(after.rss / MiB).toFixed(1)} MiB`
    ].join('\n'))

    expect(framesSent).toBe(10_000)
    expect(openFailures).toBe(0)
    expect(registry.length + hop.length + ping.length + ident.length).toBe(2250)
    expect(probesDuring).toBeGreaterThan(0)
    expect(probeFailures.length).toBeLessThanOrEqual(probesDuring)
    // registry: every stream got at least one JSON-RPC error back, or was reset — a stream whose
    // bytes all sat inside one frame that never finished too (the parse error says the stream
    // ended inside a message)
    registry.forEach((r, i) => {
      expect(r.outcome === 'reset' || registryErrors[i]! > 0, `registry stream ${i} (${r.kinds.join(', ')}): ${r.outcome}, ${registryErrors[i]} errors`).toBe(true)
    })
    // hop: each stream was reset, or answered with a refusal status (never OK: 100)
    for (const r of hop) {
      if (r.outcome === 'reset') continue
      const status = hopStatus(Uint8Array.from(r.received.flatMap(c => [...c])))
      expect([HOP_MALFORMED, HOP_UNEXPECTED], `hop stream (${r.kinds.join(', ')}): ${r.outcome}, status ${status}`).toContain(status)
    }
    // ping echoes whatever it is sent (that is the protocol) and ends every stream;
    // identify sends the relay's identity and closes, reading nothing
    expect(ping.every(r => r.outcome === 'answered' || r.outcome === 'reset')).toBe(true)
    expect(ident.every(r => r.outcome === 'answered')).toBe(true)
    // nothing of the attackers is left on the relay
    expect(relay.node.getConnections().map(c => c.remotePeer.toString()).sort())
      .toEqual([echo.node.peerId.toString(), bystander.node.peerId.toString()].sort())
    // memory: generous bounds, far above what a working relay needs and far below a leak of
    // what 10,000 frames and 2,250 streams carried (~1.5 MiB of input, ~30 KiB per connection)
    expect(after.heapUsed - before.heapUsed).toBeLessThan(32 * MiB)
    expect(after.rss - before.rss).toBeLessThan(128 * MiB)
  })

  it('refuses the stream past each protocol\'s per-peer limit, and takes a new one once one of the held ones ends', async () => {
    relay = await testRelay()
    const { connection } = await attackerConnection()
    const limits = [
      { protocol: REGISTRY_PROTOCOL, limit: MAX_REGISTRY_STREAMS_PER_PEER, valid: encodeFrame({ jsonrpc: '2.0', id: 1, method: RegistryMethod.Discover, params: {} }) },
      { protocol: PING, limit: 2, valid: new Uint8Array(32).fill(7) },
      { protocol: IDENTIFY, limit: 1, valid: undefined },
      // a HopMessage { type: RESERVE }
      { protocol: HOP, limit: 64, valid: Uint8Array.from([2, 0x08, 0x00]) }
    ]
    for (const { protocol, limit, valid } of limits) {
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
      const bytes = Uint8Array.from(received.flatMap(c => [...c]))
      if (protocol === REGISTRY_PROTOCOL) expect([...new FrameDecoder().push(bytes)][0]).toMatchObject({ ok: true, value: { id: 1, result: { agents: [] } } })
      if (protocol === PING) expect(bytes).toEqual(valid)
      if (protocol === HOP) expect(hopStatus(bytes), 'RESERVE answered OK').toBe(100)
      for (const s of held.slice(1)) s.abort(new Error('done'))
    }
  })

  it('resets a ping stream on which nothing is ever sent, at ping\'s 10 s timeout', async () => {
    relay = await testRelay()
    const { connection } = await attackerConnection()
    const startedAt = Date.now()
    const { outcome } = await sendAndEndOnClose(await connection.newStream(PING))
    console.log(`idle ping stream reset by the relay after ${Date.now() - startedAt} ms`)
    expect(outcome).toBe('reset')
    // the connection itself stays
    expect(connection.status).toBe('open')
  }, 20_000)

  it('closes the idle streams of a peer that sends nothing, with its connection; a peer that keeps its connection alive keeps them', async () => {
    relay = await testRelay({ idleTimeout: 2 })
    const silent = await attackerConnection()
    const lively = await attackerConnection(300)
    const silentStreams = await Promise.all([REGISTRY_PROTOCOL, REGISTRY_PROTOCOL, HOP].map(async p => await silent.connection.newStream(p)))
    const livelyStreams = await Promise.all([REGISTRY_PROTOCOL, REGISTRY_PROTOCOL].map(async p => await lively.connection.newStream(p)))
    const startedAt = Date.now()
    const outcomes = await Promise.all(silentStreams.map(async s => (await sendAndEndOnClose(s)).outcome))
    console.log(`a silent peer's idle registry and hop streams ended after ${Date.now() - startedAt} ms (idle timeout 2 s): ${outcomes.join(', ')}`)
    // they end with the connection (a bare close or a reset, as the socket ends); nothing else ended them
    for (const outcome of outcomes) expect(['closed', 'reset']).toContain(outcome)
    expect(silent.connection.status).not.toBe('open')
    expect(relay.node.getConnections(silent.node.peerId)).toEqual([])
    // the relay closed the silent connection while the lively peer's idle registry streams,
    // open as long, are still there: nothing closes an idle stream on a live connection
    expect(livelyStreams.map(s => s.status)).toEqual(['open', 'open'])
    expect(relay.node.getConnections(lively.node.peerId)).toHaveLength(1)
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
