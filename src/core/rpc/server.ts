/**
 * The server end of a Starling RPC stream. Requests on one stream run concurrently (a slow
 * task never holds up a quick GetTask behind it); each gets exactly one response, or for a
 * streaming method a run of responses closed by `$/end` or an error response.
 *
 * Nothing a remote sends can crash the process: unreadable frames get a JSON-RPC error, an
 * oversized frame gets an error and the stream is closed (its framing is lost), and a handler
 * that throws becomes an InternalError response.
 */
import { logger } from '@libp2p/logger'
import type { Stream } from '@libp2p/interface'
import { FrameTooLargeError } from '../errors.js'
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder } from './frame.js'
import { FrameWriter } from './frame-writer.js'
import {
  CANCEL_METHOD, END_METHOD, errorResponse, isObject, isValidId, notification, requestProblem, RpcErrorCode
} from './jsonrpc.js'
import type { JsonRpcId, JsonRpcRequest, JsonRpcResponse } from './jsonrpc.js'

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
  maxFrameBytes?: number
  maxInFlight?: number
}

/**
 * Serves JSON-RPC on `stream` until the remote closes it. Resolves when the stream is closed
 * and every request has finished.
 */
export async function serveRpc (stream: Stream, init: ServeRpcInit): Promise<void> {
  const maxFrameBytes = init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const maxInFlight = init.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
  const writer = new FrameWriter(stream)
  const decoder = new FrameDecoder(maxFrameBytes)
  const inFlight = new Map<JsonRpcId, AbortController>()
  const { promise: closed, resolve: onClosed } = Promise.withResolvers<void>()
  let remoteDone = false
  let unreadable = false

  const respond = (response: JsonRpcResponse): void => {
    let frame: Uint8Array
    try {
      frame = encodeFrame(response, maxFrameBytes)
    } catch (err) {
      const reason = err instanceof FrameTooLargeError
        ? `the response (${err.size} bytes) is larger than the ${maxFrameBytes} byte frame limit`
        : 'the response could not be serialised'
      frame = encodeFrame(errorResponse(response.id, RpcErrorCode.InternalError, reason))
    }
    writer.write(frame)
  }

  const maybeFinish = (): void => {
    if (remoteDone && inFlight.size === 0 && stream.writeStatus === 'writable') {
      void stream.close().catch(() => {})
    }
  }

  const run = async (request: JsonRpcRequest & { id: JsonRpcId }): Promise<void> => {
    const controller = new AbortController()
    inFlight.set(request.id, controller)
    try {
      const result = await init.handler(request, { signal: controller.signal })
      if (result == null) return
      if (isAsyncIterable(result)) {
        let last: JsonRpcResponse | undefined
        for await (const response of result) {
          if (controller.signal.aborted) break
          respond(response)
          last = response
          if ('error' in response) break
        }
        if (controller.signal.aborted) {
          respond(errorResponse(request.id, RpcErrorCode.Cancelled, 'cancelled by the client'))
        } else if (last == null || !('error' in last)) {
          writer.write(encodeFrame(notification(END_METHOD, { id: request.id })))
        }
      } else if (!controller.signal.aborted) {
        respond(result)
      } else {
        respond(errorResponse(request.id, RpcErrorCode.Cancelled, 'cancelled by the client'))
      }
    } catch (err) {
      log.error('handler for %s failed - %e', request.method, err)
      respond(errorResponse(request.id, RpcErrorCode.InternalError, 'internal error'))
    } finally {
      inFlight.delete(request.id)
      maybeFinish()
    }
  }

  const onFrame = (value: unknown): void => {
    const problem = requestProblem(value)
    if (problem != null) {
      const id = isObject(value) && isValidId(value.id) ? value.id : null
      respond(errorResponse(id, RpcErrorCode.InvalidRequest, `invalid request: ${problem}`))
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
      respond(errorResponse(withId.id, RpcErrorCode.InvalidRequest, `request id ${String(withId.id)} is already in flight`))
      return
    }
    if (inFlight.size >= maxInFlight) {
      respond(errorResponse(withId.id, RpcErrorCode.TooManyRequests, `more than ${maxInFlight} requests in flight on one stream`))
      return
    }
    void run(withId)
  }

  stream.addEventListener('message', (evt) => {
    if (unreadable) return
    try {
      for (const frame of decoder.push(evt.data)) {
        if (frame.ok) onFrame(frame.value)
        else respond(errorResponse(null, RpcErrorCode.ParseError, `parse error: ${frame.error.message}`))
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      respond(errorResponse(null, RpcErrorCode.FrameTooLarge, message))
      log('closing stream %s after an unreadable frame - %s', stream.id, message)
      unreadable = true
      remoteDone = true
      for (const controller of inFlight.values()) controller.abort()
      closeSoon(stream, err instanceof Error ? err : new Error(message))
    }
  })
  stream.addEventListener('remoteCloseWrite', () => {
    remoteDone = true
    maybeFinish()
  })
  stream.addEventListener('close', () => {
    for (const controller of inFlight.values()) controller.abort()
    onClosed()
  })

  await closed
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
