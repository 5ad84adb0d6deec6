/**
 * Fragments: how a JSON-RPC message larger than one frame travels (docs/protocol.md §1).
 *
 * A frame whose body starts with one of the bytes below is a fragment; any other body is a
 * whole message (JSON text never starts with a byte under 0x09). A sender cuts a large message
 * into fragments of at most DEFAULT_FRAGMENT_BYTES and interleaves them with its other frames,
 * so a 25 MiB transfer does not hold small calls on the same stream behind it:
 *
 *   START    0x01 · varint message · varint total · varint idLength · id · payload
 *   CONTINUE 0x02 · varint message · payload
 *   ABORT    0x03 · varint message
 *
 * `message` is the sender's number for the message, unique among its unfinished ones on the
 * stream; `total` is the message's length (UTF-8 JSON bytes); `id` is its JSON-RPC id as JSON
 * text, so a receiver can refuse it before it has arrived. The message is complete when `total`
 * bytes have arrived. ABORT: the sender gave up on it; the receiver drops what it holds.
 *
 * Receivers bound what they hold: `total` must be within the message limit, the totals of the
 * unfinished messages of one stream within the reassembly limit, and their number within
 * DEFAULT_MAX_UNFINISHED_MESSAGES; a message over any is refused (answered with -32085 when it
 * is a request) and its fragments are dropped as they come. Nothing of a message is parsed
 * before all of it has arrived.
 */
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { MalformedFrameError, MessageTooLargeError } from '../errors.js'
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, parseBody } from './frame.js'
import type { DecodedFrame } from './frame.js'
import { isValidId } from './jsonrpc.js'
import type { JsonRpcId } from './jsonrpc.js'
import type { TransferAllowance } from './allowance.js'

/** Payload bytes of one fragment, and the size above which a message is fragmented: 64 KiB. */
export const DEFAULT_FRAGMENT_BYTES = 64 * 1024

export const FragmentType = {
  Start: 0x01,
  Continue: 0x02,
  Abort: 0x03
} as const

/** Longest JSON-RPC id (as JSON text) a START may carry, in bytes. */
const MAX_ID_BYTES = 1024

/**
 * Unfinished fragmented messages one stream may have at once. A sender fragments only messages
 * over 64 KiB and keeps them within the reassembly limit (56 MiB on A2A streams: 896 of them);
 * the bound keeps a remote from filling a map with tiny ones.
 */
export const DEFAULT_MAX_UNFINISHED_MESSAGES = 1024

/**
 * How long an unfinished message may go without a fragment before it counts as abandoned, in
 * ms: 30 s. An abandoned message is dropped when its room is needed for another (its sender
 * stalled or forgot it; a live transfer sends a fragment every few milliseconds).
 */
export const DEFAULT_REASSEMBLY_STALL_MS = 30_000

const encoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

/** Whether a frame body is a fragment rather than a whole message. */
export function isFragment (body: Uint8Array): boolean {
  const type = body[0]
  return type !== undefined && type >= FragmentType.Start && type <= FragmentType.Abort
}

/** The START frame (length prefix included) of message `message`: header, then `payload`. */
export function startFragment (message: number, total: number, id: JsonRpcId, payload: Uint8Array): Uint8ArrayList {
  const idBytes = encoder.encode(JSON.stringify(id))
  const header = [FragmentType.Start, ...varint.encode(message), ...varint.encode(total), ...varint.encode(idBytes.byteLength)]
  return framed(Uint8Array.from([...header, ...idBytes]), payload)
}

/** A CONTINUE frame of message `message` carrying `payload`. */
export function continueFragment (message: number, payload: Uint8Array): Uint8ArrayList {
  return framed(Uint8Array.from([FragmentType.Continue, ...varint.encode(message)]), payload)
}

/** The ABORT frame of message `message`. */
export function abortFragment (message: number): Uint8Array {
  const body = Uint8Array.from([FragmentType.Abort, ...varint.encode(message)])
  return Uint8Array.from([...varint.encode(body.byteLength), ...body])
}

/** Prefix and header in one small array, the payload as it is: the payload is never copied. */
function framed (header: Uint8Array, payload: Uint8Array): Uint8ArrayList {
  const length = header.byteLength + payload.byteLength
  const prefix = varint.encode(length)
  const head = new Uint8Array(prefix.byteLength + header.byteLength)
  head.set(prefix, 0)
  head.set(header, prefix.byteLength)
  return new Uint8ArrayList(head, payload)
}

/** A fragment's header, read. */
export type Fragment =
  | { type: typeof FragmentType.Start, message: number, total: number, id: JsonRpcId, payload: Uint8Array }
  | { type: typeof FragmentType.Continue, message: number, payload: Uint8Array }
  | { type: typeof FragmentType.Abort, message: number }

