/**
 * A worker process of the relay-scale section: runs many minimal native libp2p peers, each
 * connected to the relay over TCP and holding a circuit relay reservation on it, as a Starling
 * native peer does (TCP with one write per message, Noise, Yamux, identify, ping, the circuit
 * relay transport listening on `/p2p-circuit`).
 *
 * Unlike a Starling peer, a client here does not run libp2p's connection monitor (a ping stream
 * to every connection every 10 s): the section measures the relay's own idle cost first, then
 * turns the same pings on with the `ping` message to show what peers' monitors cost the relay.
 * Each client allows only a few connections; it never talks to anything but the relay. To fit
 * thousands beside the relay on two cores, clients log nothing and use the relay's faster X25519
 * (the same bytes on the wire; the relay's side of the handshake is what is measured).
 *
 * Started by ../relay-scale.ts with child_process.fork and `--import bin/polyfill.mjs`.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import { silentLogger } from '../../src/core/node/silent-logger.js'
import { fastX25519 } from '../../src/native/fast-x25519.js'
import { coalescing } from '../../src/core/node/coalesce.js'
import { buildAgentCard } from '../../src/core/a2a/binding.js'
import { RpcClient } from '../../src/core/rpc/client.js'
import { REGISTRY_MAX_FRAME_BYTES, REGISTRY_PROTOCOL, RegistryMethod } from '../../src/core/registry/protocol.js'
import type { PublishResult } from '../../src/core/registry/protocol.js'
import type { FromWorker, ToWorker, WorkerStats } from './protocol.js'

type Client = Libp2p<{ identify: Identify, ping: Ping }>

/** Attempts per client before it counts as failed. */
const ATTEMPTS = 3
/** Time one attempt (dial, identify, reservation) may take. */
const ATTEMPT_TIMEOUT_MS = 30_000

const clients: Client[] = []
let relayPeer: PeerId | undefined
let failed = 0
let halted = false
let lastProgress = 0
const pingTimers = new Set<ReturnType<typeof setTimeout>>()

function send (message: FromWorker): void {
  process.send?.(message)
}

function progress (force = false): void {
  const now = Date.now()
  if (!force && now - lastProgress < 250) return
  lastProgress = now
  send({ type: 'progress', reserved: clients.length, failed })
}

// shared by every client of this process (neither holds per-client state)
const logger = silentLogger()
const noiseCrypto = fastX25519()

async function createClient (): Promise<Client> {
  return await createLibp2p({
    logger,
    addresses: { listen: ['/p2p-circuit'] },
    transports: [coalescing(tcp()), circuitRelayTransport({ reservationCompletionTimeout: ATTEMPT_TIMEOUT_MS })],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: 8 },
    connectionMonitor: { enabled: false },
    services: { identify: identify(), ping: ping() }
  })
}

/** Resolves once `node` listens on a circuit address through `relay`. */
async function reserved (node: Client, relay: string, signal: AbortSignal): Promise<void> {
  const has = (): boolean => node.getMultiaddrs().some(ma => ma.toString().includes(`/p2p/${relay}/p2p-circuit`))
  if (has()) return
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (!has()) return
      cleanup()
      resolve()
    }
    const abort = (): void => {
      cleanup()
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
    }
    const cleanup = (): void => {
      node.removeEventListener('transport:listening', check)
      node.removeEventListener('self:peer:update', check)
      signal.removeEventListener('abort', abort)
    }
    node.addEventListener('transport:listening', check)
    node.addEventListener('self:peer:update', check)
    signal.addEventListener('abort', abort, { once: true })
    check()
  })
}

async function addClient (relayAddr: string, errors: Map<string, number>): Promise<void> {
  const addr = multiaddr(relayAddr)
  const relay = addr.getComponents().find(c => c.name === 'p2p')?.value
  if (relay == null) throw new Error(`the relay address ${relayAddr} has no /p2p/ part`)
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const node = await createClient()
    const signal = AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)
    const done = reserved(node, relay, signal)
    // the dial may fail first: the reservation's rejection is then expected, not unhandled
    done.catch(() => {})
    try {
      const connection = await node.dial(addr, { signal })
      relayPeer ??= connection.remotePeer
      await done
      clients.push(node)
      if (registry != null) publishing(node, relay, registry)
      progress()
      return
    } catch (err) {
      const message = (err as Error).message ?? String(err)
      errors.set(message, (errors.get(message) ?? 0) + 1)
      await Promise.resolve(node.stop()).catch(() => {})
      // back off a little: the relay refuses when too many handshakes are pending
      await new Promise(resolve => setTimeout(resolve, 200 * attempt))
    }
  }
  failed++
  progress()
}

async function grow (count: number, relayAddr: string, concurrency: number): Promise<void> {
  const errors = new Map<string, number>()
  let started = 0
  halted = false
  const lane = async (): Promise<void> => {
    while (started < count && !halted) {
      started++
      await addClient(relayAddr, errors)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, lane))
  progress(true)
  send({
    type: 'grown',
    reserved: clients.length,
    failed,
    errors: [...errors].map(([message, n]) => `${n}× ${message}`)
  })
}

function startPinging (intervalMs: number): void {
  stopPinging()
  const relay = relayPeer
  if (relay == null) return
  for (const node of clients) {
    // each peer's monitor runs on its own clock: spread the first ping over one interval
    const first = setTimeout(() => {
      pingTimers.delete(first)
      const tick = (): void => {
        node.services.ping.ping(relay, { signal: AbortSignal.timeout(10_000) }).catch(() => {})
      }
      tick()
      const every = setInterval(tick, intervalMs)
      pingTimers.add(every)
    }, Math.random() * intervalMs)
    pingTimers.add(first)
  }
  send({ type: 'pinging', clients: clients.length })
}

