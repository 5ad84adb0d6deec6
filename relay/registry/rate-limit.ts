/**
 * Registry calls per peer: a token bucket per PeerID, so one peer cannot keep the registry (or
 * the relay's event loop) busy, while normal use — a publish, a renewal every few minutes, a
 * discover every few seconds while a person looks at the agents list — never meets it.
 */
import { TokenBuckets } from '../../src/core/token-buckets.js'

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

/** Per-peer limits with the registry's defaults (src/core/token-buckets.ts does the counting). */
export class PeerRateLimit extends TokenBuckets {
  constructor (init: RateLimitInit = {}) {
    super({
      perSecond: init.perSecond ?? DEFAULT_REGISTRY_CALLS_PER_SECOND,
      burst: init.burst ?? DEFAULT_REGISTRY_CALL_BURST,
      maxKeys: MAX_TRACKED_PEERS,
      now: init.now
    })
  }
}
