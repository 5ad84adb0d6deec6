/**
 * Task records in an append-only JSON-lines file.
 *
 * Every `put` appends the whole record as one line with one write, and a newer line for the
 * same (direction, id) supersedes the older ones. Nothing is fsynced per record: a write that
 * returned sits in the OS page cache, which survives the process being killed (SIGKILL, a
 * crash); only a power loss can take the last few records.
 *
 * Memory holds an index, not every task: per record its summary (the fields queries use) and
 * where its latest line is, plus the whole record for the most recently used ones (a bounded
 * cache: a task in progress is read and written several times in a few milliseconds). `get` is
 * a cache hit or one positioned read; `list` filters and sorts the index and reads only the
 * records it returns. Task histories can be long, so a daemon that has run for months keeps a
 * few hundred bytes per task in memory, not the tasks.
 *
 * Appends are group-committed: the records put while a write is under way go to the file
 * together in the next write, so 64 tasks in flight cost a few writes, not 64 in a row.
 *
 * On open the file is read once to build the index. A last line cut short (the process died
 * mid-write) is dropped with a warning and cut from the file, so the next append starts on a
 * line of its own. When most lines are superseded the file is rewritten with only the latest
 * version of each record (through a temporary file, fsynced, then renamed over the log).
 *
 * One process writes a log at a time: the daemon refuses to start while another one serves the
 * same home (see ../control.ts).
 */
import { open, rename } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { logger } from '@libp2p/logger'
import { StarlingError } from '../../core/errors.js'
import { TaskStates } from '../../core/a2a/json.js'
import { compareRecords, matchesQuery } from '../../core/store/types.js'
import type { TaskDirection, TaskQuery, TaskRecord, TaskRecordStore, TaskRecordSummary } from '../../core/store/types.js'

const log = logger('starling:store:tasks')

/** The first line of every task log; `version` changes when the line format does. */
export const TASK_LOG_HEADER = { format: 'starling-task-log', version: 1 } as const

/** Below this many lines a log is never compacted: rewriting a small file gains nothing. */
export const DEFAULT_COMPACT_MIN_LINES = 256

/**
 * Compact on open when more than this share of the lines are superseded (or unreadable).
 * 0.5: the file is more than twice the size of what it holds.
 */
export const DEFAULT_COMPACT_RATIO = 0.5

/** Whole records kept in memory besides the index (the most recently used ones). */
export const DEFAULT_CACHED_RECORDS = 1024

const NEWLINE = 0x0a

/** The task log cannot be used: wrong format, or a read found something else than was written. */
export class TaskLogError extends StarlingError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_TASK_LOG', options)
  }
}

export interface TaskLogInit {
  /** Told about lines that were dropped on open (a torn last line, a corrupt line). */
  onWarning?: (message: string) => void
  compactMinLines?: number
  compactRatio?: number
  cachedRecords?: number
}

/** What the index keeps of a record: every field a query reads, and where its line is. */
interface IndexEntry {
  summary: TaskRecordSummary
  /** Where the latest written line starts; -1 while the record's first line waits to be written. */
  offset: number
  /** Bytes of the line without its newline. */
  length: number
  /** The whole record, while it is cached or waits to be written. */
  record?: TaskRecord
  /** Lines of this record not written yet; the record stays in memory until they are. */
  unwritten: number
  /** Puts of this record so far: a read from disk that saw a put happen meanwhile is stale. */
  version?: number
}

interface PendingLine {
  key: string
  line: Buffer
  entry: IndexEntry
  resolve: () => void
  reject: (err: Error) => void
}

export interface TaskLogStats {
  records: number
  /** Lines in the file, header excluded. */
  lines: number
  bytes: number
  /** Whether opening rewrote the file. */
  compacted: boolean
}

export class TaskLog implements TaskRecordStore {
  readonly path: string
  private readonly index = new Map<string, IndexEntry>()
  private handle?: FileHandle
  private size = 0
  private lines = 0
  private compacted = false
  private cachedRecords = DEFAULT_CACHED_RECORDS
  /** Keys of the entries that hold their record, least recently used first. */
  private readonly cached = new Set<string>()
  /** Lines waiting for the next write. */
  private pending: PendingLine[] = []
  /** The write under way, if any: one at a time, so each knows its offset. */
  private writing?: Promise<void>

