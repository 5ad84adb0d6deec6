/**
 * Both ends of the push protocol (./protocol.ts). A sender serves it, handing each update to
 * `receive` with the authenticated PeerID of the pusher; an agent calls `push` to deliver one.
 */
import { logger } from '@libp2p/logger'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { InvalidInputError, RemoteRpcError, StarlingError, TaskStateError, UnknownTaskError } from '../errors.js'
import type { PeerConnector } from '../node/connector.js'
import { errorResponse, isObject, RpcErrorCode, successResponse } from '../rpc/jsonrpc.js'
import type { JsonRpcRequest, JsonRpcResponse } from '../rpc/jsonrpc.js'
import { serveRpc } from '../rpc/server.js'
import { PUSH_MAX_FRAME_BYTES, PUSH_METHOD, PUSH_PROTOCOL, PushErrorCode } from './protocol.js'
import type { PushParams } from './protocol.js'
import type { StreamResponseJson } from '../a2a/json.js'

const log = logger('starling:push')

/** Push streams one peer may hold open to us at once. */
export const DEFAULT_MAX_INBOUND_PUSH_STREAMS = 4
/** Pushes in flight on one stream. */
export const DEFAULT_MAX_PUSHES_PER_STREAM = 256

/** The pusher is not the agent the task was sent to. */
export class NotCounterpartError extends StarlingError {
  constructor (message: string) {
    super(message, 'ERR_NOT_COUNTERPART')
  }
}

/** A push the sender refused; retrying the same push cannot succeed. */
export class PushRefusedError extends StarlingError {
  readonly rpcCode: number

  constructor (rpcCode: number, message: string) {
    super(message, 'ERR_PUSH_REFUSED')
    this.rpcCode = rpcCode
  }
}

export interface PushServiceInit {
  node: Libp2p
  connector: PeerConnector
  /** Applies an update pushed by `from`; throws a typed error to refuse it. */
  receive: (from: string, params: PushParams) => Promise<void>
}

export class PushService {
  private readonly init: PushServiceInit

  constructor (init: PushServiceInit) {
    this.init = init
  }

  async start (): Promise<void> {
    await this.init.node.handle(PUSH_PROTOCOL, async (stream: Stream, connection: Connection) => {
      const from = connection.remotePeer.toString()
      await serveRpc(stream, {
        connection,
        maxFrameBytes: PUSH_MAX_FRAME_BYTES,
        maxInFlight: DEFAULT_MAX_PUSHES_PER_STREAM,
        handler: async (request) => await this.call(from, request)
      })
    }, {
      // an answer must reach its sender before (and without) a direct connection
      runOnLimitedConnection: true,
      maxInboundStreams: DEFAULT_MAX_INBOUND_PUSH_STREAMS
    })
  }

  async stop (): Promise<void> {
    await this.init.node.unhandle(PUSH_PROTOCOL)
  }

  /**
   * Delivers `update` of the task `token` to `peerId`. Throws PushRefusedError when the peer
   * refused it for good, anything else when a later attempt may succeed.
   */
  async push (peerId: string, token: string, update: StreamResponseJson, options: { signal?: AbortSignal } = {}): Promise<void> {
    const client = await this.init.connector.rpc(peerId, { protocol: PUSH_PROTOCOL, maxFrameBytes: PUSH_MAX_FRAME_BYTES, signal: options.signal })
    const params: PushParams = { token, update }
    try {
      await client.request(PUSH_METHOD, params, { signal: options.signal })
    } catch (err) {
      if (err instanceof RemoteRpcError && (Object.values(PushErrorCode) as number[]).includes(err.rpcCode)) {
        throw new PushRefusedError(err.rpcCode, err.message)
      }
      throw err
    }
  }

  private async call (from: string, request: JsonRpcRequest): Promise<JsonRpcResponse> {
    const id = request.id ?? null
    if (request.method !== PUSH_METHOD) return errorResponse(id, RpcErrorCode.MethodNotFound, `unknown push method ${request.method}`)
    const params = request.params
    if (!isObject(params) || typeof params.token !== 'string' || params.token === '' || !isObject(params.update)) {
      return errorResponse(id, PushErrorCode.InvalidParams, 'params must be { token: string, update: object }')
    }
    try {
      await this.init.receive(from, { token: params.token, update: params.update as StreamResponseJson })
      return successResponse(id, {})
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      log('refused a push from %s - %s', from, message)
      if (err instanceof UnknownTaskError) return errorResponse(id, PushErrorCode.UnknownTask, message)
      if (err instanceof NotCounterpartError) return errorResponse(id, PushErrorCode.NotCounterpart, message)
      if (err instanceof TaskStateError) return errorResponse(id, PushErrorCode.InvalidTransition, message)
      if (err instanceof InvalidInputError) return errorResponse(id, PushErrorCode.InvalidParams, message)
      return errorResponse(id, RpcErrorCode.InternalError, 'the update could not be stored')
    }
  }
}
