/**
 * How a turn of a task ends, as the A2A events that say so. One mapping serves both ways a
 * task can be answered: published on the live execution's event bus, or (after a restart, with
 * no execution left) applied directly to the stored task.
 */
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

/** The status and artifact updates that end a turn of task `taskId` with `outcome`. */
export function outcomeEvents (taskId: string, contextId: string, outcome: TaskOutcome, now = new Date()): StreamResponseJson[] {
  const timestamp = now.toISOString()
  const state = FINAL_STATE[outcome.kind]
  if (outcome.kind === 'completed') {
    return [
      {
        artifactUpdate: {
          taskId,
          contextId,
          artifact: { artifactId: crypto.randomUUID(), name: 'answer', parts: outcome.parts ?? [{ text: outcome.text ?? '' }] },
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
  return { messageId: crypto.randomUUID(), taskId, contextId, role: 'ROLE_AGENT', parts }
}
