/**
 * The SDK's TaskStore for tasks other peers send us, kept in this peer's TaskRecordStore.
 * Every task is owned by the PeerID that created it (the SDK's `context.user`): another peer
 * can neither read, list, continue nor cancel it — to them it does not exist.
 *
 * Each save that the sender has not seen yet also owes it a push (an outbox item of the record,
 * stored in the same write): the live push (./pushes.ts) settles it within moments, and when the
 * sender cannot be reached the outbox keeps it until it can.
 */
import { Task, taskStateToJSON } from '@a2a-js/sdk'
import type { ListTasksRequest, ListTasksResponse } from '@a2a-js/sdk'
import type { ServerCallContext, TaskStore } from '@a2a-js/sdk/server'
import { StarlingError } from '../errors.js'
import type { MessageJson, TaskJson, TaskStateName } from '../a2a/json.js'
import type { OutboxItem, TaskRecord } from '../store/types.js'
import { withTask } from './records.js'
import type { TaskRecords } from './records.js'

/**
 * How long a change saved by the SDK waits for its live push before the outbox delivers it
 * instead, in ms: the live push normally settles it well within this.
 */
export const DEFAULT_LIVE_PUSH_GRACE_MS = 10_000

/** How long an update waits for a sender that cannot be reached before it is dropped: 24 h in ms. */
export const DEFAULT_PUSH_TTL_MS = 24 * 60 * 60 * 1000

export interface InboundSave {
  /** The SDK is saving the answer it returns to the sender itself: no push is owed for it. */
  response?: boolean
  /** The token the sender gave for pushes, when it gave one. */
  pushToken?: string
  /** When the outbox should push this change if nothing else has, ms since the epoch. */
  pushAt?: number
  /** The task waits for the person to accept its sender (TaskRecord.held); false: no longer. */
  held?: boolean
}

/** Tasks in one ListTasks page when the caller does not say: 50. */
export const DEFAULT_LIST_PAGE_SIZE = 50
/** Largest ListTasks page: 100. */
export const MAX_LIST_PAGE_SIZE = 100

export class InboundTaskStore implements TaskStore {
  private readonly records: TaskRecords
  /** Tasks whose next save is the response to the sender's own call (set by the executor). */
  private readonly responses = new Set<string>()
  /** Push tokens given with SendMessage, until the task's first save stores them. */
  private readonly tokens = new Map<string, string>()
  private readonly onMessages: (owner: string, taskId: string, history: MessageJson[]) => void

  constructor (records: TaskRecords, onMessages: (owner: string, taskId: string, history: MessageJson[]) => void = () => {}) {
    this.records = records
    this.onMessages = onMessages
  }

  /** The next save of `taskId` is what the sender's call returns (it owes no push). */
  expectResponse (taskId: string): void {
    this.responses.add(taskId)
  }

  /** The sender of `taskId` asked for pushes with `token`. */
  setPushToken (taskId: string, token: string): void {
    this.tokens.set(taskId, token)
  }

  async save (task: Task, context: ServerCallContext): Promise<void> {
    const owner = ownerOf(context)
    const response = this.responses.delete(task.id)
    await this.saveJson(Task.toJSON(task) as TaskJson, owner, { response, pushAt: Date.now() + DEFAULT_LIVE_PUSH_GRACE_MS })
  }

