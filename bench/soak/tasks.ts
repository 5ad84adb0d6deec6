/**
 * The soak's task load: two Starling native peers in the soak's own process, both reachable
 * only through the relay (TCP to the relay, listening on `/p2p-circuit`, as `createNativePeer`
 * builds them), and a scheduler that sends tasks from one to the other at a steady rate. The
 * receiver answers every task with an echo at once; the round trip is from `send()` to the
 * sender's record turning completed.
 */
import { setMaxListeners } from 'node:events'
import { tcp } from '@libp2p/tcp'
import { StarlingPeer } from '../../src/core/peer.js'
import { coalescing } from '../../src/core/node/coalesce.js'
import { memoryStorage } from '../../src/core/store/memory.js'
import { TERMINAL_STATES } from '../../src/core/tasks/state.js'
import { fastX25519 } from '../../src/native/fast-x25519.js'
import type { TaskHandler } from '../../src/core/tasks/executor.js'

/** One interval's (or the whole run's) task figures. */
export interface TaskWindow {
  /** Tasks the scheduler started. */
  sent: number
  completed: number
  /** Tasks that ended otherwise: a task failure, an error, or no answer within the timeout. */
  failed: number
  /** Failures by kind: `timeout`, `task TASK_STATE_…`, `error: <message>`. */
  failures: Record<string, number>
  /** Slots the scheduler skipped because too many tasks were in flight. */
  skipped: number
  /** Round trips of the completed tasks, in ms. */
  latencies: number[]
  /** How late the scheduler's latest tick ran, at worst, in ms. */
  maxLagMs: number
}

function emptyWindow (): TaskWindow {
  return { sent: 0, completed: 0, failed: 0, failures: {}, skipped: 0, latencies: [], maxLagMs: 0 }
}

async function nativePeer (relayAddr: string, name: string, handler?: TaskHandler): Promise<StarlingPeer> {
  const peer = await StarlingPeer.create({
    storage: memoryStorage(),
    transports: [coalescing(tcp())],
    noiseCrypto: fastX25519(),
    listen: ['/p2p-circuit'],
    relayAddrs: async () => [relayAddr],
    defaultProfile: { name, description: 'a soak-test peer', skills: [{ id: 'soak-echo' }] },
    handler
  })
  await peer.start()
  return peer
}

/** Resolves once `peer` holds a reservation and has published its card (or rejects after `ms`). */
async function untilPublished (peer: StarlingPeer, ms: number): Promise<void> {
  if (peer.registryStatus.expiresAt != null) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      peer.removeEventListener('registry', onRegistry)
      reject(new Error(`a task peer did not publish its card within ${ms / 1000} s`))
    }, ms)
    const onRegistry = (evt: CustomEvent<{ expiresAt?: string }>): void => {
      if (evt.detail.expiresAt == null) return
      clearTimeout(timer)
      peer.removeEventListener('registry', onRegistry)
      resolve()
    }
    peer.addEventListener('registry', onRegistry)
  })
}

export interface TaskLoad {
  sender: StarlingPeer
  receiver: StarlingPeer
  /** Starts sending `rate` tasks per second. */
  start: () => void
  /** The figures since the last call (and adds them to the run's). */
  takeWindow: () => TaskWindow
  /** Tasks in flight now. */
  inFlight: () => number
  /** Stops sending; waits up to `ms` for the tasks in flight. */
  drain: (ms: number) => Promise<void>
  stop: () => Promise<void>
}

export async function startTaskLoad (init: { relayAddr: string, rate: number, timeoutMs: number, maxInFlight: number }): Promise<TaskLoad> {
  const echo: TaskHandler = async (task) => ({ kind: 'completed', text: `echo: ${task.text}` })
  const receiver = await nativePeer(init.relayAddr, 'soak echo', echo)
  let sender: StarlingPeer | undefined
  try {
    sender = await nativePeer(init.relayAddr, 'soak sender')
    await Promise.all([untilPublished(receiver, 30_000), untilPublished(sender, 30_000)])
  } catch (err) {
    await Promise.allSettled([receiver.stop(), sender?.stop()])
    throw err
  }
  const from = sender
  const target = receiver.peerId
  let window = emptyWindow()
  let inFlight = 0
  let launched = 0
  let ticker: ReturnType<typeof setInterval> | undefined
  const idle = new Set<() => void>()

  const fail = (w: TaskWindow, kind: string): void => {
    w.failed++
    w.failures[kind] = (w.failures[kind] ?? 0) + 1
  }

  const one = async (n: number): Promise<void> => {
    window.sent++
    inFlight++
    const start = performance.now()
    const signal = AbortSignal.timeout(init.timeoutMs)
    // the outbox, the delivery attempt and waitFor each listen to it
    setMaxListeners(64, signal)
    // a task counts as sent in the window it started in, and as done in the one it ended in
    const current = (): TaskWindow => window
    try {
      let record = await from.send(target, `soak task ${n}`, { ttlMs: init.timeoutMs, signal })
      if (!TERMINAL_STATES.includes(record.state)) record = await from.waitFor(record.id, { signal })
      if (record.state === 'TASK_STATE_COMPLETED') {
        const w2 = current()
        w2.completed++
        w2.latencies.push(performance.now() - start)
      } else {
        fail(current(), `task ${record.state}`)
      }
    } catch (err) {
      fail(current(), signal.aborted ? 'timeout' : `error: ${(err as Error).message ?? String(err)}`)
    } finally {
      inFlight--
      if (inFlight === 0) for (const wake of idle) wake()
    }
  }

  return {
    sender: from,
    receiver,
    start: () => {
      const origin = performance.now()
      const TICK_MS = 10
      let expected = origin + TICK_MS
      ticker = setInterval(() => {
        const t = performance.now()
        window.maxLagMs = Math.max(window.maxLagMs, t - expected)
        expected = t + TICK_MS
        // every task has its slot on the clock: a late tick sends the ones it owes, no more
        const due = Math.floor((t - origin) / 1000 * init.rate)
        while (launched < due) {
          launched++
          if (inFlight >= init.maxInFlight) {
            window.skipped++
            continue
          }
          void one(launched)
        }
      }, TICK_MS)
    },
    takeWindow: () => {
      const taken = window
      window = emptyWindow()
      return taken
    },
    inFlight: () => inFlight,
    drain: async (ms) => {
      clearInterval(ticker)
      ticker = undefined
      if (inFlight === 0) return
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms)
        function done (): void {
          clearTimeout(timer)
          idle.delete(done)
          resolve()
        }
        idle.add(done)
      })
    },
    stop: async () => {
      clearInterval(ticker)
      await Promise.allSettled([from.stop(), receiver.stop()])
    }
  }
}
