/**
 * The durable outbox: work a task owes the other peer (a message or a cancel not yet accepted, an
 * update the sender has not acknowledged) lives in the task's own record (`outbox`, `outboxAt`),
 * written in the same store write as the change that made it. This schedules its delivery:
 *
 * - each task's items go out in order, one at a time; tasks proceed side by side up to
 *   `concurrency`;
 * - a failed attempt is retried with exponential back-off (jittered), recorded in the record so a
 *   restart resumes where it stopped;
 * - a peer that cannot be reached is probed by one task at a time: 500 tasks queued for an
 *   offline agent cost one dial per back-off period, not 500; when the probe gets through, the
 *   rest follow at once;
 * - `poke` (a connection opened, the relay came back, the app returned to the foreground) makes
 *   everything due now;
 * - a task whose TTL (`expiresAt`) passes with work still owed is handed to `expire`.
 */
import { logger } from '@libp2p/logger'
import { errorMessage } from '../errors.js'
import type { OutboxItem, TaskDirection, TaskRecord } from '../store/types.js'
import type { TaskRecords } from './records.js'

const log = logger('starling:outbox')

/** First wait before a failed delivery is tried again, in ms. */
export const DEFAULT_OUTBOX_RETRY_MIN_MS = 1_000
/**
 * Longest wait between two attempts, in ms. An agent that comes back is not announced to its
 * senders, so this bounds how long a queued task waits after it returns.
 */
export const DEFAULT_OUTBOX_RETRY_MAX_MS = 15_000
/** Deliveries in progress at once, across all tasks (an agent takes up to 256 calls per stream). */
export const DEFAULT_OUTBOX_CONCURRENCY = 128

/** Delivers `item`, the head of `record.outbox`. */
export type Deliver = (record: TaskRecord, item: OutboxItem, signal: AbortSignal) => Promise<void>

export interface OutboxInit {
  records: TaskRecords
  /**
   * Delivers the head item of a record's outbox. On success, or on a refusal that retrying cannot
   * change, it updates the record itself (removing the item); it throws when a later attempt may
   * succeed (the peer unreachable, the connection lost).
   */
  deliver: Deliver
  /** A task's TTL passed with work still owed: fail it, or drop what it owes. */
  expire: (record: TaskRecord) => Promise<void>
  retryMinMs?: number
  retryMaxMs?: number
  concurrency?: number
}

interface Entry {
  direction: TaskDirection
  id: string
  peerId: string
  /** When the head item is due, ms since the epoch. */
  at: number
  expiresAt?: number
}

interface PeerBackoff {
  /** No attempt to this peer before then, except the one probe. */
  until: number
  delay: number
  probing: boolean
}

export class Outbox {
  private readonly init: OutboxInit
  private readonly retryMinMs: number
  private readonly retryMaxMs: number
  private readonly concurrency: number
  private readonly entries = new Map<string, Entry>()
  private readonly running = new Map<string, Promise<void>>()
  private readonly peers = new Map<string, PeerBackoff>()
  private controller = new AbortController()
  private timer?: ReturnType<typeof setTimeout>
  private pumpQueued = false
  private started = false
  private unsubscribe?: () => void

  constructor (init: OutboxInit) {
    this.init = init
    this.retryMinMs = init.retryMinMs ?? DEFAULT_OUTBOX_RETRY_MIN_MS
    this.retryMaxMs = init.retryMaxMs ?? DEFAULT_OUTBOX_RETRY_MAX_MS
    this.concurrency = init.concurrency ?? DEFAULT_OUTBOX_CONCURRENCY
  }

