/**
 * Framing for every Starling stream: an unsigned-varint byte length, then that many bytes of
 * UTF-8 JSON (one JSON-RPC 2.0 object). Frames are bounded so a remote cannot make a peer
 * buffer without limit.
 */
import * as varint from 'uint8-varint'
import { FrameTooLargeError, MalformedFrameError } from '../errors.js'
import { Uint8ArrayList } from 'uint8arraylist'

/** Largest frame (the JSON body, in bytes) a Starling protocol accepts unless it says otherwise: 4 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Serialises `value` as one frame. Throws FrameTooLargeError past `maxFrameBytes`. */
export function encodeFrame (value: unknown, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Uint8Array {
  const body = encoder.encode(JSON.stringify(value))
  if (body.byteLength > maxFrameBytes) {
    throw new FrameTooLargeError(body.byteLength, maxFrameBytes)
  }
  const prefixLength = varint.encodingLength(body.byteLength)
  const frame = new Uint8Array(prefixLength + body.byteLength)
  varint.encodeUint8Array(body.byteLength, frame, 0)
  frame.set(body, prefixLength)
  return frame
}

/** What one frame decoded to: a JSON value, or the reason it could not be read. */
export type DecodedFrame =
  | { ok: true, value: unknown }
  | { ok: false, error: MalformedFrameError }

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

  * push (chunk: Uint8Array | Uint8ArrayList): Generator<DecodedFrame> {
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
      yield parseFrame(body)
    }
  }
}

/** An unsigned varint of a 64-bit value takes at most 10 bytes. */
const MAX_PREFIX_BYTES = 10

function parseFrame (bytes: Uint8Array): DecodedFrame {
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