  /** Opens (or creates) the log at `path` and reads its index. */
  static async open (path: string, init: TaskLogInit = {}): Promise<TaskLog> {
    const taskLog = new TaskLog(path)
    await taskLog.load(init)
    return taskLog
  }

  private constructor (path: string) {
    this.path = path
  }

  get stats (): TaskLogStats {
    return { records: this.index.size, lines: this.lines, bytes: this.size, compacted: this.compacted }
  }

  /** The record, from memory when it was used lately. Returned records must not be changed. */
  async get (direction: TaskDirection, id: string): Promise<TaskRecord | undefined> {
    const key = keyOf(direction, id)
    const entry = this.index.get(key)
    return entry == null ? undefined : await this.recordOf(key, entry)
  }

  /**
   * Appends `record`; resolves once its line is written. Reads see it at once. The record must
   * not be changed afterwards (it may be kept in memory as it is).
   */
  async put (record: TaskRecord): Promise<void> {
    if (!isTaskRecord(record)) throw new TaskLogError(`refusing to store a malformed task record (${describeRecord(record)})`)
    this.open()
    const line = Buffer.from(JSON.stringify(record) + '\n', 'utf8')
    const key = keyOf(record.direction, record.id)
    let entry = this.index.get(key)
    if (entry == null) {
      entry = { summary: summaryOf(record), offset: -1, length: 0, unwritten: 0 }
      this.index.set(key, entry)
    } else {
      entry.summary = summaryOf(record)
    }
    entry.record = record
    entry.unwritten++
    entry.version = (entry.version ?? 0) + 1
    this.touch(key)
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    this.pending.push({ key, line, entry, resolve, reject })
    this.writing ??= this.writePending()
    await promise
  }

  async list (query: TaskQuery = {}): Promise<TaskRecord[]> {
    const matching: Array<[string, IndexEntry]> = []
    for (const item of this.index) {
      if (matchesQuery(item[1].summary, query)) matching.push(item)
    }
    matching.sort((a, b) => compareRecords(a[1].summary, b[1].summary))
    const page = query.limit == null ? matching : matching.slice(0, Math.max(0, query.limit))
    return await Promise.all(page.map(async ([key, entry]) => await this.recordOf(key, entry)))
  }

  /** Waits for pending appends and closes the file. */
  async close (): Promise<void> {
    while (this.writing != null) await this.writing
    const handle = this.handle
    this.handle = undefined
    await handle?.close()
  }

  private open (): FileHandle {
    if (this.handle == null) throw new TaskLogError(`the task log ${this.path} is closed`)
    return this.handle
  }

