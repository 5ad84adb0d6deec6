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
import type { MessageJson, StreamResponseJson, TaskJson } from '../a2a/json.js'
import { outcomeEvents } from './outcome.js'
import { applyStreamResponse } from './state.js'
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
}

/**
 * How long an automatic answer may take and still be sent as the task's one and only event, in
 * ms. A handler that answers within it (an echo, a lookup) costs one store write and one frame;
 * a slower one shows the task submitted and working first, then its answer.
 */
export const DEFAULT_QUICK_ANSWER_MS = 25

/** Answers a task automatically. Throwing fails the task with the error's message. */
export type TaskHandler = (task: InboundTask, signal: AbortSignal) => Promise<TaskOutcome>

interface Execution {
  contextId: string
  controller: AbortController
  answer: PromiseWithResolvers<TaskOutcome | undefined>
  settled: boolean
}

export interface StarlingExecutorInit {
  /** Answers tasks automatically; without it tasks wait for `answer()`. */
  handler?: TaskHandler
  /** Called when a task (or a new turn) arrives. */
  onInbound?: (task: InboundTask) => void
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
      const inbound: InboundTask = {
        taskId,
        contextId,
        from: context.context.user?.userName ?? '',
        message,
        text: message.parts.filter(p => typeof p.text === 'string').map(p => p.text).join('\n')
      }
      const handler = this.init.handler
      let answer: Promise<TaskOutcome | undefined> = execution.answer.promise
      if (handler != null) {
        answer = Promise.race([
          handler(inbound, execution.controller.signal).catch((err: unknown): TaskOutcome => ({ kind: 'failed', text: errorMessage(err) })),
          execution.answer.promise
        ])
        if (context.task == null) {
          const quick = await withinMs(answer, this.init.quickAnswerMs ?? DEFAULT_QUICK_ANSWER_MS)
          if (quick.settled) {
            this.init.onInbound?.(inbound)
            if (quick.value == null || execution.settled) return
            execution.settled = true
            bus.publish(AgentEvent.task(TaskCodec.fromJSON(answeredTask(taskId, contextId, quick.value))))
            return
          }
        }
      }

      if (context.task == null) {
        bus.publish(AgentEvent.task(newTask(taskId, contextId)))
        bus.publish(AgentEvent.statusUpdate({
          taskId, contextId, metadata: {}, status: { state: TaskState.TASK_STATE_WORKING, message: undefined, timestamp: now() }
        }))
      } else {
        // a new turn of a task that waited for its sender: it is working again from the first
        // event on, or the sender would take the stale input-required state for the answer
        bus.publish(AgentEvent.task({ ...context.task, status: { state: TaskState.TASK_STATE_WORKING, message: undefined, timestamp: now() } }))
      }
      this.init.onInbound?.(inbound)

      const outcome = await answer
      if (outcome == null || execution.settled) return
      execution.settled = true
      publishEvents(bus, outcomeEvents(taskId, contextId, outcome))
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

/** A new task answered at once: the one event that says so. */
function answeredTask (id: string, contextId: string, outcome: TaskOutcome): TaskJson {
  let task: TaskJson = { id, contextId, status: { state: 'TASK_STATE_SUBMITTED', timestamp: now() }, artifacts: [], history: [] }
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
