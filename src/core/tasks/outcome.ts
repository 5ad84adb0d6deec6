/**
 * How a turn of a task ends, as the A2A events that say so. One mapping serves both ways a
 * task can be answered: published on the live execution's event bus, or (after a restart, with
 * no execution left) applied directly to the stored task.
 */
import { randomId } from '../ids.js'
import type { MessageJson, PartJson, StreamResponseJson, TaskStateName } from '../a2a/json.js'

/** How a turn of a task ends. */
export type TaskOutcome =
  | { kind: 'completed', text?: string, parts?: PartJson[] }
  | { kind: 'input-required', text: string, parts?: PartJson[] }
  | { kind: 'failed', text: string }
  | { kind: 'rejected', text: string }
  | { kind: 'canceled', text?: string }

const FINAL_STATE: Record<TaskOutcome['kind'], TaskStateName> = {
  completed: 'TASK_STATE_COMPLETED',
  'input-required': 'TASK_STATE_INPUT_REQUIRED',
  failed: 'TASK_STATE_FAILED',
  rejected: 'TASK_STATE_REJECTED',
  canceled: 'TASK_STATE_CANCELED'
}

/**
 * The id of the answer artifact of the turn opened by the message `turnMessageId`: the same
 * however often the turn is answered (a handler run again after a restart replaces its answer
 * instead of adding a second one).
 */
export function answerArtifactId (turnMessageId: string): string {
  return `answer-${turnMessageId}`
}

/**
 * The status and artifact updates that end a turn of task `taskId` with `outcome`. The turn is
 * the one opened by the message `turnMessageId` (it names the answer artifact).
 */
export function outcomeEvents (taskId: string, contextId: string, outcome: TaskOutcome, turnMessageId: string = randomId(), now = new Date()): StreamResponseJson[] {
  const timestamp = now.toISOString()
  const state = FINAL_STATE[outcome.kind]
  if (outcome.kind === 'completed') {
    return [
      {
        artifactUpdate: {
          taskId,
          contextId,
          artifact: { artifactId: answerArtifactId(turnMessageId), name: 'answer', parts: outcome.parts ?? [{ text: outcome.text ?? '' }] },
          append: false,
          lastChunk: true
        }
      },
      { statusUpdate: { taskId, contextId, status: { state, timestamp } } }
    ]
  }
  const text = outcome.text ?? (outcome.kind === 'canceled' ? 'canceled by the sender' : '')
  const parts: PartJson[] = [{ text }, ...(outcome.kind === 'input-required' ? outcome.parts ?? [] : [])]
  return [{ statusUpdate: { taskId, contextId, status: { state, timestamp, message: agentMessage(taskId, contextId, parts) } } }]
}

export function agentMessage (taskId: string, contextId: string, parts: PartJson[]): MessageJson {
  return { messageId: randomId(), taskId, contextId, role: 'ROLE_AGENT', parts }
}
