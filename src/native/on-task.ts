/**
 * `starling serve --on-task CMD`: every inbound task (and every new turn of one) wakes a command
 * up, run through `/bin/sh -c CMD`.
 *
 * The command gets
 * - the task's text on stdin (followed by a newline), and
 * - in its environment STARLING_TASK_ID, STARLING_CONTEXT_ID, STARLING_FROM (the sender's
 *   PeerID), STARLING_RESUMED (`1` when this peer restarted while the task was handled and it is
 *   handled again, else `0`) and STARLING_HOME (so `starling show "$STARLING_TASK_ID"` reaches
 *   this peer: the whole conversation and the sender's files).
 *
 * How it ends decides the task:
 * - exit 0: completed, with stdout as the answer (one trailing newline removed);
 * - exit 3: input-required, with stdout as the question (the sender's reply wakes the command
 *   again, in the same task: same STARLING_TASK_ID and STARLING_CONTEXT_ID);
 * - any other exit, or a signal: failed, with the last lines of stderr as the reason;
 * - still running after the timeout: stopped (SIGTERM to its process group, SIGKILL
 *   KILL_GRACE_MS later) and failed;
 * - the sender cancels the task: stopped the same way.
 * An answer larger than `maxAnswerBytes` stops the command and fails the task.
 *
 * When the daemon stops, running commands are stopped and their tasks left as they are: the
 * restarted peer runs them again (STARLING_RESUMED=1).
 */
import { spawn } from 'node:child_process'
import type { TaskHandler, TaskOutcome } from '../core/tasks/executor.js'

/** How long a command may run, by default, in ms. */
export const DEFAULT_ON_TASK_TIMEOUT_MS = 600_000
/** Largest answer (stdout) taken, in bytes, by default. */
export const DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024
/** Time between SIGTERM and SIGKILL, in ms. */
export const KILL_GRACE_MS = 3_000
/** The exit code that means "I have a question" (stdout is the question). */
export const INPUT_REQUIRED_EXIT = 3
/** Bytes of stderr kept (the last ones). */
const STDERR_KEPT_BYTES = 64 * 1024
/** The reason of a failed task: at most this many of stderr's last lines … */
const REASON_LINES = 20
/** … and at most this many characters. */
const REASON_CHARS = 2_000

export interface OnTaskInit {
  /** A shell command line, run with `/bin/sh -c`. */
  command: string
  /** Default DEFAULT_ON_TASK_TIMEOUT_MS. */
  timeoutMs?: number
  /** Default DEFAULT_MAX_ANSWER_BYTES. */
  maxAnswerBytes?: number
  /** Default KILL_GRACE_MS. */
  killGraceMs?: number
  /** The peer's home directory, given to the command as STARLING_HOME. */
  home?: string
  /** Working directory of the command; default this process's. */
  cwd?: string
}

export interface OnTaskHandler {
  handler: TaskHandler
  /** Commands running now. */
  readonly running: number
  /**
   * Stops every running command and leaves its task unanswered (the handler's promise never
   * settles), for a daemon that is stopping: the restarted peer handles the task again.
   */
  stop: () => Promise<void>
}

/** Why a command was stopped. */
type StopReason = 'timeout' | 'canceled' | 'too-large' | 'shutdown'

interface Run {
  terminate: (reason: StopReason) => void
  closed: Promise<void>
}

