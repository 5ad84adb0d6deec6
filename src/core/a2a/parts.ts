/**
 * Checks on the parts of messages and artifacts, applied to everything a remote sends before
 * it is stored: a part says what it is (text, bytes, a URL or JSON data), its bytes are real
 * base64, and files stay within the limit. Local callers (the CLI, the PWA) use the same checks
 * before queueing, so a file too large fails at once, not at the far end a day later.
 */
import { InvalidInputError } from '../errors.js'
import { TaskStates } from './json.js'
import type { ArtifactJson, MessageJson, PartJson } from './json.js'

/** Largest file (the decoded bytes of one `raw` part) a Starling peer sends or accepts: 32 MiB. */
export const DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024

/** Largest total of decoded bytes in one message or artifact update: 40 MiB. */
export const DEFAULT_MAX_PARTS_BYTES = 40 * 1024 * 1024

/** A part, message or artifact that breaks the rules of ./parts.ts. */
export class InvalidPartError extends InvalidInputError {}

export interface PartLimits {
  maxFileBytes?: number
  maxTotalBytes?: number
}

/** Which char codes may appear in base64 (before the padding). */
const BASE64_CODES = (() => {
  const table = new Uint8Array(128)
  for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') table[c.charCodeAt(0)] = 1
  return table
})()

/**
 * Whether `value` is padded base64. A loop over char codes: it runs on every file a remote
 * sends, and a regular expression takes several times as long on tens of megabytes.
 */
function isBase64 (value: string): boolean {
  if (value.length % 4 !== 0) return false
  let end = value.length
  if (end > 0 && value.charCodeAt(end - 1) === 61 /* = */) end--
  if (end > 0 && value.charCodeAt(end - 1) === 61) end--
  for (let i = 0; i < end; i++) {
    const code = value.charCodeAt(i)
    if (code >= 128 || BASE64_CODES[code] !== 1) return false
  }
  return true
}

/** Decoded size of a base64 string, in bytes. */
export function base64Bytes (value: string): number {
  const padding = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0
  return Math.floor(value.length / 4) * 3 - padding
}

/** Decoded bytes of the files in `parts` (parts already checked: no validation here). */
export function partsBytes (parts: PartJson[]): number {
  return parts.reduce((sum, p) => sum + (typeof p.raw === 'string' ? base64Bytes(p.raw) : 0), 0)
}

/**
 * Throws InvalidPartError unless every part holds exactly one kind of content, bytes are base64,
 * and the files are within the limits. Returns the total of decoded bytes.
 */
export function checkParts (parts: unknown, where: string, limits: PartLimits = {}): number {
  const maxFile = limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES
  const maxTotal = limits.maxTotalBytes ?? DEFAULT_MAX_PARTS_BYTES
  if (!Array.isArray(parts)) throw new InvalidPartError(`${where}: parts must be a list`)
  let total = 0
  parts.forEach((value: unknown, index) => {
    const at = `${where}: part ${index + 1}`
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidPartError(`${at} is not an object`)
    const part = value as Record<string, unknown>
    const kinds = (['text', 'raw', 'url', 'data'] as const).filter(k => part[k] !== undefined && part[k] !== null)
    if (kinds.length !== 1) {
      throw new InvalidPartError(`${at} must hold exactly one of text, raw, url or data (it holds ${kinds.length === 0 ? 'none' : kinds.join(' and ')})`)
    }
    if (part.text !== undefined && typeof part.text !== 'string') throw new InvalidPartError(`${at}: text must be a string`)
    if (part.url !== undefined && typeof part.url !== 'string') throw new InvalidPartError(`${at}: url must be a string`)
    for (const key of ['mediaType', 'filename'] as const) {
      if (part[key] !== undefined && typeof part[key] !== 'string') throw new InvalidPartError(`${at}: ${key} must be a string`)
    }
    if (part.raw !== undefined) {
      if (typeof part.raw !== 'string' || !isBase64(part.raw)) {
        throw new InvalidPartError(`${at}: raw must be base64-encoded bytes`)
      }
      const size = base64Bytes(part.raw)
      if (size > maxFile) throw new InvalidPartError(`${at}: the file is ${formatBytes(size)}, over the limit of ${formatBytes(maxFile)}`)
      total += size
    }
  })
  if (total > maxTotal) throw new InvalidPartError(`${where}: ${formatBytes(total)} of files, over the limit of ${formatBytes(maxTotal)}`)
  return total
}

/** checkParts on a message, with its id and role checked too. */
export function checkMessage (message: unknown, where = 'message', limits?: PartLimits): asserts message is MessageJson {
  if (typeof message !== 'object' || message === null) throw new InvalidPartError(`${where} is not an object`)
  const m = message as Partial<Record<keyof MessageJson, unknown>>
  if (typeof m.messageId !== 'string' || m.messageId === '') throw new InvalidPartError(`${where} has no messageId`)
  checkParts(m.parts, where, limits)
}

