/**
 * Exactly-once acceptance of messages. A sender retries a message with the same id until it is
 * acknowledged (its outbox), so the same message can arrive twice: after a lost answer, a
 * relay restart, or while the first copy is still being handled. The request handler below
 * answers a message it has seen with the task it made of it, and never hands it to the
 * executor again.
 *
 * What "seen" rests on is stored: a new task is written (state submitted, the message in its
 * history) before its handler runs, a new turn is written by the SDK before the executor runs,
 * and the index of (sender, message id) → task is rebuilt from those records at start.
 */
import { StreamResponse, Task } from '@a2a-js/sdk'
import type {
  AgentCard, CancelTaskRequest, DeleteTaskPushNotificationConfigRequest, GetExtendedAgentCardRequest,
  GetTaskPushNotificationConfigRequest, GetTaskRequest, ListTaskPushNotificationConfigsRequest,
  ListTaskPushNotificationConfigsResponse, ListTasksRequest, ListTasksResponse, Message, SendMessageRequest,
  SubscribeToTaskRequest, TaskPushNotificationConfig
} from '@a2a-js/sdk'
import type { A2ARequestHandler, ServerCallContext } from '@a2a-js/sdk/server'
import type { MessageJson } from '../a2a/json.js'
import type { TaskRecordStore } from '../store/types.js'
import { INTERRUPTED_STATES, isTerminal } from './state.js'
import type { TaskStateName } from '../a2a/json.js'

/** How far back the index of seen messages reaches at start: 7 days in ms, the longest TTL. */
export const DEFAULT_SEEN_WINDOW_MS = 7 * 24 * 60 * 60 * 1000

/** Settles a message being accepted: with the task it became, or with nothing when it failed. */
export interface Claim {
  settle: (taskId?: string) => void
}

/** Which task each (sender, message id) became. */
export class SeenMessages {
  private readonly tasks = new Map<string, string>()
  private readonly pending = new Map<string, Promise<string | undefined>>()
  private readonly store: TaskRecordStore
  private loaded?: Promise<void>

  constructor (store: TaskRecordStore) {
    this.store = store
  }

  /** Indexes the sender's messages in a task's history. */
  note (sender: string, taskId: string, history: MessageJson[]): void {
    for (const message of history) {
      if (message.role === 'ROLE_USER') this.tasks.set(keyOf(sender, message.messageId), taskId)
    }
  }

  /**
   * The task `messageId` of `sender` became (waiting for a copy still being accepted), or, when
   * it is new, a claim on it: copies that arrive meanwhile wait for `settle`, which names the
   * task it became (or nothing, when accepting it failed and a copy may try again).
   */
  async lookupOrClaim (sender: string, messageId: string): Promise<{ taskId: string } | { claim: Claim }> {
    this.loaded ??= this.load()
    await this.loaded
    const key = keyOf(sender, messageId)
    while (true) {
      const known = this.tasks.get(key)
      if (known != null) return { taskId: known }
      const pending = this.pending.get(key)
      if (pending == null) break
      await pending
    }
    // no await between the checks above and this: two copies cannot both claim
    const { promise, resolve } = Promise.withResolvers<string | undefined>()
    this.pending.set(key, promise)
    let settled = false
    return {
      claim: {
        settle: (taskId?: string) => {
          if (settled) return
          settled = true
          if (taskId != null) this.tasks.set(key, taskId)
          this.pending.delete(key)
          resolve(taskId)
        }
      }
    }
  }

  private async load (): Promise<void> {
    const since = Date.now() - DEFAULT_SEEN_WINDOW_MS
    for (const record of await this.store.list({ direction: 'inbound' })) {
      if (record.updatedAt < since) break
      this.note(record.peerId, record.id, record.task.history ?? [])
    }
  }
}

function keyOf (sender: string, messageId: string): string {
  return `${sender} ${messageId}`
}

/** The SDK's request handler, with messages accepted once. Every other call passes through. */
export class ExactlyOnceHandler implements A2ARequestHandler {
  private readonly inner: A2ARequestHandler
  private readonly seen: SeenMessages
  /** Claims made by calls in progress, settled by the executor when it stores the new task. */
  private readonly claims: Map<string, Claim>

  constructor (inner: A2ARequestHandler, seen: SeenMessages, claims: Map<string, Claim>) {
    this.inner = inner
    this.seen = seen
    this.claims = claims
  }

