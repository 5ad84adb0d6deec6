/**
 * `starling serve`: runs the daemon in the foreground until SIGINT or SIGTERM, then stops it
 * cleanly (control socket closed, peer stopped, task log closed) and exits 0.
 */
import { errorMessage } from '../../core/errors.js'
import { ConfigError } from '../config.js'
import { DaemonRunningError } from '../control.js'
import { startDaemon } from '../daemon.js'
import { ExitCode } from './verb.js'
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

  let daemon
  try {
    daemon = await startDaemon({ home: context.home, echo: context.values.echo === true, json: context.json })
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
