/**
 * Tasks other peers send to this one: the SDK request handler that serves them (messages
 * accepted once, ./exactly-once.ts), the store they live in, the pushes that tell their senders
 * what changed (./pushes.ts), and the inbox a person (or the CLI) answers from.
 */
import { logger } from '@libp2p/logger'
import { AgentCard } from '@a2a-js/sdk'
import type { TaskPushNotificationConfig } from '@a2a-js/sdk'
import { DefaultExecutionEventBusManager, DefaultRequestHandler, ServerCallContext } from '@a2a-js/sdk/server'
import type { A2ARequestHandler, PushNotificationStore } from '@a2a-js/sdk/server'
import { RequestMalformedError } from '@a2a-js/sdk/errors'
import { errorMessage, TaskStateError, UnknownTaskError } from '../errors.js'
import { interfaceUrl } from '../a2a/binding.js'
import type { AgentCardJson, MessageJson } from '../a2a/json.js'
import type { TaskRecord } from '../store/types.js'
import { PeerUser } from '../a2a/user.js'
import { claimKey, ExactlyOnceHandler, SeenMessages } from './exactly-once.js'
import type { Claim } from './exactly-once.js'
import { publishEvents, StarlingExecutor } from './executor.js'
import type { AcceptedTask, InboundTask, TaskHandler, TaskUpdates } from './executor.js'
import { outcomeEvents } from './outcome.js'
import type { TaskOutcome } from './outcome.js'
import { AgentPushes } from './pushes.js'
import type { Push } from './pushes.js'
import type { TaskRecords } from './records.js'
import { applyStreamResponse, isTerminal } from './state.js'
import { InboundTaskStore } from './task-store.js'

const log = logger('starling:inbound')

export interface InboundTasksInit {
  records: TaskRecords
  /** The card the request handler serves; read on every call, so it may change. */
  card: () => AgentCardJson
  /** Answers tasks automatically; without it they wait in the inbox. */
  handler?: TaskHandler
  /** Delivers an update to a task's sender (src/core/push). */
  push: Push
  onInbound?: (task: InboundTask) => void
  /** Refuses messages outside the peer's policy or over a sender's rate (see StarlingExecutorInit.admit). */
  admit?: (task: InboundTask, signal: AbortSignal) => Promise<string | undefined>
}

export class InboundTasks {
  readonly store: InboundTaskStore
  readonly executor: StarlingExecutor
  readonly pushes: AgentPushes
  private readonly records: TaskRecords
  private readonly card: () => AgentCardJson
  private readonly taskHandler?: TaskHandler
  private readonly seen: SeenMessages
  private readonly claims = new Map<string, Claim>()
  // one bus manager for every handler we build, so live executions survive a card change
  private readonly buses = new DefaultExecutionEventBusManager()
  private readonly pushConfigs: SenderOnlyPushConfigs
  private handler?: { card: AgentCardJson, handler: A2ARequestHandler }

  constructor (init: InboundTasksInit) {
    this.records = init.records
    this.card = init.card
    this.taskHandler = init.handler
    this.seen = new SeenMessages(init.records.store)
    this.store = new InboundTaskStore(init.records, (owner, taskId, history) => { this.seen.note(owner, taskId, history) })
    this.pushConfigs = new SenderOnlyPushConfigs(this.store)
    this.pushes = new AgentPushes({ records: init.records, push: init.push })
    this.executor = new StarlingExecutor({
      handler: init.handler,
      onInbound: init.onInbound,
      admit: init.admit,
      accept: async (accepted) => { await this.accept(accepted) },
      expectResponse: (taskId) => { this.store.expectResponse(taskId) }
    })
  }

  /** The SDK request handler for the current card. */
  requestHandler (): A2ARequestHandler {
    const card = this.card()
    if (this.handler?.card !== card) {
      const inner = new DefaultRequestHandler(AgentCard.fromJSON(card), this.store, this.executor, this.buses, this.pushConfigs, this.pushes)
      this.handler = { card, handler: new ExactlyOnceHandler(inner, this.seen, this.claims) }
    }
    return this.handler.handler
  }

