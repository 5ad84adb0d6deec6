/**
 * `/metrics` and `/health` on a real relay with real peers: the counters and gauges move with the
 * traffic that should move them, and health turns "degraded" when a limit is nearly reached.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { multiaddr as ma } from '@multiformats/multiaddr'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from '@libp2p/interface'
import { buildAgentCard } from '../src/core/a2a/binding.js'
import type { StarlingPeer } from '../src/core/peer.js'
import { RpcClient } from '../src/core/rpc/client.js'
import { RpcErrorCode } from '../src/core/rpc/jsonrpc.js'
import { collectFrames } from '../src/core/rpc/testing.js'
import { REGISTRY_PROTOCOL, RegistryMethod } from '../src/core/registry/protocol.js'
import type { TaskHandler } from '../src/core/tasks/executor.js'
import { tcpAddr, tempDir, testPeer, untilPublished } from '../src/native/test-helpers.js'
import { loadConfig } from './config.js'
import type { RelayConfig } from './config.js'
import type { HealthMonitorInit } from './health.js'
import { RELAY_STOP_PROTOCOL, transportOf } from './metrics.js'
import { startRelay } from './relay.js'
import type { RunningRelay } from './relay.js'

/** One sample of the exposition text: `name{labels} value`. */
interface Sample { name: string, labels: Record<string, string>, value: number }

async function scrape (relay: RunningRelay): Promise<Sample[]> {
  const res = await fetch(`${relay.url}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
  const samples: Sample[] = []
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match == null) throw new Error(`unparsable exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key ?? ''] = value ?? ''
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) })
  }
  return samples
}

/** The value of the sample `name` whose labels include `labels`; undefined when there is none. */
function valueOf (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
}

/**
 * The lag monitor's sampling period in the stall test, in ms: long, so that the one late sample
 * is more than 1 % of them (p99 is what health reads) however slowly this machine starts the relay.
 */
const STALL_TEST_RESOLUTION_MS = 200

/**
 * Resolves after the event-loop lag monitor's next tick. An ordering barrier, not a wait for time
 * to pass: the monitor's repeating timer is due at most one period after the loop time it last
 * ran (or was enabled) at, and a timer set now for one ms more is due after it, so libuv runs the
 * monitor's first.
 */
async function afterLagMonitorTick (): Promise<void> {
  await new Promise(resolve => { setTimeout(resolve, STALL_TEST_RESOLUTION_MS + 1) })
}

/** The circuit relay v2 protocol a peer reserves a slot with. */
const HOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/hop'

const echo: TaskHandler = async (task) => ({ kind: 'completed', text: `echo: ${task.text}` })

