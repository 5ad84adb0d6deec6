/**
 * Server side of the A2A libp2p binding: every inbound stream on A2A_PROTOCOL is served by
 * @a2a-js/sdk's transport-neutral JsonRpcTransportHandler. The caller's identity is the
 * stream's remote PeerID, authenticated by Noise, and becomes the SDK's `User`, so a peer only
 * ever sees its own tasks.
 */
import { logger } from '@libp2p/logger'
import { Extensions } from '@a2a-js/sdk'
import { JsonRpcTransportHandler, ServerCallContext, validateVersion } from '@a2a-js/sdk/server'
import type { A2ARequestHandler } from '@a2a-js/sdk/server'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { serveRpc } from '../rpc/server.js'
import type { RpcHandlerResult } from '../rpc/server.js'
import { errorResponse, RpcErrorCode } from '../rpc/jsonrpc.js'
import type { JsonRpcRequest, JsonRpcResponse } from '../rpc/jsonrpc.js'
import { PeerUser } from './user.js'
import { checkMessage, InvalidPartError } from './parts.js'
import { A2A_BINDING_URI, A2A_PROTOCOL, A2A_VERSION, DEFAULT_A2A_MAX_FRAME_BYTES } from './binding.js'

const log = logger('starling:a2a:server')

/** A2A streams one peer may hold open to us at once. */
export const DEFAULT_MAX_INBOUND_A2A_STREAMS = 8

/** Calls in flight on one A2A stream. */
export const DEFAULT_MAX_CALLS_PER_STREAM = 256

export interface A2AServerInit {
  /** The handler to use for each call; read per call, so the card can change at run time. */
  requestHandler: () => A2ARequestHandler
  maxFrameBytes?: number
  maxInboundStreams?: number
  maxCallsPerStream?: number
}

export class A2AServer {
  private readonly node: Libp2p
  private readonly init: A2AServerInit

  constructor (node: Libp2p, init: A2AServerInit) {
    this.node = node
    this.init = init
  }

  async start (): Promise<void> {
    await this.node.handle(A2A_PROTOCOL, async (stream, connection) => {
      await this.serve(stream, connection)
    }, {
      // tasks must flow before a relayed connection is upgraded to a direct one
      runOnLimitedConnection: true,
      maxInboundStreams: this.init.maxInboundStreams ?? DEFAULT_MAX_INBOUND_A2A_STREAMS
    })
  }

  async stop (): Promise<void> {
    await this.node.unhandle(A2A_PROTOCOL)
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const user = new PeerUser(connection.remotePeer.toString())
    const transport = new JsonRpcTransportHandler(this.init.requestHandler())
    await serveRpc(stream, {
      // on a relayed connection, an answer that would not fit the relay's limits is refused
      // (-32086) instead of being cut by the relay half-way
      connection,
      maxFrameBytes: this.init.maxFrameBytes ?? DEFAULT_A2A_MAX_FRAME_BYTES,
      maxInFlight: this.init.maxCallsPerStream ?? DEFAULT_MAX_CALLS_PER_STREAM,
      handler: async (request) => await this.call(transport, request, user)
    })
  }

  private async call (transport: JsonRpcTransportHandler, request: JsonRpcRequest, user: PeerUser): Promise<RpcHandlerResult> {
    const id = request.id ?? null
    const sp = request.serviceParameters ?? {}
    // This binding never spoke A2A 0.3, so an absent A2A-Version means 1.0 (docs/protocol.md).
    const requestedVersion = sp['A2A-Version'] ?? A2A_VERSION
    const context = new ServerCallContext({
      user,
      requestedVersion,
      requestedExtensions: Extensions.parseServiceParameter(sp['A2A-Extensions'])
    })
    try {
      const handler = this.init.requestHandler()
      validateVersion(requestedVersion, await handler.getAgentCard(), A2A_BINDING_URI)
    } catch (err) {
      return { jsonrpc: '2.0', id, error: JsonRpcTransportHandler.mapToJSONRPCError(err) } as JsonRpcResponse
    }
    if (request.method === 'SendMessage' || request.method === 'SendStreamingMessage') {
      // what a remote sends is checked before the SDK or a handler sees it: a malformed part or
      // a file over the limit is refused with the reason, and nothing is stored
      try {
        const params = request.params as { message?: unknown } | undefined
        checkMessage(params?.message, 'the message')
      } catch (err) {
        if (err instanceof InvalidPartError) return errorResponse(id, RpcErrorCode.InvalidParams, err.message)
        throw err
      }
    }
    const { serviceParameters: _, ...body } = request
    const result = await transport.handle(body as unknown as Record<string, unknown>, context)
    if (isAsyncIterable(result)) return mapStreamErrors(result as AsyncGenerator<JsonRpcResponse>, id)
    return result as JsonRpcResponse
  }
}

/**
 * The SDK's streaming generators throw A2A errors (TaskNotFound, UnsupportedOperation…) from
 * inside the iteration; the binding turns them into the error response that ends the stream.
 */
async function * mapStreamErrors (source: AsyncGenerator<JsonRpcResponse>, id: JsonRpcRequest['id']): AsyncGenerator<JsonRpcResponse> {
  try {
    yield * source
  } catch (err) {
    log('stream %s ended with an error - %e', String(id), err)
    const error = JsonRpcTransportHandler.mapToJSONRPCError(err) as { code: number, message: string, data?: unknown }
    yield errorResponse(id ?? null, error.code, error.message, error.data)
  }
}

function isAsyncIterable (value: unknown): value is AsyncIterable<unknown> {
  return value != null && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'
}
