/**
 * The crowd of native clients, spread over a few worker processes (./client-worker.ts) so that
 * thousands of libp2p nodes fit beside the relay on a small machine. The relay-scale section has
 * them hold reservations (and ping); the soak (../soak.ts) also has them publish and renew cards.
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import type { FromWorker, ToWorker, WorkerStats } from './protocol.js'

export interface GrowResult {
  reserved: number
  failed: number
  errors: string[]
}

export interface ClientPoolInit {
  root: string
  workers: number
  relayAddr: string
  nodeArgs?: string[]
  /** Every client also publishes its card with this TTL and renews it (the soak). */
  registry?: { ttlSeconds: number, buckets: number }
}

export interface ClientPool {
  /**
   * Adds clients until `total` hold a reservation (those that fail after retries are counted),
   * or until `deadline` (ms since the epoch) passes.
   */
  growTo: (total: number, options: { concurrencyPerWorker: number, deadline?: number, onProgress?: (reserved: number, failed: number) => void }) => Promise<GrowResult>
  /** Every client pings the relay every `intervalMs` (null: stop). */
  ping: (intervalMs: number | null) => Promise<void>
  /** Every worker's counters, added up. */
  stats: () => Promise<WorkerStats>
  stop: () => Promise<void>
}

interface Worker {
  child: ChildProcess
  reserved: number
  failed: number
  /** Requests waiting for their answer, by the answer's type, oldest first. */
  waiting: Map<FromWorker['type'], Array<{ resolve: (m: FromWorker) => void, reject: (e: Error) => void }>>
}

export async function startClientPool (init: ClientPoolInit): Promise<ClientPool> {
  const script = join(init.root, 'dist', 'node', 'bench', 'relay-scale', 'client-worker.js')
  const workers: Worker[] = []
  let onProgress: ((reserved: number, failed: number) => void) | undefined
  const total = (key: 'reserved' | 'failed'): number => workers.reduce((sum, w) => sum + w[key], 0)

  const rejectAll = (worker: Worker, err: Error): void => {
    for (const list of worker.waiting.values()) for (const w of list) w.reject(err)
    worker.waiting.clear()
  }

  const answer = async (worker: Worker, type: FromWorker['type']): Promise<FromWorker> => {
    return await new Promise<FromWorker>((resolve, reject) => {
      const list = worker.waiting.get(type) ?? []
      list.push({ resolve, reject })
      worker.waiting.set(type, list)
    })
  }

  const request = async (worker: Worker, message: ToWorker, type: FromWorker['type']): Promise<FromWorker> => {
    if (!worker.child.connected) throw new Error('a client worker is gone')
    const reply = answer(worker, type)
    worker.child.send(message)
    return await reply
  }

  const stop = async (): Promise<void> => {
    await Promise.all(workers.map(async (worker) => {
      const { child } = worker
      if (child.exitCode != null || child.signalCode != null) return
      const gone = once(child, 'exit')
      if (child.connected) child.send({ type: 'stop' } satisfies ToWorker)
      else child.kill('SIGTERM')
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
      await gone
      clearTimeout(timer)
    }))
  }

  try {
    for (let i = 0; i < init.workers; i++) {
      const child = fork(script, [], {
        execArgv: [...(init.nodeArgs ?? []), '--import', join(init.root, 'bin', 'polyfill.mjs'), '--max-old-space-size=4096'],
        stdio: ['ignore', 'ignore', 'inherit', 'ipc']
      })
      const worker: Worker = { child, reserved: 0, failed: 0, waiting: new Map() }
      workers.push(worker)
      child.on('message', (message: FromWorker) => {
        if (message.type === 'progress' || message.type === 'grown') {
          worker.reserved = message.reserved
          worker.failed = message.failed
          if (message.type === 'progress') onProgress?.(total('reserved'), total('failed'))
        }
        if (message.type === 'error') {
          rejectAll(worker, new Error(`client worker: ${message.message}`))
          return
        }
        worker.waiting.get(message.type)?.shift()?.resolve(message)
      })
      child.once('exit', (code, signal) => { rejectAll(worker, new Error(`a client worker exited (${code ?? signal})`)) })
    }
    await Promise.all(workers.map(async (worker) => { await answer(worker, 'ready') }))
    if (init.registry != null) {
      const { ttlSeconds, buckets } = init.registry
      workers.forEach((worker, i) => {
        worker.child.send({ type: 'registry', ttlSeconds, buckets, offset: i, stride: workers.length } satisfies ToWorker)
      })
    }
  } catch (err) {
    await stop()
    throw err
  }

  return {
    growTo: async (target, { concurrencyPerWorker, deadline, onProgress: progress }) => {
      onProgress = progress
      const timer = deadline == null
        ? undefined
        : setTimeout(() => {
          for (const worker of workers) if (worker.child.connected) worker.child.send({ type: 'halt' } satisfies ToWorker)
        }, Math.max(0, deadline - Date.now()))
      try {
        // every worker ends up with an equal share of the clients
        const replies = await Promise.all(workers.map(async (worker, i) => {
          const share = Math.floor(target / workers.length) + (i < target % workers.length ? 1 : 0)
          const count = Math.max(0, share - worker.reserved - worker.failed)
          return await request(worker, { type: 'grow', count, relayAddr: init.relayAddr, concurrency: concurrencyPerWorker }, 'grown')
        }))
        const grown = replies.flatMap(r => r.type === 'grown' ? [r] : [])
        return {
          reserved: total('reserved'),
          failed: grown.reduce((sum, r) => sum + r.failed, 0),
          errors: grown.flatMap(r => r.errors)
        }
      } finally {
        clearTimeout(timer)
        onProgress = undefined
      }
    },
    ping: async (intervalMs) => {
      await Promise.all(workers.map(async (worker) => { await request(worker, { type: 'ping', intervalMs }, 'pinging') }))
    },
    stats: async () => {
      const all = await Promise.all(workers.map(async (worker) => {
        const reply = await request(worker, { type: 'stats' }, 'stats')
        if (reply.type !== 'stats') throw new Error('a client worker answered stats with something else')
        return reply.stats
      }))
      return addStats(all)
    },
    stop
  }
}

export function emptyStats (): WorkerStats {
  return { clients: 0, reservedNow: 0, publishedNow: 0, publishes: 0, publishFailures: 0, renewals: 0, renewFailures: 0, reservationLosses: 0, reservationRegains: 0, relayDisconnects: 0, errors: {} }
}

export function addStats (all: WorkerStats[]): WorkerStats {
  const sum = emptyStats()
  for (const s of all) {
    for (const key of ['clients', 'reservedNow', 'publishedNow', 'publishes', 'publishFailures', 'renewals', 'renewFailures', 'reservationLosses', 'reservationRegains', 'relayDisconnects'] as const) sum[key] += s[key]
    for (const [message, n] of Object.entries(s.errors)) sum.errors[message] = (sum.errors[message] ?? 0) + n
  }
  return sum
}
