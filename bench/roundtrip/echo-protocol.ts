/**
 * The bare baseline: a length-prefixed echo on a libp2p stream, with nothing above the framing.
 * `serveEcho` answers every frame with itself; `PipelinedEcho` keeps many requests in flight on
 * one stream and matches the answers in order (an echo answers in order).
 */
import type { Libp2p, Stream } from '@libp2p/interface'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'

export const ECHO_PROTOCOL = '/starling/bench/echo/1.0.0'

export async function serveEcho (node: Libp2p): Promise<void> {
  await node.handle(ECHO_PROTOCOL, (stream) => {
    // an echo needs no parsing: whatever arrives goes straight back, framing and all
    stream.addEventListener('message', (evt) => { stream.send(evt.data) })
    stream.addEventListener('remoteCloseWrite', () => { void stream.close() })
  }, { runOnLimitedConnection: true })
}

export class PipelinedEcho {
  private readonly stream: Stream
  private readonly buffer = new Uint8ArrayList()
  private readonly waiting: Array<() => void> = []

  constructor (stream: Stream) {
    this.stream = stream
    stream.addEventListener('message', (evt) => {
      this.buffer.append(evt.data)
      while (this.buffer.byteLength > 0) {
        let length: number
        try {
          length = varint.decodeUint8ArrayList(this.buffer, 0)
        } catch {
          return
        }
        const total = varint.encodingLength(length) + length
        if (this.buffer.byteLength < total) return
        this.buffer.consume(total)
        this.waiting.shift()?.()
      }
    })
  }

  /** Sends `frame` (already length-prefixed) and resolves when it comes back. */
  async roundTrip (frame: Uint8Array): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>()
    this.waiting.push(resolve)
    if (!this.stream.send(frame)) await this.stream.onDrain()
    await promise
  }

  async close (): Promise<void> {
    await this.stream.close()
  }
}

/** A frame of `size` bytes of body, length-prefixed. */
export function echoFrame (size: number): Uint8Array {
  const prefix = varint.encode(size)
  const frame = new Uint8Array(prefix.byteLength + size)
  frame.set(prefix, 0)
  frame.fill(0x61, prefix.byteLength)
  return frame
}
