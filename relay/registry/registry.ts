/**
 * The skill registry's rules, with no I/O: who may publish what, for how long, and what
 * discover returns. The libp2p service (./service.ts) and the HTTP view (../http.ts) sit on it.
 *
 * - An entry is keyed by the publisher's PeerID; publishing again replaces it (a renewal).
 * - An entry lapses at its TTL unless renewed, and goes when its peer has been disconnected from
 *   the relay for longer than the grace period.
 * - Discover is served from indexes by skill, by tag, and by (skill, tag), so a query only walks
 *   entries that can match.
 */
import type { AgentCardJson } from '../../src/core/a2a/json.js'

/** Entries one relay holds at most. */
export const DEFAULT_MAX_ENTRIES = 10_000
/** TTL when the publisher asks for none, in seconds. */
export const DEFAULT_TTL_SECONDS = 300
/** Shortest TTL granted, in seconds: renewals more often than this are pointless load. */
export const MIN_TTL_SECONDS = 30
/** Longest TTL granted, in seconds. */
export const MAX_TTL_SECONDS = 3_600
/** How long an entry survives its peer's disconnection from the relay, in ms. */
export const DEFAULT_OFFLINE_GRACE_MS = 60_000
/** Entries one discover returns when the caller does not say: 100. */
export const DEFAULT_DISCOVER_LIMIT = 100
/** Most entries one discover returns: 1000. */
export const MAX_DISCOVER_LIMIT = 1_000

export interface RegistryInit {
  maxEntries?: number
  offlineGraceMs?: number
  /** The clock, in ms since the epoch (tests move it). */
  now?: () => number
}

export interface RegistryEntry {
  peerId: string
  card: AgentCardJson
  addresses: string[]
  /** ms since the epoch */
  publishedAt: number
  /** ms since the epoch */
  expiresAt: number
  /** ms since the epoch the peer was last seen leaving, if it is gone now */
  offlineSince?: number
}

export interface DiscoverQuery {
  skill?: string
  tags?: string[]
  limit?: number
}

export class RegistryFullError extends Error {
  constructor (max: number) {
    super(`the registry is full (${max} entries)`)
    this.name = 'RegistryFullError'
  }
}

export class Registry {
  private readonly entries = new Map<string, RegistryEntry>()
  private readonly bySkill = new Map<string, Set<string>>()
  private readonly byTag = new Map<string, Set<string>>()
  /** Agents having a skill that carries a tag: key `skill \0 tag`. */
  private readonly bySkillTag = new Map<string, Set<string>>()
  private readonly maxEntries: number
  private readonly graceMs: number
  private readonly now: () => number

  constructor (init: RegistryInit = {}) {
    this.maxEntries = init.maxEntries ?? DEFAULT_MAX_ENTRIES
    this.graceMs = init.offlineGraceMs ?? DEFAULT_OFFLINE_GRACE_MS
    this.now = init.now ?? Date.now
  }

  get size (): number {
    return this.entries.size
  }

  get (peerId: string): RegistryEntry | undefined {
    const entry = this.entries.get(peerId)
    return entry != null && this.isLive(entry, this.now()) ? entry : undefined
  }

  /** Publishes or renews `peerId`'s entry. The card must already be validated. */
  publish (peerId: string, card: AgentCardJson, options: { ttlSeconds?: number, addresses: string[], online: boolean }): RegistryEntry {
    const existing = this.entries.get(peerId)
    if (existing == null && this.entries.size >= this.maxEntries) {
      this.sweep()
      if (this.entries.size >= this.maxEntries) throw new RegistryFullError(this.maxEntries)
    }
    if (existing != null) this.unindex(existing)
    const now = this.now()
    const entry: RegistryEntry = {
      peerId,
      card,
      addresses: options.addresses,
      publishedAt: now,
      expiresAt: now + clampTtl(options.ttlSeconds) * 1000,
      offlineSince: options.online ? undefined : now
    }
    this.entries.set(peerId, entry)
    this.index(entry)
    return entry
  }

  remove (peerId: string): boolean {
    const entry = this.entries.get(peerId)
    if (entry == null) return false
    this.unindex(entry)
    this.entries.delete(peerId)
    return true
  }

