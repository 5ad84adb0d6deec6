/**
 * The AgentExecutor behind every Starling peer. A task is answered either by a handler
 * function (the demo agent, a script behind the CLI) or by a person: then the execution waits
 * until `answer()` is called from the inbox.
 */
import { AgentEvent } from '@a2a-js/sdk/server'
import type { AgentExecutor, ExecutionEventBus, RequestContext } from '@a2a-js/sdk/server'
import { Message, StreamResponse, Task as TaskCodec, TaskState } from '@a2a-js/sdk'
import type { Task } from '@a2a-js/sdk'
import { errorMessage } from '../errors.js'
import type { MessageJson, PartJson, StreamResponseJson, TaskJson } from '../a2a/json.js'
import { agentMessage, outcomeEvents } from './outcome.js'
import { applyStreamResponse, CHUNK_KEY } from './state.js'
import type { TaskOutcome } from './outcome.js'

export type { TaskOutcome } from './outcome.js'

/** What the receiving side sees of a new task or a new turn of one. */
export interface InboundTask {
  taskId: string
  contextId: string
  /** PeerID of the sender. */
  from: string
  message: MessageJson
  /** The text parts of the message, joined. */
  text: string
  /**
   * This peer restarted while the task was being handled, and it is handled again. The only
   * case where a handler sees a message twice: use `taskId` to make outside effects idempotent.
   */
  resumed?: boolean
}

/** What a handler may tell the sender before it answers. */
export interface TaskUpdates {
  /**
   * Adds a chunk to an artifact, shown to the sender as it arrives. Chunks of one artifact share
   * its id; the first one (or one with `append: false`) starts it over.
   */
  artifact: (chunk: { artifactId: string, name?: string, parts: PartJson[], append?: boolean, lastChunk?: boolean }) => void
  /** A progress note: the task stays working, with this message. */
  status: (text: string) => void
}

/** What the executor asks to be stored before a new task is handled (see ./exactly-once.ts). */
export interface AcceptedTask {
  task: TaskJson
  sender: string
  /** The token the sender gave for pushes, if it asked for them. */
  pushToken?: string
  /** The task waits for the person to accept its sender (TaskRecord.held). */
  held?: boolean
}

/**
 * What admission says of a message. undefined: it runs. reject: it never runs, its task ends
 * rejected with the reason. hold: its new task is stored and its sender told the reason, and
 * nothing runs until `release()` (the person accepted the sender) or an answer ends it.
 */
export type AdmitDecision = undefined | { outcome: 'reject' | 'hold', reason: string }

/**
 * How long an automatic answer may take and still be sent as the task's one and only event, in
 * ms. A handler that answers within it (an echo, a lookup) costs one store write and one frame;
 * a slower one shows the task submitted and working first, then its answer.
 */
export const DEFAULT_QUICK_ANSWER_MS = 25

/** Answers a task automatically. Throwing fails the task with the error's message. */
export type TaskHandler = (task: InboundTask, signal: AbortSignal, updates: TaskUpdates) => Promise<TaskOutcome>

interface Execution {
  contextId: string
  controller: AbortController
  answer: PromiseWithResolvers<TaskOutcome | undefined>
  settled: boolean
  /** Set while the task is held: resolved when its sender is accepted. */
  release?: PromiseWithResolvers<void>
}

export interface StarlingExecutorInit {
  /** Answers tasks automatically; without it tasks wait for `answer()`. */
  handler?: TaskHandler
  /** Called when a task (or a new turn) arrives. */
  onInbound?: (task: InboundTask) => void
  /** Stores a new task before its handler runs (exactly-once acceptance). */
  accept?: (accepted: AcceptedTask) => Promise<void>
  /** The next save of `taskId` is the answer the sender's call returns (no push owed for it). */
  expectResponse?: (taskId: string) => void
  /**
   * Whether a message may be handled (the peer's mesh policy and rate limits). A refused message
   * never reaches the handler, the inbox or `onInbound`: it ends its task rejected, with the
   * reason as the status message. A held one waits, stored, for `release()`; `onHeld` hears of it.
   * A new turn of a task is never held: one its sender may no longer send is refused.
   */
  admit?: (task: InboundTask, signal: AbortSignal) => Promise<AdmitDecision>
  /** Called when a new task is held for the person to decide. */
  onHeld?: (task: InboundTask) => void
  quickAnswerMs?: number
}

export class StarlingExecutor implements AgentExecutor {
  private readonly init: StarlingExecutorInit
  private readonly live = new Map<string, Execution>()

  constructor (init: StarlingExecutorInit = {}) {
    this.init = init
  }

