/**
 * Writes frames to a libp2p stream, honouring its back-pressure, and sends large messages as
 * fragments (./fragment.ts) interleaved with everything else.
 *
 * Whole frames go out at once when the stream can take them, else in order once it drains.
 * Large messages are cut into fragments, sent one at a time round-robin between the messages in
 * progress, and any whole frame waiting goes before the next fragment: a small call on a stream
 * that carries a 25 MiB transfer waits for at most one fragment of it, not for all of it.
 *
 * Frames with the same order key (a call's id) keep their order: a small result or `$/end`
 * never overtakes a large result of the same call still being sent.
 *
 * A reader that never drains cannot make us buffer without bound: past `maxQueuedBytes` of whole
 * frames the stream is aborted, and a large message beyond `maxQueuedMessageBytes` is refused.
 */
import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { StarlingError } from '../errors.js'
import type { TransferAllowance } from './allowance.js'
import { abortFragment, continueFragment, DEFAULT_FRAGMENT_BYTES, startFragment } from './fragment.js'
import type { JsonRpcId } from './jsonrpc.js'

/** Bytes of whole frames that may wait for a slow reader before the stream is aborted: 16 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024

/**
 * Bytes of large messages that may wait to be sent on one stream, in bytes: 128 MiB. A message
 * beyond it is refused (WriteQueueFullError) and can be retried once the queue has moved.
 */
export const DEFAULT_MAX_QUEUED_MESSAGE_BYTES = 128 * 1024 * 1024

export class WriteQueueFullError extends StarlingError {
  constructor (limit: number, what = 'bytes wait to be sent') {
    super(`the remote is not reading: more than ${limit} ${what}`, 'ERR_WRITE_QUEUE_FULL')
  }
}

/** Frames with the same key keep their order (the key is a call's id). */
export type OrderKey = string | number

/** What the receiver got of an aborted message: nothing, a beginning it was told to drop, or all of it. */
export type MessageFate = 'unsent' | 'aborted' | 'sent'

export interface OutgoingMessage {
  /** Resolves true once the last fragment is handed to the stream, false if it never will be. */
  readonly done: Promise<boolean>
  /** Stops sending it (an ABORT frame if it had begun). */
  abort: () => MessageFate
}

export interface FrameWriterInit {
  maxQueuedBytes?: number
  maxQueuedMessageBytes?: number
  /** Payload bytes per fragment. */
  fragmentBytes?: number
  /**
   * Sum of the sizes of the messages being sent at once. The receiver holds at most this much in
   * reassembly per stream and refuses a message that would exceed it, so it must not be larger
   * than the receiver's limit; later messages wait.
   */
  maxInFlightMessageBytes?: number
  /** The connection's allowance, when it has limits: every byte written is counted against it. */
  allowance?: TransferAllowance
}

interface Message {
  number: number
  body: Uint8Array
  id: JsonRpcId
  key?: OrderKey
  /** Bytes handed to the stream. */
  offset: number
  where: 'backlog' | 'waiting' | 'active' | 'done'
  resolve: (handed: boolean) => void
}

type Item = { frame: Uint8Array | Uint8ArrayList } | { message: Message }

export class FrameWriter {
  private readonly stream: Stream
  private readonly maxQueuedBytes: number
  private readonly maxQueuedMessageBytes: number
  private readonly fragmentBytes: number
  private readonly maxInFlightMessageBytes: number
  private readonly allowance?: TransferAllowance
  /** Whole frames waiting for the stream to drain. */
  private readonly queue: Array<Uint8Array | Uint8ArrayList> = []
  private queuedBytes = 0
  /** Large messages admitted in order, waiting for room among those in flight. */
  private readonly waiting: Message[] = []
  /** Large messages being sent, fragment by fragment, round-robin. */
  private readonly active: Message[] = []
  /** What waits behind a large message of the same key, per key with one in progress. */
  private readonly backlog = new Map<OrderKey, Item[]>()
  private inFlightMessageBytes = 0
  private queuedMessageBytes = 0
  private nextNumber = 1
  private turn = 0
  private pumping = false
  private readonly idleWaiters: Array<() => void> = []

  constructor (stream: Stream, init: FrameWriterInit = {}) {
    this.stream = stream
    this.maxQueuedBytes = init.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES
    this.maxQueuedMessageBytes = init.maxQueuedMessageBytes ?? DEFAULT_MAX_QUEUED_MESSAGE_BYTES
    this.fragmentBytes = init.fragmentBytes ?? DEFAULT_FRAGMENT_BYTES
    this.maxInFlightMessageBytes = init.maxInFlightMessageBytes ?? Number.POSITIVE_INFINITY
    this.allowance = init.allowance
  }

