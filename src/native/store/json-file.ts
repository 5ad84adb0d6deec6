/**
 * A small JSON file rewritten whole on every change (the agent directory, config.json).
 * Writes go through a temporary file and a rename, so a crash leaves the old content or the
 * new, never half of each. Writes are serialised (two renames racing would each use the same
 * temporary file) and coalesced: changes made while a write is queued ride along with it.
 */
import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from '../key-file.js'

export class JsonFile {
  readonly path: string
  private readonly mode: number
  /** The write in progress (or the last one), so the next one starts after it. */
  private running: Promise<void> = Promise.resolve()
  /** A write queued behind `running` that has not taken its snapshot yet. */
  private queued?: Promise<void>

  constructor (path: string, mode = 0o600) {
    this.path = path
    this.mode = mode
  }

  /** The parsed content; undefined when the file does not exist. Throws on unreadable or bad JSON. */
  async read (): Promise<unknown> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    return JSON.parse(text)
  }

  /**
   * Writes what `snapshot` returns when the write starts. Resolves once the file holds a
   * state at least as new as the one at the time of the call.
   */
  async write (snapshot: () => unknown): Promise<void> {
    if (this.queued != null) return await this.queued
    const next = this.running.catch(() => {}).then(async () => {
      // from here on, changes need a write of their own
      this.queued = undefined
      const value = await snapshot()
      await writeFileAtomic(this.path, JSON.stringify(value, null, 2) + '\n', this.mode)
    })
    this.queued = next
    this.running = next
    await next
  }

  /** Resolves when no write is queued or running. */
  async flush (): Promise<void> {
    await this.running.catch(() => {})
  }
}