/** Reads a fragment's header. Throws MalformedFrameError when it is not one. */
export function parseFragment (body: Uint8Array): Fragment {
  let offset = 1
  const next = (what: string): number => {
    let value: number
    try {
      value = varint.decode(body, offset)
    } catch (err) {
      throw new MalformedFrameError(`malformed fragment: ${what} is not a varint`, { cause: err })
    }
    if (!Number.isSafeInteger(value)) throw new MalformedFrameError(`malformed fragment: ${what} is out of range`)
    offset += varint.encodingLength(value)
    return value
  }
  const type = body[0]
  const message = next('the message number')
  if (type === FragmentType.Abort) {
    if (offset !== body.byteLength) throw new MalformedFrameError('malformed fragment: an ABORT carries nothing but its message number')
    return { type, message }
  }
  if (type === FragmentType.Continue) {
    return { type, message, payload: body.subarray(offset) }
  }
  if (type !== FragmentType.Start) throw new MalformedFrameError(`malformed fragment: unknown type ${String(type)}`)
  const total = next('the total length')
  const idLength = next('the id length')
  if (idLength > MAX_ID_BYTES || offset + idLength > body.byteLength) {
    throw new MalformedFrameError('malformed fragment: the id is longer than the frame or the limit')
  }
  let id: unknown
  try {
    id = JSON.parse(textDecoder.decode(body.subarray(offset, offset + idLength)))
  } catch (err) {
    throw new MalformedFrameError('malformed fragment: the id is not JSON', { cause: err })
  }
  if (!isValidId(id)) throw new MalformedFrameError('malformed fragment: the id is not a JSON-RPC id')
  offset += idLength
  const payload = body.subarray(offset)
  if (total === 0 || payload.byteLength > total) {
    throw new MalformedFrameError(`malformed fragment: a START of a ${total} byte message carries ${payload.byteLength} bytes`)
  }
  return { type, message, total, id, payload }
}

/** What one message decoded to; refused and unreadable messages carry their id when known. */
export type DecodedMessage =
  | DecodedFrame
  | { ok: false, error: MessageTooLargeError, id: JsonRpcId }

export interface MessageDecoderInit {
  /** Largest message, in bytes. */
  maxMessageBytes: number
  /** Largest frame read whole, in bytes; at most maxMessageBytes. */
  maxFrameBytes?: number
  /** Sum of the totals of the unfinished fragmented messages of the stream, in bytes. */
  maxReassemblyBytes?: number
  /** Unfinished fragmented messages of the stream. */
  maxUnfinished?: number
  /** Time without a fragment after which an unfinished message may be dropped to make room, in ms. */
  stallMs?: number
  /** The allowance of a limited connection: announced bytes are counted as committed. */
  allowance?: TransferAllowance
}

interface Partial {
  id: JsonRpcId
  total: number
  received: number
  /** When its last fragment arrived, ms since the epoch. */
  lastAt: number
  /** The message so far; undefined once dropped. */
  buffer?: Uint8Array
}

/**
 * Decodes a stream: whole frames are parsed at once (the fast path, unchanged), fragments are
 * reassembled within the limits. Throws FrameTooLargeError when the framing itself is lost
 * (the stream must be closed); everything else is reported per message and the stream goes on.
 */
export class MessageDecoder {
  private readonly frames: FrameDecoder
  private readonly maxMessageBytes: number
  private readonly maxReassemblyBytes: number
  private readonly maxUnfinished: number
  private readonly stallMs: number
  private readonly allowance?: TransferAllowance
  private readonly partials = new Map<number, Partial>()
  private reassemblyBytes = 0

  constructor (init: MessageDecoderInit) {
    this.maxMessageBytes = init.maxMessageBytes
    this.frames = new FrameDecoder(Math.min(init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, init.maxMessageBytes))
    this.maxReassemblyBytes = init.maxReassemblyBytes ?? init.maxMessageBytes
    this.maxUnfinished = init.maxUnfinished ?? DEFAULT_MAX_UNFINISHED_MESSAGES
    this.stallMs = init.stallMs ?? DEFAULT_REASSEMBLY_STALL_MS
    this.allowance = init.allowance
  }

  /** Bytes held: undelivered frame bytes, and the reserved totals of unfinished messages. */
  get bufferedBytes (): number {
    return this.frames.bufferedBytes + this.reassemblyBytes
  }

  /** Fragmented messages begun and not finished. */
  get unfinished (): number {
    return this.partials.size
  }

  * push (chunk: Uint8Array | Uint8ArrayList): Generator<DecodedMessage> {
    for (const body of this.frames.bodies(chunk)) {
      if (!isFragment(body)) {
        yield parseBody(body)
        continue
      }
      yield * this.onFragment(body)
    }
  }

  /** Drops every unfinished message (the stream closed). */
  clear (): void {
    for (const partial of this.partials.values()) this.drop(partial)
    this.partials.clear()
    this.frames.clear()
  }