  /** Writes every pending line in one write, again while more arrived meanwhile. */
  private async writePending (): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending
        this.pending = []
        const handle = this.open()
        const start = this.size
        const data = batch.length === 1 ? batch[0]!.line : Buffer.concat(batch.map(p => p.line))
        try {
          const { bytesWritten } = await handle.write(data)
          if (bytesWritten !== data.length) throw new TaskLogError(`short write to ${this.path} (${bytesWritten} of ${data.length} bytes)`)
        } catch (err) {
          // never leave part of a batch behind: the next record would be glued to a torn line
          await handle.truncate(start).catch(() => {})
          const error = err instanceof Error ? err : new Error(String(err))
          for (const line of batch) {
            line.entry.unwritten--
            // a record that never reached the file is not in the log
            if (line.entry.offset === -1 && line.entry.unwritten === 0) {
              this.index.delete(line.key)
              this.cached.delete(line.key)
            }
            line.reject(error)
          }
          continue
        }
        let offset = start
        for (const line of batch) {
          line.entry.offset = offset
          line.entry.length = line.line.length - 1
          line.entry.unwritten--
          offset += line.line.length
        }
        this.size = offset
        this.lines += batch.length
        this.evict()
        for (const line of batch) line.resolve()
      }
    } finally {
      this.writing = undefined
    }
  }

  private async recordOf (key: string, entry: IndexEntry): Promise<TaskRecord> {
    if (entry.record != null) {
      this.touch(key)
      return entry.record
    }
    const version = entry.version
    const record = await this.read(entry)
    // a put while the line was being read is newer than what the read found: read again
    if (entry.version !== version) return await this.recordOf(key, entry)
    entry.record = record
    this.touch(key)
    this.evict()
    return record
  }

  /** Marks `key` as the most recently used. */
  private touch (key: string): void {
    this.cached.delete(key)
    this.cached.add(key)
  }

  /** Drops the least recently used records past the cache size (never one waiting to be written). */
  private evict (): void {
    for (const key of this.cached) {
      if (this.cached.size <= this.cachedRecords) return
      const entry = this.index.get(key)
      if (entry != null && entry.unwritten > 0) continue
      if (entry != null) entry.record = undefined
      this.cached.delete(key)
    }
  }

  private async read (entry: IndexEntry): Promise<TaskRecord> {
    const buffer = Buffer.allocUnsafe(entry.length)
    const { bytesRead } = await this.open().read(buffer, 0, entry.length, entry.offset)
    let record: unknown
    try {
      if (bytesRead !== entry.length) throw new Error(`read ${bytesRead} of ${entry.length} bytes`)
      record = JSON.parse(buffer.toString('utf8'))
    } catch (err) {
      throw new TaskLogError(`the task log ${this.path} changed under us at byte ${entry.offset}: ${(err as Error).message}`, { cause: err })
    }
    if (!isTaskRecord(record) || record.id !== entry.summary.id) {
      throw new TaskLogError(`the task log ${this.path} holds something else than task ${entry.summary.id} at byte ${entry.offset}`)
    }
    return record
  }

  private async load (init: TaskLogInit): Promise<void> {
    this.cachedRecords = init.cachedRecords ?? DEFAULT_CACHED_RECORDS
    const warn = init.onWarning ?? ((message: string) => { log.error(message) })
    let handle = await open(this.path, 'a+', 0o600)
    try {
      const content = await handle.readFile()
      const scan = scanLog(this.path, content, warn)
      if (scan.cutAt != null) await handle.truncate(scan.cutAt)
      if (scan.appendNewline) await handle.write('\n')
      let size = scan.cutAt ?? content.length + (scan.appendNewline ? 1 : 0)
      if (size === 0) {
        await handle.write(JSON.stringify(TASK_LOG_HEADER) + '\n')
        size = (await handle.stat()).size
      }
      this.lines = scan.lines
      for (const [key, entry] of scan.index) this.index.set(key, entry)

      const minLines = init.compactMinLines ?? DEFAULT_COMPACT_MIN_LINES
      const ratio = init.compactRatio ?? DEFAULT_COMPACT_RATIO
      if (scan.lines >= minLines && scan.lines - this.index.size > scan.lines * ratio) {
        await handle.close()
        size = await this.compact(content)
        handle = await open(this.path, 'a+', 0o600)
        this.compacted = true
      }
      this.size = size
      this.handle = handle
    } catch (err) {
      await handle.close().catch(() => {})
      throw err
    }
  }

  /** Rewrites the log with the latest line of each record, in their original order. */
  private async compact (content: Buffer): Promise<number> {
    const before = this.lines
    const entries = [...this.index.values()].sort((a, b) => a.offset - b.offset)
    const header = Buffer.from(JSON.stringify(TASK_LOG_HEADER) + '\n', 'utf8')
    const chunks: Buffer[] = [header]
    let offset = header.length
    for (const entry of entries) {
      chunks.push(content.subarray(entry.offset, entry.offset + entry.length + 1))
      entry.offset = offset
      offset += entry.length + 1
    }
    const tmp = `${this.path}.compact`
    const out = await open(tmp, 'w', 0o600)
    try {
      await out.writev(chunks)
      // the rename replaces the only copy: the new file must be on disk before it does
      await out.sync()
    } finally {
      await out.close()
    }
    await rename(tmp, this.path)
    await syncDirectory(dirname(this.path))
    this.lines = entries.length
    log('compacted %s: %d lines to %d', this.path, before, entries.length)
    return offset
  }
}

