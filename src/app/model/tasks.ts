/**
 * What the screens show of a task: its question, its answer, its conversation, how far our
 * requests got. Pure functions over the stored TaskRecord (src/core/store/types.ts), so every
 * view agrees.
 */
import { textOf } from '../../core/a2a/json.js'
import type { ArtifactJson, MessageJson, PartJson, TaskStateName } from '../../core/a2a/json.js'
import { base64Bytes, checkParts, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PARTS_BYTES, filePart, formatBytes, InvalidPartError } from '../../core/a2a/parts.js'
import type { DeliveryState, TaskRecord, TimelineEntry } from '../../core/store/types.js'
import type { TaskOutcome } from '../../core/tasks/outcome.js'
import { INTERRUPTED_STATES, isTerminal, stateLabel } from '../../core/tasks/state.js'

export { stateLabel }

/** The sender may cancel an outbound task that has not ended, unless it already asked to. */
export function canCancel (record: TaskRecord): boolean {
  return record.direction === 'outbound' && !isTerminal(record.state) && !cancelPending(record)
}

/** Whether our request to cancel this outbound task waits in its outbox (not yet accepted). */
export function cancelPending (record: TaskRecord): boolean {
  return (record.outbox ?? []).some(item => item.kind === 'cancel')
}

/** The person may answer an inbound task that has not ended. */
export function canAnswer (record: TaskRecord): boolean {
  return record.direction === 'inbound' && !isTerminal(record.state)
}

/**
 * The agent of an outbound task asks us something (input-required) and we have not replied yet:
 * the view prompts the person with the question and a reply form.
 */
export function needsInput (record: TaskRecord): boolean {
  return record.direction === 'outbound' && record.state === 'TASK_STATE_INPUT_REQUIRED' &&
    !cancelPending(record) && pendingMessages(record).length === 0
}

/** The message that came with the task's current state, when the other side sent one. */
export function statusMessage (record: TaskRecord): MessageJson | undefined {
  const message = record.task.status.message
  return message?.role === 'ROLE_AGENT' ? message : undefined
}

/** The text of the first message from the sender. */
export function questionText (record: TaskRecord): string {
  return textOf(senderMessages(record)[0]?.parts)
}

/** The first message from the sender in a line, for lists: its text, and the names of its files. */
export function questionSummary (record: TaskRecord): string {
  const parts = senderMessages(record)[0]?.parts ?? []
  const text = textOf(parts)
  const files = parts.filter(p => p.raw != null || p.url != null).map((p, i) => p.filename ?? `file ${i + 1}`)
  if (files.length === 0) return text
  return text === '' ? `Attached: ${files.join(', ')}` : `${text} (attached: ${files.join(', ')})`
}

/** The sender's messages, oldest first (the first one asked the task). */
export function senderMessages (record: TaskRecord): MessageJson[] {
  return allMessages(record).filter(m => m.role === 'ROLE_USER')
}

/**
 * The answer: the text of the task's artifacts, or, for a task that ended without any (rejected,
 * failed, canceled), the agent's last status message.
 */
export function answerText (record: TaskRecord): string {
  const artifacts = (record.task.artifacts ?? []).map(a => artifactText(a)).filter(t => t !== '')
  if (artifacts.length > 0) return artifacts.join('\n')
  return textOf(statusMessage(record)?.parts)
}

// --- delivery ---------------------------------------------------------------------------------

export const DELIVERY_LABELS: Record<DeliveryState, string> = {
  queued: 'queued',
  sent: 'sent',
  delivered: 'delivered'
}

export const DELIVERY_EXPLANATIONS: Record<DeliveryState, string> = {
  queued: 'waiting for the agent to be reachable',
  sent: 'sent, waiting for the agent to confirm',
  delivered: 'the agent has it'
}

/** The delivery state worth showing: outbound tasks only, and only while it still matters. */
export function deliveryOf (record: TaskRecord): DeliveryState | undefined {
  return record.direction === 'outbound' ? record.delivery : undefined
}

/** The last error of a delivery attempt still waiting to be retried, when there is one. */
export function deliveryError (record: TaskRecord): string | undefined {
  return (record.outbox ?? []).find(item => item.lastError != null && item.lastError !== '')?.lastError
}

