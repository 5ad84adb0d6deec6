/**
 * What a relayed ("limited") connection can still carry before its relay closes it.
 *
 * A circuit relay v2 relay limits each relayed connection in data and in time. The data limit
 * is one budget for both directions: the relay subtracts every byte it reads from either side
 * from the same counter and resets both halves of the circuit once it goes below zero
 * (@libp2p/circuit-relay-v2 `createLimitedRelay`). Each end sees that budget in
 * `connection.limits`: `bytes` is a live counter of what remains, decremented on every read and
 * every write of the relayed stream (the encrypted, multiplexed bytes, so framing and Noise
 * overhead count), and `seconds` is the time left. Each end counts its own writes when they are
 * handed to the relay stream and the other end's writes when they arrive, so what is still in
 * flight towards us is not in it yet.
 *
 * A message cut by the limit is lost, and so is every other call on the connection; so a
 * message that does not fit is never started on it. This ledger adds to the live counter what
 * libp2p cannot see yet: bytes we queued but did not hand down, fragmented messages the remote
 * announced but did not finish sending, and our own count of the bytes we wrote and read.
 */
import type { ConnectionLimits } from '@libp2p/interface'
import { DEFAULT_FRAGMENT_BYTES } from './fragment.js'

/**
 * Bytes of a relayed connection a large message leaves unused, in bytes: 64 KiB. They keep
 * small calls, identify and keep-alives flowing (and absorb what the remote has in flight that
 * we cannot see) after a large transfer used up the rest.
 */
export const DEFAULT_RELAY_RESERVE_BYTES = 64 * 1024

/**
 * Throughput assumed of a relayed connection when checking its time limit, in bytes per
 * second: 256 KiB/s, a slow relay on a slow uplink. A message whose transfer would need more
 * than the seconds left at this pace is not started.
 */
export const DEFAULT_RELAY_MIN_BYTES_PER_SECOND = 256 * 1024

/** Seconds a relayed connection must have left, beyond the transfer itself, for a large message: 10 s. */
export const DEFAULT_RELAY_MIN_SECONDS = 10

/**
 * A duration limit that, read in seconds, would be this long or longer is taken to be in
 * milliseconds: see `remainingSeconds`.
 */
const MILLISECOND_DURATION_THRESHOLD = 10_000

/** Wire bytes of a message beyond its own: frame and fragment headers, yamux and Noise framing. */
const MESSAGE_OVERHEAD_BYTES = 64

/**
 * Bytes `n` bytes of messages take on a relayed connection: per 16 KiB, room for a fragment
 * header, a yamux header and a Noise tag (each comes at most once per 64 KiB; counting them
 * four times over keeps the estimate on the safe side at 0.2 %).
 */
export function wireCost (n: number): number {
  return n + Math.ceil(n / 16_384) * 32
}

/** Why a message does not fit, in the terms of the limit in the way. */
export interface AllowanceShortfall {
  limit: 'data' | 'duration'
  /** Bytes the message needs on the wire. */
  needed: number
  /** Bytes that could still be started (data), or seconds left (duration). */
  remaining: number
}

export interface TransferAllowanceInit {
  /** When the connection opened, ms since the epoch (`connection.timeline.open`). */
  openedAt?: number
  reserveBytes?: number
  minBytesPerSecond?: number
  minSeconds?: number
}

export class TransferAllowance {
  private readonly limits: ConnectionLimits
  /** What the live counter said when we first saw the connection, or undefined without a data limit. */
  readonly initialBytes?: number
  /** The seconds it had left then, or undefined without a time limit. */
  readonly initialSeconds?: number
  private readonly openedAt?: number
  private readonly reserveBytes: number
  private readonly minBytesPerSecond: number
  private readonly minSeconds: number
  private sent = 0
  private received = 0
  private pendingOut = 0
  private pendingIn = 0
  private isRetired = false

  constructor (limits: ConnectionLimits, init: TransferAllowanceInit = {}) {
    this.limits = limits
    this.initialBytes = limits.bytes == null ? undefined : Number(limits.bytes)
    this.openedAt = init.openedAt
    this.initialSeconds = this.remainingSeconds()
    this.reserveBytes = init.reserveBytes ?? DEFAULT_RELAY_RESERVE_BYTES
    this.minBytesPerSecond = init.minBytesPerSecond ?? DEFAULT_RELAY_MIN_BYTES_PER_SECOND
    this.minSeconds = init.minSeconds ?? DEFAULT_RELAY_MIN_SECONDS
  }

