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
import type { AcceptedTask, AdmitDecision, InboundTask, TaskHandler, TaskUpdates } from './executor.js'
import { agentMessage, outcomeEvents } from './outcome.js'
import type { TaskOutcome } from './outcome.js'
import { AgentPushes } from './pushes.js'
import type { Push } from './pushes.js'
import type { TaskRecords } from './records.js'
import { applyStreamResponse, isTerminal } from './state.js'
import { InboundTaskStore } from './task-store.js'

const log = logger('starling:inbound')

/** Tasks one unknown sender may have waiting under requests; more are rejected until the person decides. */
export const DEFAULT_MAX_REQUESTS_PER_SENDER = 10

/** Tasks all unknown senders together may have waiting under requests. */
export const DEFAULT_MAX_REQUESTS = 200

export interface InboundTasksInit {
  records: TaskRecords
  /** The card the request handler serves; read on every call, so it may change. */
  card: () => AgentCardJson
  /** Answers tasks automatically; without it they wait in the inbox. */
  handler?: TaskHandler
  /** Delivers an update to a task's sender (src/core/push). */
  push: Push
  onInbound?: (task: InboundTask) => void
  /** Refuses or holds messages outside the peer's policy or over a sender's rate (see StarlingExecutorInit.admit). */
  admit?: (task: InboundTask, signal: AbortSignal) => Promise<AdmitDecision>
  /** Called when a new task is held under requests. */
  onHeld?: (task: InboundTask) => void
  /** Requests kept at once, per sender and in all (defaults above). */
  maxRequests?: { perSender?: number, total?: number }
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
  private readonly maxRequests: { perSender: number, total: number }

  constructor (init: InboundTasksInit) {
    this.records = init.records
    this.card = init.card
    this.taskHandler = init.handler
    this.seen = new SeenMessages(init.records.store)
    this.store = new InboundTaskStore(init.records, (owner, taskId, history) => { this.seen.note(owner, taskId, history) })
    this.pushConfigs = new SenderOnlyPushConfigs(this.store)
    this.pushes = new AgentPushes({ records: init.records, push: init.push })
    this.maxRequests = {
      perSender: init.maxRequests?.perSender ?? DEFAULT_MAX_REQUESTS_PER_SENDER,
      total: init.maxRequests?.total ?? DEFAULT_MAX_REQUESTS
    }
    const admit = init.admit
    this.executor = new StarlingExecutor({
      handler: init.handler,
      onInbound: init.onInbound,
      onHeld: init.onHeld,
      admit: admit == null ? undefined : async (task, signal) => await this.roomFor(await admit(task, signal), task.from),
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
    if (this.taskHandler == null) return
    for (const record of await this.inbox()) {
      if (this.executor.isLive(record.id)) continue
      log('handling task %s again after a restart', record.id)
      this.runOffline(record, true)
    }
  }

  /** Runs the handler on a task no live execution holds (after a restart); its answer is stored and pushed. */
  private runOffline (record: TaskRecord, resumed: boolean): void {
    const handler = this.taskHandler
    if (handler == null) return
    const message = [...record.task.history ?? []].reverse().find(m => m.role === 'ROLE_USER')
    if (message == null) return
    const task: InboundTask = { taskId: record.id, contextId: record.contextId, from: record.peerId, message, text: textOf(message), resumed: resumed ? true : undefined }
    void handler(task, AbortSignal.timeout(24 * 60 * 60 * 1000), this.offlineUpdates(record))
      .catch((err: unknown): TaskOutcome => ({ kind: 'failed', text: errorMessage(err) }))
      .then(async (outcome) => { await this.respond(record.id, outcome) })
      .catch((err: unknown) => { log.error('answering task %s failed - %e', record.id, err) })
  }

  /**
   * Inbound tasks that wait for an answer from us, newest first. An input-required task waits
   * for its sender, not for us, so it is not in the inbox; nor is a held one (see requests()).
   */
  async inbox (): Promise<TaskRecord[]> {
    const open = await this.records.store.list({ direction: 'inbound', states: ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING'] })
    return open.filter(r => r.held !== true)
  }

  /** Tasks held until the person accepts or blocks their senders, newest first. */
  async requests (): Promise<TaskRecord[]> {
    const submitted = await this.records.store.list({ direction: 'inbound', states: ['TASK_STATE_SUBMITTED'] })
    return submitted.filter(r => r.held === true)
  }

  /**
   * Lets a held task run: its sender was accepted. A live execution goes on; after a restart the
   * task is marked working (its sender is told) and its handler, if this peer has one, runs.
   * False when the task is not held (any more).
   */
  async release (taskId: string): Promise<boolean> {
    const record = await this.records.get('inbound', taskId)
    if (record?.held !== true || record.state !== 'TASK_STATE_SUBMITTED') return false
    if (this.executor.release(taskId)) return true
    const working = applyStreamResponse(record.task, {
      statusUpdate: { taskId, contextId: record.contextId, status: { state: 'TASK_STATE_WORKING', timestamp: new Date().toISOString() } }
    })
    const stored = await this.store.saveJson(working, record.peerId, { held: false })
    if (stored != null) this.runOffline(stored, false)
    return true
  }

  /**
   * `decision` unless it would hold a task past the limits of requests kept (per sender, in
   * all): then the task is rejected, saying why. A flood of strangers fills no one's storage.
   */
  private async roomFor (decision: AdmitDecision, sender: string): Promise<AdmitDecision> {
    if (decision?.outcome !== 'hold') return decision
    const waiting = await this.requests()
    if (waiting.length >= this.maxRequests.total) {
      return { outcome: 'reject', reason: `this agent has ${waiting.length} requests waiting for its person already; try again later` }
    }
    const fromSender = waiting.filter(r => r.peerId === sender).length
    if (fromSender >= this.maxRequests.perSender) {
      return { outcome: 'reject', reason: `${fromSender} of your tasks already wait for this agent's person to accept you; wait for that` }
    }
    return decision
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
    await this.store.saveJson(accepted.task, accepted.sender, { pushToken: accepted.pushToken, held: accepted.held })
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
        apply({ statusUpdate: { taskId: record.id, contextId: record.contextId, status: { state: 'TASK_STATE_WORKING', timestamp: new Date().toISOString(), message: agentMessage(record.id, record.contextId, [{ text }]) } } })
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
