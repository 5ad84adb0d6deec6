/**
 * What the screens show of a task: its question, its answer, its conversation. Pure functions
 * over the stored TaskRecord (src/core/store/types.ts), so every view agrees.
 */
import { textOf } from '../../core/a2a/json.js'
import type { MessageJson } from '../../core/a2a/json.js'
import type { TaskRecord } from '../../core/store/types.js'
import { isTerminal, stateLabel } from '../../core/tasks/state.js'

export { stateLabel }

/** The sender may cancel an outbound task that has not ended. */
export function canCancel (record: TaskRecord): boolean {
  return record.direction === 'outbound' && !isTerminal(record.state)
}

/** The person may answer an inbound task that has not ended. */
export function canAnswer (record: TaskRecord): boolean {
  return record.direction === 'inbound' && !isTerminal(record.state)
}

/** The text of the first message from the sender. */
export function questionText (record: TaskRecord): string {
  const first = record.task.history?.find(m => m.role === 'ROLE_USER')
  return textOf(first?.parts)
}

/**
 * The answer: the text of the task's artifacts, or, for a task that ended without any (rejected,
 * failed, canceled), the agent's last status message.
 */
export function answerText (record: TaskRecord): string {
  const artifacts = (record.task.artifacts ?? []).map(a => textOf(a.parts)).filter(t => t !== '')
  if (artifacts.length > 0) return artifacts.join('\n')
  const status = record.task.status.message
  return status?.role === 'ROLE_AGENT' ? textOf(status.parts) : ''
}

export interface ConversationEntry {
  key: string
  /** user: the sender of the task; agent: whoever answers it. */
  role: 'user' | 'agent'
  kind: 'message' | 'answer'
  text: string
}

/** The task as a conversation: its messages in order, then its answer(s). */
export function conversation (record: TaskRecord): ConversationEntry[] {
  const seen = new Set<string>()
  const entries: ConversationEntry[] = []
  const addMessage = (message: MessageJson): void => {
    if (seen.has(message.messageId)) return
    seen.add(message.messageId)
    const text = textOf(message.parts)
    if (text === '') return
    entries.push({ key: `m:${message.messageId}`, role: message.role === 'ROLE_USER' ? 'user' : 'agent', kind: 'message', text })
  }
  for (const message of record.task.history ?? []) addMessage(message)
  if (record.task.status.message != null) addMessage(record.task.status.message)
  for (const artifact of record.task.artifacts ?? []) {
    const text = textOf(artifact.parts)
    if (text !== '') entries.push({ key: `a:${artifact.artifactId}`, role: 'agent', kind: 'answer', text })
  }
  return entries
}