export function onTaskHandler (init: OnTaskInit): OnTaskHandler {
  const timeoutMs = init.timeoutMs ?? DEFAULT_ON_TASK_TIMEOUT_MS
  const maxAnswerBytes = init.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES
  const graceMs = init.killGraceMs ?? KILL_GRACE_MS
  const runs = new Set<Run>()
  let stopping = false

  const handler: TaskHandler = async (task, signal) => {
    if (stopping) return await new Promise<never>(() => {})
    if (signal.aborted) return { kind: 'canceled' }

    const child = spawn('/bin/sh', ['-c', init.command], {
      cwd: init.cwd,
      env: {
        ...process.env,
        ...(init.home != null ? { STARLING_HOME: init.home } : {}),
        STARLING_TASK_ID: task.taskId,
        STARLING_CONTEXT_ID: task.contextId,
        STARLING_FROM: task.from,
        STARLING_RESUMED: task.resumed === true ? '1' : '0'
      },
      stdio: ['pipe', 'pipe', 'pipe'],
      // a process group of its own: stopping it reaches whatever the shell started
      detached: true
    })

    const stdout: Buffer[] = []
    let stdoutBytes = 0
    let stderr: Buffer[] = []
    let stderrBytes = 0
    let stoppedFor: StopReason | undefined
    const timers: Array<ReturnType<typeof setTimeout>> = []
    const closed = Promise.withResolvers<void>()
    const exit = Promise.withResolvers<{ code: number | null, signal: NodeJS.Signals | null, error?: Error }>()

    const killGroup = (sig: NodeJS.Signals): void => {
      if (child.pid == null) return
      try {
        process.kill(-child.pid, sig)
      } catch {
        // the group is gone already
      }
    }
    const terminate = (reason: StopReason): void => {
      if (stoppedFor != null) return
      stoppedFor = reason
      killGroup('SIGTERM')
      timers.push(setTimeout(() => {
        killGroup('SIGKILL')
        // a process that left the group may still hold the pipes: give up on them
        timers.push(setTimeout(() => {
          child.stdout.destroy()
          child.stderr.destroy()
          exit.resolve({ code: child.exitCode, signal: child.signalCode })
        }, graceMs))
      }, graceMs))
    }
    const run: Run = { terminate, closed: closed.promise }
    runs.add(run)

    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length
      if (stdoutBytes > maxAnswerBytes) {
        terminate('too-large')
        return
      }
      stdout.push(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk)
      stderrBytes += chunk.length
      if (stderrBytes > 2 * STDERR_KEPT_BYTES) {
        const kept = Buffer.concat(stderr).subarray(-STDERR_KEPT_BYTES)
        stderr = [kept]
        stderrBytes = kept.length
      }
    })
    child.on('error', (error) => { exit.resolve({ code: null, signal: null, error }) })
    // after the process exited and its output ended: everything it printed has been read
    child.on('close', (code, sig) => { exit.resolve({ code, signal: sig }) })
    // a command that does not read its stdin closes it early (EPIPE): that is no failure
    child.stdin.on('error', () => {})
    child.stdin.end(task.text === '' ? '' : `${task.text}\n`)

    const onAbort = (): void => { terminate('canceled') }
    signal.addEventListener('abort', onAbort, { once: true })
    timers.push(setTimeout(() => { terminate('timeout') }, timeoutMs))

    let result
    try {
      result = await exit.promise
    } finally {
      for (const timer of timers) clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      runs.delete(run)
      closed.resolve()
    }

    const errText = stderrTail(Buffer.concat(stderr).toString('utf8'))
    const because = errText !== '' ? `: ${errText}` : ''
    switch (stoppedFor) {
      case 'shutdown': return await new Promise<never>(() => {})
      case 'canceled': return { kind: 'canceled' }
      case 'timeout': return { kind: 'failed', text: `the agent's command did not finish within ${seconds(timeoutMs)} and was stopped${because}` }
      case 'too-large': return { kind: 'failed', text: `the agent's command printed an answer larger than ${maxAnswerBytes} bytes and was stopped` }
    }
    if (result.error != null) return { kind: 'failed', text: `the agent's command could not be run: ${result.error.message}` }
    const answer = Buffer.concat(stdout).toString('utf8').replace(/\r?\n$/, '')
    return outcomeOf(result.code, result.signal, answer, errText)
  }

  return {
    handler,
    get running () { return runs.size },
    stop: async () => {
      stopping = true
      const all = [...runs]
      for (const run of all) run.terminate('shutdown')
      await Promise.all(all.map(async run => { await run.closed }))
    }
  }
}

function outcomeOf (code: number | null, signal: NodeJS.Signals | null, answer: string, errText: string): TaskOutcome {
  if (code === 0) return { kind: 'completed', text: answer }
  if (code === INPUT_REQUIRED_EXIT) {
    if (answer.trim() !== '') return { kind: 'input-required', text: answer }
    return { kind: 'failed', text: `the agent's command exited with code ${INPUT_REQUIRED_EXIT} (input required) but printed no question` }
  }
  if (errText !== '') return { kind: 'failed', text: errText }
  return { kind: 'failed', text: code != null ? `the agent's command exited with code ${code}` : `the agent's command was killed by ${signal ?? 'a signal'}` }
}

/** The last REASON_LINES non-empty lines of `text`, at most REASON_CHARS characters. */
export function stderrTail (text: string): string {
  const lines = text.split(/\r?\n/).filter(l => l.trim() !== '')
  const tail = lines.slice(-REASON_LINES).join('\n')
  return tail.length > REASON_CHARS ? `…${tail.slice(-(REASON_CHARS - 1))}` : tail
}

function seconds (ms: number): string {
  return `${ms / 1000} s`
}
