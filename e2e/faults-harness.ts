// Process control for the fault-injection tests (e2e/faults.spec.ts): a relay that can be killed
// and restarted on the same ports with the same data dir (so the same PeerID), the counting
// agent fixture (e2e/fixtures/counting-agent.mjs) that can be killed and restarted on the same
// home, its processing log, native sender peers inside the test process (the built SDK), and a
// load runner that sends many tasks through such a peer and counts what comes back.
//
// Every process is started through the harness (e2e/harness/processes.ts), so the fixtures stop
// it at the end of the test, pass or fail. In-process peers are stopped by the spec's fixture.

import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { StarlingPeer, TaskRecord } from '../src/native/sdk.js'
import type * as SdkModule from '../src/native/sdk.js'
import { spawnProcess } from './harness/processes.js'
import type { ManagedProcess } from './harness/processes.js'
import { REPO_ROOT } from './harness/starling.js'

const POLYFILL = './bin/polyfill.mjs'
const RELAY_MAIN = 'dist/node/relay/main.js'
const SDK_MAIN = 'dist/node/src/native/sdk.js'
const AGENT_MAIN = 'e2e/fixtures/counting-agent.mjs'

export type Sdk = typeof SdkModule

function requireBuilt (file: string): void {
  if (!existsSync(join(REPO_ROOT, file))) throw new Error(`${file} does not exist: build first (npm run build)`)
}

/** A TCP port free on 127.0.0.1 right now (the kernel picks it; nothing else runs in the namespace). */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { resolve() })
  })
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  return port
}

// --- the relay ---------------------------------------------------------------------------------

export interface FixedRelayOptions {
  dataDir: string
  /** HTTP port (PWA, API, WebSockets). */
  port: number
  /** TCP port for native peers. */
  tcpPort: number
  extraArgs?: readonly string[]
}

/**
 * A relay on fixed ports and a fixed data dir, so that a restart after a SIGKILL comes back at
 * the same addresses with the same PeerID. `start()` may be called again after `kill()`.
 */
export class RestartableRelay {
  readonly options: FixedRelayOptions
  readonly url: string
  /** Every process this relay ran as, oldest first. */
  readonly runs: ManagedProcess[] = []
  peerId = ''

  constructor (options: FixedRelayOptions) {
    this.options = options
    this.url = `http://127.0.0.1:${options.port}`
  }

  get process (): ManagedProcess | undefined { return this.runs.at(-1) }

  /** Starts the relay and waits for its "Open http://…" and "PeerID" lines. */
  async start (): Promise<void> {
    requireBuilt(RELAY_MAIN)
    if (this.process?.running === true) throw new Error('the relay is already running')
    const proc = spawnProcess(process.execPath, [
      '--import', POLYFILL, RELAY_MAIN,
      '--host', '127.0.0.1',
      '--port', String(this.options.port),
      '--tcp-port', String(this.options.tcpPort),
      '--data-dir', this.options.dataDir,
      '--ice-servers', 'none',
      ...(this.options.extraArgs ?? [])
    ], { cwd: REPO_ROOT, env: { NO_COLOR: '1', FORCE_COLOR: '0' }, name: `relay run ${this.runs.length + 1}` })
    this.runs.push(proc)
    const open = await proc.waitForLine(/Open (http:\/\/\S+)/, { timeoutMs: 20_000 })
    if (open[1] !== this.url) throw new Error(`the relay opened ${open[1]}, not ${this.url}`)
    const id = await proc.waitForLine(/^\s*PeerID (\S+)/, { timeoutMs: 5_000 })
    if (this.peerId !== '' && id[1] !== this.peerId) throw new Error(`the relay came back as ${id[1]}, not ${this.peerId}`)
    this.peerId = id[1]!
  }

  /** SIGKILL, and waits until the process is gone. */
  async kill (): Promise<void> {
    const proc = this.process
    if (proc == null || !proc.running) throw new Error('the relay is not running')
    proc.kill('SIGKILL')
    const exit = await proc.exited
    if (exit.signal !== 'SIGKILL') throw new Error(`the relay ended with ${JSON.stringify(exit)} instead of being killed`)
  }
}

