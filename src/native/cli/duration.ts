/**
 * Durations on the command line (`--ttl 30s`, `--ttl 1h30m`), as people write them. A unit is
 * required: a bare `30` could mean seconds or minutes, and a task's time to live is worth
 * getting right.
 */
import { UsageError } from './verb.js'

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000
}

/** Longest duration taken, in ms: 365 days (a task that waits longer is not waiting). */
export const MAX_DURATION_MS = 365 * 86_400_000

const PIECE = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y

/**
 * `30s` → 30 000, `10m` → 600 000, `1h30m` → 5 400 000. Throws UsageError (naming `flag`) for
 * anything else, for zero, and beyond `maxMs` (default MAX_DURATION_MS).
 */
export function parseDuration (value: string, flag: string, maxMs = MAX_DURATION_MS): number {
  const text = value.trim().toLowerCase()
  const fail = (why: string): never => {
    throw new UsageError(`--${flag} ${why}, got "${value}" (e.g. 30s, 10m, 24h, 1h30m)`)
  }
  if (text === '') fail('needs a duration')
  let ms = 0
  PIECE.lastIndex = 0
  while (PIECE.lastIndex < text.length) {
    const match = PIECE.exec(text)
    if (match == null) fail(/^\d+(\.\d+)?$/.test(text) ? 'needs a unit (ms, s, m, h or d)' : 'must be a duration')
    ms += Number(match?.[1]) * (UNIT_MS[match?.[2] ?? ''] ?? 0)
  }
  ms = Math.round(ms)
  if (ms < 1) fail('must be longer than zero')
  if (ms > maxMs) fail(`must be at most ${Number.isInteger(maxMs / 86_400_000) ? `${maxMs / 86_400_000}d` : `${maxMs}ms`}`)
  return ms
}
