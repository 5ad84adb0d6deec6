/**
 * Tasks this peer sends to other agents. A send opens SendStreamingMessage and keeps reading
 * it in the background; when that stream breaks (relay restart, the agent reloaded), the task
 * is followed again with GetTask + SubscribeToTask, with back-off, until it ends. Every change
 * lands in the store first and is announced after, so a UI or `wait` only ever shows what is
 * stored.
 */
import { logger } from '@libp2p/logger'
import { SendMessageRequest, StreamResponse, Task } from '@a2a-js/sdk'
import type { Client } from '@a2a-js/sdk/client'
import { TaskNotFoundError } from '@a2a-js/sdk/errors'
import { errorMessage, StarlingError, UnknownTaskError } from '../errors.js'
import type { MessageJson, PartJson, StreamResponseJson, TaskJson } from '../a2a/json.js'
import type { TaskRecord, TaskRecordStore } from '../store/types.js'
import { agentMessage } from './outcome.js'
import { applyStreamResponse, INTERRUPTED_STATES, isTerminal } from './state.js'
import type { TaskChangeListener } from './task-store.js'

const log = logger('starling:outbound')

/** First wait before following a task again after its stream broke, in ms. */
export const DEFAULT_FOLLOW_RETRY_MIN_MS = 1_000
/** Longest wait between attempts to follow a task, in ms. */
export const DEFAULT_FOLLOW_RETRY_MAX_MS = 60_000
/** Time allowed for a send to be acknowledged by the agent, in ms. */
export const DEFAULT_SEND_TIMEOUT_MS = 30_000

export interface OutboundTasksInit {
  records: TaskRecordStore
  /** An SDK client for the agent `peerId`. */
  client: (peerId: string) => Promise<Client>
  onChange?: TaskChangeListener
  retryMinMs?: number
  retryMaxMs?: number
}

export interface SendOptions {
  /** Continue an existing conversation. */
  contextId?: string
  /** Continue an existing task (answer its input-required turn). */
  taskId?: string
  signal?: AbortSignal
}

interface Follower {
  controller: AbortController
  wake?: () => void
}

export class OutboundTasks {
  private readonly records: TaskRecordStore
  private readonly client: (peerId: string) => Promise<Client>
  private readonly onChange: TaskChangeListener
  private readonly retryMinMs: number
  private readonly retryMaxMs: number
  private readonly followers = new Map<string, Follower>()
  private readonly watchers = new Map<string, Set<(record: TaskRecord) => void>>()
  private stopped = false

  constructor (init: OutboundTasksInit) {
    this.records = init.records
    this.client = init.client
    this.onChange = init.onChange ?? (() => {})
    this.retryMinMs = init.retryMinMs ?? DEFAULT_FOLLOW_RETRY_MIN_MS
    this.retryMaxMs = init.retryMaxMs ?? DEFAULT_FOLLOW_RETRY_MAX_MS
  }

  /**
   * Sends a message to the agent `peerId` and resolves once the agent has created the task
   * (or answered directly). Updates keep arriving in the background.
   */
  async send (peerId: string, parts: PartJson[], options: SendOptions = {}): Promise<TaskRecord> {
    const message: MessageJson = { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts }
    if (options.contextId != null) message.contextId = options.contextId
    if (options.taskId != null) message.taskId = options.taskId
    const client = await this.client(peerId)
    const follower: Follower = { controller: new AbortController() }
    const request = SendMessageRequest.fromJSON({ message, configuration: { acceptedOutputModes: ['text/plain'] } })
    const iterator = client.sendMessageStream(request, { signal: follower.controller.signal })[Symbol.asyncIterator]()

    const abort = (): void => { follower.controller.abort(options.signal?.reason) }
    const timer = setTimeout(() => { follower.controller.abort(new StarlingError('the agent did not acknowledge the task in time', 'ERR_TIMEOUT')) }, DEFAULT_SEND_TIMEOUT_MS)
    options.signal?.addEventListener('abort', abort, { once: true })
    let first: IteratorResult<StreamResponse>
    try {
      first = await iterator.next()
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', abort)
    }
    if (first.done === true) throw new StarlingError('the agent closed the stream without answering', 'ERR_NO_ANSWER')

    const item = toJson(first.value)
    const record = await this.recordFromFirst(peerId, message, item)
    // a new turn of a task (options.taskId) may open with the state it had while waiting for us:
    // the rest of the stream says where it goes, so it is read whatever the first state
    if (!isTerminal(record.state) && (options.taskId != null || !INTERRUPTED_STATES.includes(record.state))) {
      void this.follow(record, follower, iterator)
    } else {
      follower.controller.abort()
    }
    return record
  }

  /** Asks the agent to cancel the task and records the answer. */
  async cancel (taskId: string, options: { signal?: AbortSignal } = {}): Promise<TaskRecord> {
    const record = await this.records.get('outbound', taskId)
    if (record == null) throw new UnknownTaskError(taskId)
    const client = await this.client(record.peerId)
    const task = await client.cancelTask({ id: taskId, tenant: '', metadata: {} }, { signal: options.signal })
    return await this.apply(record, { task: Task.toJSON(task) as TaskJson })
  }

