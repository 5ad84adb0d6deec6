/**
 * The soak's crowd: the relay-scale client workers (../relay-scale/client-worker.ts), told to
 * publish and renew every client's card (`registry`) before they grow, and asked for their
 * counters (`stats`) at every report.
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import type { FromWorker, ToWorker, WorkerStats } from '../relay-scale/protocol.js'

export interface SoakPool {
  /** Adds clients until `total` hold a reservation (or failed after retries), or until `deadline`. */
  grow: (total: number, options: { concurrencyPerWorker: number, deadline: number, onProgress?: (reserved: number, failed: number) => void }) => Promise<{ reserved: number, failed: number, errors: string[] }>
  /** Every worker's counters, added up. */
  stats: () => Promise<WorkerStats>
  stop: () => Promise<void>
}

interface Worker {
  child: ChildProcess
  reserved: number
  failed: number
  waiting: Map<FromWorker['type'], Array<{ resolve: (m: FromWorker) => void, reject: (e: Error) => void }>>
}

export async function startSoakPool (init: { root: string, workers: number, relayAddr: string, ttlSeconds: number, buckets: number }): Promise<SoakPool> {
  const script = join(init.root, 'dist', 'node', 'bench', 'relay-scale', 'client-worker.js')
  const workers: Worker[] = []
  let onProgress: ((reserved: number, failed: number) => void) | undefined

  const rejectAll = (worker: Worker, err: Error): void => {
    for (const list of worker.waiting.values()) for (const w of list) w.reject(err)
    worker.waiting.clear()
  }

  const request = async (worker: Worker, message: ToWorker, answer: FromWorker['type']): Promise<FromWorker> => {
    if (!worker.child.connected) throw new Error('a client worker is gone')
    const reply = new Promise<FromWorker>((resolve, reject) => {
      const list = worker.waiting.get(answer) ?? []
      list.push({ resolve, reject })
      worker.waiting.set(answer, list)
    })
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
        execArgv: ['--import', join(init.root, 'bin', 'polyfill.mjs'), '--max-old-space-size=4096'],
        stdio: ['ignore', 'ignore', 'inherit', 'ipc']
      })
      const worker: Worker = { child, reserved: 0, failed: 0, waiting: new Map() }
      workers.push(worker)
      child.on('message', (message: FromWorker) => {
        if (message.type === 'progress' || message.type === 'grown') {
          worker.reserved = message.reserved
          worker.failed = message.failed
          if (message.type === 'progress') {
            onProgress?.(workers.reduce((s, w) => s + w.reserved, 0), workers.reduce((s, w) => s + w.failed, 0))
          }
        }
        if (message.type === 'error') {
          rejectAll(worker, new Error(`client worker: ${message.message}`))
          return
        }
        const next = worker.waiting.get(message.type)?.shift()
        next?.resolve(message)
      })
      child.once('exit', (code, signal) => { rejectAll(worker, new Error(`a client worker exited (${code ?? signal})`)) })
    }
    await Promise.all(workers.map(async (worker) => {
      await new Promise<void>((resolve, reject) => { worker.waiting.set('ready', [{ resolve: () => { resolve() }, reject }]) })
    }))
    workers.forEach((worker, i) => {
      worker.child.send({ type: 'registry', ttlSeconds: init.ttlSeconds, buckets: init.buckets, offset: i, stride: workers.length } satisfies ToWorker)
    })
  } catch (err) {
    await stop()
    throw err
  }

  return {
    grow: async (total, options) => {
      onProgress = options.onProgress
      const timer = setTimeout(() => {
        for (const worker of workers) if (worker.child.connected) worker.child.send({ type: 'halt' } satisfies ToWorker)
      }, Math.max(0, options.deadline - Date.now()))
      try {
        const replies = await Promise.all(workers.map(async (worker, i) => {
          const share = Math.floor(total / workers.length) + (i < total % workers.length ? 1 : 0)
          const count = Math.max(0, share - worker.reserved - worker.failed)
          return await request(worker, { type: 'grow', count, relayAddr: init.relayAddr, concurrency: options.concurrencyPerWorker }, 'grown')
        }))
        const grown = replies.flatMap(r => r.type === 'grown' ? [r] : [])
        return {
          reserved: grown.reduce((s, r) => s + r.reserved, 0),
          failed: grown.reduce((s, r) => s + r.failed, 0),
          errors: grown.flatMap(r => r.errors)
        }
      } finally {
        clearTimeout(timer)
        onProgress = undefined
      }
    },
    stats: async () => {
      const all = await Promise.all(workers.map(async (worker) => {
        const reply = await request(worker, { type: 'stats' }, 'stats')
        if (reply.type !== 'stats') throw new Error('unreachable')
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