  /** Payload bytes per fragment: a message up to this size goes as one whole frame. */
  get fragmentSize (): number {
    return this.fragmentBytes
  }

  /** Resolves once everything queued has been handed to the stream (or can no longer be). */
  async whenIdle (): Promise<void> {
    if (this.idle) return
    await new Promise<void>(resolve => { this.idleWaiters.push(resolve) })
  }

  private get idle (): boolean {
    return this.queue.length === 0 && this.waiting.length === 0 && this.active.length === 0 && this.backlog.size === 0
  }

  private notifyIdle (): void {
    if (!this.idle) return
    for (const resolve of this.idleWaiters.splice(0)) resolve()
  }

  /** Queues a whole frame; returns false when the stream can no longer be written. */
  write (frame: Uint8Array | Uint8ArrayList, key?: OrderKey): boolean {
    if (this.stream.writeStatus !== 'writable') return false
    if (key !== undefined && this.backlog.size > 0) {
      const behind = this.backlog.get(key)
      if (behind != null) {
        behind.push({ frame })
        return this.count(frame.byteLength)
      }
    }
    if (this.queue.length === 0 && !this.stream.writableNeedsDrain) {
      this.stream.send(frame)
      this.allowance?.recordSent(frame.byteLength)
      return true
    }
    this.queue.push(frame)
    if (!this.count(frame.byteLength)) return false
    this.kick()
    return true
  }

  /**
   * Queues a large message (its UTF-8 JSON) to go as fragments. Throws WriteQueueFullError when
   * too much already waits.
   */
  writeMessage (body: Uint8Array, id: JsonRpcId, key?: OrderKey): OutgoingMessage {
    if (this.queuedMessageBytes + body.byteLength > this.maxQueuedMessageBytes && this.queuedMessageBytes > 0) {
      throw new WriteQueueFullError(this.maxQueuedMessageBytes, 'bytes of messages wait to be sent')
    }
    const { promise, resolve } = Promise.withResolvers<boolean>()
    const message: Message = { number: this.nextNumber++, body, id, key, offset: 0, where: 'waiting', resolve }
    this.queuedMessageBytes += body.byteLength
    this.allowance?.reserveOut(body.byteLength)
    const behind = key === undefined ? undefined : this.backlog.get(key)
    if (behind != null) {
      message.where = 'backlog'
      behind.push({ message })
    } else {
      if (key !== undefined) this.backlog.set(key, [])
      this.waiting.push(message)
      this.kick()
    }
    return { done: promise, abort: () => this.abort(message) }
  }

  private count (bytes: number): boolean {
    this.queuedBytes += bytes
    if (this.queuedBytes <= this.maxQueuedBytes) return true
    this.stream.abort(new WriteQueueFullError(this.maxQueuedBytes))
    this.fail()
    return false
  }

  private kick (): void {
    if (!this.pumping) void this.pump()
  }

  private async pump (): Promise<void> {
    this.pumping = true
    try {
      while (this.stream.writeStatus === 'writable') {
        if (this.stream.writableNeedsDrain) {
          await untilDrained(this.stream)
          continue
        }
        const frame = this.queue.shift()
        if (frame != null) {
          this.queuedBytes -= frame.byteLength
          this.stream.send(frame)
          this.allowance?.recordSent(frame.byteLength)
          continue
        }
        const message = this.nextMessage()
        if (message == null) {
          this.notifyIdle()
          return
        }
        this.sendFragment(message)
        // fragments are encrypted synchronously below us: give whatever else wants the stream
        // (a small call, an answer) its turn between two of them
        await yieldToEventLoop()
      }
      this.fail()
    } catch {
      // the stream closed or was reset while we waited
      this.fail()
    } finally {
      this.pumping = false
    }
  }

