/**
 * What private meshes cost: a task to an agent whose policy checks its senders, beside the same
 * task to an agent in no mesh; the first task from a new sender (the agent asks it for its
 * credentials and verifies them) beside the first task to an open agent; and getting a slot on a
 * private relay (the relay asks the peer for its credentials) beside an open relay.
 *
 * Native peers and a relay in this process, over loopback TCP and the relay's circuit (no LAN
 * discovery, no WebRTC): only the mesh's work differs between a figure and its baseline.
 */
import type { StarlingPeer, StarlingPeerInit } from '../src/core/peer.js'
import type { RelayStatus } from '../src/core/node/relay-link.js'
import type { RunningRelay } from '../relay/relay.js'
import { MemoryMeshStore } from '../src/core/mesh/store.js'
import { memoryStorage } from '../src/core/store/memory.js'
import { testPeer, testRelay, untilPublished, untilRelayState } from '../src/native/test-helpers.js'
import { now, quantile } from './lib/stats.js'
import type { LatencyResult } from './lib/stats.js'
import type { BenchContext, Figure, SectionResult } from './lib/types.js'

const TEXT = 'Please echo this sentence back, exactly as it is written here, thank you.'

/** The benchmark's senders send faster than any person: the per-sender limit is not what is measured. */
const NO_RATE_LIMIT = { perSecond: 1e9, burst: 1e9 }

const echo: StarlingPeerInit['handler'] = async (task) => ({ kind: 'completed', text: task.text })

export async function meshSection (context: BenchContext): Promise<SectionResult> {
  const tasks = context.quick ? { count: 20, warmup: 5 } : { count: 1000, warmup: 100 }
  const fresh = context.quick ? 2 : 12
  const peers: StarlingPeer[] = []
  const relays: RunningRelay[] = []
  const peer = async (relay: RunningRelay, init: Partial<StarlingPeerInit> = {}): Promise<StarlingPeer> => {
    const p = await testPeer(relay, init)
    peers.push(p)
    return p
  }
  try {
    const relay = await testRelay()
    relays.push(relay)

    context.progress('mesh: tasks to an agent in no mesh and to one that checks its senders')
    const open = await peer(relay, { handler: echo })
    const owner = await peer(relay, { handler: echo, rateLimit: NO_RATE_LIMIT })
    const mesh = await owner.meshes.create('bench')
    const invite = async (): Promise<string> => (await owner.meshes.invite(mesh.meshId, {})).token
    const member = await peer(relay)
    await member.meshes.join(await invite())
    await Promise.all([open, owner, member].map(untilPublished))

    const task = (to: StarlingPeer, from: StarlingPeer) => async (): Promise<void> => {
      const done = await from.waitFor((await from.send(to.peerId, TEXT)).id)
      if (done.state !== 'TASK_STATE_COMPLETED') throw new Error(`task ended ${done.state}: ${done.task.status.message?.parts[0]?.text ?? ''}`)
    }
    // one of each in turn, after both warmed up: neither gets a warmer process than the other
    const [openTasks, meshTasks] = await alternate([task(open, member), task(owner, member)], tasks.count, tasks.warmup) as [LatencyResult, LatencyResult]

    context.progress(`mesh: first tasks from ${fresh} new senders, to each agent`)
    const firstOpen: number[] = []
    const firstMesh: number[] = []
    for (let i = 0; i < fresh; i++) {
      const sender = await peer(relay)
      await sender.meshes.join(await invite())
      await untilPublished(sender)
      // both circuits are new to the sender, only the check differs; which goes first alternates
      const runs = [[open, firstOpen], [owner, firstMesh]] as const
      for (const [agent, samples] of i % 2 === 0 ? runs : [...runs].reverse()) {
        const start = now()
        await task(agent, sender)()
        samples.push(now() - start)
      }
    }

    context.progress(`mesh: ${fresh} slots on an open relay and on a private one`)
    const privateRelay = await testRelay({ mode: 'private', meshes: [mesh.meshId] })
    relays.push(privateRelay)
    const slotOpen: number[] = []
    const slotPrivate: number[] = []
    const reserved = (s: RelayStatus): boolean => s.state === 'reserved'
    for (let i = 0; i < fresh; i++) {
      const runs = [[relay, slotOpen], [privateRelay, slotPrivate]] as const
      for (const [on, samples] of i % 2 === 0 ? runs : [...runs].reverse()) {
        // a member comes back (a page reloads, a daemon restarts): same key, same meshes
        const kept = { storage: memoryStorage(), meshStore: new MemoryMeshStore() }
        const first = await peer(on, kept)
        await first.meshes.join(await invite())
        await untilRelayState(first, reserved)
        await first.stop()
        const start = now()
        await untilRelayState(await peer(on, kept), reserved)
        samples.push(now() - start)
      }
    }

    const median = (samples: number[]): number => quantile(samples, 0.5)
    const figures: Figure[] = [
      { id: 'open.task.p50', label: 'task to an agent in no mesh (relayed): p50', value: openTasks.p50, unit: 'ms', better: 'lower' },
      { id: 'open.task.p99', label: 'task to an agent in no mesh (relayed): p99', value: openTasks.p99, unit: 'ms', better: 'lower' },
      { id: 'member.task.p50', label: 'task from a member to a mesh agent (policy, cached membership): p50', value: meshTasks.p50, unit: 'ms', better: 'lower', baseline: 'open.task.p50' },
      { id: 'member.task.p99', label: 'task from a member to a mesh agent: p99', value: meshTasks.p99, unit: 'ms', better: 'lower', baseline: 'open.task.p99' },
      { id: 'open.first', label: `first task of a new sender, agent in no mesh: median of ${fresh}`, value: median(firstOpen), unit: 'ms', better: 'lower', note: 'a new circuit to the agent included' },
      { id: 'member.first', label: `first task of a new member, mesh agent (asks and verifies its credentials): median of ${fresh}`, value: median(firstMesh), unit: 'ms', better: 'lower', baseline: 'open.first' },
      { id: 'open.slot', label: `a member's restart to reserved, open relay: median of ${fresh}`, value: median(slotOpen), unit: 'ms', better: 'lower' },
      { id: 'private.slot', label: `a member's restart to reserved, private relay (it asks for credentials): median of ${fresh}`, value: median(slotPrivate), unit: 'ms', better: 'lower', baseline: 'open.slot' }
    ]
    return {
      id: 'mesh',
      title: 'Private meshes: what checking members costs',
      figures,
      notes: [
        `Sequential tasks (${tasks.count} after ${tasks.warmup} untimed), native peers through a relay in this process over loopback TCP. The mesh agent checks every task against its policy and its sender's rate (set high here); the sender's membership is asked once and cached.`,
        'Slots: a peer that was a member stops and starts again with the same key and meshes; the time from its start to its reservation. A private relay asks it for its credentials first.'
      ]
    }
  } finally {
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    await Promise.all(relays.map(async r => { await r.stop() }))
  }
}

/** Runs each op in turn, `count` rounds after `warmup` untimed ones; the latency of each, in ms. */
async function alternate (ops: Array<() => Promise<void>>, count: number, warmup: number): Promise<LatencyResult[]> {
  const samples = ops.map((): number[] => [])
  for (let round = 0; round < warmup + count; round++) {
    for (const [i, op] of ops.entries()) {
      const start = now()
      await op()
      if (round >= warmup) samples[i]!.push(now() - start)
    }
  }
  return samples.map(s => ({ p50: quantile(s, 0.5), p99: quantile(s, 0.99), count }))
}
