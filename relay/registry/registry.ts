/**
 * The skill registry's rules, with no I/O: who may publish what, for how long, and what
 * discover returns. The libp2p service (./service.ts) and the HTTP view (../http.ts) sit on it.
 *
 * - An entry is keyed by the publisher's PeerID; publishing again replaces it (a renewal).
 * - An entry lapses at its TTL unless renewed, and goes when its peer has been disconnected from
 *   the relay for longer than the grace period.
 * - Discover is served from indexes by skill, by tag, by (skill, tag) and by word (free text over
 *   name, description and skill names), so a query only walks entries that can match.
 * - Answers come in a stable order (connected agents first, then by PeerID) and in pages: a page
 *   ends with a cursor for the next one.
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
  /** The publisher's signed agent record (base64), when it sent one the relay checked. */
  record?: string
  /** The signed record's sequence number: an older record never replaces a newer one. */
  seq?: number
}

export interface DiscoverQuery {
  skill?: string
  /** All of them must be on the matching skill (or on any skill, without `skill`). */
  tags?: string[]
  /**
   * Free text: every word must start a word of the agent's name, description or skill names
   * (case and accents aside).
   */
  text?: string
  limit?: number
  /** The cursor of the previous page. */
  after?: string
  /** Only entries whose publisher this allows (a private relay: those sharing a mesh with the asker). */
  visible?: (peerId: string) => boolean
}

export interface DiscoverPage {
  entries: RegistryEntry[]
  /** Where the next page starts; absent on the last page. */
  next?: string
}

