/**
 * A signal that aborts when `signal` does or after `ms`, with a `clear` to call once the work is
 * done. AbortSignal.any and AbortSignal.timeout would do the same, but every call leaves a timer
 * and a dependent signal behind until the timeout fires, which on a path taken per task (the
 * outbox at thousands of tasks a second) shows up in both CPU and memory.
 */
import { TimeoutError } from './errors.js'

export interface TimedSignal {
  signal: AbortSignal
  clear: () => void
}

export function timedSignal (signal: AbortSignal | undefined, ms: number, message = `no answer within ${ms} ms`): TimedSignal {
  const controller = new AbortController()
  const onAbort = (): void => { controller.abort(signal?.reason) }
  if (signal?.aborted === true) controller.abort(signal.reason)
  else signal?.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(() => { controller.abort(new TimeoutError(message)) }, ms)
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }
}
