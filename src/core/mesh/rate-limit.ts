/**
 * Per-sender rate limits at the receiver: a token bucket per PeerID. A sender over its limit
 * gets its task rejected with the reason (a rejected task is final: its sender's outbox does not
 * retry it, so a flood costs the flooder its tasks, not the receiver its work).
 */
import { TokenBuckets } from '../token-buckets.js'

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

export class SenderRateLimit {
  private readonly buckets: TokenBuckets

  constructor (init: RateLimitInit = {}) {
    this.buckets = new TokenBuckets({
      perSecond: init.perSecond ?? DEFAULT_TASKS_PER_SECOND,
      burst: init.burst ?? DEFAULT_TASK_BURST,
      maxKeys: init.maxSenders ?? DEFAULT_MAX_TRACKED_SENDERS,
      now: init.now
    })
  }

  get perSecond (): number { return this.buckets.perSecond }
  get burst (): number { return this.buckets.burst }

  /** Takes one token of `sender`'s bucket; the reason it cannot when it is empty. */
  take (sender: string): string | undefined {
    if (this.buckets.take(sender) === 0) return undefined
    return `rate limit: more than ${this.burst} tasks at once or ${this.perSecond} a second from ${sender}; try again later`
  }
}