/** Longest free-text query, in characters. */
export const MAX_TEXT_QUERY_LENGTH = 200
/** Most words in a free-text query. */
export const MAX_TEXT_QUERY_WORDS = 8

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
  /** Agents by the words of their name, description and skill names. */
  private readonly byWord = new Map<string, Set<string>>()
  /** Each entry's words, worked out once when it is published. */
  private readonly words = new WeakMap<RegistryEntry, string[]>()
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
  publish (peerId: string, card: AgentCardJson, options: { ttlSeconds?: number, addresses: string[], online: boolean, record?: string, seq?: number }): RegistryEntry {
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
      offlineSince: options.online ? undefined : now,
      ...(options.record != null ? { record: options.record, seq: options.seq } : {})
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

  /**
   * Live entries matching the query, connected agents first, up to the limit. It stops at the
   * limit without ordering the rest: the quick answer for "who can do X" (discoverPage pages).
   */
  discover (query: DiscoverQuery = {}): RegistryEntry[] {
    if (query.after != null) return this.discoverPage(query).entries
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? DEFAULT_DISCOVER_LIMIT), 1), MAX_DISCOVER_LIMIT)
    const tags = query.tags ?? []
    const words = query.text == null ? [] : wordsOf(query.text).slice(0, MAX_TEXT_QUERY_WORDS)
    const now = this.now()
    const online: RegistryEntry[] = []
    const offline: RegistryEntry[] = []
    for (const peerId of this.candidates(query.skill, tags, words)) {
      const entry = this.entries.get(peerId)
      if (entry == null || !this.isLive(entry, now) || !matches(entry.card, query.skill, tags) || !this.hasWords(entry, words)) continue
      if (query.visible != null && !query.visible(peerId)) continue
      if (entry.offlineSince == null) {
        online.push(entry)
        if (online.length >= limit) break
      } else if (offline.length < limit) {
        offline.push(entry)
      }
    }
    return [...online, ...offline].slice(0, limit)
  }

  /**
   * One page of the live entries matching the query, in a stable order (connected agents first,
   * then by PeerID), with the cursor of the next page. It orders every match, so it costs more
   * than discover on a large registry.
   */
  discoverPage (query: DiscoverQuery = {}): DiscoverPage {
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? DEFAULT_DISCOVER_LIMIT), 1), MAX_DISCOVER_LIMIT)
    const tags = query.tags ?? []
    const words = query.text == null ? [] : wordsOf(query.text).slice(0, MAX_TEXT_QUERY_WORDS)
    const now = this.now()
    const after = decodeCursor(query.after)
    const matching: RegistryEntry[] = []
    for (const peerId of this.candidates(query.skill, tags, words)) {
      const entry = this.entries.get(peerId)
      if (entry == null || !this.isLive(entry, now) || !matches(entry.card, query.skill, tags) || !this.hasWords(entry, words)) continue
      if (query.visible != null && !query.visible(peerId)) continue
      if (after != null && compareKeys(keyOf(entry), after) <= 0) continue
      matching.push(entry)
    }
    matching.sort((a, b) => compareKeys(keyOf(a), keyOf(b)))
    const entries = matching.slice(0, limit)
    const last = entries.at(-1)
    return matching.length > limit && last != null ? { entries, next: encodeCursor(keyOf(last)) } : { entries }
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
  private candidates (skill: string | undefined, tags: string[], words: string[]): Iterable<string> {
    const sets: Array<ReadonlySet<string>> = []
    if (tags.length > 0) {
      for (const t of tags) sets.push((skill != null ? this.bySkillTag.get(skillTag(skill, t)) : this.byTag.get(t)) ?? EMPTY)
    } else if (skill != null) {
      sets.push(this.bySkill.get(skill) ?? EMPTY)
    }
    for (const word of words) sets.push(this.withWordStarting(word))
    if (sets.length === 0) return this.entries.keys()
    return sets.reduce((a, b) => (a.size <= b.size ? a : b))
  }

  /** Agents with a word that starts with `prefix` (the word itself when it is indexed whole). */
  private withWordStarting (prefix: string): ReadonlySet<string> {
    const exact = this.byWord.get(prefix)
    const out = new Set<string>(exact ?? [])
    for (const [word, peers] of this.byWord) {
      if (word !== prefix && word.startsWith(prefix)) for (const p of peers) out.add(p)
    }
    return out
  }

  /** Whether every query word starts a word of the entry's card. */
  private hasWords (entry: RegistryEntry, words: string[]): boolean {
    if (words.length === 0) return true
    const own = this.wordsOf(entry)
    return words.every(w => own.some(v => v.startsWith(w)))
  }

  private wordsOf (entry: RegistryEntry): string[] {
    let own = this.words.get(entry)
    if (own == null) {
      own = [...new Set(wordsOf(searchText(entry.card)))]
      this.words.set(entry, own)
    }
    return own
  }

  private index (entry: RegistryEntry): void {
    for (const word of this.wordsOf(entry)) addTo(this.byWord, word, entry.peerId)
    for (const skill of entry.card.skills) {
      addTo(this.bySkill, skill.id, entry.peerId)
      for (const tag of skill.tags) {
        addTo(this.byTag, tag, entry.peerId)
        addTo(this.bySkillTag, skillTag(skill.id, tag), entry.peerId)
      }
    }
  }

  private unindex (entry: RegistryEntry): void {
    for (const word of this.wordsOf(entry)) removeFrom(this.byWord, word, entry.peerId)
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

/** What free text searches in a card: its name, description and skill names. */
function searchText (card: AgentCardJson): string {
  return [card.name, card.description, ...card.skills.map(s => s.name)].join(' ')
}

/** Lower-case words without accents: `Café-Übersetzer` → `cafe`, `ubersetzer`. */
export function wordsOf (text: string): string[] {
  return text.slice(0, 10_000).normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(w => w.length > 0)
}

/** The order of answers: connected agents first, then by PeerID. */
type SortKey = [offline: 0 | 1, peerId: string]

function keyOf (entry: RegistryEntry): SortKey {
  return [entry.offlineSince == null ? 0 : 1, entry.peerId]
}

function compareKeys (a: SortKey, b: SortKey): number {
  if (a[0] !== b[0]) return a[0] - b[0]
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0
}

function encodeCursor (key: SortKey): string {
  return `${key[0]}.${key[1]}`
}

/** A cursor from a client: anything unreadable starts from the beginning. */
function decodeCursor (cursor: string | undefined): SortKey | undefined {
  const match = cursor == null ? null : /^([01])\.([1-9A-HJ-NP-Za-km-z]{1,128})$/.exec(cursor)
  if (match == null) return undefined
  return [match[1] === '1' ? 1 : 0, match[2] ?? '']
}

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