/** Whether the sender of an inbound task has yet to confirm it heard of the task's latest state. */
export function pushPending (record: TaskRecord): boolean {
  return record.direction === 'inbound' && (record.outbox ?? []).some(item => item.kind === 'push')
}

/** When a queued outbound task gives up (ms since the epoch), while it is queued. */
export function queuedUntil (record: TaskRecord): number | undefined {
  if (record.direction !== 'outbound' || record.delivery !== 'queued' || isTerminal(record.state)) return undefined
  return record.expiresAt
}

// --- parts ------------------------------------------------------------------------------------

/** One part of a message or artifact, as a view shows it. */
export type PartView =
  | { kind: 'text', text: string }
  /** JSON data, pretty-printed. */
  | { kind: 'data', json: string }
  /** Bytes carried in the part (base64 `raw`). */
  | { kind: 'file', raw: string, mediaType: string, filename: string, size: number, image: boolean }
  /** A link to a file elsewhere; `safe` only for http(s) URLs (anything else is shown, not linked). */
  | { kind: 'link', url: string, mediaType?: string, filename?: string, safe: boolean }

/**
 * Image types a browser shows in an <img> and that cannot run script when opened on their own.
 * SVG is left out on purpose: a blob: URL has this page's origin, so an SVG (or HTML) from
 * another peer opened from it would run its scripts as this app.
 */
const PREVIEW_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp'])

/** Whether a file of `mediaType` is previewed inline (images). */
export function isPreviewable (mediaType: string): boolean {
  return PREVIEW_TYPES.has(mediaType.toLowerCase().split(';')[0]!.trim())
}

/**
 * The type a Blob of a received file is given: its own media type when that is safe to open in
 * this origin (images we preview, plain text, PDF), otherwise application/octet-stream, which a
 * browser only ever downloads. The person still sees the declared media type.
 */
export function blobType (mediaType: string): string {
  const base = mediaType.toLowerCase().split(';')[0]!.trim()
  if (PREVIEW_TYPES.has(base) || base === 'text/plain' || base === 'application/pdf' || base === 'application/json') return mediaType
  return 'application/octet-stream'
}

/**
 * The parts as views. `joinText` concatenates consecutive text parts: an artifact streamed in
 * chunks arrives as many text parts that are one text (A2A appends the chunks' parts).
 */
