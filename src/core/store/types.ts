/**
 * What a Starling peer keeps between runs. The core only talks to these interfaces; the PWA
 * implements them over IndexedDB (src/app/data), the native peer over files in STARLING_HOME
 * (src/native/store), and tests use the in-memory one (./memory.ts).
 */
import type { AgentProfile } from '../a2a/binding.js'
import type { AgentCardJson, TaskJson, TaskStateName } from '../a2a/json.js'

/** inbound: another peer asked us; outbound: we asked another peer. */
export type TaskDirection = 'inbound' | 'outbound'

export interface TaskRecord {
  direction: TaskDirection
  /** The A2A task id (assigned by the peer that runs the task). */
  id: string
  /** The other party: the sender of an inbound task, the agent of an outbound one. */
  peerId: string
  contextId: string
  /** Denormalised from `task.status.state`, for queries. */
  state: TaskStateName
  task: TaskJson
  /** ms since the epoch */
  createdAt: number
  /** ms since the epoch; lists are ordered by it, newest first */
  updatedAt: number
}

export interface TaskQuery {
  direction?: TaskDirection
  peerId?: string
  contextId?: string
  states?: TaskStateName[]
  /** At most this many records (default: all). */
  limit?: number
  /** Records strictly older than this position in the order (for paging). */
  before?: { updatedAt: number, id: string }
}

/**
 * Records are values: a store may keep the object it was given and hand the same object to
 * readers, so neither side changes a record after put() or get() (make a new one instead).
 */
export interface TaskRecordStore {
  get: (direction: TaskDirection, id: string) => Promise<TaskRecord | undefined>
  put: (record: TaskRecord) => Promise<void>
  /** Records matching the query, newest `updatedAt` first (ties: id descending). */
  list: (query?: TaskQuery) => Promise<TaskRecord[]>
}

/** An agent this peer has seen in a registry, kept so the directory shows after a reload. */
export interface KnownAgent {
  peerId: string
  card: AgentCardJson
  /** ms since the epoch */
  seenAt: number
}

export interface AgentDirectoryStore {
  list: () => Promise<KnownAgent[]>
  put: (agent: KnownAgent) => Promise<void>
  remove: (peerId: string) => Promise<void>
}

export interface ValueStore<T> {
  load: () => Promise<T | undefined>
  save: (value: T) => Promise<void>
}

export interface PeerStorage {
  /** The libp2p private key, protobuf-encoded (`privateKeyToProtobuf`). */
  identity: ValueStore<Uint8Array>
  profile: ValueStore<AgentProfile>
  tasks: TaskRecordStore
  agents: AgentDirectoryStore
  close: () => Promise<void>
}

/** A record without its task: what ordering and queries look at (an index can hold just this). */
export type TaskRecordSummary = Omit<TaskRecord, 'task'>

/** Orders records newest first, ties by id descending: the order every TaskRecordStore lists in. */
export function compareRecords (a: TaskRecordSummary, b: TaskRecordSummary): number {
  if (a.updatedAt !== b.updatedAt) return b.updatedAt - a.updatedAt
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

/** Whether `record` matches `query` (apart from `limit`). */
export function matchesQuery (record: TaskRecordSummary, query: TaskQuery): boolean {
  if (query.direction != null && record.direction !== query.direction) return false
  if (query.peerId != null && record.peerId !== query.peerId) return false
  if (query.contextId != null && record.contextId !== query.contextId) return false
  if (query.states != null && !query.states.includes(record.state)) return false
  if (query.before != null) {
    const b = query.before
    if (record.updatedAt > b.updatedAt) return false
    if (record.updatedAt === b.updatedAt && record.id >= b.id) return false
  }
  return true
}