/** checkParts on an artifact, with its id checked too. */
export function checkArtifact (artifact: unknown, where = 'artifact', limits?: PartLimits): asserts artifact is ArtifactJson {
  if (typeof artifact !== 'object' || artifact === null) throw new InvalidPartError(`${where} is not an object`)
  const a = artifact as Partial<Record<keyof ArtifactJson, unknown>>
  if (typeof a.artifactId !== 'string' || a.artifactId === '') throw new InvalidPartError(`${where} has no artifactId`)
  checkParts(a.parts, `${where} ${a.artifactId}`, limits)
}

/** A file as a part: its bytes base64-encoded, with its media type and name. */
export function filePart (bytes: Uint8Array, mediaType: string, filename: string): PartJson {
  return { raw: bytesToBase64(bytes), mediaType, filename }
}

/** What a platform's Buffer offers for base64 (Node; the PWA sets the `buffer` package's). */
interface Base64Buffer {
  from: ((bytes: Uint8Array) => { toString: (encoding: 'base64') => string }) & ((text: string, encoding: 'base64') => Uint8Array)
}

function platformBuffer (): Base64Buffer | undefined {
  return (globalThis as { Buffer?: Base64Buffer }).Buffer
}

/** Bytes per chunk of the portable encoder: a multiple of 3, so chunks encode without padding. */
const BASE64_CHUNK_BYTES = 3 * 16 * 1024

/** Base64 of `bytes`: the platform's Buffer when there is one, else chunk by chunk. */
export function bytesToBase64 (bytes: Uint8Array): string {
  const buffer = platformBuffer()
  if (buffer != null) return buffer.from(bytes).toString('base64')
  const chunks: string[] = []
  for (let i = 0; i < bytes.length; i += BASE64_CHUNK_BYTES) {
    chunks.push(btoa(String.fromCharCode(...bytes.subarray(i, i + BASE64_CHUNK_BYTES))))
  }
  return chunks.join('')
}

/** The bytes of a base64 string. */
export function base64ToBytes (value: string): Uint8Array {
  const buffer = platformBuffer()
  if (buffer != null) return Uint8Array.from(buffer.from(value, 'base64'))
  const binary = atob(value)
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

/** `1.5 MiB`, `300 KiB`, `12 bytes`. */
export function formatBytes (n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1).replace(/\.0$/, '')} MiB`
  if (n >= 1024) return `${(n / 1024).toFixed(1).replace(/\.0$/, '')} KiB`
  return `${n} bytes`
}

/**
 * Checks every message and artifact inside an item a remote sent (a task snapshot, a status or an
 * artifact update) before it is applied. Throws InvalidPartError.
 */
export function checkStreamResponse (item: unknown, limits?: PartLimits): void {
  if (typeof item !== 'object' || item === null) throw new InvalidPartError('the update is not an object')
  const { task, message, statusUpdate, artifactUpdate } = item as Record<string, unknown>
  const set = [task, message, statusUpdate, artifactUpdate].filter(v => v != null)
  if (set.length !== 1) throw new InvalidPartError('an update holds exactly one of task, message, statusUpdate or artifactUpdate')
  if (message != null) checkMessage(message, 'message', limits)
  if (task != null) {
    const t = task as { id?: unknown, status?: { state?: unknown, message?: unknown }, history?: unknown, artifacts?: unknown }
    if (typeof t.id !== 'string' || typeof t.status !== 'object' || t.status === null || typeof t.status.state !== 'string') {
      throw new InvalidPartError('the task has no id or status')
    }
    checkState(t.status.state)
    if (t.status.message != null) checkMessage(t.status.message, 'the status message', limits)
    for (const m of Array.isArray(t.history) ? t.history : []) checkMessage(m, 'a message in the history', limits)
    for (const a of Array.isArray(t.artifacts) ? t.artifacts : []) checkArtifact(a, 'artifact', limits)
  }
  if (statusUpdate != null) {
    const u = statusUpdate as { taskId?: unknown, status?: { state?: unknown, message?: unknown } }
    if (typeof u.taskId !== 'string' || typeof u.status !== 'object' || u.status === null || typeof u.status.state !== 'string') {
      throw new InvalidPartError('the status update has no taskId or status')
    }
    checkState(u.status.state)
    if (u.status.message != null) checkMessage(u.status.message, 'the status message', limits)
  }
  if (artifactUpdate != null) {
    const u = artifactUpdate as { taskId?: unknown, artifact?: unknown }
    if (typeof u.taskId !== 'string') throw new InvalidPartError('the artifact update has no taskId')
    checkArtifact(u.artifact, 'artifact', limits)
  }
}

const STATES: ReadonlySet<string> = new Set(TaskStates)

function checkState (state: string): void {
  if (!STATES.has(state)) throw new InvalidPartError(`${state} is not a task state`)
}
