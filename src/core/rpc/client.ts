/**
 * The client end of a Starling RPC stream: many JSON-RPC requests share one long-lived libp2p
 * stream and are matched to their responses by id. Opening a stream costs a round trip of
 * protocol negotiation (~0.45 ms), so a stream per request would halve throughput.
 *
 * Unary calls resolve with the `result` of their response. Streaming calls yield each
 * `result` until the server sends `$/end` (or an error response, which is thrown).
 */
import { logger } from '@libp2p/logger'
import type { Stream } from '@libp2p/interface'
import { ChannelClosedError, RemoteRpcError, StarlingError } from '../errors.js'
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder } from './frame.js'
import { FrameWriter } from './frame-writer.js'
import { CANCEL_METHOD, END_METHOD, isObject, isResponse, notification } from './jsonrpc.js'
import type { JsonRpcErrorObject, JsonRpcRequest, JsonRpcResponse } from './jsonrpc.js'

const log = logger('starling:rpc:client')

/** Results of one streaming call that may wait for a slow consumer before the call fails. */
export const DEFAULT_MAX_QUEUED_RESULTS = 4096

export interface RpcCallOptions {
  signal?: AbortSignal
  serviceParameters?: Record<string, string>
}

export interface RpcClientInit {
  /** Largest frame accepted from or sent to the server, in bytes. */
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
}

interface UnaryCall {
  kind: 'unary'
  resolve: (value: unknown) => void
  reject: (err: Error) => void
}

interface StreamCall {
  kind: 'stream'
  results: unknown[]
  done: boolean
  error?: Error
  wake?: () => void
}

type Call = UnaryCall | StreamCall

export class RpcClient {
  readonly stream: Stream
  private readonly writer: FrameWriter
  private readonly decoder: FrameDecoder
  private readonly maxFrameBytes: number
  private readonly maxQueuedResults: number
  private readonly idleTimeout: number
  private readonly toError: (error: JsonRpcErrorObject) => Error
  private readonly calls = new Map<number, Call>()
  private readonly closeListeners: Array<(err?: Error) => void> = []
  private nextId = 1
  private idleTimer?: ReturnType<typeof setTimeout>
  private closedWith?: Error

  constructor (stream: Stream, init: RpcClientInit = {}) {
    this.stream = stream
    this.maxFrameBytes = init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    this.maxQueuedResults = init.maxQueuedResults ?? DEFAULT_MAX_QUEUED_RESULTS
    this.idleTimeout = init.idleTimeout ?? 0
    this.toError = init.toError ?? ((e) => new RemoteRpcError(e.code, e.message, e.data))
    this.writer = new FrameWriter(stream)
    this.decoder = new FrameDecoder(this.maxFrameBytes)

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
    options.signal?.throwIfAborted()
    const id = this.nextId++
    const { promise, resolve, reject } = Promise.withResolvers<unknown>()
    this.send(id, method, params, options)
    this.calls.set(id, { kind: 'unary', resolve, reject })
    this.disarmIdleTimer()

    const signal = options.signal
    if (signal == null) return await promise
    const onAbort = (): void => {
      if (this.calls.delete(id)) {
        this.sendCancel(id)
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

  /** Sends one streaming request and yields each result until the server ends it. */
  async * subscribe (method: string, params: unknown, options: RpcCallOptions = {}): AsyncGenerator<unknown, void, undefined> {
    options.signal?.throwIfAborted()
    const id = this.nextId++
    const call: StreamCall = { kind: 'stream', results: [], done: false }
    this.send(id, method, params, options)
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
      if (this.calls.delete(id)) this.sendCancel(id)
      this.armIdleTimer()
    }
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

  private send (id: number, method: string, params: unknown, options: RpcCallOptions): void {
    if (this.closedWith != null) throw this.closedWith
    const request: JsonRpcRequest = { jsonrpc: '2.0', id, method }
    if (params !== undefined) request.params = params
    if (options.serviceParameters != null && Object.keys(options.serviceParameters).length > 0) {
      request.serviceParameters = options.serviceParameters
    }
    // encodeFrame throws FrameTooLargeError before anything is sent
    const frame = encodeFrame(request, this.maxFrameBytes)
    if (!this.writer.write(frame)) throw new ChannelClosedError('the stream is closed for writing')
  }

  private sendCancel (id: number): void {
    if (!this.isOpen) return
    try {
      this.writer.write(encodeFrame(notification(CANCEL_METHOD, { id }), this.maxFrameBytes))
    } catch (err) {
      log.trace('could not send cancel for %d - %e', id, err)
    }
  }

  private onData (chunk: Parameters<FrameDecoder['push']>[0]): void {
    try {
      for (const frame of this.decoder.push(chunk)) {
        if (!frame.ok) {
          log.error('dropping a malformed frame on stream %s - %s', this.stream.id, frame.error.message)
          continue
        }
        this.onFrame(frame.value)
      }
    } catch (err) {
      // an oversized or garbled length prefix: the stream cannot be read any further
      const error = err instanceof Error ? err : new Error(String(err))
      log.error('closing stream %s - %e', this.stream.id, error)
      this.stream.abort(error)
      this.onClosed(error)
    }
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

    if (call.kind === 'unary') {
      this.calls.delete(response.id)
      if ('error' in response) call.reject(this.toError(response.error))
      else call.resolve(response.result)
      this.armIdleTimer()
      return
    }

    if ('error' in response) {
      this.calls.delete(response.id)
      call.error = this.toError(response.error)
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

  private onClosed (err: Error): void {
    if (this.closedWith != null) return
    this.closedWith = err instanceof ChannelClosedError ? err : new ChannelClosedError(err.message, { cause: err })
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
