/**
 * The agent's end of pushes: the SDK's PushNotificationSender, so every event of a live task
 * goes to its sender as it happens, and the outbox's delivery of the pushes that could not go
 * then (the whole task, which stands for every update missed).
 *
 * A push is owed from the moment the change is stored (./task-store.ts puts a push item in the
 * same write); a push that got through settles it, one that failed leaves it to the outbox.
 */
import { logger } from '@libp2p/logger'
import { StreamResponse } from '@a2a-js/sdk'
import type { Task } from '@a2a-js/sdk'
import type { PushNotificationSender, ServerCallContext } from '@a2a-js/sdk/server'
import { timedSignal } from '../abort.js'
import { errorMessage } from '../errors.js'
import type { StreamResponseJson } from '../a2a/json.js'
import { PushRefusedError } from '../push/service.js'
import type { OutboxItem, TaskRecord } from '../store/types.js'
import type { TaskRecords } from './records.js'
import { owePush } from './task-store.js'

const log = logger('starling:pushes')

/** Time a live push may take before the outbox takes it over, in ms. */
export const DEFAULT_PUSH_TIMEOUT_MS = 10_000

/** Delivers one update of the task `token` to `peerId` (src/core/push/service.ts). */
export type Push = (peerId: string, token: string, update: StreamResponseJson, options: { signal?: AbortSignal }) => Promise<void>

export interface AgentPushesInit {
  records: TaskRecords
  push: Push
}

export class AgentPushes implements PushNotificationSender {
  private readonly records: TaskRecords
  private readonly push: Push
  /** Pushes of one task go out in the order the SDK hands them over. */
  private readonly chains = new Map<string, Promise<void>>()

  constructor (init: AgentPushesInit) {
    this.records = init.records
    this.push = init.push
  }

  /** Called by the SDK for every event of a task, after it stored the event. */
  async send (streamResponse: StreamResponse, _context: ServerCallContext, task?: Task): Promise<void> {
    const payload = streamResponse.payload
    // a whole task or a message is what the sender's own call returns: no push for it
    if (payload == null || payload.$case === 'task' || payload.$case === 'message') return
    const taskId = task?.id ?? payload.value.taskId
    const update = StreamResponse.toJSON(streamResponse) as StreamResponseJson
    const previous = this.chains.get(taskId) ?? Promise.resolve()
    const next = previous.then(async () => { await this.sendLive(taskId, update) })
    this.chains.set(taskId, next)
    void next.finally(() => { if (this.chains.get(taskId) === next) this.chains.delete(taskId) })
    await next
  }

  /** Delivers the push item of an inbound task: its current state (called by the outbox). */
  async deliver (record: TaskRecord, item: OutboxItem, signal: AbortSignal): Promise<void> {
    if (record.pushToken == null) { await this.settle(record, record.updatedAt); return }
    try {
      // the sender has its own messages (and their files): the snapshot carries the agent's only
      const task = { ...record.task, history: (record.task.history ?? []).filter(m => m.role === 'ROLE_AGENT') }
      await this.push(record.peerId, record.pushToken, { task }, { signal })
    } catch (err) {
      if (!(err instanceof PushRefusedError)) throw err
      log('the sender %s refused task %s - %s', record.peerId, record.id, err.message)
    }
    await this.settle(record, record.updatedAt, item)
  }

  /** The push TTL ran out: the sender was away too long; it learns the state when it asks. */
  async expire (record: TaskRecord): Promise<void> {
    await this.records.update('inbound', record.id, current => current == null ? undefined : withoutPush(current))
  }

  private async sendLive (taskId: string, update: StreamResponseJson): Promise<void> {
    const record = await this.records.get('inbound', taskId)
    if (record?.pushToken == null) return
    const version = record.updatedAt
    const timed = timedSignal(undefined, DEFAULT_PUSH_TIMEOUT_MS)
    try {
      await this.push(record.peerId, record.pushToken, update, { signal: timed.signal })
    } catch (err) {
      if (err instanceof PushRefusedError) {
        log('the sender %s refused an update of task %s - %s', record.peerId, taskId, err.message)
        await this.settle(record, version)
        return
      }
      log('pushing an update of task %s to %s failed, the outbox keeps it - %s', taskId, record.peerId, errorMessage(err))
      // a later push of this task may have settled the item meanwhile: owe it again
      await this.records.update('inbound', taskId, current => current == null ? undefined : owePush(current, Date.now())).catch(() => {})
      return
    } finally {
      timed.clear()
    }
    await this.settle(record, version)
  }

  /**
   * Clears the push item when the task has not changed since `version` (what was pushed is
   * what is stored); otherwise the newer change is still owed, and is due now.
   */
  private async settle (record: TaskRecord, version: number, item?: OutboxItem): Promise<void> {
    await this.records.update('inbound', record.id, (current) => {
      if (current?.outbox?.some(i => i.kind === 'push') !== true) return undefined
      if (current.updatedAt === version) return withoutPush(current)
      return item == null ? undefined : { ...current, outboxAt: Date.now() }
    })
  }
}

function withoutPush (record: TaskRecord): TaskRecord {
  const outbox = (record.outbox ?? []).filter(i => i.kind !== 'push')
  return outbox.length === 0 ? { ...record, outbox: undefined, outboxAt: undefined } : { ...record, outbox }
}