describe('relay metrics and health', () => {
  const relays: RunningRelay[] = []
  const cleanups: Array<() => Promise<void>> = []
  const peers: StarlingPeer[] = []
  const nodes: Libp2p[] = []
  afterEach(async () => {
    await Promise.all([...peers.splice(0).map(async p => { await p.stop() }), ...nodes.splice(0).map(async n => { await n.stop() })])
    await Promise.all(relays.splice(0).map(async r => { await r.stop() }))
    await Promise.all(cleanups.splice(0).map(async c => { await c() }))
  })

  /**
   * A relay in this process. The test process itself stalls its event loop (loading modules,
   * starting peers), so health's lag check is off unless a test is about it.
   */
  async function relayWith (overrides: Partial<RelayConfig> = {}, health: HealthMonitorInit = { maxEventLoopLagMs: Infinity }): Promise<RunningRelay> {
    const dir = await tempDir('starling-relay-')
    cleanups.push(dir.remove)
    const config = loadConfig(['--port', '0', '--tcp-port', '0', '--data-dir', dir.path, '--app-dir', dir.path], {})
    if (config === 'help') throw new Error('unreachable')
    const relay = await startRelay({ ...config, ...overrides }, { health })
    relays.push(relay)
    return relay
  }

  async function peer (relay: RunningRelay, handler?: TaskHandler): Promise<StarlingPeer> {
    const p = await testPeer(relay, handler == null ? {} : { handler })
    peers.push(p)
    return p
  }

  /** A bare libp2p peer speaking the registry protocol to the relay. */
  async function registryClient (relay: RunningRelay): Promise<{ node: Libp2p, me: string, rpc: RpcClient }> {
    const node = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    nodes.push(node)
    const stream = await node.dialProtocol(multiaddr(tcpAddr(relay)), REGISTRY_PROTOCOL)
    return { node, me: node.peerId.toString(), rpc: new RpcClient(stream) }
  }

  it('counts reservations, registry calls, relayed circuits and their bytes, refusals and HTTP requests', async () => {
    const relay = await relayWith()
    const idle = await scrape(relay)
    expect(valueOf(idle, 'starling_relay_reservations')).toBe(0)
    expect(valueOf(idle, 'starling_relay_registry_entries')).toBe(0)
    expect(valueOf(idle, 'starling_relay_connections', { transport: 'tcp' })).toBe(0)
    expect(valueOf(idle, 'starling_relay_circuits_open')).toBe(0)

    const asker = await peer(relay)
    const agent = await peer(relay, echo)
    await Promise.all([untilPublished(asker), untilPublished(agent)])
    const found = await asker.discover({ skill: 'echo' })
    expect(found.map(a => a.peerId).sort()).toEqual([asker.peerId, agent.peerId].sort())

    // a task from one peer to the other: both only listen on the relay, so it crosses a circuit
    const sent = await asker.send(agent.peerId, 'hello through the relay')
    expect((await asker.waitFor(sent.id)).state).toBe('TASK_STATE_COMPLETED')

    const intruder = await registryClient(relay)
    await expect(intruder.rpc.request(RegistryMethod.Publish, { card: buildAgentCard(agent.peerId, { name: 'fake', description: '', skills: [] }) }))
      .rejects.toMatchObject({ rpcCode: RpcErrorCode.Forbidden })
    await expect(intruder.rpc.request(RegistryMethod.Discover, { skill: 7 })).rejects.toMatchObject({ rpcCode: RpcErrorCode.InvalidParams })
    // a frame that is not JSON never reaches the registry: the stream answers it, and it is counted
    const garbage = await intruder.node.dialProtocol(multiaddr(tcpAddr(relay)), REGISTRY_PROTOCOL)
    const answers = collectFrames(garbage)
    garbage.send(Uint8Array.from([4, 0x7b, 0x7b, 0x7b, 0x7b]))
    await answers.received(1)
    expect(answers.frames[0]).toMatchObject({ error: { code: RpcErrorCode.ParseError } })

    const busy = await scrape(relay)
    expect(valueOf(busy, 'starling_relay_reservations')).toBe(2)
    expect(valueOf(busy, 'starling_relay_registry_entries')).toBe(2)
    expect(valueOf(busy, 'starling_relay_connections', { transport: 'tcp' })).toBe(3)
    expect(valueOf(busy, 'starling_relay_connections', { transport: 'ws' })).toBe(0)
    expect(valueOf(busy, 'starling_relay_circuits_open')).toBeGreaterThanOrEqual(1)
    expect(valueOf(busy, 'starling_relay_registry_operations_total', { op: 'publish', outcome: 'ok' })).toBeGreaterThanOrEqual(2)
    expect(valueOf(busy, 'starling_relay_registry_operations_total', { op: 'discover', outcome: 'ok' })).toBeGreaterThanOrEqual(1)
    expect(valueOf(busy, 'starling_relay_registry_operations_total', { op: 'publish', outcome: 'refused' })).toBe(1)
    expect(valueOf(busy, 'starling_relay_registry_operation_duration_seconds_count', { op: 'publish' })).toBe(
      (valueOf(busy, 'starling_relay_registry_operations_total', { op: 'publish', outcome: 'ok' }) ?? 0) + 1)
    expect(valueOf(busy, 'starling_relay_refusals_total', { reason: 'forbidden' })).toBe(1)
    expect(valueOf(busy, 'starling_relay_refusals_total', { reason: 'invalid_params' })).toBe(1)
    expect(valueOf(busy, 'starling_relay_refusals_total', { reason: 'bad_frame' })).toBe(1)
    expect(valueOf(busy, 'starling_relay_http_requests_total', { route: 'metrics', status: '200' })).toBe(1)
    // libp2p's own metrics, in the same registry: the bytes of the circuit the task crossed
    const relayed = (valueOf(busy, 'libp2p_data_transfer_bytes_total', { protocol: `${RELAY_STOP_PROTOCOL} sent` }) ?? 0) +
      (valueOf(busy, 'libp2p_data_transfer_bytes_total', { protocol: `${RELAY_STOP_PROTOCOL} received` }) ?? 0)
    expect(relayed).toBeGreaterThan(0)
    expect(valueOf(busy, 'libp2p_circuit_relay_server_reservations_total')).toBe(2)

    // the same registry calls over HTTP are not registry protocol calls; health stays ok
    const health = await (await fetch(`${relay.url}/health`)).json() as Record<string, unknown>
    expect(health).toMatchObject({ status: 'ok', reasons: [], reservations: 2, agents: 2 })
  })

  it('reports degraded health, naming why, when reservations and the registry near their limits', async () => {
    const relay = await relayWith({ maxReservations: 1, maxAgents: 1 })
    const before = await (await fetch(`${relay.url}/health`)).json() as { status: string, reasons: string[] }
    expect(before).toMatchObject({ status: 'ok', reasons: [] })

    const first = await peer(relay)
    await untilPublished(first)
    const res = await fetch(`${relay.url}/health`)
    // degraded still serves: load balancers must not take the relay out for it
    expect(res.status).toBe(200)
    const health = await res.json() as { status: string, reasons: string[], reservations: number, agents: number, connectedPeers: number, uptimeSeconds: number }
    expect(health.status).toBe('degraded')
    expect(health.reasons).toEqual(expect.arrayContaining([
      'reservations near the limit: 1 of 1',
      'registry near the limit: 1 of 1'
    ]))
    expect(health).toMatchObject({ reservations: 1, agents: 1, connectedPeers: 1 })

    // the full registry refuses the next publisher, and says so in the metrics
    const late = await registryClient(relay)
    await expect(late.rpc.request(RegistryMethod.Publish, { card: buildAgentCard(late.me, { name: 'late', description: '', skills: [] }) }))
      .rejects.toMatchObject({ rpcCode: RpcErrorCode.Unavailable })
    // and the next reservation is refused: a bare circuit relay v2 RESERVE (HopMessage type 0)
    const stream = await late.node.dialProtocol(multiaddr(tcpAddr(relay)), HOP_PROTOCOL)
    const hop = lpStream(stream)
    await hop.write(Uint8Array.of(0x08, 0x00))
    // HopMessage { type: STATUS, status: RESERVATION_REFUSED (200) }
    expect([...(await hop.read()).subarray()]).toEqual([0x08, 0x02, 0x28, 0xc8, 0x01])
    const samples = await scrape(relay)
    expect(valueOf(samples, 'starling_relay_refusals_total', { reason: 'registry_full' })).toBe(1)
    expect(valueOf(samples, 'starling_relay_refusals_total', { reason: 'reservation_refused' })).toBe(1)
    expect(valueOf(samples, 'starling_relay_reservations')).toBe(1)
  })

  it('reports degraded health when the event loop stalls', async () => {
    const relay = await relayWith({}, { maxEventLoopLagMs: 100, lagWindowMs: 60_000, lagResolutionMs: STALL_TEST_RESOLUTION_MS })
    // the monitor's first tick only starts its clock: let it tick before the stall
    await afterLagMonitorTick()
    // hold the event loop as a runaway handler would: the monitor's next tick comes late
    const until = performance.now() + 400
    while (performance.now() < until) { /* busy: this is the stall being measured */ }
    await afterLagMonitorTick()
    const health = await (await fetch(`${relay.url}/health`)).json() as { status: string, reasons: string[], eventLoopLagMs: number }
    expect(health.status).toBe('degraded')
    expect(health.reasons).toEqual([expect.stringMatching(/^event-loop lag high: \d+ ms \(p99\)$/)])
    expect(health.eventLoopLagMs).toBeGreaterThan(100)
  })
})

describe('relay metric labels', () => {
  it('tells transports apart by the remote address', () => {
    expect(transportOf({ remoteAddr: ma('/ip4/10.0.0.7/tcp/51234') })).toBe('tcp')
    expect(transportOf({ remoteAddr: ma('/ip4/10.0.0.7/tcp/51234/ws') })).toBe('ws')
    expect(transportOf({ remoteAddr: ma('/ip6/::1/tcp/443/tls/ws') })).toBe('ws')
    expect(transportOf({ remoteAddr: ma('/ip4/10.0.0.7/tcp/4001/p2p/12D3KooWJzQc6PiXytZg9MaAkPE3cMsVBcud17dEQjPd2pY1BfJK/p2p-circuit') })).toBe('circuit')
  })
})