  /**
   * Tasks this peer was handling when it stopped (crashed, was killed) are handled again, with
   * `resumed` set: their senders are still waiting for the answer.
   */
  async resume (): Promise<void> {
    const handler = this.taskHandler
    if (handler == null) return
    const open = await this.records.store.list({ direction: 'inbound', states: ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING'] })
    for (const record of open) {
      if (this.executor.isLive(record.id)) continue
      const message = [...record.task.history ?? []].reverse().find(m => m.role === 'ROLE_USER')
      if (message == null) continue
      const task: InboundTask = { taskId: record.id, contextId: record.contextId, from: record.peerId, message, text: textOf(message), resumed: true }
      log('handling task %s again after a restart', record.id)
      void handler(task, AbortSignal.timeout(24 * 60 * 60 * 1000), this.offlineUpdates(record))
        .catch((err: unknown): TaskOutcome => ({ kind: 'failed', text: errorMessage(err) }))
        .then(async (outcome) => { await this.respond(record.id, outcome) })
        .catch((err: unknown) => { log.error('answering resumed task %s failed - %e', record.id, err) })
    }
  }

  /**
   * Inbound tasks that wait for an answer from us, newest first. An input-required task waits
   * for its sender, not for us, so it is not in the inbox.
   */
  async inbox (): Promise<TaskRecord[]> {
    return await this.records.store.list({ direction: 'inbound', states: ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING'] })
  }

  /**
   * Ends the current turn of an inbound task. A live execution publishes the outcome to the
   * sender (as its answer, or a push); with none (this peer restarted since), the stored task is
   * updated and pushed to the sender by the outbox.
   */
  async respond (taskId: string, outcome: TaskOutcome): Promise<void> {
    const record = await this.records.get('inbound', taskId)
    if (record == null) throw new UnknownTaskError(taskId)
    if (isTerminal(record.state)) throw new TaskStateError(`task ${taskId} is already ${record.state}`)
    if (this.executor.answer(taskId, outcome)) return
    const turn = [...record.task.history ?? []].reverse().find(m => m.role === 'ROLE_USER')
    const events = outcomeEvents(taskId, record.contextId, outcome, turn?.messageId)
    let task = record.task
    for (const event of events) task = applyStreamResponse(task, event)
    await this.store.saveJson(task, record.peerId)
    // a task waiting for its sender (input-required) keeps its bus: subscribers hear it there
    const context = new ServerCallContext({ user: new PeerUser(record.peerId) })
    const bus = this.buses.getByTaskId(taskId, context)
    if (bus != null) {
      publishEvents(bus, events)
      if (isTerminal(task.status.state)) {
        bus.finished()
        this.buses.cleanupByTaskId(taskId, context)
      }
    }
  }

  /** Stores a new task before its handler runs, and tells waiting copies of its message. */
  private async accept (accepted: AcceptedTask): Promise<void> {
    const message = accepted.task.history?.[0]
    await this.store.saveJson(accepted.task, accepted.sender, { pushToken: accepted.pushToken })
    if (message != null) this.claims.get(claimKey(accepted.sender, message.messageId))?.settle(accepted.task.id)
  }

  /** Updates for a task handled outside the SDK (after a restart): stored, then pushed. */
  private offlineUpdates (record: TaskRecord): TaskUpdates {
    const apply = (event: Parameters<typeof applyStreamResponse>[1]): void => {
      void this.records.get('inbound', record.id).then(async (current) => {
        if (current == null || isTerminal(current.state)) return
        await this.store.saveJson(applyStreamResponse(current.task, event), current.peerId)
      }).catch(() => {})
    }
    return {
      artifact: (chunk) => {
        apply({ artifactUpdate: { taskId: record.id, contextId: record.contextId, artifact: { artifactId: chunk.artifactId, name: chunk.name, parts: chunk.parts }, append: chunk.append ?? false, lastChunk: chunk.lastChunk === true } })
      },
      status: (text) => {
        apply({ statusUpdate: { taskId: record.id, contextId: record.contextId, status: { state: 'TASK_STATE_WORKING', timestamp: new Date().toISOString(), message: { messageId: crypto.randomUUID(), role: 'ROLE_AGENT', taskId: record.id, contextId: record.contextId, parts: [{ text }] } } } })
      }
    }
  }
}

function textOf (message: MessageJson): string {
  return message.parts.filter(p => typeof p.text === 'string').map(p => p.text).join('\n')
}

/**
 * Push configs: only ever the sender's own PeerID (a peer cannot make us push to a third party),
 * kept with the task (the token goes into its record, so pushes survive a restart).
 */
class SenderOnlyPushConfigs implements PushNotificationStore {
  private readonly store: InboundTaskStore
  private readonly configs = new Map<string, TaskPushNotificationConfig>()

  constructor (store: InboundTaskStore) {
    this.store = store
  }

  async save (taskId: string, context: ServerCallContext, config: TaskPushNotificationConfig): Promise<void> {
    const owner = context.user?.userName ?? ''
    if (config.url !== interfaceUrl(owner)) {
      throw new RequestMalformedError(`push notifications go to the sender itself (${interfaceUrl(owner)}), not to ${config.url}`)
    }
    if (config.id === '') config.id = taskId
    this.configs.set(taskId, { ...config, taskId })
    if (config.token !== '') this.store.setPushToken(taskId, config.token)
  }

  async load (taskId: string): Promise<TaskPushNotificationConfig[]> {
    const config = this.configs.get(taskId)
    return config == null ? [] : [config]
  }

  async delete (taskId: string): Promise<void> {
    this.configs.delete(taskId)
  }
}
