/**
 * The agents list: what the registry says now, completed by the directory of agents seen
 * before, and how this peer is connected to each.
 */
import type { AgentCardJson } from '../../core/a2a/json.js'
import type { ConnectionKind } from '../../core/node/direct-upgrade.js'
import type { PeerConnectionInfo } from '../../core/peer.js'
import type { AgentEntry } from '../../core/registry/protocol.js'
import type { KnownAgent } from '../../core/store/types.js'
import { isAgentUrl } from '../../core/tasks/http-agents.js'

export interface AgentListItem {
  peerId: string
  card: AgentCardJson
  /** true/false: as the relay's registry says now; undefined: not in its last answer. */
  online: boolean | undefined
  /** ms since the epoch we last saw the agent's card */
  seenAt?: number
}

/**
 * Registry entries first (online ones before offline ones, in the registry's order), then
 * agents from the directory the registry did not list. Our own entry is left out.
 */
export function agentList (self: string, discovered: AgentEntry[] | undefined, known: KnownAgent[]): AgentListItem[] {
  const out: AgentListItem[] = []
  const listed = new Set<string>([self])
  const seen = new Map(known.map(k => [k.peerId, k.seenAt]))
  const entries = [...(discovered ?? [])].sort((a, b) => Number(b.online) - Number(a.online))
  for (const entry of entries) {
    if (listed.has(entry.peerId)) continue
    listed.add(entry.peerId)
    out.push({ peerId: entry.peerId, card: entry.card, online: entry.online, seenAt: seen.get(entry.peerId) })
  }
  for (const agent of known) {
    if (listed.has(agent.peerId)) continue
    listed.add(agent.peerId)
    out.push({ peerId: agent.peerId, card: agent.card, online: undefined, seenAt: agent.seenAt })
  }
  return out
}

export type LinkKind = ConnectionKind | 'none' | 'http'

/**
 * How we reach `peerId` right now: a direct WebRTC connection beats a relayed circuit. A plain
 * HTTP agent (`peerId` its card URL) is reached over HTTP, never over the mesh.
 */
export function linkTo (peerId: string, connections: PeerConnectionInfo[] | undefined): LinkKind {
  if (isAgentUrl(peerId)) return 'http'
  const mine = (connections ?? []).filter(c => c.peerId === peerId && !c.relay)
  if (mine.some(c => c.kind === 'webrtc')) return 'webrtc'
  if (mine.some(c => c.kind === 'direct')) return 'direct'
  if (mine.some(c => c.kind === 'relayed')) return 'relayed'
  return 'none'
}

export const LINK_LABELS: Record<LinkKind, string> = {
  webrtc: 'direct WebRTC',
  direct: 'direct',
  relayed: 'relayed',
  none: 'not connected',
  http: 'over HTTP'
}

/** Skill ids of the agents listed, each once, sorted: what a send by skill can ask for. */
export function skillIds (agents: AgentListItem[]): string[] {
  return [...new Set(agents.filter(a => !isAgentUrl(a.peerId)).flatMap(a => a.card.skills.map(s => s.id)))].sort()
}

/** A name for `peerId`: its card's name when we know the agent, else undefined. */
export function agentName (peerId: string, known: KnownAgent[] | undefined): string | undefined {
  return known?.find(k => k.peerId === peerId)?.card.name
}

/**
 * The agents that match a search: every word of `query` must be found (case-insensitively) in
 * the agent's name, description, or a skill's id, name, description or tags. An empty query
 * matches all. Favourites come first, each group in the order given.
 */
export function searchAgents (agents: AgentListItem[], query: string, favourites: ReadonlySet<string> = new Set()): AgentListItem[] {
  const words = query.toLowerCase().split(/\s+/).filter(w => w !== '')
  const matching = words.length === 0
    ? agents
    : agents.filter((agent) => {
      const haystack = [
        agent.card.name,
        agent.card.description,
        ...agent.card.skills.flatMap(s => [s.id, s.name, s.description, ...(s.tags ?? [])])
      ].join('\n').toLowerCase()
      return words.every(w => haystack.includes(w))
    })
  return [...matching.filter(a => favourites.has(a.peerId)), ...matching.filter(a => !favourites.has(a.peerId))]
}
