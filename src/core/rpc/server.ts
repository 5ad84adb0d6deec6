/**
 * The server end of a Starling RPC stream. Requests on one stream run concurrently (a slow
 * task never holds up a quick GetTask behind it); each gets exactly one response, or for a
 * streaming method a run of responses closed by `$/end` or an error response.
 *
 * Nothing a remote sends can crash the process: unreadable frames get a JSON-RPC error, an
 * oversized frame gets an error and the stream is closed (its framing is lost), a request over
 * the message limit gets an error and its fragments are dropped, and a handler that throws
 * becomes an InternalError response.
 *
 * Large responses go out as fragments, interleaved with the other calls' frames. On a relayed
 * connection, a response that does not fit what remains of the relay's limits is not started:
 * the caller gets -32086 instead, and asks again on another connection.
 */
import { logger } from '@libp2p/logger'
import type { ConnectionLimits, Stream } from '@libp2p/interface'
import { MessageTooLargeError } from '../errors.js'
import { allowanceFor } from './allowance.js'
import { DEFAULT_MAX_FRAME_BYTES, encodeBody, frame } from './frame.js'
import { MessageDecoder } from './fragment.js'
import { FrameWriter, WriteQueueFullError } from './frame-writer.js'
import type { MessageFate, OrderKey, OutgoingMessage } from './frame-writer.js'
import {
  CANCEL_METHOD, END_METHOD, errorResponse, isObject, isValidId, notification, requestProblem, RpcErrorCode
} from './jsonrpc.js'
import type { JsonRpcFailure, JsonRpcId, JsonRpcRequest, JsonRpcResponse } from './jsonrpc.js'

const log = logger('starling:rpc:server')

/** Requests one stream may have in flight at once. */
export const DEFAULT_MAX_IN_FLIGHT = 256

/** What a handler returns: one response, a run of them (streaming), or nothing (a notification). */
export type RpcHandlerResult = JsonRpcResponse | AsyncIterable<JsonRpcResponse> | undefined

export interface RpcRequestContext {
  /** Aborted when the client cancels the request or the stream closes. */
  signal: AbortSignal
}

export type RpcHandler = (request: JsonRpcRequest, context: RpcRequestContext) => Promise<RpcHandlerResult> | RpcHandlerResult

export interface ServeRpcInit {
  handler: RpcHandler
  /** Largest request accepted and response sent (UTF-8 JSON of one message), in bytes. */
  maxMessageBytes?: number
  /** The same as maxMessageBytes, by its older name (every message used to be one frame). */
  maxFrameBytes?: number
  maxInFlight?: number
  /**
   * The connection the stream runs on. When it is relayed with limits, responses that would not
   * fit what the relay still allows are refused (-32086) instead of being cut.
   */
  connection?: { limits?: ConnectionLimits }
  /**
   * Told of every error this stream answers on its own, before any handler: unreadable frames,
   * invalid requests, oversized messages, too many in flight (by JSON-RPC code). For metrics.
   */
  onProblem?: (code: number) => void
  /**
   * Closes the stream when no request is in flight and nothing has arrived for this long, in ms
   * (default: never). For protocols whose clients open a stream per burst of calls.
   */
  idleTimeoutMs?: number
}

/**
 * Serves JSON-RPC on `stream` until the remote closes it. Resolves when the stream is closed
 * and every request has finished.
 */
