/**
 * Soak: the relay under a steady, mixed load for minutes, and whether anything degrades.
 *
 *   npm run soak -- [--clients 1000] [--rate 100] [--duration 2m] [--interval 10s] [--ttl 30]
 *                   [--workers 2] [--task-timeout 10s] [--max-error-rate 0.01] [--out bench/results/soak.json]
 *
 * The relay runs as its own process (what `npm run relay` runs, ./relay-scale/relay-process.ts).
 * `--clients` native clients in a few worker processes (./relay-scale/client-worker.ts) each
 * hold a reservation on it AND publish their agent card to its registry with a short TTL
 * (`--ttl`, 30 s: the shortest the relay grants), renewing it at half the TTL as a Starling
 * peer's registry client does, so renewals run all along. Meanwhile two Starling native peers in
 * this process (./soak/tasks.ts) exchange `--rate` tasks a second through the relay's circuit,
 * one task per slot on the clock (a scheduler, not bursts), the receiver answering each with an
 * echo.
 *
 * Every `--interval` it prints, and at the end sums up: tasks sent / completed / failed,
 * failures by kind, task round trip p50/p95/p99 (the interval's and overall), registry
 * publishes / renewals and their failures, reservation losses, the relay's RSS and CPU, the
 * reservations it holds (/health) and the registry's size as discovers see it (one discover per
 * skill bucket of 100 cards: one answer must fit 256 KiB). The summary goes to `--out` as JSON.
 *
 * Exit status: 1 when any error rate exceeds `--max-error-rate` (default 1 %):
 *  - tasks: (failed + skipped slots) / task slots;
 *  - registry: (failed publishes + failed renewals) / (publishes + renewals);
 *  - reservations: reservation losses / clients;
 *  - setup: clients that got no reservation / clients asked for;
 *  - discover: reports whose registry discover failed / reports.
 * The relay's RSS trend (least squares over the reports, MiB per minute) is printed and saved,
 * not judged: the relay's heap settles over minutes, so judge it on a long run (`--duration 10m`).
 * 2 when the soak itself broke (the relay or a worker died, a peer could not start); 0 otherwise.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startStarlingRelay } from './relay-scale/relay-process.js'
import type { RelayProcess } from './relay-scale/relay-process.js'
import type { WorkerStats } from './relay-scale/protocol.js'
import { startClientPool } from './relay-scale/client-pool.js'
import type { ClientPool } from './relay-scale/client-pool.js'
import { startTaskLoad } from './soak/tasks.js'
import type { TaskLoad, TaskWindow } from './soak/tasks.js'
import { quantile } from './lib/stats.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

interface Options {
  clients: number
  rate: number
  durationS: number
  intervalS: number
  ttlS: number
  workers: number
  taskTimeoutS: number
  maxErrorRate: number
  rampTimeoutS: number
  out: string
}

const USAGE = 'usage: soak [--clients N] [--rate tasks/s] [--duration 2m] [--interval 10s] [--ttl 30] [--workers 2] [--task-timeout 10s] [--ramp-timeout 5m] [--max-error-rate 0.01] [--out bench/results/soak.json]'

/** `90`, `90s`, `2m`, `1h` → seconds. */
function seconds (text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (match == null) throw new Error(`--${flag}: expected a duration like 90, 90s or 10m, got "${text}"`)
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] ?? 's']!
  return Number(match[1]) * factor
}

