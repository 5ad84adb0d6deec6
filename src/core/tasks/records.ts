/**
 * Every change to a stored task goes through here: one change at a time per task (the SDK saving
 * an event, a push arriving, the outbox recording an attempt), read fresh from the store, written,
 * then announced. Without the per-task order, two changes that read the same record would lose
 * one of them.
 */
import type { TaskJson } from '../a2a/json.js'
import type { TaskDirection, TaskRecord, TaskRecordStore } from '../store/types.js'

export type TaskChangeListener = (record: TaskRecord) => void

/** What an update returns: the next record, or undefined to leave the stored one as it is. */
export type RecordUpdate = (current: TaskRecord | undefined) => TaskRecord | undefined | Promise<TaskRecord | undefined>

export class TaskRecords {
  readonly store: TaskRecordStore
  private readonly listeners = new Set<TaskChangeListener>()
  private readonly chains = new Map<string, Promise<unknown>>()

  constructor (store: TaskRecordStore) {
    this.store = store
  }

  /** Called after every stored change, in order per task. */
  onChange (listener: TaskChangeListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  async get (direction: TaskDirection, id: string): Promise<TaskRecord | undefined> {
    return await this.store.get(direction, id)
  }

  /**
   * Runs `change` on the current record of (direction, id) once the changes before it are done,
   * stores what it returns and announces it. Resolves with the stored record (or the current one
   * when nothing changed). A change that throws changes nothing, and the error is passed on.
   */
  async update (direction: TaskDirection, id: string, change: RecordUpdate): Promise<TaskRecord | undefined> {
    const key = `${direction}/${id}`
    const previous = this.chains.get(key) ?? Promise.resolve()
    const run = previous.then(async () => {
      const current = await this.store.get(direction, id)
      const next = await change(current)
      if (next == null || next === current) return current
      if (next.direction !== direction || next.id !== id) throw new Error(`an update of ${key} returned another record`)
      await this.store.put(next)
      for (const listener of this.listeners) listener(next)
      return next
    })
    const settled = run.catch(() => {})
    this.chains.set(key, settled)
    void settled.then(() => { if (this.chains.get(key) === settled) this.chains.delete(key) })
    return await run
  }
}

/**
 * `record` with `task` as its task: the denormalised state, the time of the change, and a line in
 * the timeline when the state moved.
 */
export function withTask (record: TaskRecord, task: TaskJson, now = Date.now()): TaskRecord {
  const state = task.status.state
  const timeline = record.timeline ?? [{ state: record.state, at: record.createdAt }]
  return {
    ...record,
    task,
    state,
    updatedAt: Math.max(now, record.updatedAt),
    timeline: timeline.at(-1)?.state === state ? timeline : [...timeline, { state, at: now }]
  }
}