export async function serveRpc (stream: Stream, init: ServeRpcInit): Promise<void> {
  const maxMessageBytes = init.maxMessageBytes ?? init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const maxInFlight = init.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
  const allowance = init.connection == null ? undefined : allowanceFor(init.connection)
  const writer = new FrameWriter(stream, { allowance, maxInFlightMessageBytes: maxMessageBytes })
  const decoder = new MessageDecoder({ maxMessageBytes, allowance })
  const inFlight = new Map<JsonRpcId, AbortController>()
  const { promise: closed, resolve: onClosed } = Promise.withResolvers<void>()
  let remoteDone = false
  let unreadable = false
  let closing = false

  /**
   * Queues a response: one frame, or fragments (returned, to wait for or abort). A response that
   * cannot be sent is replaced by the error that says why (`refused`).
   */
  const respond = (response: JsonRpcResponse): { outgoing?: OutgoingMessage, refused: boolean } => {
    const key = orderKey(response.id)
    const refusal = (code: number, message: string, data?: unknown): Uint8Array => encodeBody(errorResponse(response.id, code, message, data))
    let body: Uint8Array
    let refused = false
    try {
      body = encodeBody(response)
    } catch (err) {
      log.error('could not serialise the response to %s - %e', String(response.id), err)
      body = refusal(RpcErrorCode.InternalError, 'the response could not be serialised')
      refused = true
    }
    const shortfall = allowance?.shortfall(body.byteLength)
    if (body.byteLength > maxMessageBytes) {
      body = refusal(RpcErrorCode.MessageTooLarge, `the response (${body.byteLength} bytes) is larger than the ${maxMessageBytes} byte message limit`,
        { size: body.byteLength, limit: maxMessageBytes })
      refused = true
    } else if (shortfall != null) {
      log('refusing a %d byte response on a relayed connection - %o', body.byteLength, shortfall)
      body = refusal(RpcErrorCode.TooLargeForRelay,
        shortfall.limit === 'data'
          ? `the response (${body.byteLength} bytes) does not fit the relayed connection: ${shortfall.remaining} bytes of the relay's data limit are left for it; ask again on another connection`
          : `the response (${body.byteLength} bytes) cannot be carried in the ${shortfall.remaining} s the relayed connection has left; ask again on another connection`,
        { size: shortfall.needed, remaining: shortfall.remaining, limit: shortfall.limit })
      refused = true
    }
    if (body.byteLength <= writer.fragmentSize) {
      writer.write(frame(body), key)
      return { refused }
    }
    try {
      return { outgoing: writer.writeMessage(body, response.id, key), refused }
    } catch (err) {
      if (!(err instanceof WriteQueueFullError)) throw err
      writer.write(frame(refusal(RpcErrorCode.Unavailable, err.message)), key)
      return { refused: true }
    }
  }
  /** An error the stream answers itself (not a handler's): reported to `onProblem` too. */
  const respondProblem = (response: JsonRpcFailure): void => {
    init.onProblem?.(response.error.code)
    respond(response)
  }

  /**
   * Sends a response and, when it is large, waits until it is handed to the stream (so a slow
   * reader holds the call's slot, not an unbounded queue). `cut`: a cancel stopped it halfway;
   * `refused`: an error went in its place.
   */
  const deliver = async (response: JsonRpcResponse, signal: AbortSignal): Promise<'sent' | 'cut' | 'refused'> => {
    const { outgoing, refused } = respond(response)
    if (refused) return 'refused'
    if (outgoing == null) return 'sent'
    let fate: MessageFate = 'sent'
    const onAbort = (): void => { fate = outgoing.abort() }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await outgoing.done
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
    return fate === 'sent' ? 'sent' : 'cut'
  }

  const maybeFinish = (): void => {
    if (!remoteDone || inFlight.size > 0 || closing) return
    closing = true
    // what is still queued (behind a slow reader) goes out before our side closes
    void writer.whenIdle()
      .then(async () => { if (stream.writeStatus === 'writable') await stream.close() })
      .catch(() => {})
  }

  const run = async (request: JsonRpcRequest & { id: JsonRpcId }): Promise<void> => {
    const controller = new AbortController()
    const cancelled = (): void => { respond(errorResponse(request.id, RpcErrorCode.Cancelled, 'cancelled by the client')) }
    inFlight.set(request.id, controller)
    try {
      const result = await init.handler(request, { signal: controller.signal })
      if (result == null) return
      if (isAsyncIterable(result)) {
        // the call ends with `$/end`, or with the error response that went last
        let ended = false
        for await (const response of result) {
          if (controller.signal.aborted) break
          const fate = await deliver(response, controller.signal)
          ended = fate === 'refused' || 'error' in response
          if (fate !== 'sent' || ended) break
        }
        if (controller.signal.aborted && !ended) {
          cancelled()
        } else if (!ended) {
          writer.write(frame(encodeBody(notification(END_METHOD, { id: request.id }))), orderKey(request.id))
        }
      } else if (controller.signal.aborted || await deliver(result, controller.signal) === 'cut') {
        cancelled()
      }
    } catch (err) {
      log.error('handler for %s failed - %e', request.method, err)
      respond(errorResponse(request.id, RpcErrorCode.InternalError, 'internal error'))
    } finally {
      inFlight.delete(request.id)
      if (inFlight.size === 0) armIdle()
      maybeFinish()
    }
  }

  const onFrame = (value: unknown): void => {
    const problem = requestProblem(value)
    if (problem != null) {
      const id = isObject(value) && isValidId(value.id) ? value.id : null
      respondProblem(errorResponse(id, RpcErrorCode.InvalidRequest, `invalid request: ${problem}`))
      return
    }
    const request = value as JsonRpcRequest
    if (request.method === CANCEL_METHOD) {
      const id = isObject(request.params) ? request.params.id : undefined
      if (isValidId(id)) inFlight.get(id)?.abort()
      return
    }
    if (!('id' in request) || request.id === undefined) {
      // a notification we do not know: JSON-RPC says it gets no answer
      return
    }
    const withId = request as JsonRpcRequest & { id: JsonRpcId }
    if (inFlight.has(withId.id)) {
      respondProblem(errorResponse(withId.id, RpcErrorCode.InvalidRequest, `request id ${String(withId.id)} is already in flight`))
      return
    }
    if (inFlight.size >= maxInFlight) {
      respondProblem(errorResponse(withId.id, RpcErrorCode.TooManyRequests, `more than ${maxInFlight} requests in flight on one stream`))
      return
    }
    void run(withId)
  }

  let idleTimer: ReturnType<typeof setTimeout> | undefined
  const armIdle = (): void => {
    if (init.idleTimeoutMs == null || closing || unreadable) return
    clearTimeout(idleTimer)
    idleTimer = setTimeout(() => {
      if (inFlight.size > 0) return
      log('closing stream %s: idle for %d ms', stream.id, init.idleTimeoutMs)
      unreadable = true
      remoteDone = true
      closeSoon(stream, new Error(`no request for ${init.idleTimeoutMs} ms`))
    }, init.idleTimeoutMs)
  }
  armIdle()

  stream.addEventListener('message', (evt) => {
    armIdle()
    if (unreadable) return
    allowance?.recordReceived(evt.data.byteLength)
    try {
      for (const message of decoder.push(evt.data)) {
        if (message.ok) {
          onFrame(message.value)
        } else if (message.error instanceof MessageTooLargeError) {
          respondProblem(errorResponse(message.id ?? null, RpcErrorCode.MessageTooLarge, message.error.message,
            { size: message.error.size, limit: message.error.limit }))
        } else {
          respondProblem(errorResponse(message.id ?? null, RpcErrorCode.ParseError, `parse error: ${message.error.message}`))
        }
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      respondProblem(errorResponse(null, RpcErrorCode.FrameTooLarge, message))
      log('closing stream %s after an unreadable frame - %s', stream.id, message)
      unreadable = true
      remoteDone = true
      decoder.clear()
      for (const controller of inFlight.values()) controller.abort()
      closeSoon(stream, err instanceof Error ? err : new Error(message))
    }
  })
  stream.addEventListener('remoteCloseWrite', () => {
    if (!unreadable && decoder.bufferedBytes > 0) {
      // the remote ended inside a frame (or a fragmented message): say so before closing
      respondProblem(errorResponse(null, RpcErrorCode.ParseError, `parse error: the stream ended inside a message (${decoder.bufferedBytes} bytes of it were received)`))
      decoder.clear()
    }
    remoteDone = true
    maybeFinish()
  })
  stream.addEventListener('close', () => {
    clearTimeout(idleTimer)
    decoder.clear()
    for (const controller of inFlight.values()) controller.abort()
    onClosed()
  })

  await closed
}

/** Frames of one call keep their order; a response with no usable id needs none. */
function orderKey (id: JsonRpcId): OrderKey | undefined {
  return typeof id === 'string' || typeof id === 'number' ? id : undefined
}

/** How long a stream we gave up on may take to close before it is reset, in ms. */
const UNREADABLE_CLOSE_GRACE_MS = 2_000

/** Closes our side so the error already queued is delivered, then resets the stream if the remote lingers. */
function closeSoon (stream: Stream, reason: Error): void {
  const timer = setTimeout(() => { stream.abort(reason) }, UNREADABLE_CLOSE_GRACE_MS)
  stream.addEventListener('close', () => { clearTimeout(timer) }, { once: true })
  void stream.close().catch(() => { stream.abort(reason) })
}

function isAsyncIterable (value: unknown): value is AsyncIterable<JsonRpcResponse> {
  return value != null && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'
}
