/**
 * Relay scale: how many reservations the relay holds, what each costs it in memory, what the
 * held reservations cost it in CPU while idle, and how the relayed round trip grows with them.
 *
 * The relay runs as its own process (what `npm run relay` runs); native clients run in a few
 * worker processes (./relay-scale/client-worker.ts), each dialing the relay over TCP and holding
 * a reservation. At each step N the section waits until the relay has settled, forces a full GC
 * through the relay's inspector and reads its resident memory (the slope over N is the cost of
 * a reservation), then times round trips through a circuit between two more peers
 * (./relay-scale/echo-pair.ts). At the last step it measures the relay's idle CPU over a whole
 * period of the peers' keep-alive, then again while every client pings it every 10 s. The
 * baseline is a stock js-libp2p relay (./relay-scale/stock-relay.ts) measured the same way in
 * the same run, at fewer reservations.
 *
 * Profiling: STARLING_BENCH_RELAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" passes flags to
 * the relay process; STARLING_BENCH_RELAY_STEPS=100,1000 overrides the steps.
 */
import { startClientPool } from './relay-scale/client-pool.js'
import type { ClientPool } from './relay-scale/client-pool.js'
import { startEchoPair } from './relay-scale/echo-pair.js'
import type { EchoPair } from './relay-scale/echo-pair.js'
import { startStarlingRelay, startStockRelay } from './relay-scale/relay-process.js'
import type { RelayProcess } from './relay-scale/relay-process.js'
import type { LatencyResult } from './lib/stats.js'
import type { BenchContext, Figure, SectionResult } from './lib/types.js'

interface Plan {
  /** Reservations to reach on Starling's relay, in order. */
  steps: number[]
  /** Reservations to reach on the stock relay (the baseline), in order. */
  stockSteps: number[]
  workers: number
  concurrency: number
  /** Idle window at the last step: a whole period of the peers' yamux keep-alive (30 s). */
  topIdleSeconds: number
  /** Idle window on the stock relay: whole periods of its connection monitor (10 s). */
  stockIdleSeconds: number
  /** Window with every client pinging the relay every 10 s (a whole period). */
  peerPingSeconds: number
  rtt: { count: number, warmup: number }
  /** No new clients after this many seconds into the section; later steps are skipped. */
  rampBudgetSeconds: number
  /** CPU window of the settle check, in seconds. */
  settleSeconds: number
  /** Full GCs before reading memory, and RSS readings after them (200 ms apart, the lowest kept). */
  gc: { collections: number, readings: number }
}

function plan (quick: boolean): Plan {
  const base: Plan = quick
    ? { steps: [10, 20], stockSteps: [10], workers: 2, concurrency: 8, topIdleSeconds: 0.5, stockIdleSeconds: 0.5, peerPingSeconds: 0.5, rtt: { count: 50, warmup: 10 }, rampBudgetSeconds: 30, settleSeconds: 0.25, gc: { collections: 1, readings: 1 } }
    : { steps: [100, 1000, 2500, 5000], stockSteps: [750, 1500], workers: 3, concurrency: 16, topIdleSeconds: 30, stockIdleSeconds: 20, peerPingSeconds: 10, rtt: { count: 1000, warmup: 100 }, rampBudgetSeconds: 170, settleSeconds: 1, gc: { collections: 2, readings: 3 } }
  const steps = process.env.STARLING_BENCH_RELAY_STEPS?.split(',').map(Number).filter(n => Number.isInteger(n) && n > 0)
  return { ...base, steps: steps != null && steps.length > 0 ? steps : base.steps }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const KiB = 1024
const MiB = 1024 * 1024

/** Least-squares slope of y over x. */
function slope (points: Array<[number, number]>): number {
  const n = points.length
  const mx = points.reduce((s, [x]) => s + x, 0) / n
  const my = points.reduce((s, [, y]) => s + y, 0) / n
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0)
  return sxx === 0 ? Number.NaN : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx
}

/** CPU of the relay over `seconds`, in % of one core. */
async function cpuPercent (relay: RelayProcess, seconds: number): Promise<number> {
  const before = await relay.cpuSeconds()
  const start = performance.now()
  await sleep(seconds * 1000)
  const after = await relay.cpuSeconds()
  return (after - before) / ((performance.now() - start) / 1000) * 100
}