  async sendMessage (params: SendMessageRequest, context: ServerCallContext): Promise<Message | Task> {
    const sender = context.user?.userName ?? ''
    const messageId = params.message?.messageId ?? ''
    if (messageId === '' || sender === '') return await this.inner.sendMessage(params, context)
    const seen = await this.seen.lookupOrClaim(sender, messageId)
    if ('taskId' in seen) return await this.inner.getTask({ id: seen.taskId, tenant: params.tenant, historyLength: params.configuration?.historyLength }, context)
    const claim = this.track(sender, messageId, seen.claim)
    try {
      const result = await this.inner.sendMessage(params, context)
      claim.settle('id' in result ? result.id : undefined)
      return result
    } catch (err) {
      claim.settle(undefined)
      throw err
    } finally {
      this.claims.delete(claimKey(sender, messageId))
    }
  }

  async * sendMessageStream (params: SendMessageRequest, context: ServerCallContext): AsyncGenerator<StreamResponse, void, undefined> {
    const sender = context.user?.userName ?? ''
    const messageId = params.message?.messageId ?? ''
    if (messageId === '' || sender === '') { yield * this.inner.sendMessageStream(params, context); return }
    const seen = await this.seen.lookupOrClaim(sender, messageId)
    if ('taskId' in seen) {
      const known = seen.taskId
      const task = await this.inner.getTask({ id: known, tenant: params.tenant, historyLength: undefined }, context)
      yield StreamResponse.fromJSON({ task: Task.toJSON(task) })
      const state = Task.toJSON(task) as { status?: { state?: TaskStateName } }
      const current = state.status?.state
      if (current == null || isTerminal(current) || INTERRUPTED_STATES.includes(current)) return
      yield * this.inner.resubscribe({ id: known, tenant: params.tenant }, context)
      return
    }
    const claim = this.track(sender, messageId, seen.claim)
    try {
      for await (const item of this.inner.sendMessageStream(params, context)) {
        const payload = item.payload
        if (payload?.$case === 'task') claim.settle(payload.value.id)
        yield item
      }
      claim.settle(undefined)
    } catch (err) {
      claim.settle(undefined)
      throw err
    } finally {
      this.claims.delete(claimKey(sender, messageId))
    }
  }

  /** Lets the executor settle the claim as soon as it has stored the new task. */
  private track (sender: string, messageId: string, claim: Claim): Claim {
    this.claims.set(claimKey(sender, messageId), claim)
    return claim
  }

  async getAgentCard (): Promise<AgentCard> { return await this.inner.getAgentCard() }
  async getAuthenticatedExtendedAgentCard (params: GetExtendedAgentCardRequest, context: ServerCallContext): Promise<AgentCard> {
    return await this.inner.getAuthenticatedExtendedAgentCard(params, context)
  }

  async getTask (params: GetTaskRequest, context: ServerCallContext): Promise<Task> { return await this.inner.getTask(params, context) }
  async cancelTask (params: CancelTaskRequest, context: ServerCallContext): Promise<Task> { return await this.inner.cancelTask(params, context) }
  async listTasks (params: ListTasksRequest, context: ServerCallContext): Promise<ListTasksResponse> { return await this.inner.listTasks(params, context) }
  resubscribe (params: SubscribeToTaskRequest, context: ServerCallContext): AsyncGenerator<StreamResponse, void, undefined> {
    return this.inner.resubscribe(params, context)
  }

  async createTaskPushNotificationConfig (params: TaskPushNotificationConfig, context: ServerCallContext): Promise<TaskPushNotificationConfig> {
    return await this.inner.createTaskPushNotificationConfig(params, context)
  }

  async getTaskPushNotificationConfig (params: GetTaskPushNotificationConfigRequest, context: ServerCallContext): Promise<TaskPushNotificationConfig> {
    return await this.inner.getTaskPushNotificationConfig(params, context)
  }

  async listTaskPushNotificationConfigs (params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext): Promise<ListTaskPushNotificationConfigsResponse> {
    return await this.inner.listTaskPushNotificationConfigs(params, context)
  }

  async deleteTaskPushNotificationConfig (params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext): Promise<void> {
    await this.inner.deleteTaskPushNotificationConfig(params, context)
  }
}

/** Key of a claim in progress: the executor settles it by (sender, message id). */
export function claimKey (sender: string, messageId: string): string {
  return `${sender} ${messageId}`
}