  /** Loads what the store owes and starts delivering it. */
  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    this.unsubscribe = this.init.records.onChange((record) => { this.track(record) })
    for (const record of await this.init.records.store.list({ outbox: true })) this.track(record)
    this.schedule()
  }

  stop (): void {
    this.started = false
    this.unsubscribe?.()
    this.controller.abort()
    clearTimeout(this.timer)
    this.entries.clear()
    this.peers.clear()
  }

  /** Connectivity changed: whatever waits (for `peerId`, or for everyone) is due now. */
  poke (peerId?: string): void {
    const now = Date.now()
    for (const [key, backoff] of this.peers) {
      if (peerId == null || key === peerId) backoff.until = Math.min(backoff.until, now)
    }
    for (const entry of this.entries.values()) {
      if (peerId == null || entry.peerId === peerId) entry.at = Math.min(entry.at, now)
    }
    this.schedule()
  }

  /**
   * Tries the head item of a task now (unless its peer is known to be unreachable) and resolves
   * when that attempt is over, however it went. With `record`, the attempt starts from it rather
   * than from the store: the record may still be on its way there (its first delivery and its
   * first write go side by side; the attempt's own changes are stored after it, in order).
   */
  async attempt (direction: TaskDirection, id: string, record?: TaskRecord): Promise<void> {
    const key = keyOf(direction, id)
    const running = this.running.get(key)
    if (running != null) { await running; return }
    const entry = this.entries.get(key) ?? (record != null ? entryOf(record) : undefined)
    // at the concurrency limit the pump takes it in turn
    if (entry == null || this.running.size >= this.concurrency) return
    const backoff = this.peers.get(entry.peerId)
    if (backoff != null) {
      if (backoff.probing || backoff.until > Date.now()) return
      backoff.probing = true
    }
    await this.run(key, entry, record)
  }

  /** Follows a record's outbox as it changes. */
  private track (record: TaskRecord): void {
    if (!this.started) return
    const key = keyOf(record.direction, record.id)
    if (record.outboxAt == null || record.outbox == null || record.outbox.length === 0) {
      this.entries.delete(key)
      return
    }
    this.entries.set(key, entryOf(record))
    this.schedule()
  }

  /** Runs `pump` soon (once, however many changes ask for it). */
  private schedule (): void {
    if (this.pumpQueued || !this.started) return
    this.pumpQueued = true
    queueMicrotask(() => {
      this.pumpQueued = false
      this.pump()
    })
  }

  private pump (): void {
    if (!this.started) return
    clearTimeout(this.timer)
    const now = Date.now()
    let wake = Number.POSITIVE_INFINITY
    for (const [key, entry] of this.entries) {
      if (this.running.has(key)) continue
      const due = Math.min(this.dueAt(entry), entry.expiresAt ?? Number.POSITIVE_INFINITY)
      if (due > now) { wake = Math.min(wake, due); continue }
      if (this.running.size >= this.concurrency) { wake = now; break }
      const backoff = this.peers.get(entry.peerId)
      if (backoff != null && (entry.expiresAt ?? Number.POSITIVE_INFINITY) > now) {
        // one probe at a time to a peer that could not be reached
        if (backoff.probing) continue
        backoff.probing = true
      }
      void this.run(key, entry)
    }
    if (Number.isFinite(wake) && this.running.size < this.concurrency) {
      // at most ~24 days: setTimeout's limit
      this.timer = setTimeout(() => { this.pump() }, Math.min(Math.max(wake - now, 0), 2 ** 31 - 1))
      const timer = this.timer as { unref?: () => void }
      timer.unref?.()
    }
  }

  /** When an entry may next be tried: its own time, or later if its peer is backing off. */
  private dueAt (entry: Entry): number {
    const backoff = this.peers.get(entry.peerId)
    return backoff == null ? entry.at : Math.max(entry.at, backoff.until)
  }

  private async run (key: string, entry: Entry, given?: TaskRecord): Promise<void> {
    const attempt = this.deliverOne(entry, given)
    this.running.set(key, attempt)
    try {
      await attempt
    } finally {
      this.running.delete(key)
      const backoff = this.peers.get(entry.peerId)
      if (backoff != null) backoff.probing = false
      this.schedule()
    }
  }

  private async deliverOne (entry: Entry, given?: TaskRecord): Promise<void> {
    const signal = this.controller.signal
    const record = given ?? await this.init.records.get(entry.direction, entry.id)
    const item = record?.outbox?.[0]
    if (record == null || item == null) {
      this.entries.delete(keyOf(entry.direction, entry.id))
      return
    }
    if (record.expiresAt != null && record.expiresAt <= Date.now()) {
      await this.init.expire(record).catch((err: unknown) => { log.error('expiring task %s failed - %e', record.id, err) })
      return
    }
    try {
      await this.init.deliver(record, item, signal)
      if (this.peers.delete(record.peerId)) this.poke(record.peerId)
    } catch (err) {
      if (signal.aborted) return
      const reason = errorMessage(err)
      log('delivering %s of task %s to %s failed - %s', item.kind, record.id, record.peerId, reason)
      const delay = this.backOffPeer(record.peerId)
      await this.init.records.update(record.direction, record.id, (current) => {
        const head = current?.outbox?.[0]
        if (current == null || head == null || head.kind !== item.kind) return undefined
        const attempts = head.attempts + 1
        const wait = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(attempts - 1, 20))
        const at = Date.now() + Math.max(delay, jitter(wait))
        return {
          ...current,
          // "sent" is an attempt under way; one that failed leaves the message queued here again
          ...(head.kind === 'message' && current.delivery === 'sent' ? { delivery: 'queued' as const } : {}),
          outbox: [{ ...head, attempts, lastError: reason }, ...current.outbox?.slice(1) ?? []],
          outboxAt: current.expiresAt != null ? Math.min(at, current.expiresAt) : at
        }
      }).catch((updateErr: unknown) => { log.error('recording a failed delivery of task %s failed - %e', record.id, updateErr) })
    }
  }

  /** Marks `peerId` unreachable for a while (doubling each time); returns that while, in ms. */
  private backOffPeer (peerId: string): number {
    const previous = this.peers.get(peerId)
    const delay = previous == null ? this.retryMinMs : Math.min(this.retryMaxMs, previous.delay * 2)
    const wait = jitter(delay)
    this.peers.set(peerId, { until: Date.now() + wait, delay, probing: false })
    return wait
  }
}

function entryOf (record: TaskRecord): Entry {
  return { direction: record.direction, id: record.id, peerId: record.peerId, at: record.outboxAt ?? Date.now(), expiresAt: record.expiresAt }
}

function keyOf (direction: TaskDirection, id: string): string {
  return `${direction}/${id}`
}

/** Between half and all of `ms`, so that peers retrying together spread out. */
function jitter (ms: number): number {
  return Math.round(ms / 2 + Math.random() * ms / 2)
}
