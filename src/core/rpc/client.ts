/**
 * The client end of a Starling RPC stream: many JSON-RPC requests share one long-lived libp2p
 * stream and are matched to their responses by id. Opening a stream costs a round trip of
 * protocol negotiation (~0.45 ms), so a stream per request would halve throughput.
 *
 * Unary calls resolve with the `result` of their response. Streaming calls yield each
 * `result` until the server sends `$/end` (or an error response, which is thrown).
 *
 * A request larger than one fragment travels as fragments interleaved with other frames
 * (./fragment.ts). On a relayed connection, a request that does not fit what remains of the
 * relay's limits is not started here: `reroute` finds it another connection, or it fails with
 * TooLargeForRelayError.
 */
import { logger } from '@libp2p/logger'
import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { ChannelClosedError, MessageTooLargeError, RemoteRpcError, StarlingError, TooLargeForRelayError } from '../errors.js'
import type { AllowanceShortfall, TransferAllowance } from './allowance.js'
import { DEFAULT_MAX_FRAME_BYTES, encodeBody, frame } from './frame.js'
import { MessageDecoder } from './fragment.js'
import { FrameWriter } from './frame-writer.js'
import type { OutgoingMessage } from './frame-writer.js'
import { CANCEL_METHOD, END_METHOD, isObject, isResponse, notification, RpcErrorCode } from './jsonrpc.js'
import type { JsonRpcErrorObject, JsonRpcRequest, JsonRpcResponse } from './jsonrpc.js'

const log = logger('starling:rpc:client')

/** Results of one streaming call that may wait for a slow consumer before the call fails. */
export const DEFAULT_MAX_QUEUED_RESULTS = 4096

export interface RpcCallOptions {
  signal?: AbortSignal
  serviceParameters?: Record<string, string>
}

export interface RpcClientInit {
  /**
   * Largest message (the UTF-8 JSON of one request or response) sent to or accepted from the
   * server, in bytes; messages over one fragment travel as fragments.
   */
  maxMessageBytes?: number
  /**
   * The same as maxMessageBytes, by its older name: when every message was one frame, the frame
   * limit was the message limit.
   */
  maxFrameBytes?: number
  /** Results of a streaming call kept for a consumer that has not read them yet. */
  maxQueuedResults?: number
  /**
   * Close the stream after this many ms with no call in flight; 0 keeps it open.
   * Idle streams still cost the remote a little memory.
   */
  idleTimeout?: number
  /** Turns a JSON-RPC error object into the error the caller sees. */
  toError?: (error: JsonRpcErrorObject) => Error
  /** The allowance of the connection the stream runs on, when it has limits (a relayed one). */
  allowance?: TransferAllowance
  /**
   * Finds a client on another connection for a request of `bytes` that does not fit `allowance`,
   * or throws (TooLargeForRelayError) when there is none.
   */
  reroute?: (bytes: number, options: { signal?: AbortSignal }) => Promise<RpcClient>
}

interface UnaryCall {
  kind: 'unary'
  resolve: (value: unknown) => void
  reject: (err: Error) => void
  /** The request, while it goes out as fragments. */
  outgoing?: OutgoingMessage
}

interface StreamCall {
  kind: 'stream'
  results: unknown[]
  done: boolean
  error?: Error
  wake?: () => void
  outgoing?: OutgoingMessage
}

type Call = UnaryCall | StreamCall

export class RpcClient {
  readonly stream: Stream
  /** The allowance of the stream's connection, when it has limits. */
  readonly allowance?: TransferAllowance
  private readonly writer: FrameWriter
  private readonly decoder: MessageDecoder
  private readonly maxMessageBytes: number
  private readonly maxQueuedResults: number
  private readonly reroute?: RpcClientInit['reroute']
  private readonly idleTimeout: number
  private readonly toError: (error: JsonRpcErrorObject) => Error
  private readonly calls = new Map<number, Call>()
  private readonly closeListeners: Array<(err?: Error) => void> = []
  private nextId = 1
  private idleTimer?: ReturnType<typeof setTimeout>
  private closedWith?: Error