export async function startFixedRelay (dataDir: string, extraArgs: readonly string[] = []): Promise<RestartableRelay> {
  const relay = new RestartableRelay({ dataDir, port: await freePort(), tcpPort: await freePort(), extraArgs })
  await relay.start()
  return relay
}

// --- the counting agent ------------------------------------------------------------------------

export interface CountingAgentOptions {
  home: string
  relayUrl: string
  /** The processing log (created on the first task). */
  logFile: string
  name?: string
  /** How long the handler works before answering, in ms (0: at once). */
  delayMs?: number
  /** The handler waits until release() (SIGUSR2) before answering. */
  hold?: boolean
}

/**
 * The faults are the relay's and the agent's: with LAN discovery or WebRTC the native peers of
 * these tests would leave the relay's circuit, and a relay killed under them would change nothing.
 */
export const RELAYED_ONLY = { STARLING_MDNS: 'off', STARLING_WEBRTC: 'off' } as const

/** e2e/fixtures/counting-agent.mjs in a process of its own, restartable on the same home and log. */
export class CountingAgent {
  readonly options: CountingAgentOptions
  readonly runs: ManagedProcess[] = []
  peerId = ''

  constructor (options: CountingAgentOptions) {
    this.options = options
  }

  get process (): ManagedProcess | undefined { return this.runs.at(-1) }

  /** Starts the agent and waits until it holds a reservation and has published its card. */
  async start (): Promise<void> {
    requireBuilt(SDK_MAIN)
    if (this.process?.running === true) throw new Error('the agent is already running')
    const o = this.options
    const proc = spawnProcess(process.execPath, [
      '--import', POLYFILL, AGENT_MAIN,
      '--home', o.home, '--relay', o.relayUrl, '--log', o.logFile,
      '--name', o.name ?? 'Counting agent',
      '--delay-ms', String(o.delayMs ?? 0),
      ...(o.hold === true ? ['--hold'] : [])
    ], { cwd: REPO_ROOT, env: { NO_COLOR: '1', FORCE_COLOR: '0', ...RELAYED_ONLY }, name: `agent run ${this.runs.length + 1}` })
    this.runs.push(proc)
    const ready = await proc.waitForLine(/^counting agent (\S+) ready/, { timeoutMs: 30_000 })
    if (this.peerId !== '' && ready[1] !== this.peerId) throw new Error(`the agent came back as ${ready[1]}, not ${this.peerId}`)
    this.peerId = ready[1]!
  }

  /** SIGKILL; once the process is gone, writes a `#killed` marker into the log. */
  async kill (): Promise<void> {
    const proc = this.process
    if (proc == null || !proc.running) throw new Error('the agent is not running')
    proc.kill('SIGKILL')
    const exit = await proc.exited
    if (exit.signal !== 'SIGKILL') throw new Error(`the agent ended with ${JSON.stringify(exit)} instead of being killed`)
    // the process is dead: every line it appended is in the file before this marker
    appendFileSync(this.options.logFile, `#killed ${Date.now()}\n`)
  }

  /** Lets a --hold agent answer (SIGUSR2) and waits for its "released" line. */
  async release (): Promise<void> {
    const proc = this.process
    if (proc == null || !proc.running) throw new Error('the agent is not running')
    proc.kill('SIGUSR2')
    await proc.waitForLine(/^released$/, { timeoutMs: 5_000 })
  }
}

// --- the processing log ------------------------------------------------------------------------

export type AgentLogEntry =
  | { ev: 'start', text: string, messageId: string, taskId: string, from: string, resumed: boolean, pid: number, at: number }
  | { ev: 'effect', text: string, messageId: string, pid: number, at: number }
  | { ev: 'stored', taskId: string, state: string, pid: number, at: number }
  | { ev: 'killed', at: number }

export function readAgentLog (file: string): AgentLogEntry[] {
  if (!existsSync(file)) return []
  const out: AgentLogEntry[] = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue
    if (line.startsWith('#killed')) out.push({ ev: 'killed', at: Number(line.split(' ')[1]) })
    else out.push(JSON.parse(line) as AgentLogEntry)
  }
  return out
}

