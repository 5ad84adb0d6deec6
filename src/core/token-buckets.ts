/**
 * Rate limits by key: a token bucket per key (a PeerID, an IP address), refilled at `perSecond`
 * up to `burst`. The relay's registry and HTTP bridge limit callers with it, a peer its task
 * senders. The least recently seen keys are forgotten past `maxKeys`, which is no loss: a
 * forgotten key starts again with a full bucket, as a quiet one would have.
 */

export interface TokenBucketsInit {
  /** Tokens added per second, up to `burst`. */
  perSecond: number
  /** Tokens a key may spend at once after a quiet while. */
  burst: number
  /** Keys whose buckets are kept. */
  maxKeys: number
  /** The clock, in ms since the epoch (tests move it). */
  now?: () => number
}

export class TokenBuckets {
  readonly perSecond: number
  readonly burst: number
  private readonly maxKeys: number
  private readonly now: () => number
  // a Map iterates in insertion order: re-inserting on use keeps the least recently seen first
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (init: TokenBucketsInit) {
    this.perSecond = init.perSecond
    this.burst = init.burst
    this.maxKeys = init.maxKeys
    this.now = init.now ?? Date.now
  }

  /** Takes one token of `key`'s bucket: 0 when there was one, else the ms until there will be. */
  take (key: string): number {
    const now = this.now()
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now }
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.perSecond / 1000)
    bucket.at = now
    this.buckets.delete(key)
    this.buckets.set(key, bucket)
    if (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next().value
      if (oldest != null) this.buckets.delete(oldest)
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return Math.ceil((1 - bucket.tokens) * 1000 / this.perSecond)
  }
}