  constructor (stream: Stream, init: RpcClientInit = {}) {
    this.stream = stream
    this.maxMessageBytes = init.maxMessageBytes ?? init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    this.maxQueuedResults = init.maxQueuedResults ?? DEFAULT_MAX_QUEUED_RESULTS
    this.idleTimeout = init.idleTimeout ?? 0
    this.toError = init.toError ?? ((e) => new RemoteRpcError(e.code, e.message, e.data))
    this.allowance = init.allowance
    this.reroute = init.reroute
    this.writer = new FrameWriter(stream, { allowance: this.allowance, maxInFlightMessageBytes: this.maxMessageBytes })
    this.decoder = new MessageDecoder({ maxMessageBytes: this.maxMessageBytes, allowance: this.allowance })

    stream.addEventListener('message', (evt) => { this.onData(evt.data) })
    stream.addEventListener('close', (evt) => {
      this.onClosed(evt.error ?? new ChannelClosedError())
    })
    stream.addEventListener('remoteCloseWrite', () => {
      this.onClosed(new ChannelClosedError('the remote closed the stream'))
      void stream.close().catch(() => {})
    })
    this.armIdleTimer()
  }

  /** True while new calls can be made on this stream. */
  get isOpen (): boolean {
    return this.closedWith == null && this.stream.writeStatus === 'writable'
  }

  /** Calls in flight (unary and streaming). */
  get inFlight (): number {
    return this.calls.size
  }

  onClose (listener: (err?: Error) => void): void {
    if (this.closedWith != null) listener(this.closedWith)
    else this.closeListeners.push(listener)
  }

  /** Sends one request and resolves with its result. */
  async request (method: string, params: unknown, options: RpcCallOptions = {}): Promise<unknown> {
    return await this.unary(method, params, options, false)
  }

  /** Sends one streaming request and yields each result until the server ends it. */
  async * subscribe (method: string, params: unknown, options: RpcCallOptions = {}): AsyncGenerator<unknown, void, undefined> {
    yield * this.streaming(method, params, options, false)
  }

