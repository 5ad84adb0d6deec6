/**
 * The crowd of native clients, spread over a few worker processes (./client-worker.ts) so that
 * thousands of libp2p nodes fit beside the relay on a small machine.
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import type { FromWorker, ToWorker } from './protocol.js'

export interface GrowResult {
  reserved: number
  failed: number
  errors: string[]
}

export interface ClientPool {
  /**
   * Adds clients until `total` hold a reservation (those that fail after retries are counted),
   * or until `deadline` (ms since the epoch) passes.
   */
  growTo: (total: number, options: { concurrencyPerWorker: number, deadline?: number, onProgress?: (reserved: number) => void }) => Promise<GrowResult>
  /** Every client pings the relay every `intervalMs` (null: stop). */
  ping: (intervalMs: number | null) => Promise<void>
  stop: () => Promise<void>
}

interface Worker {
  child: ChildProcess
  reserved: number
  failed: number
  waiting?: { type: FromWorker['type'], resolve: (m: FromWorker) => void, reject: (e: Error) => void }
}

export async function startClientPool (init: { root: string, workers: number, relayAddr: string, nodeArgs?: string[] }): Promise<ClientPool> {
  const script = join(init.root, 'dist', 'node', 'bench', 'relay-scale', 'client-worker.js')
  const workers: Worker[] = []
  let onProgress: ((reserved: number) => void) | undefined
  const total = (): number => workers.reduce((sum, w) => sum + w.reserved, 0)

  const request = async (worker: Worker, message: ToWorker, answer: FromWorker['type']): Promise<FromWorker> => {
    const reply = new Promise<FromWorker>((resolve, reject) => { worker.waiting = { type: answer, resolve, reject } })
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
      const worker: Worker = { child, reserved: 0, failed: 0 }
      workers.push(worker)
      child.on('message', (message: FromWorker) => {
        if (message.type === 'progress' || message.type === 'grown') {
          worker.reserved = message.reserved
          worker.failed = message.failed
          if (message.type === 'progress') onProgress?.(total())
        }
        if (message.type === 'error') {
          worker.waiting?.reject(new Error(`client worker: ${message.message}`))
          worker.waiting = undefined
          return
        }
        if (worker.waiting?.type === message.type) {
          const waiting = worker.waiting
          worker.waiting = undefined
          waiting.resolve(message)
        }
      })
      child.once('exit', (code, signal) => {
        worker.waiting?.reject(new Error(`a client worker exited (${code ?? signal})`))
        worker.waiting = undefined
      })
    }
    await Promise.all(workers.map(async (worker) => {
      await new Promise<void>((resolve, reject) => {
        worker.waiting = { type: 'ready', resolve: () => { resolve() }, reject }
      })
    }))
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
        const grown = replies.filter(r => r.type === 'grown')
        return {
          reserved: total(),
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
    stop
  }
}