function positive (text: string, flag: string, integer: boolean): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${flag}: expected a positive ${integer ? 'whole ' : ''}number, got "${text}"`)
  return n
}

function parseArgs (argv: string[]): Options {
  const o: Options = { clients: 1000, rate: 100, durationS: 120, intervalS: 10, ttlS: 30, workers: 2, taskTimeoutS: 10, maxErrorRate: 0.01, rampTimeoutS: 300, out: join(ROOT, 'bench', 'results', 'soak.json') }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE)
      process.exit(0)
    }
    const eq = arg.indexOf('=')
    const flag = (eq > 0 ? arg.slice(0, eq) : arg).replace(/^--/, '')
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i]
    if (!arg.startsWith('--') || value == null) throw new Error(USAGE)
    switch (flag) {
      case 'clients': o.clients = positive(value, flag, true); break
      case 'rate': o.rate = positive(value, flag, false); break
      case 'duration': o.durationS = seconds(value, flag); break
      case 'interval': o.intervalS = seconds(value, flag); break
      case 'ttl': o.ttlS = positive(value, flag, true); break
      case 'workers': o.workers = positive(value, flag, true); break
      case 'task-timeout': o.taskTimeoutS = seconds(value, flag); break
      case 'ramp-timeout': o.rampTimeoutS = seconds(value, flag); break
      case 'max-error-rate': o.maxErrorRate = positive(value, flag, false); break
      case 'out': o.out = resolve(value); break
      default: throw new Error(`unknown flag --${flag}\n${USAGE}`)
    }
  }
  if (o.intervalS <= 0 || o.durationS <= 0) throw new Error('--interval and --duration must be positive')
  return o
}

const MiB = 1024 * 1024
/**
 * Cards per skill bucket: a discover answer must fit the registry's 256 KiB message limit, and an
 * entry (card and circuit addresses) is about 1 KB, so one discover per 100 cards.
 */
const CARDS_PER_BUCKET = 100

const r1 = (n: number): number => Math.round(n * 10) / 10
const ms = (n: number): string => Number.isNaN(n) ? '–' : n < 10 ? n.toFixed(1) : n.toFixed(0)

/** Least-squares slope of y over x (NaN with fewer than two distinct x). */
function slope (points: Array<[number, number]>): number {
  const n = points.length
  if (n < 2) return Number.NaN
  const mx = points.reduce((s, [x]) => s + x, 0) / n
  const my = points.reduce((s, [, y]) => s + y, 0) / n
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0)
  return sxx === 0 ? Number.NaN : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx
}

interface Percentiles { p50: number, p95: number, p99: number, max: number, count: number }

function percentiles (samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b)
  const q = (p: number): number => r1(quantile(sorted, p))
  return { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: r1(sorted[sorted.length - 1] ?? Number.NaN), count: sorted.length }
}

interface RegistryView {
  /** Soak clients' cards the discovers returned, and those marked online. */
  entries: number
  online: number
  /** The task peers' cards (skill `soak-echo`). */
  taskPeers: number
  /** The slowest of the discovers, in ms. */
  slowestMs: number
  error?: string
}

async function registryView (load: TaskLoad, buckets: number): Promise<RegistryView> {
  const view: RegistryView = { entries: 0, online: 0, taskPeers: 0, slowestMs: 0 }
  try {
    for (let b = 0; b < buckets; b++) {
      const start = performance.now()
      const agents = await load.receiver.discover({ skill: `soak-${b}`, limit: 1000 }, { signal: AbortSignal.timeout(10_000) })
      view.slowestMs = Math.max(view.slowestMs, performance.now() - start)
      view.entries += agents.length
      view.online += agents.filter(a => a.online).length
    }
    view.taskPeers = (await load.receiver.discover({ skill: 'soak-echo', limit: 10 }, { signal: AbortSignal.timeout(10_000) })).length
  } catch (err) {
    view.error = (err as Error).message ?? String(err)
  }
  view.slowestMs = r1(view.slowestMs)
  return view
}

interface IntervalReport {
  /** Seconds since the task load started, at the interval's end. */
  t: number
  tasks: { sent: number, completed: number, failed: number, skipped: number, failures: Record<string, number>, rttMs: Percentiles, schedulerMaxLagMs: number, inFlight: number }
  registry: { publishes: number, publishFailures: number, renewals: number, renewFailures: number, publishedNow: number, discovered: RegistryView }
  reservations: { losses: number, regains: number, relayDisconnects: number, heldByClients: number, relaySays?: number }
  relay: { rssMiB: number, cpuPercent: number }
  soakRssMiB: number
}

function diff (a: WorkerStats, b: WorkerStats): WorkerStats {
  return {
    ...a,
    publishes: a.publishes - b.publishes,
    publishFailures: a.publishFailures - b.publishFailures,
    renewals: a.renewals - b.renewals,
    renewFailures: a.renewFailures - b.renewFailures,
    reservationLosses: a.reservationLosses - b.reservationLosses,
    reservationRegains: a.reservationRegains - b.reservationRegains,
    relayDisconnects: a.relayDisconnects - b.relayDisconnects
  }
}

function printInterval (r: IntervalReport): void {
  const f = Object.entries(r.tasks.failures).map(([k, n]) => `${k} ${n}`).join(', ')
  console.log(
    `[${r.t.toFixed(0).padStart(4)} s] tasks ${r.tasks.sent} sent, ${r.tasks.completed} ok, ${r.tasks.failed} failed${f === '' ? '' : ` (${f})`}` +
    `${r.tasks.skipped > 0 ? `, ${r.tasks.skipped} skipped` : ''}, ${r.tasks.inFlight} in flight | rtt p50 ${ms(r.tasks.rttMs.p50)} p95 ${ms(r.tasks.rttMs.p95)} p99 ${ms(r.tasks.rttMs.p99)} ms (lag ≤ ${ms(r.tasks.schedulerMaxLagMs)} ms)\n` +
    `         registry ${r.registry.discovered.entries} seen (${r.registry.discovered.online} online${r.registry.discovered.error != null ? `; discover failed: ${r.registry.discovered.error}` : ''}), ${r.registry.publishedNow} published | publishes ${r.registry.publishes} (${r.registry.publishFailures} failed), renewals ${r.registry.renewals} (${r.registry.renewFailures} failed)\n` +
    `         reservations ${r.reservations.heldByClients} held (relay: ${r.reservations.relaySays ?? '?'}), ${r.reservations.losses} lost, ${r.reservations.regains} regained, ${r.reservations.relayDisconnects} disconnects | relay RSS ${r.relay.rssMiB} MiB, CPU ${r.relay.cpuPercent} % | soak RSS ${r.soakRssMiB} MiB`
  )
}

async function main (): Promise<number> {
  const o = parseArgs(process.argv.slice(2))
  const buckets = Math.max(1, Math.ceil(o.clients / CARDS_PER_BUCKET))
  const started = new Date()
  console.log(`soak: ${o.clients} clients (card TTL ${o.ttlS} s), ${o.rate} tasks/s for ${o.durationS} s, a report every ${o.intervalS} s; fails above ${o.maxErrorRate * 100} % errors`)

  let relay: RelayProcess | undefined
  let pool: ClientPool | undefined
  let load: TaskLoad | undefined
  const stopAll = async (): Promise<void> => {
    await load?.stop().catch(() => {})
    await pool?.stop().catch(() => {})
    await relay?.stop().catch(() => {})
  }
  // Ctrl-C: stop everything we started, then go
  const onSignal = (): void => {
    console.log('soak: interrupted, stopping')
    void stopAll().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  try {
    relay = await startStarlingRelay({
      root: ROOT,
      maxReservations: o.clients + 64,
      maxConnections: o.clients + 256,
      // every client comes from 127.0.0.1
      args: ['--new-connections-per-host', '100000', '--max-connections-per-ip', '0', '--max-agents', String(o.clients + 100)]
    })
    const relayRef = relay
    const rssMiB = async (): Promise<number> => r1(await relayRef.rssBytes() / MiB)
    const relayRssAtStart = await rssMiB()
    console.log(`soak: relay ${relay.tcpAddr} (pid ${relay.pid}), RSS ${relayRssAtStart} MiB`)

    pool = await startClientPool({ root: ROOT, workers: o.workers, relayAddr: relay.tcpAddr, registry: { ttlSeconds: o.ttlS, buckets } })
    const rampStart = performance.now()
    let lastShown = 0
    const grown = await pool.growTo(o.clients, {
      concurrencyPerWorker: 16,
      deadline: Date.now() + o.rampTimeoutS * 1000,
      onProgress: (reserved) => {
        if (performance.now() - lastShown < 5_000) return
        lastShown = performance.now()
        console.log(`soak: ${reserved}/${o.clients} clients reserved`)
      }
    })
    const rampS = r1((performance.now() - rampStart) / 1000)
    console.log(`soak: ${grown.reserved} clients reserved in ${rampS} s, ${grown.failed} gave up${grown.errors.length > 0 ? `: ${grown.errors.slice(0, 5).join('; ')}` : ''}`)
    const rssAfterRamp = await rssMiB()

    load = await startTaskLoad({ relayAddr: relay.tcpAddr, rate: o.rate, timeoutMs: o.taskTimeoutS * 1000, maxInFlight: Math.max(10, Math.ceil(o.rate * o.taskTimeoutS)) })
    const taskLoad = load
    const soakPool = pool

    const intervals: IntervalReport[] = []
    const all: TaskWindow = { sent: 0, completed: 0, failed: 0, failures: {}, skipped: 0, latencies: [], maxLagMs: 0 }
    let before = await soakPool.stats()
    let cpuBefore = await relay.cpuSeconds()
    let clock = performance.now()
    const origin = clock

    const report = async (final: boolean): Promise<IntervalReport> => {
      const w = taskLoad.takeWindow()
      all.sent += w.sent
      all.completed += w.completed
      all.failed += w.failed
      all.skipped += w.skipped
      all.maxLagMs = Math.max(all.maxLagMs, w.maxLagMs)
      for (const x of w.latencies) all.latencies.push(x)
      for (const [k, n] of Object.entries(w.failures)) all.failures[k] = (all.failures[k] ?? 0) + n
      const stats = await soakPool.stats()
      const d = diff(stats, before)
      before = stats
      const cpu = await relayRef.cpuSeconds()
      const t = performance.now()
      const cpuPercent = r1((cpu - cpuBefore) / ((t - clock) / 1000) * 100)
      cpuBefore = cpu
      clock = t
      const r: IntervalReport = {
        t: r1((t - origin) / 1000),
        tasks: { sent: w.sent, completed: w.completed, failed: w.failed, skipped: w.skipped, failures: w.failures, rttMs: percentiles(w.latencies), schedulerMaxLagMs: r1(w.maxLagMs), inFlight: taskLoad.inFlight() },
        registry: { publishes: d.publishes, publishFailures: d.publishFailures, renewals: d.renewals, renewFailures: d.renewFailures, publishedNow: stats.publishedNow, discovered: await registryView(taskLoad, buckets) },
        reservations: { losses: d.reservationLosses, regains: d.reservationRegains, relayDisconnects: d.relayDisconnects, heldByClients: stats.reservedNow, relaySays: await relayRef.reservations().catch(() => undefined) },
        relay: { rssMiB: await rssMiB(), cpuPercent },
        soakRssMiB: r1(process.memoryUsage().rss / MiB)
      }
      if (!final) printInterval(r)
      return r
    }

    taskLoad.start()
    const end = origin + o.durationS * 1000
    let next = origin + o.intervalS * 1000
    while (performance.now() < end) {
      await new Promise(resolve => setTimeout(resolve, Math.max(0, Math.min(next, end) - performance.now())))
      if (performance.now() >= next - 1 && performance.now() < end - 1) {
        intervals.push(await report(false))
        next += o.intervalS * 1000
      }
    }
    // the tail: stop sending, let the tasks in flight finish (or time out), and count them
    await taskLoad.drain(o.taskTimeoutS * 1000 + 2_000)
    const last = await report(false)
    intervals.push(last)
    const stats = before

    // ---- the summary ----
    const overall = percentiles(all.latencies)
    const slots = all.sent + all.skipped
    const rates = {
      tasks: slots === 0 ? 0 : (all.failed + all.skipped) / slots,
      registry: (stats.publishes + stats.renewals) === 0 ? 0 : (stats.publishFailures + stats.renewFailures) / (stats.publishes + stats.renewals),
      reservations: grown.reserved === 0 ? 1 : stats.reservationLosses / grown.reserved,
      setup: (o.clients - grown.reserved) / o.clients,
      discover: intervals.filter(i => i.registry.discovered.error != null).length / intervals.length
    }
    const over = Object.entries(rates).filter(([, rate]) => rate > o.maxErrorRate).map(([k, rate]) => `${k} ${(rate * 100).toFixed(2)} %`)
    const rss = intervals.map(i => i.relay.rssMiB)
    const rssSlope = r1(slope(intervals.map(i => [i.t / 60, i.relay.rssMiB])))
    const errorsByKind: Record<string, number> = {
      'publish failures': stats.publishFailures,
      'renew failures': stats.renewFailures,
      'reservation losses': stats.reservationLosses,
      'task failures': Object.entries(all.failures).filter(([k]) => k !== 'timeout').reduce((s, [, n]) => s + n, 0),
      'task timeouts': all.failures.timeout ?? 0,
      'skipped task slots': all.skipped,
      'discover failures': intervals.filter(i => i.registry.discovered.error != null).length
    }
    const summary = {
      started: started.toISOString(),
      options: { ...o, out: undefined },
      ramp: { seconds: rampS, reserved: grown.reserved, failed: grown.failed, errors: grown.errors },
      tasks: {
        sent: all.sent, completed: all.completed, failed: all.failed, skipped: all.skipped, failures: all.failures,
        ratePerSecond: r1(all.sent / o.durationS), rttMs: overall, schedulerMaxLagMs: r1(all.maxLagMs)
      },
      registry: {
        publishes: stats.publishes, publishFailures: stats.publishFailures,
        renewals: stats.renewals, renewFailures: stats.renewFailures,
        errors: stats.errors, publishedAtEnd: stats.publishedNow, discoveredAtEnd: last.registry.discovered
      },
      reservations: { losses: stats.reservationLosses, regains: stats.reservationRegains, relayDisconnects: stats.relayDisconnects, heldAtEnd: stats.reservedNow, relaySaysAtEnd: last.reservations.relaySays },
      relay: {
        rssMiB: { atStart: relayRssAtStart, afterRamp: rssAfterRamp, min: Math.min(...rss), max: Math.max(...rss), atEnd: rss[rss.length - 1], slopeMiBPerMinute: rssSlope, series: intervals.map(i => ({ t: i.t, rssMiB: i.relay.rssMiB, cpuPercent: i.relay.cpuPercent })) }
      },
      errorsByKind,
      errorRates: Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, Math.round(v * 1e5) / 1e5])),
      threshold: o.maxErrorRate,
      pass: over.length === 0,
      intervals
    }
    await mkdir(dirname(o.out), { recursive: true })
    await writeFile(o.out, JSON.stringify(summary, null, 2) + '\n')

    console.log('\nsoak summary')
    console.log(`  tasks       ${all.sent} sent (${summary.tasks.ratePerSecond}/s), ${all.completed} completed, ${all.failed} failed, ${all.skipped} skipped; rtt p50 ${ms(overall.p50)} p95 ${ms(overall.p95)} p99 ${ms(overall.p99)} max ${ms(overall.max)} ms`)
    console.log(`  registry    ${stats.publishes} publishes (${stats.publishFailures} failed), ${stats.renewals} renewals (${stats.renewFailures} failed); at the end ${last.registry.discovered.entries} cards seen by discover, ${stats.publishedNow} clients published`)
    console.log(`  reservations ${grown.reserved} reserved in ${rampS} s (${grown.failed} gave up), ${stats.reservationLosses} lost, ${stats.relayDisconnects} disconnects; ${stats.reservedNow} held at the end (relay: ${last.reservations.relaySays ?? '?'})`)
    console.log(`  relay RSS   start ${relayRssAtStart} MiB, after ramp ${rssAfterRamp} MiB, during ${Math.min(...rss)}–${Math.max(...rss)} MiB, end ${rss[rss.length - 1]} MiB; trend ${rssSlope} MiB/min`)
    console.log(`  errors      ${Object.entries(errorsByKind).map(([k, n]) => `${k} ${n}`).join(', ')}`)
    for (const [message, n] of Object.entries({ ...all.failures, ...stats.errors }).slice(0, 10)) console.log(`              ${n}× ${message}`)
    console.log(`  error rates ${Object.entries(rates).map(([k, v]) => `${k} ${(v * 100).toFixed(2)} %`).join(', ')} (threshold ${o.maxErrorRate * 100} %)`)
    console.log(`  ${over.length === 0 ? 'PASS' : `FAIL: ${over.join(', ')}`} — summary in ${o.out}`)
    return over.length === 0 ? 0 : 1
  } catch (err) {
    console.error(`soak: broke: ${(err as Error).stack ?? String(err)}`)
    if (relay != null) console.error(`relay output:\n${relay.output()}`)
    return 2
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    await stopAll()
  }
}

main().then((code) => { process.exit(code) }, (err: unknown) => {
  console.error(err)
  process.exit(2)
})
