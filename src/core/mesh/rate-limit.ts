/**
 * Per-sender rate limits at the receiver: a token bucket per PeerID. A sender over its limit
 * gets its task rejected with the reason (a rejected task is final: its sender's outbox does not
 * retry it, so a flood costs the flooder its tasks, not the receiver its work).
 */

/** Tasks a second one sender may keep sending, on average. */
export const DEFAULT_TASKS_PER_SECOND = 5

/** Tasks one sender may send at once before the per-second rate applies. */
export const DEFAULT_TASK_BURST = 20

/** Senders whose buckets are kept; the least recently seen is forgotten first (a full bucket again). */
export const DEFAULT_MAX_TRACKED_SENDERS = 4096

export interface RateLimitInit {
  perSecond?: number
  burst?: number
  maxSenders?: number
  /** ms since the epoch (tests). */
  now?: () => number
}

interface Bucket { tokens: number, at: number }

export class SenderRateLimit {
  readonly perSecond: number
  readonly burst: number
  private readonly maxSenders: number
  private readonly now: () => number
  // a Map iterates in insertion order: re-inserting on use keeps the oldest first
  private readonly buckets = new Map<string, Bucket>()

  constructor (init: RateLimitInit = {}) {
    this.perSecond = init.perSecond ?? DEFAULT_TASKS_PER_SECOND
    this.burst = init.burst ?? DEFAULT_TASK_BURST
    this.maxSenders = init.maxSenders ?? DEFAULT_MAX_TRACKED_SENDERS
    this.now = init.now ?? Date.now
  }

  /** Takes one token of `sender`'s bucket; the reason it cannot when it is empty. */
  take (sender: string): string | undefined {
    const now = this.now()
    const bucket = this.buckets.get(sender) ?? { tokens: this.burst, at: now }
    this.buckets.delete(sender)
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) / 1000 * this.perSecond)
    bucket.at = now
    this.buckets.set(sender, bucket)
    if (this.buckets.size > this.maxSenders) {
      const oldest = this.buckets.keys().next().value
      if (oldest != null) this.buckets.delete(oldest)
    }
    if (bucket.tokens < 1) return `rate limit: more than ${this.burst} tasks at once or ${this.perSecond} a second from ${sender}; try again later`
    bucket.tokens -= 1
    return undefined
  }
}