/** Waits until the relay holds `expected` reservations (when it tells) and its CPU has calmed down. */
async function settle (relay: RelayProcess, expected: number, timeoutMs: number, windowSeconds: number): Promise<number> {
  const start = Date.now()
  while (Date.now() - start < timeoutMs) {
    const held = await relay.reservations()
    if ((held == null || held >= expected) && await cpuPercent(relay, windowSeconds) < 15) break
    await sleep(100)
  }
  return Date.now() - start
}

interface Step {
  target: number
  /** Reservations the relay held (its own count, else the clients'). */
  held: number
  rampMs: number
  /** Relay CPU seconds spent during the ramp (and the settling after it). */
  rampCpu: number
  added: number
  failed: number
  errors: string[]
  cpu: number
  windowSeconds: number
  /** Resident memory before and after the forced GC, and the JS heap after it. */
  rssAsFound: number
  rss: number
  heap: number
  rtt?: LatencyResult & { circuitMs: number }
}

interface Phase {
  steps: Step[]
  /** Memory with no client yet. */
  empty: { held: number, rssAsFound: number, rss: number, heap: number }
  peerPingCpu?: number
  /** Why the ramp stopped short, when it did. */
  stoppedShort?: string
}

interface PhaseInit {
  context: BenchContext
  plan: Plan
  relay: RelayProcess
  steps: number[]
  /** Idle CPU window at a step, in seconds (0: none); `last` when no step follows. */
  window: (last: boolean) => number
  echo?: EchoPair
  /** Reservations held by others than the clients (the echo listener). */
  extra: number
  peerPings: boolean
  rampDeadline: number
  label: string
}

async function measureMemory (relay: RelayProcess, gc: Plan['gc']): Promise<{ rssAsFound: number, rss: number, heap: number }> {
  const rssAsFound = await relay.rssBytes()
  // V8 hands freed pages back to the system in the background: collect more than once, then
  // take the lowest of a few readings
  let heap = await relay.collectGarbage()
  for (let i = 1; i < gc.collections; i++) {
    await sleep(300)
    heap = await relay.collectGarbage()
  }
  let rss = Number.POSITIVE_INFINITY
  for (let i = 0; i < gc.readings; i++) {
    if (gc.readings > 1) await sleep(200)
    rss = Math.min(rss, await relay.rssBytes())
  }
  return { rssAsFound, rss, heap: heap.heapUsed }
}