  private * onFragment (body: Uint8Array): Generator<DecodedMessage> {
    let fragment: Fragment
    try {
      fragment = parseFragment(body)
    } catch (err) {
      // the frame's bytes are gone, but which message they belonged to may still be readable
      const error = err as MalformedFrameError
      const message = leadingVarint(body)
      const partial = message == null ? undefined : this.partials.get(message)
      if (partial == null || message == null) {
        yield { ok: false, error }
        return
      }
      this.forget(message, partial)
      yield { ok: false, error, id: partial.id }
      return
    }

    if (fragment.type === FragmentType.Start) {
      const { message, total, id, payload } = fragment
      const existing = this.partials.get(message)
      if (existing != null) {
        // both are lost: the one begun (its bytes would mix with the new one's) and the new one
        this.forget(message, existing)
        const error = new MalformedFrameError(`malformed fragment: message ${message} was started twice`)
        yield { ok: false, error, id: existing.id }
        yield { ok: false, error, id }
        return
      }
      // room taken by abandoned messages is given back before a message is refused for want of it
      if (total <= this.maxMessageBytes && this.refusal(total) != null) yield * this.dropStalled()
      const refusal = this.refusal(total)
      if (refusal != null) {
        // reported once, at its start; not kept, so its later fragments are ignored as unknown
        yield { ok: false, error: refusal, id }
        return
      }
      const partial: Partial = { id, total, received: 0, lastAt: Date.now(), buffer: new Uint8Array(total) }
      this.reassemblyBytes += total
      this.allowance?.expectIn(total)
      this.partials.set(message, partial)
      const out = this.append(message, partial, payload)
      if (out != null) yield out
      return
    }

    const partial = this.partials.get(fragment.message)
    // a message we dropped (malformed), or a sender bug: nothing to keep
    if (partial == null) return
    if (fragment.type === FragmentType.Abort) {
      this.forget(fragment.message, partial)
      return
    }
    const out = this.append(fragment.message, partial, fragment.payload)
    if (out != null) yield out
  }

  /** Drops the unfinished messages that went without a fragment for stallMs: abandoned. */
  private * dropStalled (): Generator<DecodedMessage> {
    const now = Date.now()
    for (const [message, partial] of this.partials) {
      if (now - partial.lastAt < this.stallMs) continue
      this.forget(message, partial)
      const seconds = Math.round((now - partial.lastAt) / 1000)
      yield { ok: false, error: new MalformedFrameError(`message ${message} was dropped: no fragment of it for ${seconds} s`), id: partial.id }
    }
  }

  /** Why a message of `total` bytes cannot be taken now, or undefined. */
  private refusal (total: number): MessageTooLargeError | undefined {
    if (total > this.maxMessageBytes) return new MessageTooLargeError(total, this.maxMessageBytes)
    if (this.reassemblyBytes + total > this.maxReassemblyBytes) {
      return new MessageTooLargeError(total, this.maxReassemblyBytes,
        `a message of ${total} bytes does not fit the ${this.maxReassemblyBytes} bytes one stream may hold in reassembly (${this.reassemblyBytes} held)`)
    }
    if (this.partials.size >= this.maxUnfinished) {
      return new MessageTooLargeError(total, this.maxReassemblyBytes,
        `a stream may have at most ${this.maxUnfinished} unfinished fragmented messages`)
    }
    return undefined
  }

  private append (message: number, partial: Partial, payload: Uint8Array): DecodedMessage | undefined {
    if (partial.received + payload.byteLength > partial.total) {
      this.forget(message, partial)
      return { ok: false, error: new MalformedFrameError(`malformed fragment: message ${message} is longer than the ${partial.total} bytes it announced`), id: partial.id }
    }
    const buffer = partial.buffer
    if (buffer == null) return undefined
    buffer.set(payload, partial.received)
    partial.received += payload.byteLength
    partial.lastAt = Date.now()
    this.allowance?.releaseIn(payload.byteLength)
    if (partial.received < partial.total) return undefined
    this.forget(message, partial)
    const decoded = parseBody(buffer)
    return decoded.ok ? decoded : { ...decoded, id: partial.id }
  }

  private forget (message: number, partial: Partial): void {
    this.partials.delete(message)
    this.drop(partial)
  }

  private drop (partial: Partial): void {
    if (partial.buffer == null) return
    this.reassemblyBytes -= partial.total
    this.allowance?.releaseIn(partial.total - partial.received)
    partial.buffer = undefined
  }
}

/** The message number of a fragment whose header could not be read whole, if that much is readable. */
function leadingVarint (body: Uint8Array): number | undefined {
  try {
    const value = varint.decode(body, 1)
    return Number.isSafeInteger(value) ? value : undefined
  } catch {
    return undefined
  }
}
