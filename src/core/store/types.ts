/**
 * What a Starling peer keeps between runs. The core only talks to these interfaces; the PWA
 * implements them over IndexedDB (src/app/data), the native peer over files in STARLING_HOME
 * (src/native/store), and tests use the in-memory one (./memory.ts).
 */
import type { AgentProfile } from '../a2a/binding.js'
import type { AgentCardJson, MessageJson, TaskJson, TaskStateName } from '../a2a/json.js'
import type { PolicyRule } from '../mesh/policy.js'

/** inbound: another peer asked us; outbound: we asked another peer. */
export type TaskDirection = 'inbound' | 'outbound'

/**
 * How far an outbound task's latest request got. queued: kept here, the agent not reached yet;
 * sent: an attempt is under way, written to the agent, its acknowledgement not back yet (a failed
 * attempt makes it queued again); delivered: the agent has it.
 */
export type DeliveryState = 'queued' | 'sent' | 'delivered'

/**
 * Work a task still owes the other peer, kept in the task's own record so that it is stored in
 * the same write as the change that made it (src/core/tasks/outbox.ts delivers it).
 * - message: a message of ours (a new task, or our answer to input-required) not yet accepted;
 * - cancel: our request to cancel, not yet accepted;
 * - push (inbound tasks): the sender has not acknowledged the task's latest state.
 */
export type OutboxItem =
  | { kind: 'message', message: MessageJson, attempts: number, lastError?: string }
  | { kind: 'cancel', attempts: number, lastError?: string }
  | { kind: 'push', attempts: number, lastError?: string }

/** One state a task was in, from when (ms since the epoch). */
export interface TimelineEntry {
  state: TaskStateName
  at: number
}

export interface TaskRecord {
  direction: TaskDirection
  /**
   * The task's id here. Inbound: the A2A task id we assigned. Outbound: our own id, chosen when
   * the task was queued (the first message's id); the agent's id is `remoteId`, and the stored
   * `task` uses ours, so every record satisfies `task.id === id`.
   */
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
  /** Outbound: how far our latest request got (absent on inbound records). */
  delivery?: DeliveryState
  /** Outbound: the agent's id of the task, once it has accepted it. */
  remoteId?: string
  /**
   * Outbound: ms since the epoch after which requests still undelivered, or an agent still
   * unreachable, fail the task (the sender's TTL, 24 h unless it says otherwise).
   */
  expiresAt?: number
  /** Work owed to the other peer, oldest first; absent or empty when there is none. */
  outbox?: OutboxItem[]
  /** When the outbox should next be tried, ms since the epoch; set exactly when `outbox` is not empty. */
  outboxAt?: number
  /** Inbound: the token the sender asked pushed updates to carry (its own id of the task). */
  pushToken?: string
  /** Every state the task has been in, oldest first. */
  timeline?: TimelineEntry[]
  /** Why the task failed here, when it was this peer that failed it (TTL, a refused update). */
  localError?: string
  /**
   * Inbound: the task waits under "requests" until the person accepts its sender or blocks it
   * (src/core/mesh/policy.ts, `ask`). Nothing has run; it is in no inbox.
   */
  held?: true
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
  /** Only records whose outbox holds work (`outboxAt` set). */
  outbox?: boolean
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
  /**
   * The peer's policy rules, kept where a person edits them (the PWA). Without it the rules are
   * the ones the peer was created with (a native peer's config.json).
   */
  policy?: ValueStore<PolicyRule[]>
  close: () => Promise<void>
}

/** What ordering and queries look at (an index can hold just this). */
export type TaskRecordSummary = Pick<TaskRecord, 'direction' | 'id' | 'peerId' | 'contextId' | 'state' | 'createdAt' | 'updatedAt' | 'outboxAt'>

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
  if (query.outbox === true && record.outboxAt == null) return false
  if (query.before != null) {
    const b = query.before
    if (record.updatedAt > b.updatedAt) return false
    if (record.updatedAt === b.updatedAt && record.id >= b.id) return false
  }
  return true
}