export interface ProcessingReport {
  /** Texts the handler started, with how many times. */
  starts: Map<string, number>
  /** Texts started more than once. */
  duplicates: string[]
  /**
   * Of the duplicates, those whose first run was cut by a kill: started before a `#killed`
   * marker, the agent had not stored the task finished before that marker, and it ran once more
   * after the restart, for the same task, flagged `resumed`. Running such a task again is the
   * only way its answer can come back (docs/protocol.md §6: the one case where a handler sees a
   * message twice).
   */
  interrupted: string[]
  /** Duplicates that are not explained by a kill: the same message processed twice. */
  unexplained: string[]
  /** Handlers running at each kill (started, not stored finished), per kill. */
  inFlightAtKills: number[]
  /** Per text, the message ids the handler saw it with (one, when retries carry the same id). */
  messageIds: Map<string, Set<string>>
  /** Texts of `start` entries whose text is not one of `expected`. */
  unexpected: string[]
  /** Expected texts never started. */
  missing: string[]
}

/** How many times the agent did the work of each text (its `effect` lines). */
export function effectsByText (entries: AgentLogEntry[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const e of entries) if (e.ev === 'effect') out.set(e.text, (out.get(e.text) ?? 0) + 1)
  return out
}

/** Counts processing per task text in an agent's log. */
export function analyseLog (entries: AgentLogEntry[], expected: readonly string[]): ProcessingReport {
  const starts = new Map<string, number>()
  const messageIds = new Map<string, Set<string>>()
  /** Per text, each run: the agent's task id and the log segment (0 before the first kill, …). */
  const runs = new Map<string, Array<{ taskId: string, segment: number, resumed: boolean }>>()
  const storedIn = new Map<string, number>() // taskId -> segment of its first 'stored'
  const inFlightAtKills: number[] = []
  let segment = 0
  let open = new Set<string>() // taskIds started in this segment and not stored yet
  for (const e of entries) {
    if (e.ev === 'start') {
      starts.set(e.text, (starts.get(e.text) ?? 0) + 1)
      messageIds.set(e.text, (messageIds.get(e.text) ?? new Set()).add(e.messageId))
      runs.set(e.text, [...(runs.get(e.text) ?? []), { taskId: e.taskId, segment, resumed: e.resumed }])
      open.add(e.taskId)
    } else if (e.ev === 'stored') {
      if (!storedIn.has(e.taskId)) storedIn.set(e.taskId, segment)
      open.delete(e.taskId)
    } else if (e.ev === 'killed') {
      inFlightAtKills.push(open.size)
      open = new Set()
      segment++
    }
  }
  const duplicates = [...starts].filter(([, n]) => n > 1).map(([text]) => text)
  const interrupted: string[] = []
  const unexplained: string[] = []
  for (const text of duplicates) {
    const [first, second, ...more] = runs.get(text)!
    const stored = storedIn.get(first!.taskId)
    // run once, killed before its answer was stored, run again after the restart (as a resumed
    // task, for the same task): nothing else
    const cutByKill = more.length === 0 && second!.segment > first!.segment && (stored == null || stored > first!.segment) &&
      !first!.resumed && second!.resumed && second!.taskId === first!.taskId
    if (cutByKill) interrupted.push(text)
    else unexplained.push(text)
  }
  const wanted = new Set(expected)
  return {
    starts,
    duplicates,
    interrupted,
    unexplained,
    inFlightAtKills,
    messageIds,
    unexpected: [...starts.keys()].filter(t => !wanted.has(t)),
    missing: expected.filter(t => !starts.has(t))
  }
}

// --- native peers in the test process ----------------------------------------------------------

let sdk: Promise<Sdk> | undefined

/**
 * The built SDK (dist/node/src/native/sdk.js), loaded into the test process. libp2p 3 needs
 * Promise.withResolvers, which Node 20 lacks: it is polyfilled before the first libp2p module loads.
 */