  /** Whether the task is being executed right now (so `answer()` would reach it). */
  isLive (taskId: string): boolean {
    return this.live.has(taskId)
  }

  /** Lets a held task's live execution run. False when there is none (or it is not held). */
  release (taskId: string): boolean {
    const execution = this.live.get(taskId)
    if (execution?.release == null || execution.settled) return false
    execution.release.resolve()
    return true
  }

  /** Ends the live execution of `taskId` with `outcome`. False when there is none. */
  answer (taskId: string, outcome: TaskOutcome): boolean {
    const execution = this.live.get(taskId)
    if (execution == null || execution.settled) return false
    execution.answer.resolve(outcome)
    return true
  }

  execute = async (context: RequestContext, bus: ExecutionEventBus): Promise<void> => {
    const { taskId, contextId } = context
    const execution: Execution = {
      contextId,
      controller: new AbortController(),
      answer: Promise.withResolvers<TaskOutcome | undefined>(),
      settled: false
    }
    this.live.set(taskId, execution)
    try {
      const message = Message.toJSON(context.userMessage) as MessageJson
      const sender = context.context.user?.userName ?? ''
      const inbound: InboundTask = {
        taskId,
        contextId,
        from: sender,
        message,
        text: message.parts.filter(p => typeof p.text === 'string').map(p => p.text).join('\n')
      }
      const decision = await this.init.admit?.(inbound, execution.controller.signal)
      if (decision != null && (decision.outcome === 'reject' || context.task != null)) {
        const refused = decision.reason
        execution.settled = true
        this.init.expectResponse?.(taskId)
        if (context.task == null) {
          // one event, the whole answer: nothing was stored or run before it
          bus.publish(AgentEvent.task(TaskCodec.fromJSON(answeredTask(taskId, contextId, message, { kind: 'rejected', text: refused }))))
        } else {
          publishEvents(bus, outcomeEvents(taskId, contextId, { kind: 'rejected', text: refused }, message.messageId))
        }
        return
      }
      const token = context.request.configuration?.taskPushNotificationConfig?.token
      const accepted = (task: TaskJson, held?: boolean): AcceptedTask =>
        ({ task, sender, pushToken: token != null && token !== '' ? token : undefined, held })
      // the task event went out already: it was held, and its sender knows it waits
      let published = false
      if (decision?.outcome === 'hold') {
        const held: TaskJson = {
          id: taskId,
          contextId,
          status: { state: 'TASK_STATE_SUBMITTED', timestamp: now(), message: agentMessage(taskId, contextId, [{ text: decision.reason }]) },
          history: [message],
          artifacts: []
        }
        await this.init.accept?.(accepted(held, true))
        execution.release = Promise.withResolvers<void>()
        this.init.expectResponse?.(taskId)
        bus.publish(AgentEvent.task(TaskCodec.fromJSON(held)))
        this.init.onHeld?.(inbound)
        const released = await Promise.race([execution.release.promise.then(() => true), execution.answer.promise.then(() => false)])
        if (!released) {
          // blocked (an answer that rejects it) or canceled by its sender (no outcome)
          const outcome = await execution.answer.promise
          if (outcome == null) return
          execution.settled = true
          publishEvents(bus, outcomeEvents(taskId, contextId, outcome, message.messageId))
          return
        }
        published = true
      } else if (context.task == null && this.init.accept != null) {
        // stored before anything runs: a copy of this message arriving later finds the task
        await this.init.accept(accepted({ id: taskId, contextId, status: { state: 'TASK_STATE_SUBMITTED', timestamp: now() }, history: [message], artifacts: [] }))
      }
      let started = false
      const start = (): void => {
        if (started) return
        started = true
        // the sender's call returned with the held task: what comes now is pushed to it
        if (!published) this.init.expectResponse?.(taskId)
        if (published) {
          publishEvents(bus, [{ statusUpdate: { taskId, contextId, status: { state: 'TASK_STATE_WORKING', timestamp: now() } } }])
        } else if (context.task == null) {
          bus.publish(AgentEvent.task(newTask(taskId, contextId)))
          bus.publish(AgentEvent.statusUpdate({
            taskId, contextId, metadata: {}, status: { state: TaskState.TASK_STATE_WORKING, message: undefined, timestamp: now() }
          }))
        } else {
          // a new turn of a task that waited for its sender: it is working again from the first
          // event on, or the sender would take the stale input-required state for the answer
          bus.publish(AgentEvent.task({ ...context.task, status: { state: TaskState.TASK_STATE_WORKING, message: undefined, timestamp: now() } }))
        }
      }
      const updates = taskUpdates(taskId, contextId, bus, () => { start(); return !execution.settled })
      const handler = this.init.handler
      let answer: Promise<TaskOutcome | undefined> = execution.answer.promise
      if (handler != null) {
        answer = Promise.race([
          handler(inbound, execution.controller.signal, updates).catch((err: unknown): TaskOutcome => ({ kind: 'failed', text: errorMessage(err) })),
          execution.answer.promise
        ])
        if (context.task == null && !published) {
          const quick = await withinMs(answer, this.init.quickAnswerMs ?? DEFAULT_QUICK_ANSWER_MS)
          if (quick.settled && !started) {
            this.init.onInbound?.(inbound)
            if (quick.value == null || execution.settled) return
            execution.settled = true
            this.init.expectResponse?.(taskId)
            bus.publish(AgentEvent.task(TaskCodec.fromJSON(answeredTask(taskId, contextId, message, quick.value))))
            return
          }
        }
      }

      start()
      this.init.onInbound?.(inbound)

      const outcome = await answer
      if (outcome == null || execution.settled) return
      execution.settled = true
      publishEvents(bus, outcomeEvents(taskId, contextId, outcome, message.messageId))
    } finally {
      this.live.delete(taskId)
    }
  }