  /** Resolves with the task once it is finished or waits for us (input-required). */
  async waitFor (taskId: string, options: { signal?: AbortSignal } = {}): Promise<TaskRecord> {
    options.signal?.throwIfAborted()
    const { promise, resolve, reject } = Promise.withResolvers<TaskRecord>()
    const watchers = this.watchers.get(taskId) ?? new Set()
    this.watchers.set(taskId, watchers)
    const onChange = (changed: TaskRecord): void => { if (isSettled(changed)) resolve(changed) }
    const onAbort = (): void => {
      reject(options.signal?.reason instanceof Error ? options.signal.reason : new StarlingError('aborted', 'ABORT_ERR'))
    }
    // listen first, then read: a change stored between the two is not missed
    watchers.add(onChange)
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const record = await this.records.get('outbound', taskId)
      if (record == null) throw new UnknownTaskError(taskId)
      if (isSettled(record)) return record
      return await promise
    } finally {
      watchers.delete(onChange)
      if (watchers.size === 0) this.watchers.delete(taskId)
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Follows every outbound task that is still open (after a restart). */
  async resume (): Promise<void> {
    const open = await this.records.list({ direction: 'outbound', states: ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING'] })
    for (const record of open) {
      if (!this.followers.has(record.id)) void this.follow(record, { controller: new AbortController() })
    }
  }

  /** Connectivity changed: retry the tasks waiting in back-off now (all, or those with `peerId`). */
  poke (): void {
    for (const follower of this.followers.values()) follower.wake?.()
  }

  stop (): void {
    this.stopped = true
    for (const follower of this.followers.values()) follower.controller.abort()
    this.followers.clear()
  }

  private async recordFromFirst (peerId: string, message: MessageJson, item: StreamResponseJson): Promise<TaskRecord> {
    const now = Date.now()
    let task: TaskJson
    if (item.task != null) {
      task = { ...item.task, history: item.task.history?.length ? item.task.history : [message] }
    } else if (item.message != null) {
      // the agent answered without creating a task: keep the exchange as a completed one
      const id = item.message.taskId ?? item.message.messageId
      task = {
        id,
        contextId: item.message.contextId ?? message.contextId ?? id,
        status: { state: 'TASK_STATE_COMPLETED', message: item.message, timestamp: new Date(now).toISOString() },
        history: [message, item.message]
      }
    } else {
      throw new StarlingError('the agent answered with an update before the task', 'ERR_BAD_AGENT_RESPONSE')
    }
    const existing = await this.records.get('outbound', task.id)
    if (existing != null && existing.peerId !== peerId) {
      throw new StarlingError(`agent ${peerId} answered with the id of another agent's task`, 'ERR_BAD_AGENT_RESPONSE')
    }
    const record: TaskRecord = existing != null
      ? { ...existing, task: applyStreamResponse(existing.task, { task }), updatedAt: Math.max(now, existing.updatedAt) }
      : { direction: 'outbound', id: task.id, peerId, contextId: task.contextId, state: task.status.state, task, createdAt: now, updatedAt: now }
    record.state = record.task.status.state
    await this.store(record)
    return record
  }

  private async follow (start: TaskRecord, follower: Follower, iterator?: AsyncIterator<StreamResponse>): Promise<void> {
    this.followers.get(start.id)?.controller.abort()
    this.followers.set(start.id, follower)
    const signal = follower.controller.signal
    let record = start
    let delay = this.retryMinMs
    try {
      // the stream a send opened is read to its end before anything else is decided
      while (!signal.aborted && !this.stopped && (iterator != null || !isSettled(record))) {
        try {
          if (iterator != null) {
            const current = iterator
            iterator = undefined
            record = await this.drain(record, current)
          } else {
            const client = await this.client(record.peerId)
            const task = await client.getTask({ id: record.id, tenant: '' }, { signal })
            record = await this.apply(record, { task: Task.toJSON(task) as TaskJson })
            if (isSettled(record)) break
            record = await this.drain(record, client.resubscribeTask({ id: record.id, tenant: '' }, { signal })[Symbol.asyncIterator]())
          }
          delay = this.retryMinMs
        } catch (err) {
          if (signal.aborted) break
          if (err instanceof TaskNotFoundError) {
            record = await this.apply(record, {
              statusUpdate: {
                taskId: record.id,
                contextId: record.contextId,
                status: {
                  state: 'TASK_STATE_FAILED',
                  timestamp: new Date().toISOString(),
                  message: agentMessage(record.id, record.contextId, [{ text: 'the agent no longer knows this task' }])
                }
              }
            })
            break
          }
          log('following task %s failed - %s', record.id, errorMessage(err))
        }
        if (isSettled(record)) break
        await this.sleep(follower, delay)
        delay = Math.min(delay * 2, this.retryMaxMs)
      }
    } finally {
      if (this.followers.get(start.id) === follower) this.followers.delete(start.id)
    }
  }

  private async drain (record: TaskRecord, iterator: AsyncIterator<StreamResponse>): Promise<TaskRecord> {
    while (true) {
      const next = await iterator.next()
      if (next.done === true) return record
      record = await this.apply(record, toJson(next.value))
    }
  }

  private async apply (record: TaskRecord, item: StreamResponseJson): Promise<TaskRecord> {
    const task = applyStreamResponse(record.task, item)
    if (task === record.task) return record
    const next: TaskRecord = { ...record, task, state: task.status.state, updatedAt: Math.max(Date.now(), record.updatedAt) }
    await this.store(next)
    return next
  }

  private async store (record: TaskRecord): Promise<void> {
    await this.records.put(record)
    this.onChange(record)
    for (const watcher of this.watchers.get(record.id) ?? []) watcher(record)
    if (this.watchers.get(record.id)?.size === 0) this.watchers.delete(record.id)
  }

  private async sleep (follower: Follower, ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const signal = follower.controller.signal
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        follower.wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      follower.wake = done
    })
  }
}

/** The JSON form of an SDK StreamResponse. */
function toJson (value: StreamResponse): StreamResponseJson {
  return StreamResponse.toJSON(value) as StreamResponseJson
}

/** A task the sender need not follow further: finished, or waiting for the sender itself. */
function isSettled (record: TaskRecord): boolean {
  return isTerminal(record.state) || INTERRUPTED_STATES.includes(record.state)
}
