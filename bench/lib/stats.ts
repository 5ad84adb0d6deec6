/**
 * Timing and statistics for the benchmarks: high-resolution clocks, percentiles, and the loop
 * that keeps a fixed number of operations in flight.
 */

/** Milliseconds, from a monotonic high-resolution clock. */
export function now (): number {
  return performance.now()
}

/** The q-th quantile (0…1) of `samples` (nearest rank); NaN when empty. */
export function quantile (samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]!
}

export interface LatencyResult {
  p50: number
  p99: number
  count: number
}

/** Runs `op` `count` times one after another, after `warmup` untimed runs; latency per op in ms. */
export async function measureLatency (op: () => Promise<unknown>, count: number, warmup: number): Promise<LatencyResult> {
  for (let i = 0; i < warmup; i++) await op()
  const samples: number[] = []
  for (let i = 0; i < count; i++) {
    const start = now()
    await op()
    samples.push(now() - start)
  }
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), count }
}

export interface ThroughputResult {
  /** Completed operations per second. */
  rate: number
  count: number
  ms: number
}

/**
 * Keeps `inFlight` operations running until `count` have completed (after `warmup` untimed
 * ones at the same concurrency); completed operations per second.
 */
export async function measureThroughput (op: () => Promise<unknown>, count: number, inFlight: number, warmup: number): Promise<ThroughputResult> {
  await runConcurrently(op, warmup, inFlight)
  const start = now()
  await runConcurrently(op, count, inFlight)
  const ms = now() - start
  return { rate: count / (ms / 1000), count, ms }
}

async function runConcurrently (op: () => Promise<unknown>, count: number, inFlight: number): Promise<void> {
  let started = 0
  const worker = async (): Promise<void> => {
    while (started < count) {
      started++
      await op()
    }
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker))
}

/** Rounds for display: 3 significant digits, no exponent. */
export function round (value: number): number {
  if (!Number.isFinite(value) || value === 0) return value
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))))
  return Number(value.toFixed(Math.min(digits, 6)))
}
