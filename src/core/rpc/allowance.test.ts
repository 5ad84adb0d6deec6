import { describe, expect, it } from 'vitest'
import { allowanceFor, DEFAULT_RELAY_MIN_BYTES_PER_SECOND, DEFAULT_RELAY_RESERVE_BYTES, TransferAllowance, wireCost } from './allowance.js'

const KiB = 1024
const MiB = 1024 * KiB

/** What libp2p's circuit transport exposes: a live counter of the bytes left, and the seconds left. */
function liveLimits (bytes?: number, seconds?: number): { limits: { bytes?: bigint, seconds?: number }, use: (n: number) => void } {
  let left = bytes == null ? undefined : BigInt(bytes)
  const limits: { bytes?: bigint, seconds?: number } = {}
  if (left != null) Object.defineProperty(limits, 'bytes', { get: () => left, enumerable: true })
  if (seconds != null) limits.seconds = seconds
  return { limits, use: (n) => { if (left != null) left -= BigInt(n) } }
}

describe('the allowance of a relayed connection', () => {
  it('lets a message start only when it fits what the relay still allows, keeping a reserve for small calls', () => {
    const { limits, use } = liveLimits(4 * MiB)
    const allowance = new TransferAllowance(limits)
    expect(allowance.shortfall(3 * MiB)).toBeUndefined()
    use(2 * MiB)
    expect(allowance.shortfall(3 * MiB)).toMatchObject({ limit: 'data', remaining: 2 * MiB - DEFAULT_RELAY_RESERVE_BYTES })
    // a large message leaves the reserve; a small one may use it
    const justUnder = 2 * MiB - DEFAULT_RELAY_RESERVE_BYTES - 8 * KiB
    expect(allowance.shortfall(justUnder)).toBeUndefined()
    use(2 * MiB - 10 * KiB)
    expect(allowance.shortfall(100 * KiB)).toBeDefined()
    expect(allowance.shortfall(2 * KiB)).toBeUndefined()
    expect(allowance.exhausted).toBe(true)
  })

  it('counts what libp2p cannot see yet: our own writes, our queued bytes, and what the remote announced', () => {
    const { limits } = liveLimits(4 * MiB)
    const allowance = new TransferAllowance(limits)
    allowance.recordSent(1 * MiB)
    expect(allowance.remainingBytes()).toBe(4 * MiB - wireCost(1 * MiB))
    allowance.reserveOut(1 * MiB)
    allowance.expectIn(1 * MiB)
    expect(allowance.remainingBytes()).toBe(4 * MiB - wireCost(1 * MiB) - wireCost(2 * MiB))
    allowance.releaseOut(1 * MiB)
    allowance.releaseIn(1 * MiB)
    expect(allowance.remainingBytes()).toBe(4 * MiB - wireCost(1 * MiB))
  })

  it('refuses a transfer that would outlast the connection', () => {
    const allowance = new TransferAllowance(liveLimits(undefined, 30).limits)
    // 30 s at the assumed pace, minus the margin
    expect(allowance.shortfall(2 * MiB)).toBeUndefined()
    expect(allowance.shortfall(30 * DEFAULT_RELAY_MIN_BYTES_PER_SECOND)).toMatchObject({ limit: 'duration', remaining: 30 })
    expect(new TransferAllowance(liveLimits(undefined, 5).limits).exhausted).toBe(true)
  })

  it('reads a duration limit sent in milliseconds (as js-libp2p relays do) as milliseconds', () => {
    // a 30 min limit in ms, read by libp2p as seconds, on a connection open for 60 s
    const openedAt = Date.now() - 60_000
    const js = new TransferAllowance({ seconds: 1_800_000 - 60 }, { openedAt })
    expect(js.remainingSeconds()).toBeCloseTo(1800 - 60, 0)
    // a 2 min limit in seconds (as the spec says and go-libp2p sends), 60 s in
    const go = new TransferAllowance({ seconds: 60 }, { openedAt })
    expect(go.remainingSeconds()).toBe(60)
  })

  it('is retired when the remote could not answer on it', () => {
    const allowance = new TransferAllowance(liveLimits(64 * MiB).limits)
    expect(allowance.exhausted).toBe(false)
    allowance.retire()
    expect(allowance.exhausted).toBe(true)
  })

  it('is one per connection, and none for a connection without limits', () => {
    const relayed = { limits: liveLimits(1 * MiB).limits }
    expect(allowanceFor(relayed)).toBe(allowanceFor(relayed))
    expect(allowanceFor(relayed)?.initialBytes).toBe(1 * MiB)
    expect(allowanceFor({})).toBeUndefined()
  })
})
