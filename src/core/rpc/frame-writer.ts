/**
 * Writes frames to a libp2p stream in order, honouring the stream's back-pressure: when
 * `send()` reports a full buffer, later frames wait for `drain`. A reader that never drains
 * cannot make us buffer without bound: past `maxQueuedBytes` the stream is aborted.
 */
import type { Stream } from '@libp2p/interface'
import { StarlingError } from '../errors.js'

/** Bytes that may wait for a slow reader before the stream is aborted: 16 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024

export class WriteQueueFullError extends StarlingError {
  constructor (limit: number) {
    super(`the remote is not reading: more than ${limit} bytes wait to be sent`, 'ERR_WRITE_QUEUE_FULL')
  }
}

export class FrameWriter {
  private readonly stream: Stream
  private readonly maxQueuedBytes: number
  private readonly queue: Uint8Array[] = []
  private queuedBytes = 0
  private flushing = false

  constructor (stream: Stream, maxQueuedBytes = DEFAULT_MAX_QUEUED_BYTES) {
    this.stream = stream
    this.maxQueuedBytes = maxQueuedBytes
  }

  /** Queues `frame`; returns false when the stream can no longer be written. */
  write (frame: Uint8Array): boolean {
    if (this.stream.writeStatus !== 'writable') return false
    if (!this.flushing && !this.stream.writableNeedsDrain) {
      this.stream.send(frame)
      return true
    }
    this.queue.push(frame)
    this.queuedBytes += frame.byteLength
    if (this.queuedBytes > this.maxQueuedBytes) {
      this.queue.length = 0
      this.queuedBytes = 0
      this.stream.abort(new WriteQueueFullError(this.maxQueuedBytes))
      return false
    }
    if (!this.flushing) void this.flush()
    return true
  }

  private async flush (): Promise<void> {
    this.flushing = true
    try {
      while (this.queue.length > 0) {
        if (this.stream.writableNeedsDrain) await this.stream.onDrain()
        if (this.stream.writeStatus !== 'writable') break
        const frame = this.queue.shift()
        if (frame == null) break
        this.queuedBytes -= frame.byteLength
        this.stream.send(frame)
      }
    } catch {
      // the stream closed or was reset while we waited: its close handler fails what was pending
    } finally {
      this.queue.length = 0
      this.queuedBytes = 0
      this.flushing = false
    }
  }
}