  cancelTask = async (taskId: string, bus: ExecutionEventBus): Promise<void> => {
    const execution = this.live.get(taskId)
    if (execution != null) {
      execution.settled = true
      execution.controller.abort()
      execution.answer.resolve(undefined)
    }
    publishEvents(bus, outcomeEvents(taskId, execution?.contextId ?? '', { kind: 'canceled' }))
  }
}

/** Publishes A2A events given in their JSON form on the SDK's event bus. */
export function publishEvents (bus: ExecutionEventBus, events: StreamResponseJson[]): void {
  for (const json of events) {
    const payload = StreamResponse.fromJSON(json).payload
    switch (payload?.$case) {
      case 'task': bus.publish(AgentEvent.task(payload.value)); break
      case 'message': bus.publish(AgentEvent.message(payload.value)); break
      case 'statusUpdate': bus.publish(AgentEvent.statusUpdate(payload.value)); break
      case 'artifactUpdate': bus.publish(AgentEvent.artifactUpdate(payload.value)); break
    }
  }
}

/** Updates a handler publishes while it works; `live` starts the task and says whether it is still open. */
function taskUpdates (taskId: string, contextId: string, bus: ExecutionEventBus, live: () => boolean): TaskUpdates {
  const chunks = new Map<string, number>()
  return {
    artifact: (chunk) => {
      if (!live()) return
      const append = chunk.append ?? chunks.has(chunk.artifactId)
      const index = append ? chunks.get(chunk.artifactId) ?? 0 : 0
      chunks.set(chunk.artifactId, index + 1)
      publishEvents(bus, [{
        artifactUpdate: {
          taskId,
          contextId,
          artifact: { artifactId: chunk.artifactId, name: chunk.name, parts: chunk.parts, metadata: { [CHUNK_KEY]: index } },
          append,
          lastChunk: chunk.lastChunk === true
        }
      }])
    },
    status: (text) => {
      if (!live()) return
      publishEvents(bus, [{
        statusUpdate: { taskId, contextId, status: { state: 'TASK_STATE_WORKING', timestamp: now(), message: agentMessage(taskId, contextId, [{ text }]) } }
      }])
    }
  }
}

/** A new task answered at once: the one event that says so. */
function answeredTask (id: string, contextId: string, message: MessageJson, outcome: TaskOutcome): TaskJson {
  let task: TaskJson = { id, contextId, status: { state: 'TASK_STATE_SUBMITTED', timestamp: now() }, artifacts: [], history: [message] }
  for (const event of outcomeEvents(id, contextId, outcome)) task = applyStreamResponse(task, event)
  return task
}

/** Whether `promise` settles within `ms`, and with what. */
async function withinMs<T> (promise: Promise<T>, ms: number): Promise<{ settled: true, value: T } | { settled: false }> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<{ settled: false }>((resolve) => { timer = setTimeout(() => { resolve({ settled: false }) }, ms) })
  try {
    return await Promise.race([promise.then(value => ({ settled: true as const, value })), late])
  } finally {
    clearTimeout(timer)
  }
}

function newTask (id: string, contextId: string): Task {
  return {
    id,
    contextId,
    status: { state: TaskState.TASK_STATE_SUBMITTED, message: undefined, timestamp: now() },
    artifacts: [],
    history: [],
    metadata: {}
  }
}

function now (): string {
  return new Date().toISOString()
}
