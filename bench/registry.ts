/**
 * The skill registry: how fast it takes cards and answers discover, in the relay's process and
 * over the registry protocol, with 1k, 10k and 100k entries.
 *
 * In process: the registry rules alone (relay/registry/registry.ts), and publish through the
 * service (card validation included). Over the protocol: a real relay (in this process) and a
 * libp2p client on loopback TCP, one long-lived registry stream.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { buildAgentCard } from '../src/core/a2a/binding.js'
import type { AgentCardJson } from '../src/core/a2a/json.js'
import { RpcClient } from '../src/core/rpc/client.js'
import { REGISTRY_PROTOCOL, RegistryMethod } from '../src/core/registry/protocol.js'
import { tcpAddr, testRelay } from '../src/native/test-helpers.js'
import { Registry } from '../relay/registry/registry.js'
import { MAX_REGISTRY_CALLS_PER_STREAM } from '../relay/registry/service.js'
import { measureLatency, measureThroughput, now } from './lib/stats.js'
import type { BenchContext, Figure, SectionResult } from './lib/types.js'

/** Distinct skill ids across the registry; every card has 3 of them, so each id is on 3 % of the agents. */
const SKILL_POOL = 100
const TAG_POOL = 20

export async function registrySection (context: BenchContext): Promise<SectionResult> {
  const sizes = context.quick ? [1_000] : [1_000, 10_000, 100_000]
  const lookups = context.quick ? 200 : 5_000
  const figures: Figure[] = []
  const notes = [
    `Cards: ${SKILL_POOL} skill ids and ${TAG_POOL} tags in play; each card has 3 skills with 2 tags each. A discover asks for one skill (limit 100, so about 3 % of the registry matches and 100 come back) or a skill and a tag.`,
    'In process: the registry alone, in the relay. Over the protocol: a client on loopback TCP to a relay in this process, one registry stream; the reply carries the 100 cards.'
  ]

  context.progress('registry: in process')
  for (const size of sizes) {
    const registry = new Registry({ maxEntries: size + 1 })
    const cards = syntheticCards(size)
    const start = now()
    for (const [peerId, card] of cards) registry.publish(peerId, card, { addresses: [], online: true })
    const publishRate = size / ((now() - start) / 1000)
    let i = 0
    const bySkill = await measureLatency(async () => registry.discover({ skill: skillId(i++ % SKILL_POOL), limit: 100 }), lookups, Math.min(500, lookups))
    const withTag = await measureLatency(async () => registry.discover({ skill: skillId(i++ % SKILL_POOL), tags: [tagId(i % TAG_POOL)], limit: 100 }), lookups, Math.min(500, lookups))
    const base = sizes[0]
    figures.push(
      { id: `inproc.publish.${size}`, label: `publish into ${size} entries (rules only)`, value: publishRate, unit: 'per s', better: 'higher' },
      { id: `inproc.discover.p50.${size}`, label: `discover by skill, ${size} entries: p50`, value: bySkill.p50, unit: 'ms', better: 'lower', baseline: size === base ? undefined : `inproc.discover.p50.${base}` },
      { id: `inproc.discover.p99.${size}`, label: `discover by skill, ${size} entries: p99`, value: bySkill.p99, unit: 'ms', better: 'lower', baseline: size === base ? undefined : `inproc.discover.p99.${base}`, target: size === 100_000 ? { max: 1, note: 'discover p99 ≤ 1 ms at 100k entries' } : undefined },
      { id: `inproc.discoverTag.p99.${size}`, label: `discover by skill and tag, ${size} entries: p99`, value: withTag.p99, unit: 'ms', better: 'lower' }
    )
  }

  context.progress('registry: over the protocol')
  // one client publishes and discovers as fast as it can: no per-peer rate limit here
  const relay = await testRelay({ maxAgents: Math.max(...sizes) + 100, registryCallsPerSecond: 1_000_000 })
  const client = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
  try {
    const rpc = new RpcClient(await client.dialProtocol(multiaddr(tcpAddr(relay)), REGISTRY_PROTOCOL))
    const me = client.peerId.toString()
    const myCard = buildAgentCard(me, { name: 'bench', description: 'a benchmark publisher', skills: [{ id: 'bench', tags: ['x'] }] })
    const publish = await measureThroughput(async () => await rpc.request(RegistryMethod.Publish, { card: myCard, ttlSeconds: 300 }), context.quick ? 100 : 3_000, 1, 50)
    figures.push({ id: 'protocol.publish.rate', label: 'publish (a renewal) over the protocol, validation included', value: publish.rate, unit: 'per s', better: 'higher', note: 'one stream, one at a time' })

    const registry = relay.registry.registry
    let filled = 0
    for (const size of sizes) {
      for (const [peerId, card] of syntheticCards(size).slice(filled)) registry.publish(peerId, card, { addresses: [], online: true })
      filled = size
      let i = 0
      const discover = async (): Promise<unknown> => await rpc.request(RegistryMethod.Discover, { skill: skillId(i++ % SKILL_POOL), limit: 100 })
      const latency = await measureLatency(discover, context.quick ? 50 : 1_000, 50)
      const rate = await measureThroughput(discover, context.quick ? 50 : 2_000, MAX_REGISTRY_CALLS_PER_STREAM, 50)
      const base = sizes[0]
      figures.push(
        { id: `protocol.discover.p50.${size}`, label: `discover over the protocol, ${size} entries: p50`, value: latency.p50, unit: 'ms', better: 'lower', baseline: size === base ? undefined : `protocol.discover.p50.${base}` },
        { id: `protocol.discover.p99.${size}`, label: `discover over the protocol, ${size} entries: p99`, value: latency.p99, unit: 'ms', better: 'lower', baseline: size === base ? undefined : `protocol.discover.p99.${base}` },
        { id: `protocol.discover.rate.${size}`, label: `discover over the protocol, ${size} entries: ${MAX_REGISTRY_CALLS_PER_STREAM} in flight`, value: rate.rate, unit: 'per s', better: 'higher' }
      )
    }
    await rpc.close()
  } finally {
    await client.stop()
    await relay.stop()
  }
  return { id: 'registry', title: 'Skill registry', figures, notes }
}

function skillId (i: number): string { return `skill-${i}` }
function tagId (i: number): string { return `tag-${i}` }

/** `count` agents with plausible cards (synthetic PeerIDs: the registry rules do not parse them). */
function syntheticCards (count: number): Array<[string, AgentCardJson]> {
  const out: Array<[string, AgentCardJson]> = []
  for (let n = 0; n < count; n++) {
    const peerId = `12D3KooWBench${n.toString(36).padStart(8, '0')}`
    const skills = [0, 1, 2].map(k => {
      const s = (n * 7 + k * 31) % SKILL_POOL
      return { id: skillId(s), name: `Skill ${s}`, description: `Does thing number ${s} well`, tags: [tagId(n % TAG_POOL), tagId((n + k + 1) % TAG_POOL)] }
    })
    out.push([peerId, buildAgentCard(peerId, { name: `Agent ${n}`, description: `Synthetic agent number ${n}`, skills })])
  }
  return out
}
