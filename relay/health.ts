/**
 * What `/health` says beyond "up": whether the relay is close to refusing people (reservations,
 * connections or the registry near their limit) or too busy to answer them promptly (event-loop
 * lag). "degraded" still serves; it tells an operator or a load balancer to look or to spread load.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { IntervalHistogram } from 'node:perf_hooks'

/** A use at or above this share of its limit makes the relay degraded. */
export const DEFAULT_NEAR_LIMIT_RATIO = 0.9
/** Event-loop lag (p99 over the last window) above this makes the relay degraded, in ms. */
export const DEFAULT_MAX_EVENT_LOOP_LAG_MS = 200
/** Length of one event-loop lag window, in ms: recent enough to matter, long enough to be stable. */
export const DEFAULT_LAG_WINDOW_MS = 10_000
/** Sampling period of the event-loop delay monitor, in ms. */
export const DEFAULT_LAG_RESOLUTION_MS = 20

export type HealthStatus = 'starting' | 'ok' | 'degraded' | 'stopping'

export interface Usage {
  used: number
  max: number
}

export interface HealthSnapshot {
  reservations: Usage
  connections: Usage
  agents: Usage
}

export interface HealthVerdict {
  status: 'ok' | 'degraded'
  /** Why it is degraded, one sentence each; empty when ok. */
  reasons: string[]
  /** Event-loop lag, p99 of the last window, in ms. */
  eventLoopLagMs: number
}

export interface HealthMonitorInit {
  nearLimitRatio?: number
  maxEventLoopLagMs?: number
  lagWindowMs?: number
  /** Sampling period of the lag monitor, in ms. */
  lagResolutionMs?: number
}

export class HealthMonitor {
  private readonly nearLimitRatio: number
  private readonly maxLagMs: number
  private readonly histogram: IntervalHistogram
  private readonly resolutionMs: number
  private readonly window: ReturnType<typeof setInterval>
  private lastWindowP99Ms = 0

  constructor (init: HealthMonitorInit = {}) {
    this.nearLimitRatio = init.nearLimitRatio ?? DEFAULT_NEAR_LIMIT_RATIO
    this.maxLagMs = init.maxEventLoopLagMs ?? DEFAULT_MAX_EVENT_LOOP_LAG_MS
    this.resolutionMs = init.lagResolutionMs ?? DEFAULT_LAG_RESOLUTION_MS
    this.histogram = monitorEventLoopDelay({ resolution: this.resolutionMs })
    this.histogram.enable()
    // windows, so one stall an hour ago does not keep the relay "degraded" for ever
    this.window = setInterval(() => {
      this.lastWindowP99Ms = this.currentP99Ms()
      this.histogram.reset()
    }, init.lagWindowMs ?? DEFAULT_LAG_WINDOW_MS)
    this.window.unref()
  }

  check (snapshot: HealthSnapshot): HealthVerdict {
    const reasons: string[] = []
    const near = (what: string, usage: Usage): void => {
      if (usage.max > 0 && usage.used >= usage.max * this.nearLimitRatio) {
        reasons.push(`${what} near the limit: ${usage.used} of ${usage.max}`)
      }
    }
    near('reservations', snapshot.reservations)
    near('connections', snapshot.connections)
    near('registry', snapshot.agents)
    const lag = Math.max(this.lastWindowP99Ms, this.currentP99Ms())
    if (lag > this.maxLagMs) reasons.push(`event-loop lag high: ${Math.round(lag)} ms (p99)`)
    return { status: reasons.length > 0 ? 'degraded' : 'ok', reasons, eventLoopLagMs: Math.round(lag) }
  }

  stop (): void {
    clearInterval(this.window)
    this.histogram.disable()
  }

  /** The p99 delay beyond the sampling resolution, in ms (the monitor counts its own timer period). */
  private currentP99Ms (): number {
    if (this.histogram.count === 0) return 0
    return Math.max(0, this.histogram.percentile(99) / 1e6 - this.resolutionMs)
  }
}