async function runPhase (init: PhaseInit): Promise<Phase> {
  const { context, plan: p, relay, label } = init
  let pool: ClientPool | undefined
  try {
    pool = await startClientPool({ root: context.root, workers: p.workers, relayAddr: relay.tcpAddr, nodeArgs: process.env.STARLING_BENCH_CLIENT_NODE_ARGS?.split(' ').filter(a => a.length > 0) })
    await settle(relay, init.extra, 10_000, p.settleSeconds)
    const empty = { held: init.extra, ...await measureMemory(relay, p.gc) }
    const phase: Phase = { steps: [], empty }
    let reached = 0
    for (const [index, target] of init.steps.entries()) {
      if (Date.now() > init.rampDeadline) {
        phase.stoppedShort = `no time left to ramp to ${target} (the ramps may take ${p.rampBudgetSeconds} s)`
        break
      }
      const rampStart = Date.now()
      const cpuBefore = await relay.cpuSeconds()
      let nextReport = 500
      const grown = await pool.growTo(target, {
        concurrencyPerWorker: p.concurrency,
        deadline: init.rampDeadline,
        onProgress: (count) => {
          if (count >= nextReport) {
            context.progress(`relay (${label}): ${count} reservations`)
            nextReport = (Math.floor(count / 500) + 1) * 500
          }
        }
      })
      const rampMs = Date.now() - rampStart
      const settleMs = await settle(relay, grown.reserved + init.extra, 20_000, p.settleSeconds)
      const rampCpu = await relay.cpuSeconds() - cpuBefore
      const held = (await relay.reservations()) ?? grown.reserved + init.extra
      // memory first: the forced GC also clears the ramp's garbage, which V8 would otherwise
      // collect during the idle window and count as idle CPU
      const memory = await measureMemory(relay, p.gc)
      const last = index === init.steps.length - 1 || grown.reserved < target || Date.now() > init.rampDeadline
      const windowSeconds = init.window(last)
      const cpu = windowSeconds > 0 ? await cpuPercent(relay, windowSeconds) : Number.NaN
      const step: Step = { target, held, rampMs, rampCpu, added: grown.reserved - reached, failed: grown.failed, errors: grown.errors, cpu, windowSeconds, ...memory }
      reached = grown.reserved
      if (init.echo != null) step.rtt = await init.echo.measure(p.rtt.count, p.rtt.warmup)
      phase.steps.push(step)
      context.progress(`relay (${label}): ${held} held after a ${(rampMs / 1000).toFixed(1)} s ramp and ${(settleMs / 1000).toFixed(1)} s to settle; ` +
        (windowSeconds > 0 ? `idle CPU ${cpu.toFixed(2)} % over ${windowSeconds} s; ` : '') + `RSS ${(memory.rssAsFound / MiB).toFixed(1)} MiB, ${(memory.rss / MiB).toFixed(1)} MiB after GC` +
        (step.rtt != null ? `; round trip p50 ${step.rtt.p50.toFixed(3)} ms, p99 ${step.rtt.p99.toFixed(3)} ms` : ''))
      if (grown.reserved < target) {
        phase.stoppedShort = grown.failed > 0
          ? `${grown.failed} clients could not reserve (${grown.errors.slice(0, 3).join('; ')})`
          : `the ramp ran out of time at ${grown.reserved} clients (the ramps may take ${p.rampBudgetSeconds} s)`
        break
      }
    }
    if (init.peerPings && phase.steps.length > 0) {
      await pool.ping(10_000)
      phase.peerPingCpu = await cpuPercent(relay, p.peerPingSeconds)
      await pool.ping(null)
    }
    return phase
  } finally {
    await pool?.stop()
  }
}