interface ScanResult {
  index: Map<string, IndexEntry>
  /** Record lines (header excluded), readable or not. */
  lines: number
  /** Where to cut the file (a torn last line starts there). */
  cutAt?: number
  /** The last line is complete but lacks its newline. */
  appendNewline: boolean
}

function scanLog (path: string, content: Buffer, warn: (message: string) => void): ScanResult {
  const index = new Map<string, IndexEntry>()
  let lines = 0
  let offset = 0
  let lineNo = 0
  let cutAt: number | undefined
  let appendNewline = false
  while (offset < content.length) {
    const newline = content.indexOf(NEWLINE, offset)
    const end = newline === -1 ? content.length : newline
    const text = content.toString('utf8', offset, end)
    lineNo++
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      value = undefined
    }
    if (lineNo === 1) {
      if (newline === -1 && value === undefined) {
        warn(`${path}: the first line was cut short; starting an empty task log`)
        cutAt = 0
        break
      }
      checkHeader(path, value)
      if (newline === -1) appendNewline = true
    } else if (newline === -1 && !isTaskRecord(value)) {
      // the process died while writing this line: whatever it held was never acknowledged
      warn(`${path}: ignoring a torn last line (${end - offset} bytes at byte ${offset})`)
      cutAt = offset
      break
    } else {
      lines++
      if (isTaskRecord(value)) {
        index.set(keyOf(value.direction, value.id), { summary: summaryOf(value), offset, length: end - offset, unwritten: 0 })
        if (newline === -1) appendNewline = true
      } else {
        warn(`${path}: ignoring line ${lineNo}, which is not a task record`)
      }
    }
    offset = end + 1
  }
  return { index, lines, cutAt, appendNewline }
}

function checkHeader (path: string, value: unknown): void {
  const header = value as { format?: unknown, version?: unknown } | undefined
  if (header?.format !== TASK_LOG_HEADER.format) {
    throw new TaskLogError(`${path} is not a Starling task log (its first line is not the header)`)
  }
  if (header.version !== TASK_LOG_HEADER.version) {
    throw new TaskLogError(`${path} is a task log of version ${String(header.version)}; this Starling reads version ${TASK_LOG_HEADER.version}`)
  }
}

function keyOf (direction: TaskDirection, id: string): string {
  return `${direction}/${id}`
}

function summaryOf (record: TaskRecord): TaskRecordSummary {
  const { direction, id, peerId, contextId, state, createdAt, updatedAt, outboxAt } = record
  return outboxAt == null
    ? { direction, id, peerId, contextId, state, createdAt, updatedAt }
    : { direction, id, peerId, contextId, state, createdAt, updatedAt, outboxAt }
}

const STATES: ReadonlySet<string> = new Set(TaskStates)

/** Whether `value` has the shape of a TaskRecord (checked on every line read from disk). */
export function isTaskRecord (value: unknown): value is TaskRecord {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Partial<Record<keyof TaskRecord, unknown>>
  const task = r.task as { id?: unknown, status?: { state?: unknown } } | null | undefined
  return (r.direction === 'inbound' || r.direction === 'outbound') &&
    typeof r.id === 'string' && r.id !== '' &&
    typeof r.peerId === 'string' &&
    typeof r.contextId === 'string' &&
    typeof r.state === 'string' && STATES.has(r.state) &&
    Number.isFinite(r.createdAt) && Number.isFinite(r.updatedAt) &&
    typeof task === 'object' && task !== null && task.id === r.id &&
    typeof task.status === 'object' && task.status !== null && typeof task.status.state === 'string'
}

function describeRecord (value: unknown): string {
  const r = value as { direction?: unknown, id?: unknown } | null
  return `direction ${String(r?.direction)}, id ${String(r?.id)}`
}

async function syncDirectory (path: string): Promise<void> {
  const dir = await open(path, 'r')
  try {
    await dir.sync()
  } catch {
    // some file systems cannot fsync a directory; the rename is still atomic
  } finally {
    await dir.close()
  }
}
