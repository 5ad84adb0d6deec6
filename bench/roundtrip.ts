/**
 * Task round trip between two native peers: SendMessage → the completed answer of an echo
 * agent, over a relayed circuit and over a direct connection, with durable file stores on both
 * sides. Beside it, in the same run: a bare length-prefixed echo over the same libp2p
 * connection, a raw WebSocket echo on loopback, and A2A over HTTP with the official SDK (express
 * server and its client) running the same echo agent.
 *
 * Three processes: the relay, the agents (bench/roundtrip/agent.ts), and this one, the senders.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import WebSocket from 'ws'
import { ClientFactory } from '@a2a-js/sdk/client'
import { SendMessageRequest } from '@a2a-js/sdk'
import type { Connection } from '@libp2p/interface'
import type { StarlingPeer } from '../src/core/peer.js'
import { createNativePeer } from '../src/native/sdk.js'
import { spawnProcess } from '../e2e/harness/processes.js'
import { REPO_ROOT, startRelay } from '../e2e/harness/starling.js'
import type { RelayHandle } from '../e2e/harness/starling.js'
import type { AgentAddresses } from './roundtrip/agent.js'
import { ECHO_PROTOCOL, echoFrame, PipelinedEcho } from './roundtrip/echo-protocol.js'
import { measureLatency, measureThroughput } from './lib/stats.js'
import type { BenchContext, Figure, SectionResult } from './lib/types.js'

/** The text of every task: about the size of a short instruction. */
const TEXT = 'Please echo this sentence back, exactly as it is written here, thank you.'

/** Bytes of the bare echo's frame: about what a SendMessage request weighs on the wire. */
const ECHO_BYTES = 300

const IN_FLIGHT = [1, 16, 64] as const

interface Counts { latency: number, warmup: number, throughput: number }

type Op = () => Promise<unknown>

interface Path {
  /** e.g. `direct.a2a` */
  id: string
  label: string
  op: Op
}

export async function roundtripSection (context: BenchContext): Promise<SectionResult> {
  const counts: Counts = context.quick
    ? { latency: 30, warmup: 10, throughput: 60 }
    : { latency: 2000, warmup: 300, throughput: 3000 }
  const cleanup: Array<() => Promise<unknown>> = []
  try {
    context.progress('roundtrip: starting the relay and the agents')
    const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
    cleanup.push(relay.stop)
    const relayTcp = await tcpAddress(relay)
    const agent = spawnProcess(process.execPath, ['--import', './bin/polyfill.mjs', 'dist/node/bench/roundtrip/agent.js', relayTcp], { cwd: REPO_ROOT, name: 'bench agents' })
    cleanup.push(async () => { await agent.stop({ timeoutMs: 10_000 }) })
    const addresses = JSON.parse((await agent.waitForLine(/^READY (.*)$/, { timeoutMs: 30_000 }))[1]!) as AgentAddresses

    const home = await mkdtemp(join(tmpdir(), 'starling-bench-senders-'))
    cleanup.push(async () => { await rm(home, { recursive: true, force: true }) })
    const profile = { name: 'sender', description: '', skills: [] }
    const relayedSender = await createNativePeer({ home: join(home, 'relayed'), relay: relayTcp, profile, mdns: false, webrtc: false })
    cleanup.push(async () => { await relayedSender.stop() })
    const directSender = await createNativePeer({ home: join(home, 'direct'), relay: relayTcp, profile, mdns: false, webrtc: false })
    cleanup.push(async () => { await directSender.stop() })
    await Promise.all([reserved(relayedSender), reserved(directSender)])
    // the direct pair: one TCP connection, which the sender prefers over any circuit
    await directSender.node.dial(multiaddr(addresses.directAddr))

    const paths: Path[] = []
    for (const [kind, sender, agentId] of [['relayed', relayedSender, addresses.relayedPeerId], ['direct', directSender, addresses.directPeerId]] as const) {
      const a2a: Op = async () => {
        const sent = await sender.send(agentId, TEXT)
        const done = await sender.waitFor(sent.id)
        if (done.state !== 'TASK_STATE_COMPLETED') throw new Error(`task ended ${done.state}`)
      }
      await a2a() // opens the connection (the circuit, for the relayed pair) the echo then shares
      const connection = onlyConnection(sender, agentId, kind)
      const echo = new PipelinedEcho(await connection.newStream(ECHO_PROTOCOL, { runOnLimitedConnection: true }))
      cleanup.push(async () => { await echo.close() })
      const frame = echoFrame(ECHO_BYTES)
      paths.push({ id: `${kind}.a2a`, label: `A2A task, ${kind}`, op: a2a })
      paths.push({ id: `${kind}.echo`, label: `bare echo, same ${kind} connection`, op: async () => { await echo.roundTrip(frame) } })
    }
    const ws = await wsEcho(addresses.wsUrl)
    cleanup.push(async () => { ws.close() })
    paths.push({ id: 'ws', label: 'raw WebSocket echo, loopback', op: async () => { await ws.roundTrip() } })
    const http = await new ClientFactory().createFromUrl(addresses.httpUrl)
    const request = SendMessageRequest.fromJSON({ message: { messageId: '', role: 'ROLE_USER', parts: [{ text: TEXT }] } })
    paths.push({
      id: 'http',
      label: 'A2A over HTTP, official SDK',
      op: async () => {
        request.message!.messageId = crypto.randomUUID()
        const result = await http.sendMessage(request)
        if (!('status' in result) || result.status?.state !== 3) throw new Error('HTTP task did not complete')
      }
    })

    const latency = new Map<string, { p50: number, p99: number }>()
    const rate = new Map<string, number>()
    for (const path of paths) {
      context.progress(`roundtrip: ${path.label}`)
      latency.set(path.id, await measureLatency(path.op, counts.latency, counts.warmup))
      for (const n of IN_FLIGHT) {
        rate.set(`${path.id}.${n}`, (await measureThroughput(path.op, counts.throughput, n, counts.warmup)).rate)
      }
    }
    return { id: 'roundtrip', title: 'Task round trip between two native peers', figures: figures(paths, latency, rate), notes: NOTES }
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => {})
  }
}

