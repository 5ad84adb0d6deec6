/**
 * Tasks other peers send to this one: the SDK request handler that serves them, the store they
 * live in, and the inbox a person (or the CLI) answers from.
 */
import { AgentCard } from '@a2a-js/sdk'
import { DefaultExecutionEventBusManager, DefaultRequestHandler, InMemoryPushNotificationStore, ServerCallContext } from '@a2a-js/sdk/server'
import type { A2ARequestHandler } from '@a2a-js/sdk/server'
import { TaskStateError, UnknownTaskError } from '../errors.js'
import type { AgentCardJson } from '../a2a/json.js'
import type { TaskRecord, TaskRecordStore } from '../store/types.js'
import { PeerUser } from '../a2a/user.js'
import { publishEvents, StarlingExecutor } from './executor.js'
import type { InboundTask, TaskHandler } from './executor.js'
import { outcomeEvents } from './outcome.js'
import type { TaskOutcome } from './outcome.js'
import { applyStreamResponse, isTerminal } from './state.js'
import { InboundTaskStore } from './task-store.js'
import type { TaskChangeListener } from './task-store.js'

export interface InboundTasksInit {
  records: TaskRecordStore
  /** The card the request handler serves; read on every call, so it may change. */
  card: () => AgentCardJson
  /** Answers tasks automatically; without it they wait in the inbox. */
  handler?: TaskHandler
  onChange?: TaskChangeListener
  onInbound?: (task: InboundTask) => void
}

export class InboundTasks {
  readonly store: InboundTaskStore
  readonly executor: StarlingExecutor
  private readonly records: TaskRecordStore
  private readonly card: () => AgentCardJson
  // one bus manager for every handler we build, so live executions survive a card change
  private readonly buses = new DefaultExecutionEventBusManager()
  private readonly pushConfigs = new InMemoryPushNotificationStore()
  private handler?: { card: AgentCardJson, handler: DefaultRequestHandler }

  constructor (init: InboundTasksInit) {
    this.records = init.records
    this.card = init.card
    this.store = new InboundTaskStore(init.records, init.onChange)
    this.executor = new StarlingExecutor({ handler: init.handler, onInbound: init.onInbound })
  }

  /** The SDK request handler for the current card. */
  requestHandler (): A2ARequestHandler {
    const card = this.card()
    if (this.handler?.card !== card) {
      this.handler = {
        card,
        handler: new DefaultRequestHandler(AgentCard.fromJSON(card), this.store, this.executor, this.buses, this.pushConfigs)
      }
    }
    return this.handler.handler
  }

  /**
   * Inbound tasks that wait for an answer from us, newest first. An input-required task waits
   * for its sender, not for us, so it is not in the inbox.
   */
  async inbox (): Promise<TaskRecord[]> {
    return await this.records.list({ direction: 'inbound', states: ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING'] })
  }

  /**
   * Ends the current turn of an inbound task. A live execution publishes the outcome on its
   * stream to the sender; with none (this peer restarted since), the stored task is updated
   * and the sender learns the answer when it next asks.
   */
  async respond (taskId: string, outcome: TaskOutcome): Promise<void> {
    const record = await this.records.get('inbound', taskId)
    if (record == null) throw new UnknownTaskError(taskId)
    if (isTerminal(record.state)) throw new TaskStateError(`task ${taskId} is already ${record.state}`)
    if (this.executor.answer(taskId, outcome)) return
    const events = outcomeEvents(taskId, record.contextId, outcome)
    let task = record.task
    for (const event of events) task = applyStreamResponse(task, event)
    await this.store.saveJson(task, record.peerId, record)
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
}