  /**
   * Stores a task of `owner`: from the SDK, or changed by this peer itself (an answer given after
   * a restart), then pushed by the outbox at `pushAt` (default: now) unless it is a response.
   */
  async saveJson (json: TaskJson, owner: string, save: InboundSave = {}): Promise<TaskRecord | undefined> {
    const stored = await this.records.update('inbound', json.id, (existing) => {
      if (existing != null && existing.peerId !== owner) {
        throw new StarlingError(`task ${json.id} belongs to another peer`, 'ERR_TASK_OWNER')
      }
      const now = Date.now()
      const pushToken = existing?.pushToken ?? save.pushToken ?? this.tokens.get(json.id)
      const base: TaskRecord = existing ?? {
        direction: 'inbound',
        id: json.id,
        peerId: owner,
        contextId: json.contextId,
        state: json.status.state,
        task: json,
        createdAt: now,
        updatedAt: now,
        timeline: [{ state: json.status.state, at: now }]
      }
      let record = withTask({ ...base, contextId: json.contextId }, json, now)
      if (pushToken != null) record.pushToken = pushToken
      if (save.held === true) record.held = true
      // a held task that ends (blocked, canceled) or runs is held no more
      if (save.held === false || (save.held == null && json.status.state !== 'TASK_STATE_SUBMITTED')) delete record.held
      if (pushToken != null && existing != null && save.response !== true) record = owePush(record, save.pushAt ?? now)
      return record
    })
    this.tokens.delete(json.id)
    if (stored != null) this.onMessages(owner, stored.id, stored.task.history ?? [])
    return stored
  }

  async load (taskId: string, context: ServerCallContext): Promise<Task | undefined> {
    const record = await this.records.get('inbound', taskId)
    if (record == null || record.peerId !== ownerOf(context)) return undefined
    return Task.fromJSON(record.task)
  }

  async list (params: ListTasksRequest, context: ServerCallContext): Promise<ListTasksResponse> {
    const owner = ownerOf(context)
    const pageSize = Math.min(Math.max(params.pageSize ?? DEFAULT_LIST_PAGE_SIZE, 1), MAX_LIST_PAGE_SIZE)
    const states = params.status != null && params.status > 0 ? [taskStateToJSON(params.status) as TaskStateName] : undefined
    const after = params.statusTimestampAfter != null && params.statusTimestampAfter !== ''
      ? Date.parse(params.statusTimestampAfter)
      : undefined
    const query = {
      direction: 'inbound' as const,
      peerId: owner,
      contextId: params.contextId !== '' ? params.contextId : undefined,
      states
    }
    let all = await this.records.store.list(query)
    if (after != null && !Number.isNaN(after)) {
      all = all.filter(r => Date.parse(r.task.status.timestamp ?? '') > after)
    }
    const cursor = decodePageToken(params.pageToken)
    const start = cursor == null ? 0 : all.findIndex(r => r.updatedAt === cursor.updatedAt && r.id === cursor.id) + 1
    const page = start === 0 && cursor != null ? [] : all.slice(start, start + pageSize)
    const last = page.at(-1)
    const more = last != null && start + page.length < all.length
    return {
      tasks: page.map(r => {
        const task = Task.fromJSON(r.task)
        if (params.includeArtifacts !== true) task.artifacts = []
        if (params.historyLength != null) task.history = params.historyLength === 0 ? [] : task.history.slice(-params.historyLength)
        return task
      }),
      nextPageToken: more ? encodePageToken(last) : '',
      pageSize,
      totalSize: all.length
    }
  }
}

/** `record` owing its sender a push of its current state (one push item however many changes). */
export function owePush (record: TaskRecord, at: number): TaskRecord {
  const outbox: OutboxItem[] = record.outbox ?? []
  if (outbox.some(i => i.kind === 'push')) return record
  return {
    ...record,
    outbox: [...outbox, { kind: 'push', attempts: 0 }],
    outboxAt: Math.min(record.outboxAt ?? at, at),
    expiresAt: Date.now() + DEFAULT_PUSH_TTL_MS
  }
}

function ownerOf (context: ServerCallContext): string {
  const owner = context.user?.userName
  if (owner == null || owner === '') throw new StarlingError('a task store call without a peer', 'ERR_NO_CALLER')
  return owner
}

function encodePageToken (record: TaskRecord): string {
  return btoa(JSON.stringify([record.updatedAt, record.id]))
}

function decodePageToken (token: string | undefined): { updatedAt: number, id: string } | undefined {
  if (token == null || token === '') return undefined
  try {
    const [updatedAt, id] = JSON.parse(atob(token)) as [unknown, unknown]
    if (typeof updatedAt === 'number' && typeof id === 'string') return { updatedAt, id }
  } catch {
    // not base64 JSON: treated like a token that matches nothing
  }
  return { updatedAt: -1, id: '' }
}
