/**
 * Framing for every Starling stream: an unsigned-varint byte length, then that many bytes of
 * body. A body is either one whole JSON-RPC message (UTF-8 JSON) or a fragment of a larger one
 * (./fragment.ts); this module knows only the length prefix and whole messages. Frames are
 * bounded so a remote cannot make a peer buffer without limit.
 */
import * as varint from 'uint8-varint'
import { FrameTooLargeError, MalformedFrameError } from '../errors.js'
import { Uint8ArrayList } from 'uint8arraylist'
import type { JsonRpcId } from './jsonrpc.js'

/**
 * Largest frame (its body, in bytes) a Starling stream carries: 4 MiB. Larger messages travel as
 * fragments (./fragment.ts); it is also the message limit of a protocol that sets none.
 * Peers that predate fragments sent messages up to this size whole, so receivers still read them.
 */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Serialises `value` as one frame. Throws FrameTooLargeError past `maxFrameBytes`. */
export function encodeFrame (value: unknown, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Uint8Array {
  const body = encodeBody(value)
  if (body.byteLength > maxFrameBytes) {
    throw new FrameTooLargeError(body.byteLength, maxFrameBytes)
  }
  return frame(body)
}

/** The UTF-8 JSON of `value`: the body of a whole-message frame, or the bytes a fragmented message carries. */
export function encodeBody (value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

/** `body` behind its length prefix. */
export function frame (body: Uint8Array): Uint8Array {
  const prefixLength = varint.encodingLength(body.byteLength)
  const out = new Uint8Array(prefixLength + body.byteLength)
  varint.encodeUint8Array(body.byteLength, out, 0)
  out.set(body, prefixLength)
  return out
}

/**
 * What one message decoded to: a JSON value, or the reason it could not be read (with the
 * JSON-RPC id it carried when that is known, so the call can be answered or failed).
 */
export type DecodedFrame =
  | { ok: true, value: unknown }
  | { ok: false, error: MalformedFrameError, id?: JsonRpcId }

/**
 * Incremental decoder: feed it chunks as they arrive, get whole frames out.
 *
 * A frame that is not UTF-8 JSON yields `{ ok: false }` and decoding goes on with the next
 * frame, since the length prefix still marks where it ends. A length prefix over the limit
 * throws FrameTooLargeError (and so does a prefix that is not a varint): the stream cannot be
 * resynchronised and must be closed.
 */
export class FrameDecoder {
  private readonly buffer = new Uint8ArrayList()
  private readonly maxFrameBytes: number

  constructor (maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes
  }

  /** Bytes received but not yet returned as a frame. */
  get bufferedBytes (): number {
    return this.buffer.byteLength
  }

  /** Whole frames, parsed as JSON. */
  * push (chunk: Uint8Array | Uint8ArrayList): Generator<DecodedFrame> {
    for (const body of this.bodies(chunk)) yield parseBody(body)
  }

  /** The bodies of the frames `chunk` completes, unparsed. */
  * bodies (chunk: Uint8Array | Uint8ArrayList): Generator<Uint8Array> {
    this.buffer.append(chunk)
    while (this.buffer.byteLength > 0) {
      let length: number
      try {
        length = varint.decodeUint8ArrayList(this.buffer, 0)
      } catch {
        // a varint is at most 10 bytes; past that the prefix is garbage, not incomplete
        if (this.buffer.byteLength >= MAX_PREFIX_BYTES) {
          throw new FrameTooLargeError(Number.POSITIVE_INFINITY, this.maxFrameBytes)
        }
        return
      }
      if (length > this.maxFrameBytes) {
        throw new FrameTooLargeError(length, this.maxFrameBytes)
      }
      const prefixLength = varint.encodingLength(length)
      if (this.buffer.byteLength < prefixLength + length) return
      const body = this.buffer.subarray(prefixLength, prefixLength + length)
      this.buffer.consume(prefixLength + length)
      yield body
    }
  }

  /** Forgets what was buffered (the stream is gone). */
  clear (): void {
    this.buffer.consume(this.buffer.byteLength)
  }
}

/** An unsigned varint of a 64-bit value takes at most 10 bytes. */
const MAX_PREFIX_BYTES = 10

/** Parses a whole message: UTF-8 JSON. */
export function parseBody (bytes: Uint8Array): DecodedFrame {
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch (err) {
    return { ok: false, error: new MalformedFrameError('frame is not valid UTF-8', { cause: err }) }
  }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (err) {
    return { ok: false, error: new MalformedFrameError('frame is not valid JSON', { cause: err }) }
  }
}