const NOTES = [
  'Latency: sequential round trips after a warm-up, p50 and p99. Rate: tasks (or echoes) completed per second with 1, 16 or 64 in flight.',
  'A2A task = StarlingPeer.send() + waitFor() until completed: the task stored in the sender’s outbox, SendMessage (returnImmediately, with a push config) over the shared stream, the agent storing the task before its handler runs (exactly-once) and again with the echo agent’s reply; four task-log writes in all (files).',
  'Processes: the relay, the agents and baselines’ servers, and the senders (this process); two cores.'
]

function figures (paths: Path[], latency: Map<string, { p50: number, p99: number }>, rate: Map<string, number>): Figure[] {
  const out: Figure[] = []
  for (const path of paths) {
    const l = latency.get(path.id)!
    const echo = path.id.endsWith('.a2a') ? path.id.replace('.a2a', '.echo') : undefined
    out.push({ id: `${path.id}.p50`, label: `${path.label}: p50`, value: l.p50, unit: 'ms', better: 'lower', baseline: echo != null ? `${echo}.p50` : undefined, target: echo != null ? { ratio: 1.3, note: 'the A2A layer adds at most 30 %' } : undefined })
    out.push({ id: `${path.id}.p99`, label: `${path.label}: p99`, value: l.p99, unit: 'ms', better: 'lower', baseline: echo != null ? `${echo}.p99` : undefined })
    if (path.id === 'direct.a2a') {
      out.push({ id: 'direct.a2a.p50.vsHttp', label: 'A2A task, direct: p50 (vs HTTP)', value: l.p50, unit: 'ms', better: 'lower', baseline: 'http.p50', target: { ratio: 0.5 } })
    }
    for (const n of IN_FLIGHT) {
      const r = rate.get(`${path.id}.${n}`)!
      out.push({ id: `${path.id}.rate${n}`, label: `${path.label}: ${n} in flight`, value: r, unit: 'per s', better: 'higher', baseline: echo != null ? `${echo}.rate${n}` : undefined })
      if (path.id === 'direct.a2a' && n === 64) {
        out.push({ id: 'direct.a2a.rate64.vsHttp', label: 'A2A task, direct: 64 in flight (vs HTTP)', value: r, unit: 'per s', better: 'higher', baseline: 'http.rate64', target: { ratio: 1.5 } })
      }
    }
  }
  return out
}

async function tcpAddress (relay: RelayHandle): Promise<string> {
  const info = await (await fetch(`${relay.url}/api/v1/relay`)).json() as { multiaddrs: string[] }
  const tcp = info.multiaddrs.find(a => !a.includes('/ws'))
  if (tcp == null) throw new Error('the relay has no TCP address')
  return tcp
}

async function reserved (peer: StarlingPeer): Promise<void> {
  if (peer.relayStatus.state === 'reserved') return
  await new Promise<void>((resolve) => {
    const onRelay = (evt: CustomEvent<{ state: string }>): void => {
      if (evt.detail.state !== 'reserved') return
      peer.removeEventListener('relay', onRelay)
      resolve()
    }
    peer.addEventListener('relay', onRelay)
  })
}

/** The one open connection from `sender` to `agentId`, checked to be of the expected kind. */
function onlyConnection (sender: StarlingPeer, agentId: string, kind: 'relayed' | 'direct'): Connection {
  const open = sender.node.getConnections(peerIdFromString(agentId)).filter(c => c.status === 'open')
  const match = open.filter(c => kind === 'relayed' ? c.limits != null : c.limits == null)
  if (open.length !== 1 || match.length !== 1) {
    throw new Error(`expected one ${kind} connection to the agent, found ${open.map(c => c.remoteAddr.toString()).join(', ')}`)
  }
  return match[0]!
}

/** A WebSocket to an echo server, with requests matched to answers in order. */
async function wsEcho (url: string): Promise<{ roundTrip: () => Promise<void>, close: () => void }> {
  const socket = new WebSocket(url)
  await new Promise<void>((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  const waiting: Array<() => void> = []
  socket.on('message', () => { waiting.shift()?.() })
  const payload = Buffer.alloc(ECHO_BYTES, 0x61)
  return {
    roundTrip: async () => {
      const { promise, resolve } = Promise.withResolvers<void>()
      waiting.push(resolve)
      socket.send(payload)
      await promise
    },
    close: () => { socket.close() }
  }
}