export async function relayScaleSection (context: BenchContext): Promise<SectionResult> {
  const p = plan(context.quick)
  const started = Date.now()
  const rampDeadline = started + p.rampBudgetSeconds * 1000
  const nodeArgs = process.env.STARLING_BENCH_RELAY_NODE_ARGS?.split(' ').filter(a => a.length > 0)
  const figures: Figure[] = []
  const notes: string[] = []
  const skipped: string[] = []

  // the baseline first: a stock js-libp2p relay
  const stockTop = p.stockSteps[p.stockSteps.length - 1]!
  let stock: Phase
  const stockRelay = await startStockRelay({ root: context.root, maxReservations: stockTop + 64, maxConnections: stockTop + 256, nodeArgs })
  try {
    stock = await runPhase({
      context, plan: p, relay: stockRelay, steps: p.stockSteps, extra: 0, peerPings: false, rampDeadline, label: 'stock js-libp2p',
      window: (last) => last ? p.stockIdleSeconds : 0
    })
  } finally {
    await stockRelay.stop()
  }

  // then Starling's relay, as `npm run relay` runs it
  const top = p.steps[p.steps.length - 1]!
  let ours: Phase
  const relay = await startStarlingRelay({
    root: context.root,
    maxReservations: top + 64,
    maxConnections: top + 256,
    // every client comes from 127.0.0.1
    args: ['--new-connections-per-host', '100000'],
    nodeArgs
  })
  let echo: EchoPair | undefined
  try {
    echo = await startEchoPair(relay.tcpAddr)
    ours = await runPhase({
      context, plan: p, relay, steps: p.steps, echo, extra: 1, peerPings: true, rampDeadline, label: 'Starling',
      window: (last) => last ? p.topIdleSeconds : 0
    })
  } finally {
    await echo?.stop()
    await relay.stop()
  }

  // figures
  const last = ours.steps[ours.steps.length - 1]
  const stockLast = stock.steps[stock.steps.length - 1]
  if (last == null || stockLast == null) throw new Error(`no step completed: ${ours.stoppedShort ?? stock.stoppedShort ?? 'unknown'}`)
  const memoryPoints = (phase: Phase, pick: (s: Phase['empty']) => number): Array<[number, number]> =>
    [[phase.empty.held, pick(phase.empty)], ...phase.steps.map((s): [number, number] => [s.held, pick(s)])]
  const perReservation = (phase: Phase, pick: (s: Phase['empty']) => number): number => slope(memoryPoints(phase, pick)) / KiB
  const added = (phase: Phase): number => phase.steps.reduce((s, x) => s + x.added, 0)
  const rate = (phase: Phase): number => added(phase) / (phase.steps.reduce((s, x) => s + x.rampMs, 0) / 1000)
  const setupCpu = (phase: Phase): number => phase.steps.reduce((s, x) => s + x.rampCpu, 0) * 1000 / added(phase)
  const reachedN = last.held - 1
  const pointsNote = (phase: Phase): string => memoryPoints(phase, s => s.rss).map(([x]) => x).join(', ')

  figures.push(
    { id: 'relay.reservations', label: 'reservations held', value: reachedN, unit: 'reservations', better: 'higher', target: { min: context.quick ? top : 5000 },
      note: `native clients over TCP in ${p.workers} worker processes, each holding a reservation (plus one for the round-trip listener)` },
    { id: 'relay.stock.setup.rate', label: 'stock js-libp2p relay: reservations set up per second', value: rate(stock), unit: 'reservations/s', better: 'higher' },
    { id: 'relay.setup.rate', label: 'reservations set up per second', value: rate(ours), unit: 'reservations/s', better: 'higher', baseline: 'relay.stock.setup.rate',
      note: `connection, Noise, Yamux, identify and the reservation; ${p.workers} client processes × ${p.concurrency} at once, sharing the cores with the relay` },
    { id: 'relay.stock.setup.cpu', label: 'stock js-libp2p relay: CPU per reservation set up', value: setupCpu(stock), unit: 'ms', better: 'lower' },
    { id: 'relay.setup.cpu', label: 'relay CPU per reservation set up', value: setupCpu(ours), unit: 'ms', better: 'lower', baseline: 'relay.stock.setup.cpu',
      note: 'the relay process\'s CPU time over the ramps (and the settling after each) divided by the reservations made: robust to the machine being shared, unlike the rate' },
    { id: 'relay.stock.rss.perReservation', label: 'stock js-libp2p relay: memory per reservation', value: perReservation(stock, s => s.rss), unit: 'KiB', better: 'lower',
      note: `RSS slope over ${pointsNote(stock)} reservations, each read after a full GC` },
    { id: 'relay.rss.perReservation', label: 'relay memory per reservation', value: perReservation(ours, s => s.rss), unit: 'KiB', better: 'lower', baseline: 'relay.stock.rss.perReservation', target: { max: 40 },
      note: `slope of the relay's VmRSS over ${pointsNote(ours)} reservations (least squares), each read after a full GC forced through the relay's inspector` },
    { id: 'relay.stock.heap.perReservation', label: 'stock js-libp2p relay: JS heap per reservation', value: perReservation(stock, s => s.heap), unit: 'KiB', better: 'lower' },
    { id: 'relay.heap.perReservation', label: 'relay JS heap per reservation', value: perReservation(ours, s => s.heap), unit: 'KiB', better: 'lower', baseline: 'relay.stock.heap.perReservation',
      note: 'heapUsed after the same GC; the rest of the RSS slope is outside the JS heap: socket handles, libuv and V8 bookkeeping, allocator slack' },
    { id: 'relay.stock.rss.asFound.perReservation', label: 'stock js-libp2p relay: memory per reservation, no forced GC', value: perReservation(stock, s => s.rssAsFound), unit: 'KiB', better: 'lower' },
    { id: 'relay.rss.asFound.perReservation', label: 'relay memory per reservation, no forced GC', value: perReservation(ours, s => s.rssAsFound), unit: 'KiB', better: 'lower', baseline: 'relay.stock.rss.asFound.perReservation',
      note: 'the same slope read just before the GC: what a process monitor shows, garbage from the ramp included (noisy)' }
  )
  for (const step of ours.steps) {
    figures.push({ id: `relay.rss.${step.target}`, label: `relay RSS, ${step.held - 1} reservations`, value: step.rss / MiB, unit: 'MiB', better: 'lower' })
  }

  // CPU
  const stockPerThousand = stockLast.cpu / stockLast.held * 1000
  figures.push(
    { id: `relay.stock.cpu.idle.${stockLast.target}`, label: `stock js-libp2p relay: idle CPU, ${stockLast.held} reservations`, value: stockLast.cpu, unit: '% of a core', better: 'lower',
      note: `over ${stockLast.windowSeconds} s (whole periods of its 10 s connection monitor)` },
    { id: 'relay.stock.cpu.idle.perThousand', label: 'stock js-libp2p relay: idle CPU per 1000 reservations', value: stockPerThousand, unit: '% of a core', better: 'lower' }
  )
  figures.push({
    id: `relay.cpu.idle.${last.target}`,
    label: `relay idle CPU, ${last.held - 1} reservations`,
    value: last.cpu,
    unit: '% of a core',
    better: 'lower',
    ...(reachedN >= 5000 ? { target: { max: 10 } } : {}),
    note: `utime+stime from /proc over ${last.windowSeconds} s, a whole period of the peers' 30 s yamux keep-alive (each peer pings once), with nothing but the held reservations; read after the forced GC so the ramp's garbage is not counted`
  })
  figures.push({ id: 'relay.cpu.idle.perThousand', label: 'relay idle CPU per 1000 reservations', value: last.cpu / (last.held - 1) * 1000, unit: '% of a core', better: 'lower', baseline: 'relay.stock.cpu.idle.perThousand' })
  if (reachedN < 5000) {
    figures.push({
      id: 'relay.cpu.idle.5000.extrapolated',
      label: 'relay idle CPU at 5000 reservations, extrapolated',
      value: last.cpu / (last.held - 1) * 5000,
      unit: '% of a core',
      better: 'lower',
      target: { max: 10 },
      note: `linear from the ${last.held - 1} reservations reached; idle work is per connection (the peers' keep-alives), so it scales linearly`
    })
  }
  if (ours.peerPingCpu != null) {
    figures.push({
      id: `relay.cpu.peerPings.${last.target}`,
      label: `relay CPU, ${last.held - 1} peers pinging it every 10 s`,
      value: ours.peerPingCpu,
      unit: '% of a core',
      better: 'lower',
      baseline: `relay.cpu.idle.${last.target}`,
      note: `over ${p.peerPingSeconds} s, every client opening a ping stream to the relay every 10 s: what libp2p's default connection monitor on each peer costs the relay`
    })
  }

  // round trips
  const first = ours.steps[0]!
  for (const step of ours.steps) {
    if (step.rtt == null) continue
    for (const q of ['p50', 'p99'] as const) {
      figures.push({
        id: `relay.rtt.${q}.${step.target}`,
        label: `relayed round trip ${q}, ${step.held - 1} reservations`,
        value: step.rtt[q],
        unit: 'ms',
        better: 'lower',
        ...(step !== first ? { baseline: `relay.rtt.${q}.${first.target}` } : {}),
        ...(step === first && q === 'p50' ? { note: `${step.rtt.count} sequential 64-byte echoes on one stream through a fresh circuit (after ${p.rtt.warmup} untimed), both peers in the benchmark's process` } : {})
      })
    }
  }

  if (ours.stoppedShort != null) skipped.push(`Starling relay stopped at ${reachedN} reservations: ${ours.stoppedShort}`)
  if (stock.stoppedShort != null) skipped.push(`stock relay stopped at ${stockLast.held} reservations: ${stock.stoppedShort}`)
  for (const step of [...stock.steps, ...ours.steps]) {
    if (step.failed > 0) notes.push(`${step.failed} clients gave up at step ${step.target}: ${step.errors.slice(0, 3).join('; ')}`)
  }
  notes.push(
    `Clients: ${p.workers} worker processes of minimal js-libp2p peers (TCP, Noise, Yamux with its 30 s keep-alive, identify, ping, ` +
      'the circuit transport listening on /p2p-circuit), without the connection monitor except in the peer-ping window. ' +
      'Relays, clients and the round-trip peers share the machine\'s cores; CPU figures are the relay process\'s own CPU time.',
    `Stock baseline: js-libp2p's defaults (connection monitor pinging every 10 s, identify on every connection, yamux keep-alive both ways), measured at ${p.stockSteps.join(', ')} reservations.`,
    `Section time: ${Math.round((Date.now() - started) / 1000)} s.`
  )
  return { id: 'relay', title: 'Relay scale', figures, notes, skipped }
}