export async function loadSdk (): Promise<Sdk> {
  requireBuilt(SDK_MAIN)
  if (typeof Promise.withResolvers !== 'function') {
    Object.defineProperty(Promise, 'withResolvers', {
      configurable: true,
      writable: true,
      value: function withResolvers<T> (this: PromiseConstructor) {
        let resolve!: (value: T | PromiseLike<T>) => void
        let reject!: (reason?: unknown) => void
        const promise = new this<T>((res, rej) => { resolve = res; reject = rej })
        return { promise, resolve, reject }
      }
    })
  }
  sdk ??= import(pathToFileURL(join(REPO_ROOT, SDK_MAIN)).href) as Promise<Sdk>
  return await sdk
}

/** Resolves once `peer` holds a reservation on its relay and has published its card. */
export async function untilPublished (peer: StarlingPeer, timeoutMs = 30_000): Promise<void> {
  if (peer.registryStatus.expiresAt != null) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      peer.removeEventListener('registry', onRegistry)
      reject(new Error(`peer ${peer.peerId} did not publish its card within ${timeoutMs} ms (relay: ${JSON.stringify(peer.relayStatus)}, registry: ${JSON.stringify(peer.registryStatus)})`))
    }, timeoutMs)
    const onRegistry = (): void => {
      if (peer.registryStatus.expiresAt == null) return
      clearTimeout(timer)
      peer.removeEventListener('registry', onRegistry)
      resolve()
    }
    peer.addEventListener('registry', onRegistry)
  })
}

// --- load --------------------------------------------------------------------------------------

export interface LoadOptions {
  /** Tasks sent. */
  count: number
  /** Tasks unfinished at once (each worker sends one, waits for its end, sends the next). */
  window: number
  /** Text of task `i`; must be unique per task. */
  text: (i: number) => string
  ttlMs?: number
}

export interface TaskOutcome {
  index: number
  text: string
  /** What send() resolved with (undefined when it threw). */
  sent?: TaskRecord
  /** What waitFor() resolved with. */
  final?: TaskRecord
  /** Why send() or waitFor() threw. */
  error?: string
  /** ms from the call to send() to the end of waitFor(). */
  ms: number
}

/**
 * Sends `count` tasks to `agentId` from `peer`, at most `window` unfinished at once, and follows
 * each to its end (waitFor). `completed` counts tasks that ended completed; `until(n)` resolves
 * as soon as n have (false if the load ended before).
 */
export class Load {
  readonly outcomes: TaskOutcome[] = []
  completed = 0
  settled = 0
  readonly done: Promise<TaskOutcome[]>
  readonly peer: StarlingPeer
  readonly agentId: string
  readonly options: LoadOptions
  readonly signal: AbortSignal
  private readonly waiters = new Set<{ n: number, resolve: (reached: boolean) => void }>()
  private next = 0

  constructor (peer: StarlingPeer, agentId: string, options: LoadOptions, signal: AbortSignal) {
    this.peer = peer
    this.agentId = agentId
    this.options = options
    this.signal = signal
    const workers = Array.from({ length: Math.min(options.window, options.count) }, async () => { await this.worker() })
    this.done = Promise.all(workers).then(() => {
      for (const w of this.waiters) w.resolve(false)
      this.waiters.clear()
      return [...this.outcomes].sort((a, b) => a.index - b.index)
    })
  }

  /**
   * Resolves true once `n` tasks have completed; false if the load ended first, or when
   * `timeoutMs` passed (a bound, so that a stuck load fails with a report instead of a hang).
   */
  async until (n: number, timeoutMs: number): Promise<boolean> {
    if (this.completed >= n) return true
    if (this.settled === this.options.count) return false
    let timer: NodeJS.Timeout | undefined
    const waiter = { n, resolve: (_reached: boolean): void => {} }
    try {
      return await new Promise<boolean>((resolve) => {
        waiter.resolve = resolve
        this.waiters.add(waiter)
        timer = setTimeout(() => { resolve(false) }, timeoutMs)
      })
    } finally {
      clearTimeout(timer)
      this.waiters.delete(waiter)
    }
  }

