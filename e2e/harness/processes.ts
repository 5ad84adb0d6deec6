// Child processes for end-to-end tests: started, watched line by line, and always stopped.
//
// Every process started with spawnProcess() belongs to a ProcessRegistry (by default
// `testProcesses`). The fixtures in ./fixtures.ts stop every process of `testProcesses` at the end
// of each test, pass or fail, and attach the output of each to the test report when the test
// failed. A process meant to outlive one test (started from a worker-scoped fixture) belongs to a
// registry of its own, which that fixture stops in its teardown. Whatever is still running when
// the worker process exits is killed there (SIGKILL), as a last resort.
//
// Each child runs in a process group of its own, and signals go to the whole group, so a child
// that starts children of its own (npx, sh -c, ...) leaves nothing behind.

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'

export interface ExitInfo {
  /** Exit code, or null when the process was ended by a signal. */
  code: number | null
  signal: NodeJS.Signals | null
}

export interface SpawnOptions {
  /** Added to process.env (a key set to undefined removes that variable). */
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Label used in errors and reports; default: the command's base name. */
  name?: string
  /** Registry the process belongs to; default: `testProcesses` (stopped after each test). */
  registry?: ProcessRegistry
  /** Echo every output line live, prefixed with the name (also on with STARLING_E2E_VERBOSE=1). */
  echo?: boolean
}

export interface WaitForLineOptions {
  /** Default 20 s. */
  timeoutMs?: number
  /** Which output to watch; default 'stdout'. */
  stream?: 'stdout' | 'stderr'
  /**
   * Default false: lines printed before the call count too (so nothing is missed between the
   * start of a process and the wait). true: only lines that arrive after the call.
   */
  onlyNew?: boolean
}

export interface StopOptions {
  /** How long to wait after SIGTERM before SIGKILL; default 5 s. */
  timeoutMs?: number
  signal?: NodeJS.Signals
}

type Stream = 'stdout' | 'stderr'
type LineListener = (stream: Stream, line: string) => void

/** Lines kept per stream for waitForLine's history and for reports; older ones are dropped. */
const MAX_LINES = 20_000

const verbose = process.env.STARLING_E2E_VERBOSE === '1'

export class ManagedProcess {
  readonly name: string
  readonly command: string
  readonly args: readonly string[]
  readonly child: ChildProcess
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>

  #lines: Record<Stream, string[]> = { stdout: [], stderr: [] }
  #dropped: Record<Stream, number> = { stdout: 0, stderr: 0 }
  #partial: Record<Stream, string> = { stdout: '', stderr: '' }
  /** Both streams interleaved in arrival order, for reports. */
  #combined: string[] = []
  #listeners = new Set<LineListener>()
  #exitWaiters = new Set<(info: ExitInfo) => void>()
  #exitInfo: ExitInfo | undefined
  #spawnError: Error | undefined
  #echo: boolean
  #registry: ProcessRegistry