  private async unary (method: string, params: unknown, options: RpcCallOptions, rerouted: boolean): Promise<unknown> {
    options.signal?.throwIfAborted()
    const id = this.nextId++
    const body = this.encode(id, method, params, options)
    if (this.allowance != null) {
      const other = await this.elsewhere(body.byteLength, options, rerouted)
      if (other != null) return await other.unary(method, params, options, true)
    }
    const { promise, resolve, reject } = Promise.withResolvers<unknown>()
    const call: UnaryCall = { kind: 'unary', resolve, reject }
    call.outgoing = this.send(id, body)
    this.calls.set(id, call)
    this.disarmIdleTimer()

    const signal = options.signal
    if (signal == null) return await promise
    const onAbort = (): void => {
      if (this.calls.delete(id)) {
        this.stop(id, call)
        reject(signal.reason instanceof Error ? signal.reason : new StarlingError('aborted', 'ABORT_ERR'))
        this.armIdleTimer()
      }
    }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await promise
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  private async * streaming (method: string, params: unknown, options: RpcCallOptions, rerouted: boolean): AsyncGenerator<unknown, void, undefined> {
    options.signal?.throwIfAborted()
    const id = this.nextId++
    const body = this.encode(id, method, params, options)
    if (this.allowance != null) {
      const other = await this.elsewhere(body.byteLength, options, rerouted)
      if (other != null) {
        yield * other.streaming(method, params, options, true)
        return
      }
    }
    const call: StreamCall = { kind: 'stream', results: [], done: false }
    call.outgoing = this.send(id, body)
    this.calls.set(id, call)
    this.disarmIdleTimer()

    const signal = options.signal
    const onAbort = (): void => {
      call.error ??= signal?.reason instanceof Error ? signal.reason : new StarlingError('aborted', 'ABORT_ERR')
      call.done = true
      call.wake?.()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      while (true) {
        if (call.results.length > 0) {
          yield call.results.shift()
          continue
        }
        if (call.error != null) throw call.error
        if (call.done) return
        await new Promise<void>((resolve) => { call.wake = resolve })
        call.wake = undefined
      }
    } finally {
      signal?.removeEventListener('abort', onAbort)
      // the consumer stopped early (break, return, abort) while the server was still sending
      if (this.calls.delete(id)) this.stop(id, call)
      this.armIdleTimer()
    }
  }

  /**
   * A client on another connection when `bytes` do not fit what remains of this one's
   * allowance; undefined when they fit here.
   */
  private async elsewhere (bytes: number, options: RpcCallOptions, rerouted: boolean): Promise<RpcClient | undefined> {
    const shortfall = this.allowance?.shortfall(bytes)
    if (shortfall == null) return undefined
    if (this.reroute == null || rerouted) throw tooLargeForRelay(bytes, shortfall)
    const other = await this.reroute(bytes, { signal: options.signal })
    if (other === this) throw tooLargeForRelay(bytes, shortfall)
    return other
  }

  /** Closes the stream gracefully; calls in flight fail with ChannelClosedError. */
  async close (): Promise<void> {
    this.onClosed(new ChannelClosedError('the stream was closed locally'))
    try {
      await this.stream.close()
    } catch (err) {
      this.stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** The request's UTF-8 JSON. Throws MessageTooLargeError before anything is sent. */
  private encode (id: number, method: string, params: unknown, options: RpcCallOptions): Uint8Array {
    if (this.closedWith != null) throw this.closedWith
    const request: JsonRpcRequest = { jsonrpc: '2.0', id, method }
    if (params !== undefined) request.params = params
    if (options.serviceParameters != null && Object.keys(options.serviceParameters).length > 0) {
      request.serviceParameters = options.serviceParameters
    }
    const body = encodeBody(request)
    if (body.byteLength > this.maxMessageBytes) throw new MessageTooLargeError(body.byteLength, this.maxMessageBytes)
    return body
  }

  /** Writes a request: one frame when it is small, else fragments (returned, so it can be aborted). */
  private send (id: number, body: Uint8Array): OutgoingMessage | undefined {
    if (body.byteLength <= this.writer.fragmentSize) {
      if (!this.writer.write(frame(body), id)) throw new ChannelClosedError('the stream is closed for writing')
      return undefined
    }
    if (this.stream.writeStatus !== 'writable') throw new ChannelClosedError('the stream is closed for writing')
    return this.writer.writeMessage(body, id, id)
  }

  /** The caller gave up on call `id`: stop sending its request, or tell the server to stop. */
  private stop (id: number, call: Call): void {
    const fate = call.outgoing?.abort() ?? 'sent'
    // a request the server never got whole needs no cancel: it dropped the fragments
    if (fate === 'sent') this.sendCancel(id)
  }

  private sendCancel (id: number): void {
    if (!this.isOpen) return
    try {
      this.writer.write(frame(encodeBody(notification(CANCEL_METHOD, { id }))), id)
    } catch (err) {
      log.trace('could not send cancel for %d - %e', id, err)
    }
  }

  private onData (chunk: Uint8Array | Uint8ArrayList): void {
    this.allowance?.recordReceived(chunk.byteLength)
    try {
      for (const message of this.decoder.push(chunk)) {
        if (message.ok) {
          this.onFrame(message.value)
          continue
        }
        log.error('dropping a message on stream %s - %s', this.stream.id, message.error.message)
        // a response we could not take (too large, garbled) fails its call rather than leave it hanging
        if ('id' in message && typeof message.id === 'number') this.failCall(message.id, message.error)
      }
    } catch (err) {
      // an oversized or garbled length prefix: the stream cannot be read any further
      const error = err instanceof Error ? err : new Error(String(err))
      log.error('closing stream %s - %e', this.stream.id, error)
      this.stream.abort(error)
      this.onClosed(error)
    }
  }

  private failCall (id: number, error: Error): void {
    const call = this.calls.get(id)
    if (call == null) return
    this.calls.delete(id)
    call.outgoing?.abort()
    if (call.kind === 'unary') {
      call.reject(error)
    } else {
      // the server may have more results for it: it is over for us
      this.sendCancel(id)
      call.error ??= error
      call.done = true
      call.wake?.()
    }
    this.armIdleTimer()
  }

  private onFrame (value: unknown): void {
    if (isResponse(value)) {
      this.onResponse(value)
      return
    }
    if (isObject(value) && value.method === END_METHOD && isObject(value.params) && typeof value.params.id === 'number') {
      const call = this.calls.get(value.params.id)
      if (call?.kind === 'stream') {
        this.calls.delete(value.params.id)
        call.done = true
        call.wake?.()
        this.armIdleTimer()
      }
      return
    }
    log.error('ignoring a frame that is neither a response nor $/end')
  }

  private onResponse (response: JsonRpcResponse): void {
    if (typeof response.id !== 'number') {
      // an error about a frame the server could not attribute (e.g. unparseable): nothing to match
      if ('error' in response) log.error('server reported: %s', response.error.message)
      return
    }
    const call = this.calls.get(response.id)
    if (call == null) return // cancelled or unknown: late answers are dropped
    // an answer before the whole request went out (it was refused): the rest would be wasted
    if ('error' in response) call.outgoing?.abort()

    if (call.kind === 'unary') {
      this.calls.delete(response.id)
      if ('error' in response) call.reject(this.errorOf(response.error))
      else call.resolve(response.result)
      this.armIdleTimer()
      return
    }

    if ('error' in response) {
      this.calls.delete(response.id)
      call.error = this.errorOf(response.error)
      call.done = true
    } else if (call.results.length >= this.maxQueuedResults) {
      this.calls.delete(response.id)
      this.sendCancel(response.id)
      call.error = new StarlingError(`more than ${this.maxQueuedResults} results wait unread`, 'ERR_SLOW_CONSUMER')
      call.done = true
    } else {
      call.results.push(response.result)
    }
    call.wake?.()
  }

  /**
   * The error a caller sees for an error response. The two size errors are the transport's own,
   * whatever the protocol maps its errors to; the second also tells us that the connection is
   * spent for this peer's answers, so new calls go elsewhere.
   */
  private errorOf (error: JsonRpcErrorObject): Error {
    const data = isObject(error.data) ? error.data : {}
    const size = typeof data.size === 'number' ? data.size : 0
    if (error.code === RpcErrorCode.TooLargeForRelay) {
      this.allowance?.retire()
      const remaining = typeof data.remaining === 'number' ? data.remaining : undefined
      return new TooLargeForRelayError(error.message, { size, remaining, limit: data.limit === 'duration' ? 'duration' : 'data' })
    }
    if (error.code === RpcErrorCode.MessageTooLarge) {
      return new MessageTooLargeError(size, typeof data.limit === 'number' ? data.limit : 0, error.message)
    }
    return this.toError(error)
  }

  private onClosed (err: Error): void {
    if (this.closedWith != null) return
    this.closedWith = err instanceof ChannelClosedError ? err : new ChannelClosedError(err.message, { cause: err })
    this.decoder.clear()
    this.disarmIdleTimer()
    for (const call of this.calls.values()) {
      if (call.kind === 'unary') {
        call.reject(this.closedWith)
      } else {
        call.error ??= this.closedWith
        call.done = true
        call.wake?.()
      }
    }
    this.calls.clear()
    for (const listener of this.closeListeners.splice(0)) listener(this.closedWith)
  }

  private armIdleTimer (): void {
    if (this.idleTimeout <= 0 || this.calls.size > 0 || this.closedWith != null) return
    this.disarmIdleTimer()
    this.idleTimer = setTimeout(() => {
      if (this.calls.size === 0) void this.close()
    }, this.idleTimeout)
  }

  private disarmIdleTimer (): void {
    if (this.idleTimer != null) clearTimeout(this.idleTimer)
    this.idleTimer = undefined
  }
}

function tooLargeForRelay (bytes: number, shortfall: AllowanceShortfall): TooLargeForRelayError {
  const message = shortfall.limit === 'data'
    ? `a message of ${bytes} bytes does not fit the relayed connection: ${shortfall.remaining} bytes of the relay's data limit are left for it`
    : `a message of ${bytes} bytes cannot be carried in the ${shortfall.remaining} s the relayed connection has left`
  return new TooLargeForRelayError(message, { size: bytes, remaining: shortfall.limit === 'data' ? shortfall.remaining : undefined, limit: shortfall.limit })
}