  /** The outcomes once every task has ended, or undefined when `timeoutMs` passed first. */
  async finished (timeoutMs: number): Promise<TaskOutcome[] | undefined> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<undefined>((resolve) => { timer = setTimeout(() => { resolve(undefined) }, timeoutMs) })
    try {
      return await Promise.race([this.done, late])
    } finally {
      clearTimeout(timer)
    }
  }

  /** The tasks not ended yet: index, text, and what the sender's store says of them. */
  async pending (): Promise<Array<{ index: number, text: string, state?: string, delivery?: string, outbox?: number }>> {
    const ended = new Set(this.outcomes.map(o => o.index))
    const records = await this.peer.tasks({ direction: 'outbound' })
    const byText = new Map(records.map(r => [questionOf(r), r]))
    const out = []
    for (let i = 0; i < this.next; i++) {
      if (ended.has(i)) continue
      const text = this.options.text(i)
      const r = byText.get(text)
      out.push({ index: i, text, state: r?.state, delivery: r?.delivery, outbox: r?.outbox?.length })
    }
    return out
  }

  private async worker (): Promise<void> {
    while (this.next < this.options.count && !this.signal.aborted) {
      const index = this.next++
      const text = this.options.text(index)
      const startedAt = Date.now()
      const outcome: TaskOutcome = { index, text, ms: 0 }
      try {
        outcome.sent = await this.peer.send(this.agentId, text, {
          signal: this.signal,
          ...(this.options.ttlMs != null ? { ttlMs: this.options.ttlMs } : {})
        })
        outcome.final = await this.peer.waitFor(outcome.sent.id, { signal: this.signal })
      } catch (err) {
        outcome.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      }
      outcome.ms = Date.now() - startedAt
      this.outcomes.push(outcome)
      this.settled++
      if (outcome.final?.state === 'TASK_STATE_COMPLETED') this.completed++
      for (const w of [...this.waiters]) {
        if (this.completed >= w.n) { this.waiters.delete(w); w.resolve(true) }
      }
    }
  }
}

/** The text of the first message of a task (the question). */
export function questionOf (record: TaskRecord): string {
  const first = record.task.history?.find(m => m.role === 'ROLE_USER')
  return (first?.parts ?? []).filter(p => typeof p.text === 'string').map(p => p.text).join('\n')
}

/** The id of the first message of a task (what every retry of it must carry). */
export function firstMessageId (record: TaskRecord | undefined): string | undefined {
  return record?.task.history?.find(m => m.role === 'ROLE_USER')?.messageId
}

/**
 * Texts whose processing at the agent carried another message id than the sender's first
 * message of the task (a retry under a new id), as "text: sender id ≠ agent ids".
 */
export function idMismatches (outcomes: TaskOutcome[], report: ProcessingReport): string[] {
  const out: string[] = []
  for (const o of outcomes) {
    const mine = firstMessageId(o.final ?? o.sent)
    const seen = [...(report.messageIds.get(o.text) ?? [])]
    if (mine == null || seen.length !== 1 || seen[0] !== mine) out.push(`${o.text}: ${mine ?? '(none)'} ≠ ${seen.join(', ')}`)
  }
  return out
}

/** The answer text of an outbound record: its artifacts' text, else its status message's. */
export function answerOf (record: TaskRecord | undefined): string {
  if (record == null) return ''
  const parts = (record.task.artifacts ?? []).flatMap(a => a.parts)
  const fromArtifacts = parts.filter(p => typeof p.text === 'string').map(p => p.text).join('\n')
  if (fromArtifacts !== '') return fromArtifacts
  return (record.task.status.message?.parts ?? []).filter(p => typeof p.text === 'string').map(p => p.text).join('\n')
}

/** A one-line summary of what a load's outcomes were: counts per final state / error. */
export function summarise (outcomes: TaskOutcome[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const o of outcomes) {
    const key = o.error != null ? `error: ${o.error.slice(0, 160)}` : o.final?.state ?? 'none'
    out[key] = (out[key] ?? 0) + 1
  }
  return out
}

export function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}
