/**
 * The SDK's TaskStore for tasks other peers send us, kept in this peer's TaskRecordStore.
 * Every task is owned by the PeerID that created it (the SDK's `context.user`): another peer
 * can neither read, list, continue nor cancel it — to them it does not exist.
 */
import { Task, taskStateToJSON } from '@a2a-js/sdk'
import type { ListTasksRequest, ListTasksResponse } from '@a2a-js/sdk'
import type { ServerCallContext, TaskStore } from '@a2a-js/sdk/server'
import { StarlingError } from '../errors.js'
import type { TaskJson, TaskStateName } from '../a2a/json.js'
import type { TaskRecord, TaskRecordStore } from '../store/types.js'

/** Tasks in one ListTasks page when the caller does not say: 50. */
export const DEFAULT_LIST_PAGE_SIZE = 50
/** Largest ListTasks page: 100. */
export const MAX_LIST_PAGE_SIZE = 100

export type TaskChangeListener = (record: TaskRecord) => void

export class InboundTaskStore implements TaskStore {
  private readonly records: TaskRecordStore
  private readonly onChange: TaskChangeListener

  constructor (records: TaskRecordStore, onChange: TaskChangeListener = () => {}) {
    this.records = records
    this.onChange = onChange
  }

  async save (task: Task, context: ServerCallContext): Promise<void> {
    const owner = ownerOf(context)
    const existing = await this.records.get('inbound', task.id)
    if (existing != null && existing.peerId !== owner) {
      throw new StarlingError(`task ${task.id} belongs to another peer`, 'ERR_TASK_OWNER')
    }
    await this.saveJson(Task.toJSON(task) as TaskJson, owner, existing)
  }

  /** Stores a task changed by this peer itself (an answer given after a restart, say). */
  async saveJson (json: TaskJson, owner: string, existing?: TaskRecord): Promise<TaskRecord> {
    const now = Date.now()
    const record: TaskRecord = {
      direction: 'inbound',
      id: json.id,
      peerId: owner,
      contextId: json.contextId,
      state: json.status.state,
      task: json,
      createdAt: existing?.createdAt ?? now,
      updatedAt: Math.max(now, existing?.updatedAt ?? 0)
    }
    await this.records.put(record)
    this.onChange(record)
    return record
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
    let all = await this.records.list(query)
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