  /** The next large message whose turn it is, admitting waiting ones while there is room. */
  private nextMessage (): Message | undefined {
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!
      if (this.active.length > 0 && this.inFlightMessageBytes + next.body.byteLength > this.maxInFlightMessageBytes) break
      this.waiting.shift()
      next.where = 'active'
      this.active.push(next)
      this.inFlightMessageBytes += next.body.byteLength
    }
    if (this.active.length === 0) return undefined
    this.turn = (this.turn + 1) % this.active.length
    return this.active[this.turn]
  }

  private sendFragment (message: Message): void {
    const payload = message.body.subarray(message.offset, message.offset + this.fragmentBytes)
    const frame = message.offset === 0
      ? startFragment(message.number, message.body.byteLength, message.id, payload)
      : continueFragment(message.number, payload)
    message.offset += payload.byteLength
    this.stream.send(frame)
    this.allowance?.recordSent(frame.byteLength)
    this.allowance?.releaseOut(payload.byteLength)
    if (message.offset >= message.body.byteLength) {
      this.settle(message, true)
    }
  }

  private abort (message: Message): MessageFate {
    switch (message.where) {
      case 'done':
        return message.offset >= message.body.byteLength ? 'sent' : 'unsent'
      case 'backlog': {
        const behind = message.key === undefined ? undefined : this.backlog.get(message.key)
        const at = behind?.findIndex(item => 'message' in item && item.message === message) ?? -1
        if (at >= 0) behind?.splice(at, 1)
        this.finish(message, false)
        return 'unsent'
      }
      case 'waiting':
      case 'active': {
        const begun = message.offset > 0
        if (begun) {
          // first in line: the receiver frees what it holds of the message as soon as it can
          const frame = abortFragment(message.number)
          this.queue.unshift(frame)
          this.queuedBytes += frame.byteLength
        }
        this.settle(message, false)
        this.kick()
        return begun ? 'aborted' : 'unsent'
      }
    }
  }

  /** Ends a message that was waiting or active, and lets what waited behind it go. */
  private settle (message: Message, handed: boolean): void {
    if (message.where === 'waiting') {
      this.waiting.splice(this.waiting.indexOf(message), 1)
    } else if (message.where === 'active') {
      this.active.splice(this.active.indexOf(message), 1)
      this.inFlightMessageBytes -= message.body.byteLength
    }
    this.finish(message, handed)
    if (message.key !== undefined) this.release(message.key)
  }

  private finish (message: Message, handed: boolean): void {
    message.where = 'done'
    this.queuedMessageBytes -= message.body.byteLength
    this.allowance?.releaseOut(message.body.byteLength - message.offset)
    message.resolve(handed)
  }

  /** The large message of `key` is done: what waited behind it moves on, up to the next large one. */
  private release (key: OrderKey): void {
    const behind = this.backlog.get(key)
    this.backlog.delete(key)
    if (behind == null) return
    for (let i = 0; i < behind.length; i++) {
      const item = behind[i]!
      if ('frame' in item) {
        // counted in queuedBytes when it was put behind
        this.queue.push(item.frame)
        continue
      }
      this.backlog.set(key, behind.slice(i + 1))
      item.message.where = 'waiting'
      this.waiting.push(item.message)
      break
    }
    this.kick()
  }

  /** The stream can no longer be written: everything queued is dropped, every message fails. */
  private fail (): void {
    this.queue.length = 0
    this.queuedBytes = 0
    const messages = [...this.waiting, ...this.active]
    for (const behind of this.backlog.values()) {
      for (const item of behind) if ('message' in item) messages.push(item.message)
    }
    this.waiting.length = 0
    this.active.length = 0
    this.backlog.clear()
    this.inFlightMessageBytes = 0
    for (const message of messages) this.finish(message, false)
    for (const resolve of this.idleWaiters.splice(0)) resolve()
  }
}

/**
 * Resolves at the stream's next `drain` event, rejects if it closes first. Not
 * `stream.onDrain()`: in @libp2p/utils 7.4 its promise is never renewed, so after the first
 * drain it resolves at once even while the stream needs draining, and a loop on it spins.
 */
async function untilDrained (stream: Stream): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      stream.removeEventListener('close', onClose)
      resolve()
    }
    const onClose = (): void => {
      stream.removeEventListener('drain', onDrain)
      reject(new Error('the stream closed'))
    }
    stream.addEventListener('drain', onDrain, { once: true })
    stream.addEventListener('close', onClose, { once: true })
  })
}

const setImmediateLike = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate

/**
 * Lets pending I/O and timers run. Node's setImmediate costs microseconds; browsers lack it, and
 * their setTimeout(0) is clamped to 4 ms when nested, so there a MessageChannel message does it.
 */
async function yieldToEventLoop (): Promise<void> {
  if (setImmediateLike != null) {
    await new Promise<void>(resolve => { setImmediateLike(resolve) })
    return
  }
  await new Promise<void>(resolve => { channelResolvers.push(resolve); channel().postMessage(null) })
}

const channelResolvers: Array<() => void> = []
/** The parts of a MessageChannel port used here (Node's and the DOM's types differ). */
interface Port { onmessage: ((event: unknown) => void) | null, postMessage: (message: unknown) => void }
let port: Port | undefined

function channel (): Port {
  if (port == null) {
    const pair = new MessageChannel() as unknown as { port1: Port, port2: Port }
    pair.port1.onmessage = () => { channelResolvers.shift()?.() }
    port = pair.port2
  }
  return port
}