  /** We handed `n` bytes to a stream on this connection. */
  recordSent (n: number): void { this.sent += n }
  /** `n` bytes arrived on a stream on this connection. */
  recordReceived (n: number): void { this.received += n }
  /** `n` bytes of ours are queued to be sent (a fragmented message not fully handed down yet). */
  reserveOut (n: number): void { this.pendingOut += n }
  releaseOut (n: number): void { this.pendingOut = Math.max(0, this.pendingOut - n) }
  /** The remote announced `n` more bytes (a fragmented message it started). */
  expectIn (n: number): void { this.pendingIn += n }
  releaseIn (n: number): void { this.pendingIn = Math.max(0, this.pendingIn - n) }

  /**
   * Bytes that may still be started on this connection, or undefined when its relay set no data
   * limit. Negative when more is committed than remains.
   */
  remainingBytes (): number | undefined {
    const live = this.limits.bytes
    if (live == null) return undefined
    let remaining = Number(live)
    if (this.initialBytes != null) {
      remaining = Math.min(remaining, this.initialBytes - wireCost(this.sent + this.received))
    }
    return remaining - wireCost(this.pendingOut + this.pendingIn)
  }

  /**
   * Seconds until the relay closes the connection, or undefined without a time limit.
   *
   * The circuit relay v2 spec gives the duration limit in seconds, and libp2p's client reads it
   * so; but js-libp2p relays (@libp2p/circuit-relay-v2 4.x, ours included) send milliseconds,
   * and close the circuit after that many milliseconds. Read as seconds, a 30 min limit would
   * look like three weeks. So a limit that, read as seconds, comes to 10 000 s or more (no relay
   * holds circuits for hours) is taken to be in milliseconds; under it, seconds (a limit under
   * 10 s in milliseconds would carry nothing).
   */
  remainingSeconds (): number | undefined {
    const reading = this.limits.seconds
    if (reading == null || this.openedAt == null) return reading
    const elapsed = (Date.now() - this.openedAt) / 1000
    const announced = reading + elapsed
    return announced >= MILLISECOND_DURATION_THRESHOLD ? announced / 1000 - elapsed : reading
  }

  /**
   * Why a message of `bytes` (its UTF-8 JSON) does not fit, or undefined when it does. Large
   * messages (sent as fragments) must leave the reserve; small ones may use it.
   */
  shortfall (bytes: number): AllowanceShortfall | undefined {
    const needed = wireCost(bytes) + MESSAGE_OVERHEAD_BYTES
    const small = bytes <= DEFAULT_FRAGMENT_BYTES
    const remaining = this.remainingBytes()
    if (remaining != null) {
      const usable = remaining - (small ? 0 : this.reserveBytes)
      if (needed > usable) return { limit: 'data', needed, remaining: Math.max(0, usable) }
    }
    const seconds = this.remainingSeconds()
    if (seconds != null && seconds < needed / this.minBytesPerSecond + (small ? 1 : this.minSeconds)) {
      return { limit: 'duration', needed, remaining: Math.max(0, seconds) }
    }
    return undefined
  }

  /**
   * Whether new calls should go elsewhere: the remote could not answer here (retired), or the
   * connection is down to its reserve.
   */
  get exhausted (): boolean {
    if (this.isRetired) return true
    const remaining = this.remainingBytes()
    if (remaining != null && remaining < this.reserveBytes) return true
    const seconds = this.remainingSeconds()
    return seconds != null && seconds < this.minSeconds
  }

  /** The remote could not send its answer on this connection: new calls go elsewhere. */
  retire (): void { this.isRetired = true }
}

const allowances = new WeakMap<object, TransferAllowance>()

/**
 * The allowance of `connection`, shared by every stream on it (both ends of a relayed
 * connection draw on one budget); undefined for a connection without limits.
 */
export function allowanceFor (connection: { limits?: ConnectionLimits, timeline?: { open: number } }): TransferAllowance | undefined {
  if (connection.limits == null) return undefined
  let allowance = allowances.get(connection)
  if (allowance == null) {
    allowance = new TransferAllowance(connection.limits, { openedAt: connection.timeline?.open })
    allowances.set(connection, allowance)
  }
  return allowance
}