  /** Records that `peerId` connected to or left the relay. */
  setOnline (peerId: string, online: boolean): void {
    const entry = this.entries.get(peerId)
    if (entry == null) return
    if (online) entry.offlineSince = undefined
    else entry.offlineSince ??= this.now()
  }

  /** Live entries matching the query: connected agents first. */
  discover (query: DiscoverQuery = {}): RegistryEntry[] {
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? DEFAULT_DISCOVER_LIMIT), 1), MAX_DISCOVER_LIMIT)
    const tags = query.tags ?? []
    const now = this.now()
    const candidates = this.candidates(query.skill, tags)
    const online: RegistryEntry[] = []
    const offline: RegistryEntry[] = []
    for (const peerId of candidates) {
      const entry = this.entries.get(peerId)
      if (entry == null || !this.isLive(entry, now) || !matches(entry.card, query.skill, tags)) continue
      if (entry.offlineSince == null) {
        online.push(entry)
        if (online.length >= limit) break
      } else if (offline.length < limit) {
        offline.push(entry)
      }
    }
    return [...online, ...offline].slice(0, limit)
  }

  /** Drops lapsed entries and those whose peer has been gone past the grace period. */
  sweep (): number {
    const now = this.now()
    let removed = 0
    for (const entry of this.entries.values()) {
      if (!this.isLive(entry, now)) {
        this.remove(entry.peerId)
        removed++
      }
    }
    return removed
  }

  private isLive (entry: RegistryEntry, now: number): boolean {
    if (entry.expiresAt <= now) return false
    return entry.offlineSince == null || now - entry.offlineSince < this.graceMs
  }

  /** The smallest index set that can hold the answer. */
  private candidates (skill: string | undefined, tags: string[]): Iterable<string> {
    if (tags.length > 0) {
      const sets = tags.map(t => (skill != null ? this.bySkillTag.get(skillTag(skill, t)) : this.byTag.get(t)) ?? EMPTY)
      return sets.reduce((a, b) => (a.size <= b.size ? a : b))
    }
    if (skill != null) return this.bySkill.get(skill) ?? EMPTY
    return this.entries.keys()
  }

  private index (entry: RegistryEntry): void {
    for (const skill of entry.card.skills) {
      addTo(this.bySkill, skill.id, entry.peerId)
      for (const tag of skill.tags) {
        addTo(this.byTag, tag, entry.peerId)
        addTo(this.bySkillTag, skillTag(skill.id, tag), entry.peerId)
      }
    }
  }

  private unindex (entry: RegistryEntry): void {
    for (const skill of entry.card.skills) {
      removeFrom(this.bySkill, skill.id, entry.peerId)
      for (const tag of skill.tags) {
        removeFrom(this.byTag, tag, entry.peerId)
        removeFrom(this.bySkillTag, skillTag(skill.id, tag), entry.peerId)
      }
    }
  }
}

const EMPTY: ReadonlySet<string> = new Set()

function skillTag (skill: string, tag: string): string {
  return `${skill}\u0000${tag}`
}

export function clampTtl (ttlSeconds: number | undefined): number {
  if (ttlSeconds == null || !Number.isFinite(ttlSeconds)) return DEFAULT_TTL_SECONDS
  return Math.min(Math.max(Math.trunc(ttlSeconds), MIN_TTL_SECONDS), MAX_TTL_SECONDS)
}

/** Whether the card has the skill (when asked) and all the tags on that skill (or any skill). */
function matches (card: AgentCardJson, skill: string | undefined, tags: string[]): boolean {
  const skills = skill == null ? card.skills : card.skills.filter(s => s.id === skill)
  if (skills.length === 0) return false
  if (tags.length === 0) return true
  return skills.some(s => tags.every(t => s.tags.includes(t)))
}

function addTo (index: Map<string, Set<string>>, key: string, peerId: string): void {
  let set = index.get(key)
  if (set == null) {
    set = new Set()
    index.set(key, set)
  }
  set.add(peerId)
}

function removeFrom (index: Map<string, Set<string>>, key: string, peerId: string): void {
  const set = index.get(key)
  if (set == null) return
  set.delete(peerId)
  if (set.size === 0) index.delete(key)
}