  constructor (command: string, args: readonly string[], options: SpawnOptions = {}) {
    this.command = command
    this.args = [...args]
    this.name = options.name ?? command.split('/').pop() ?? command
    this.#echo = options.echo ?? verbose
    this.#registry = options.registry ?? testProcesses

    this.child = spawn(command, [...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, so that stop() reaches the child's children too.
      detached: true
    })

    let resolveExit!: (info: ExitInfo) => void
    this.exited = new Promise<ExitInfo>((resolve) => { resolveExit = resolve })

    for (const stream of ['stdout', 'stderr'] as const) {
      const source = this.child[stream]!
      source.setEncoding('utf8')
      source.on('data', (chunk: string) => { this.#onData(stream, chunk) })
    }

    this.child.on('error', (err) => {
      // ENOENT and the like: the process never ran, so there is no 'close' event to wait for.
      this.#spawnError = err
      if (this.child.pid === undefined) this.#onExit(resolveExit, { code: null, signal: null })
    })
    // 'close' comes after the process exited AND its stdio ended: all output has been read.
    this.child.on('close', (code, signal) => {
      this.#onExit(resolveExit, { code, signal })
    })

    this.#registry.add(this)
  }

  get pid (): number | undefined { return this.child.pid }
  /** Everything printed on stdout so far (up to the last MAX_LINES lines). */
  get stdout (): string { return this.#text('stdout') }
  /** Everything printed on stderr so far (up to the last MAX_LINES lines). */
  get stderr (): string { return this.#text('stderr') }
  get stdoutLines (): readonly string[] { return this.#lines.stdout }
  get stderrLines (): readonly string[] { return this.#lines.stderr }
  /** Both streams interleaved, each line prefixed with `out|` or `err|`. */
  get output (): string { return this.#combined.join('\n') }
  /** Undefined while running. */
  get exitInfo (): ExitInfo | undefined { return this.#exitInfo }
  get running (): boolean { return this.#exitInfo === undefined }
  get spawnError (): Error | undefined { return this.#spawnError }

  /**
   * Resolves with the match as soon as a line of output matches `regex` (tested line by line,
   * without the line ending). Rejects when the process exits first or on timeout; the error
   * carries the process's output.
   */
  waitForLine (regex: RegExp, options: WaitForLineOptions = {}): Promise<RegExpMatchArray> {
    const stream = options.stream ?? 'stdout'
    const timeoutMs = options.timeoutMs ?? 20_000
    // A /g or /y regex keeps state between calls to match(); use a copy without those flags.
    const re = new RegExp(regex.source, regex.flags.replace(/[gy]/g, ''))

    if (!options.onlyNew) {
      for (const line of this.#lines[stream]) {
        const m = line.match(re)
        if (m) return Promise.resolve(m)
      }
    }
    if (this.#exitInfo) {
      return Promise.reject(this.#error(`exited (${describeExit(this.#exitInfo)}) without printing a line matching ${regex} on ${stream}`))
    }

    return new Promise<RegExpMatchArray>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        this.#listeners.delete(listener)
        this.#exitWaiters.delete(onExit)
      }
      const listener: LineListener = (s, line) => {
        if (s !== stream) return
        const m = line.match(re)
        if (m) { done(); resolve(m) }
      }
      const onExit = (info: ExitInfo): void => {
        done()
        reject(this.#error(`exited (${describeExit(info)}) without printing a line matching ${regex} on ${stream}`))
      }
      const timer = setTimeout(() => {
        done()
        reject(this.#error(`printed no line matching ${regex} on ${stream} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#listeners.add(listener)
      this.#exitWaiters.add(onExit)
    })
  }

  /** Sends a signal to the process and its process group. False if it had already exited. */
  kill (signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.#exitInfo || this.child.pid === undefined) return false
    try {
      process.kill(-this.child.pid, signal)
      return true
    } catch {
      // The group is gone (or was never created): fall back to the process itself.
      return this.child.kill(signal)
    }
  }

  /**
   * Sends SIGTERM (or `signal`), waits up to `timeoutMs` for the exit, then sends SIGKILL.
   * Resolves with the exit information; safe to call more than once and after the exit.
   */
  async stop (options: StopOptions = {}): Promise<ExitInfo> {
    const timeoutMs = options.timeoutMs ?? 5_000
    if (this.#exitInfo) return this.#exitInfo
    this.kill(options.signal ?? 'SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout') }, timeoutMs) })
    const first = await Promise.race([this.exited, timedOut])
    clearTimeout(timer)
    if (first !== 'timeout') return first
    this.kill('SIGKILL')
    return await this.exited
  }

  /** Kills the process group at once, synchronously (for the worker's exit hook). */
  killNow (): void {
    if (this.#exitInfo || this.child.pid === undefined) return
    try { process.kill(-this.child.pid, 'SIGKILL') } catch { /* already gone */ }
  }

  /** A report of the process: command, state and the interleaved output. */
  describe (): string {
    const state = this.#exitInfo ? `exited (${describeExit(this.#exitInfo)})` : 'running'
    const dropped = this.#dropped.stdout + this.#dropped.stderr
    return [
      `$ ${[this.command, ...this.args].join(' ')}`,
      `# ${this.name}, pid ${this.child.pid ?? '-'}, ${state}` +
        (this.#spawnError ? `, spawn error: ${this.#spawnError.message}` : '') +
        (dropped ? `, ${dropped} early lines dropped` : ''),
      this.output
    ].join('\n')
  }

  #onData (stream: Stream, chunk: string): void {
    const parts = (this.#partial[stream] + chunk).split('\n')
    this.#partial[stream] = parts.pop()!
    for (const part of parts) this.#onLine(stream, part.endsWith('\r') ? part.slice(0, -1) : part)
  }

  #onLine (stream: Stream, line: string): void {
    const lines = this.#lines[stream]
    lines.push(line)
    if (lines.length > MAX_LINES) { lines.shift(); this.#dropped[stream]++ }
    this.#combined.push(`${stream === 'stdout' ? 'out' : 'err'}| ${line}`)
    if (this.#combined.length > 2 * MAX_LINES) this.#combined.shift()
    if (this.#echo) console.log(`[${this.name}] ${line}`)
    for (const listener of [...this.#listeners]) listener(stream, line)
  }

  #onExit (resolveExit: (info: ExitInfo) => void, info: ExitInfo): void {
    if (this.#exitInfo) return
    // A last line without a line ending is still a line.
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.#partial[stream] !== '') {
        const rest = this.#partial[stream]
        this.#partial[stream] = ''
        this.#onLine(stream, rest)
      }
    }
    this.#exitInfo = info
    this.#registry.delete(this)
    resolveExit(info)
    for (const waiter of [...this.#exitWaiters]) waiter(info)
  }

  #text (stream: Stream): string {
    const lines = this.#lines[stream]
    return lines.length ? lines.join('\n') + '\n' : ''
  }

  #error (what: string): Error {
    return new Error(`${this.name} ${what}\n--- output of ${this.name} ---\n${this.describe()}\n--- end of ${this.name} ---`)
  }
}

/** A set of processes that are stopped together. */
export class ProcessRegistry {
  readonly #running = new Set<ManagedProcess>()
  /** Every process ever added (until clear()), running or not: for reports after a failure. */
  readonly #all: ManagedProcess[] = []

  constructor () { allRegistries.add(this) }

  add (proc: ManagedProcess): void {
    this.#running.add(proc)
    this.#all.push(proc)
  }

  delete (proc: ManagedProcess): void { this.#running.delete(proc) }

  /** Processes added since the last clear(), including those that have exited. */
  get processes (): readonly ManagedProcess[] { return this.#all }
  get running (): readonly ManagedProcess[] { return [...this.#running] }

  /** Stops every running process (SIGTERM, then SIGKILL after `timeoutMs`), in parallel. */
  async stopAll (options: StopOptions = {}): Promise<void> {
    await Promise.all([...this.#running].map(async (p) => { await p.stop(options) }))
  }

  /** Forgets the processes that have exited (call after stopAll when a test is over). */
  clear (): void {
    this.#all.length = 0
    for (const p of this.#running) this.#all.push(p)
  }

  /** SIGKILL to everything still running, synchronously. */
  killAllNow (): void {
    for (const p of this.#running) p.killNow()
  }
}

const allRegistries = new Set<ProcessRegistry>()

/** The default registry: the fixtures stop its processes at the end of every test. */
export const testProcesses = new ProcessRegistry()

// Last resort: nothing started by this worker survives it, whatever happened to the fixtures.
process.on('exit', () => {
  for (const registry of allRegistries) registry.killAllNow()
})

/**
 * Starts `cmd args` (no shell) and returns it as a ManagedProcess whose stdout and stderr are
 * kept in memory. Throws nothing: a command that cannot be started shows up as a spawn error and
 * an exit with code null (waitForLine rejects, `exited` resolves).
 */
export function spawnProcess (cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): ManagedProcess {
  return new ManagedProcess(cmd, args, options)
}

/** Stops every running process of the default registry (`testProcesses`). */
export async function stopAll (options: StopOptions = {}): Promise<void> {
  await testProcesses.stopAll(options)
}

/**
 * Runs `cmd args` to completion and returns its exit and output. On timeout the process is
 * stopped and the promise rejects with its output.
 */
export async function runProcess (
  cmd: string,
  args: readonly string[] = [],
  options: SpawnOptions & { timeoutMs?: number } = {}
): Promise<ExitInfo & { stdout: string, stderr: string, process: ManagedProcess }> {
  const proc = spawnProcess(cmd, args, options)
  const timeoutMs = options.timeoutMs ?? 30_000
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout') }, timeoutMs) })
  const first = await Promise.race([proc.exited, timedOut])
  clearTimeout(timer)
  if (first === 'timeout') {
    await proc.stop({ timeoutMs: 2_000 })
    throw new Error(`${proc.name} did not finish within ${timeoutMs} ms\n${proc.describe()}`)
  }
  if (proc.spawnError) throw new Error(`${proc.name} could not be started: ${proc.spawnError.message}`)
  return { ...first, stdout: proc.stdout, stderr: proc.stderr, process: proc }
}

export function describeExit (info: ExitInfo): string {
  return info.signal ? `signal ${info.signal}` : `code ${info.code}`
}