export function partViews (parts: PartJson[] | undefined, options: { joinText?: boolean } = {}): PartView[] {
  const out: PartView[] = []
  ;(parts ?? []).forEach((part, index) => {
    if (typeof part.text === 'string') {
      const last = out.at(-1)
      if (options.joinText === true && last?.kind === 'text') out[out.length - 1] = { kind: 'text', text: last.text + part.text }
      else out.push({ kind: 'text', text: part.text })
    } else if (typeof part.raw === 'string') {
      const mediaType = part.mediaType ?? 'application/octet-stream'
      out.push({
        kind: 'file',
        raw: part.raw,
        mediaType,
        filename: part.filename ?? `file-${index + 1}`,
        size: base64Bytes(part.raw),
        image: isPreviewable(mediaType)
      })
    } else if (typeof part.url === 'string') {
      out.push({ kind: 'link', url: part.url, mediaType: part.mediaType, filename: part.filename, safe: /^https?:\/\//i.test(part.url) })
    } else if (part.data !== undefined) {
      out.push({ kind: 'data', json: prettyJson(part.data) })
    }
  })
  return out
}

function prettyJson (value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? String(value)
  } catch {
    return String(value)
  }
}

/** An artifact's text: its text parts, streamed chunks joined. */
export function artifactText (artifact: ArtifactJson): string {
  return partViews(artifact.parts, { joinText: true }).flatMap(p => p.kind === 'text' ? [p.text] : []).join('\n')
}

// --- the conversation -------------------------------------------------------------------------

export type ConversationEntry =
  | {
    kind: 'message'
    key: string
    /** user: the sender of the task; agent: whoever answers it. */
    role: 'user' | 'agent'
    parts: PartView[]
    /** Ours, not accepted by the agent yet (it waits in the task's outbox). */
    pending: boolean
  }
  | { kind: 'state', key: string, state: TaskStateName, at: number }
  | { kind: 'artifact', key: string, name?: string, description?: string, parts: PartView[] }

/**
 * The states the task went through with their times. Records written before timelines existed
 * get one from what they hold: submitted when created, the current state since its timestamp.
 */
export function timelineOf (record: TaskRecord): TimelineEntry[] {
  if (record.timeline != null && record.timeline.length > 0) return record.timeline
  const out: TimelineEntry[] = [{ state: 'TASK_STATE_SUBMITTED', at: record.createdAt }]
  if (record.state !== 'TASK_STATE_SUBMITTED') {
    const stamp = Date.parse(record.task.status.timestamp ?? '')
    out.push({ state: record.state, at: Number.isNaN(stamp) ? record.updatedAt : stamp })
  }
  return out
}

/** Our messages that wait in the outbox, not yet accepted by the agent. */
function pendingMessages (record: TaskRecord): MessageJson[] {
  const known = new Set((record.task.history ?? []).map(m => m.messageId))
  const out: MessageJson[] = []
  for (const item of record.outbox ?? []) {
    if (item.kind === 'message' && !known.has(item.message.messageId)) out.push(item.message)
  }
  return out
}

/** Every message of the task once, oldest first: its history, its status message, then ours still queued. */
function allMessages (record: TaskRecord): MessageJson[] {
  const seen = new Set<string>()
  const out: MessageJson[] = []
  const add = (message: MessageJson | undefined): void => {
    if (message == null || seen.has(message.messageId)) return
    seen.add(message.messageId)
    out.push(message)
  }
  for (const message of record.task.history ?? []) add(message)
  add(record.task.status.message)
  for (const message of pendingMessages(record)) add(message)
  return out
}

/**
 * The task as one conversation, in order: each turn is the sender's message, the states the
 * task went through with their times, and what the agent said; the artifacts come where the
 * task produced them (before the final state when the task has ended).
 *
 * Messages carry no times in A2A, so turns are matched up: a turn of the timeline ends where
 * the task was interrupted (input-required) and resumed, and the n-th turn of messages starts
 * at the sender's n-th message.
 */
export function conversation (record: TaskRecord): ConversationEntry[] {
  const pending = new Set(pendingMessages(record).map(m => m.messageId))
  const message = (m: MessageJson): ConversationEntry => ({
    kind: 'message',
    key: `m:${m.messageId}`,
    role: m.role === 'ROLE_USER' ? 'user' : 'agent',
    parts: partViews(m.parts),
    pending: pending.has(m.messageId)
  })

  // turns of messages: each starts at a message of the sender
  const turns: Array<{ user?: MessageJson, agent: MessageJson[] }> = []
  for (const m of allMessages(record)) {
    if (m.role === 'ROLE_USER' || turns.length === 0) turns.push(m.role === 'ROLE_USER' ? { user: m, agent: [] } : { agent: [m] })
    else turns.at(-1)!.agent.push(m)
  }
  // turns of the timeline: a new one starts where an interrupted task resumed
  const segments: TimelineEntry[][] = []
  let previous: TimelineEntry | undefined
  for (const entry of timelineOf(record)) {
    const resumed = previous != null && INTERRUPTED_STATES.includes(previous.state) &&
      (entry.state === 'TASK_STATE_SUBMITTED' || entry.state === 'TASK_STATE_WORKING')
    if (segments.length === 0 || resumed) segments.push([])
    segments.at(-1)!.push(entry)
    previous = entry
  }

  const artifacts: ConversationEntry[] = (record.task.artifacts ?? []).map(a => ({
    kind: 'artifact',
    key: `a:${a.artifactId}`,
    name: a.name,
    description: a.description,
    parts: partViews(a.parts, { joinText: true })
  }))
  const state = (e: TimelineEntry, i: number): ConversationEntry => ({ kind: 'state', key: `s:${i}:${e.state}:${e.at}`, state: e.state, at: e.at })

  const out: ConversationEntry[] = []
  const count = Math.max(turns.length, segments.length)
  let stateIndex = 0
  for (let k = 0; k < count; k++) {
    const turn = turns[k]
    const entries = (segments[k] ?? []).map(e => state(e, stateIndex++))
    const last = k === count - 1
    if (turn?.user != null) out.push(message(turn.user))
    const said = (turn?.agent ?? []).map(message)
    if (!last) {
      out.push(...entries, ...said)
      continue
    }
    // the last turn holds the artifacts: before the final state of an ended task, else at the end
    const final = entries.at(-1)
    if (final?.kind === 'state' && isTerminal(final.state)) out.push(...entries.slice(0, -1), ...artifacts, final, ...said)
    else out.push(...entries, ...said, ...artifacts)
  }
  return out
}

// --- composing --------------------------------------------------------------------------------

/** A file the person picked, read. */
export interface PickedFile {
  name: string
  type: string
  bytes: Uint8Array
}

/**
 * Why a file cannot be attached next to the ones already attached, or undefined when it can:
 * each file stays within DEFAULT_MAX_FILE_BYTES and all of them within DEFAULT_MAX_PARTS_BYTES.
 */
export function attachmentProblem (file: { name: string, size: number }, attached: Array<{ size: number }> = []): string | undefined {
  if (file.size > DEFAULT_MAX_FILE_BYTES) {
    return `${file.name} is ${formatBytes(file.size)}: files can be at most ${formatBytes(DEFAULT_MAX_FILE_BYTES)} each.`
  }
  const total = attached.reduce((sum, f) => sum + f.size, file.size)
  if (total > DEFAULT_MAX_PARTS_BYTES) {
    return `${file.name} would make ${formatBytes(total)} of files: one message can carry at most ${formatBytes(DEFAULT_MAX_PARTS_BYTES)}.`
  }
  return undefined
}

/**
 * The parts of a message: the text (when there is any), then the files. Throws InvalidPartError
 * (with a message for the person) when the files break the limits.
 */
export function composeParts (text: string, files: PickedFile[] = []): PartJson[] {
  // sizes first: a file over the limit is refused before it is encoded
  files.forEach((file, i) => {
    const problem = attachmentProblem({ name: file.name, size: file.bytes.length }, files.slice(0, i).map(f => ({ size: f.bytes.length })))
    if (problem != null) throw new InvalidPartError(problem)
  })
  const parts: PartJson[] = []
  if (text.trim() !== '') parts.push({ text, mediaType: 'text/plain' })
  for (const file of files) parts.push(filePart(file.bytes, file.type !== '' ? file.type : 'application/octet-stream', file.name))
  checkParts(parts, 'your message')
  return parts
}

/** What the person wrote: text and the files they attached. */
export interface Draft {
  text: string
  files: File[]
}

/** The parts of a draft, its files read (throws InvalidPartError past the limits). */
export async function draftParts (draft: Draft): Promise<PartJson[]> {
  return composeParts(draft.text, await readFiles(draft.files))
}

async function readFiles (files: File[]): Promise<PickedFile[]> {
  return await Promise.all(files.map(async (file) => ({ name: file.name, type: file.type, bytes: new Uint8Array(await file.arrayBuffer()) })))
}

/** How a person ends a turn of an inbound task. */
export type OutcomeKind = 'completed' | 'input-required' | 'failed' | 'rejected'

/**
 * The outcome a person's draft makes: an answer (its text, or its text and files), a question
 * (the text; files follow it), a failure or a refusal (the text, or a word when it is empty).
 */
export async function draftOutcome (kind: OutcomeKind, draft: Draft): Promise<TaskOutcome> {
  const empty = draft.text.trim() === ''
  switch (kind) {
    case 'completed':
      return draft.files.length === 0 ? { kind, text: draft.text } : { kind, parts: await draftParts(draft) }
    case 'input-required': {
      if (draft.files.length === 0) return { kind, text: draft.text }
      return { kind, text: draft.text, parts: await draftParts({ text: '', files: draft.files }) }
    }
    case 'failed':
      return { kind, text: empty ? 'failed' : draft.text }
    case 'rejected':
      return { kind, text: empty ? 'declined' : draft.text }
  }
}
