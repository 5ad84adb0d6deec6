/**
 * `starling serve`: runs the daemon in the foreground until SIGINT or SIGTERM, then stops it
 * cleanly (control socket closed, peer stopped, task log closed) and exits 0.
 */
import { errorMessage } from '../../core/errors.js'
import { ConfigError } from '../config.js'
import { DaemonRunningError } from '../control.js'
import { startDaemon } from '../daemon.js'
import { DEFAULT_ON_TASK_TIMEOUT_MS, onTaskHandler } from '../on-task.js'
import type { OnTaskHandler } from '../on-task.js'
import { ExitCode, UsageError } from './verb.js'
import type { VerbContext } from './verb.js'

/** Time a clean stop may take before the process exits anyway, in ms. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000

export async function runServe (context: VerbContext): Promise<number> {
  // a daemon outlives the odd bug in a background task: report it and keep serving
  process.on('unhandledRejection', (reason) => {
    context.note(`starling serve: unhandled rejection: ${reason instanceof Error ? reason.stack ?? reason.message : String(reason)}`)
  })

  // listen for signals before anything starts: one that arrives during start-up stops the
  // daemon as soon as it is up, instead of killing it half-way (socket file left behind)
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => { resolve('SIGINT') })
    process.once('SIGTERM', () => { resolve('SIGTERM') })
  })

  const onTask = onTaskFlags(context)
  let daemon
  try {
    daemon = await startDaemon({
      home: context.home,
      echo: context.values.echo === true,
      bridge: context.values.bridge === true,
      // --no-mdns; without it, config.json's `mdns` (default on)
      mdns: context.values['no-mdns'] === true ? false : undefined,
      handler: onTask?.handler,
      handlerMode: onTask != null ? `on-task (runs \`${String(context.values['on-task'])}\` for every task)` : undefined,
      json: context.json
    })
  } catch (err) {
    if (err instanceof DaemonRunningError) {
      context.note(`starling serve: a Starling peer is already serving in ${context.home}`)
      return ExitCode.Error
    }
    if (err instanceof ConfigError) {
      context.note(`starling serve: ${err.message}`)
      return ExitCode.Error
    }
    throw err
  }

  const signal = await signalled
  if (!context.json) context.print(`Received ${signal}, stopping`)
  // a second signal, or a stop that hangs, ends the process at once
  const force = (): void => { process.exit(ExitCode.Error) }
  process.once('SIGINT', force)
  process.once('SIGTERM', force)
  const timer = setTimeout(() => {
    context.note(`starling serve: could not stop within ${DEFAULT_STOP_TIMEOUT_MS / 1000} s`)
    force()
  }, DEFAULT_STOP_TIMEOUT_MS)
  timer.unref()
  let code: number = ExitCode.Ok
  try {
    // commands first: their tasks stay unanswered, and the restarted peer runs them again
    await onTask?.stop()
    await daemon.stop()
  } catch (err) {
    context.note(`starling serve: error while stopping: ${errorMessage(err)}`)
    code = ExitCode.Error
  }
  // libp2p may leave a timer or a socket behind; the peer is stopped, so nothing is lost by
  // exiting once what we printed has been handed to the OS
  await new Promise<void>((resolve) => { process.stdout.write('', () => { resolve() }) })
  process.exit(code)
}

/** The handler `--on-task CMD [--on-task-timeout SECONDS]` asks for, if any. */
function onTaskFlags (context: VerbContext): OnTaskHandler | undefined {
  const command = context.values['on-task']
  const timeout = context.values['on-task-timeout']
  if (typeof command !== 'string') {
    if (timeout != null) throw new UsageError('--on-task-timeout needs --on-task')
    return undefined
  }
  if (command.trim() === '') throw new UsageError('--on-task needs a command')
  if (context.values.echo === true) throw new UsageError('give --echo or --on-task, not both')
  let timeoutMs = DEFAULT_ON_TASK_TIMEOUT_MS
  if (typeof timeout === 'string') {
    const seconds = Number(timeout)
    if (timeout.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 7 * 86_400) {
      throw new UsageError(`--on-task-timeout must be a number of seconds (at most a week), got "${timeout}"`)
    }
    timeoutMs = Math.round(seconds * 1000)
  }
  return onTaskHandler({ command, timeoutMs, home: context.home })
}
