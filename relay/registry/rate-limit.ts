/**
 * Registry calls per peer: a token bucket per PeerID, so one peer cannot keep the registry (or
 * the relay's event loop) busy, while normal use — a publish, a renewal every few minutes, a
 * discover every few seconds while a person looks at the agents list — never meets it.
 */

/** Calls one peer may make per second, sustained. */
export const DEFAULT_REGISTRY_CALLS_PER_SECOND = 10
/** Calls one peer may make at once after a quiet while. */
export const DEFAULT_REGISTRY_CALL_BURST = 20
/** Peers whose buckets are kept; the least recently seen are forgotten past it (a full bucket). */
const MAX_TRACKED_PEERS = 100_000

export interface RateLimitInit {
  perSecond?: number
  burst?: number
  /** The clock, in ms since the epoch (tests move it). */
  now?: () => number
}

export class PeerRateLimit {
  readonly perSecond: number
  readonly burst: number
  private readonly now: () => number
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (init: RateLimitInit = {}) {
    this.perSecond = init.perSecond ?? DEFAULT_REGISTRY_CALLS_PER_SECOND
    this.burst = init.burst ?? DEFAULT_REGISTRY_CALL_BURST
    this.now = init.now ?? Date.now
  }

  /** Takes one call for `peer`: 0 when allowed, else the ms until the next one would be. */
  take (peer: string): number {
    const now = this.now()
    const bucket = this.buckets.get(peer) ?? { tokens: this.burst, at: now }
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.perSecond / 1000)
    bucket.at = now
    // re-inserted, so the map's order is least recently seen first
    this.buckets.delete(peer)
    this.buckets.set(peer, bucket)
    if (this.buckets.size > MAX_TRACKED_PEERS) {
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