function stopPinging (): void {
  for (const timer of pingTimers) {
    clearTimeout(timer)
    clearInterval(timer)
  }
  pingTimers.clear()
}

// ---- registry publishing (the soak, ../soak.ts): only after a `registry` message ----

/** Time one publish (stream, request, answer) may take, as a Starling peer's registry client allows. */
const PUBLISH_TIMEOUT_MS = 10_000

interface RegistryMode { ttlSeconds: number, buckets: number, offset: number, stride: number }
interface Publisher { timer?: ReturnType<typeof setTimeout>, reserved: boolean, published: boolean, stopped: boolean }

let registry: RegistryMode | undefined
let publishers = 0
const live = new Set<Publisher>()
const stats: Omit<WorkerStats, 'clients' | 'reservedNow' | 'publishedNow'> = {
  publishes: 0, publishFailures: 0, renewals: 0, renewFailures: 0, reservationLosses: 0, reservationRegains: 0, relayDisconnects: 0, errors: {}
}

function countError (key: string): void {
  stats.errors[key] = (stats.errors[key] ?? 0) + 1
}

/** Publishes `node`'s card now and renews it until the worker stops; watches its reservation. */
function publishing (node: Client, relay: string, mode: RegistryMode): void {
  const number = mode.offset + mode.stride * publishers++
  const peerId = node.peerId.toString()
  const card = buildAgentCard(peerId, {
    name: `soak client ${number}`,
    description: 'a soak-test client that holds a reservation and keeps its card published',
    skills: [{ id: `soak-${number % mode.buckets}`, tags: ['soak'] }]
  })
  const state: Publisher = { reserved: true, published: false, stopped: false }
  live.add(state)
  const hasCircuit = (): boolean => node.getMultiaddrs().some(ma => ma.toString().includes(`/p2p/${relay}/p2p-circuit`))
  const check = (): void => {
    if (state.stopped) return
    const has = hasCircuit()
    if (state.reserved && !has) stats.reservationLosses++
    if (!state.reserved && has) stats.reservationRegains++
    state.reserved = has
  }
  node.addEventListener('self:peer:update', check)
  node.addEventListener('peer:disconnect', (evt) => {
    if (!state.stopped && evt.detail.toString() === relay) stats.relayDisconnects++
    check()
  })

  const schedule = (seconds: number): void => {
    if (state.stopped) return
    state.timer = setTimeout(() => { void publish(true) }, Math.max(1, seconds / 2) * 1000)
  }
  const publish = async (renewal: boolean): Promise<void> => {
    state.timer = undefined
    if (renewal) stats.renewals++
    else stats.publishes++
    const signal = AbortSignal.timeout(PUBLISH_TIMEOUT_MS)
    let rpc: RpcClient | undefined
    try {
      if (relayPeer == null) throw new Error('no relay peer')
      const stream = await node.dialProtocol(relayPeer, REGISTRY_PROTOCOL, { signal })
      rpc = new RpcClient(stream, { maxFrameBytes: REGISTRY_MAX_FRAME_BYTES })
      const result = await rpc.request(RegistryMethod.Publish, { card, ttlSeconds: mode.ttlSeconds }, { signal }) as PublishResult
      state.published = true
      schedule(result.ttlSeconds)
    } catch (err) {
      if (state.stopped) return
      state.published = false
      if (renewal) stats.renewFailures++
      else stats.publishFailures++
      countError(`${renewal ? 'renew' : 'publish'}: ${(err as Error).message ?? String(err)}`)
      // as the registry client does: try again after half of min(30 s, TTL)
      schedule(Math.min(30, mode.ttlSeconds))
    } finally {
      await rpc?.close().catch(() => {})
    }
  }
  void publish(false)
}

function stopPublishing (): void {
  for (const state of live) {
    state.stopped = true
    clearTimeout(state.timer)
  }
}

function workerStats (): WorkerStats {
  let reservedNow = 0
  let publishedNow = 0
  for (const state of live) {
    if (state.reserved) reservedNow++
    if (state.published) publishedNow++
  }
  return { clients: clients.length, reservedNow: registry == null ? clients.length : reservedNow, publishedNow, ...stats, errors: { ...stats.errors } }
}

process.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'registry':
      registry = { ttlSeconds: message.ttlSeconds, buckets: Math.max(1, message.buckets), offset: message.offset, stride: Math.max(1, message.stride) }
      break
    case 'stats':
      send({ type: 'stats', stats: workerStats() })
      break
    case 'grow':
      grow(message.count, message.relayAddr, message.concurrency).catch((err: unknown) => {
        send({ type: 'error', message: (err as Error).stack ?? String(err) })
      })
      break
    case 'halt':
      halted = true
      break
    case 'ping':
      if (message.intervalMs == null) {
        stopPinging()
        send({ type: 'pinging', clients: 0 })
      } else {
        startPinging(message.intervalMs)
      }
      break
    case 'stop':
      // the clients' sockets close with the process; the relay is stopped by then or sees resets
      stopPinging()
      stopPublishing()
      send({ type: 'stopped' })
      process.exit(0)
  }
})

// never outlive the section that started us
process.on('disconnect', () => { process.exit(0) })
send({ type: 'ready' })
