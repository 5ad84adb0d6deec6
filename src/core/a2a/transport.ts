/**
 * Client side of the A2A libp2p binding: a `Transport` for @a2a-js/sdk's `Client`, and the
 * `TransportFactory` that lets the SDK's `ClientFactory` pick it from an agent card whose
 * `supportedInterfaces` name A2A_BINDING_URI. Calls are JSON-RPC messages on the shared stream
 * that `connect` returns; the SDK's own codecs do the JSON mapping.
 *
 * Size errors are the transport's own and reach the caller as they are: MessageTooLargeError
 * (over the 56 MiB message limit, ours or the agent's) and TooLargeForRelayError (the message, or
 * the agent's answer, does not fit what the relay still allows and no direct connection exists;
 * nothing was cut, a later attempt may succeed).
 */
import {
  A2A_VERSION_HEADER, AgentCard, CancelTaskRequest, DeleteTaskPushNotificationConfigRequest, GetExtendedAgentCardRequest,
  GetTaskPushNotificationConfigRequest, GetTaskRequest, ListTaskPushNotificationConfigsRequest,
  ListTaskPushNotificationConfigsResponse, ListTasksRequest, ListTasksResponse, SendMessageRequest, SendMessageResponse,
  StreamResponse, SubscribeToTaskRequest, Task, TaskPushNotificationConfig
} from '@a2a-js/sdk'
import type { SendMessageResult } from '@a2a-js/sdk'
import type { RequestOptions, Transport, TransportFactory } from '@a2a-js/sdk/client'
import { fromJsonRpcErrorResponse } from '@a2a-js/sdk/errors'
import { RpcClient } from '../rpc/client.js'
import type { JsonRpcErrorObject } from '../rpc/jsonrpc.js'
import { A2A_BINDING_URI, A2A_VERSION, DEFAULT_A2A_MAX_MESSAGE_BYTES, peerIdFromInterfaceUrl } from './binding.js'

/** Returns the shared RPC stream to `peerId`, dialing it if needed. */
export type A2AConnector = (peerId: string, options: { signal?: AbortSignal }) => Promise<RpcClient>

interface Codec<T> {
  toJSON: (value: T) => unknown
}

/** Maps a JSON-RPC error from a peer to the SDK's typed A2A errors (TaskNotFoundError, …). */
export function a2aErrorFromRpc (error: JsonRpcErrorObject): Error {
  return fromJsonRpcErrorResponse({ jsonrpc: '2.0', id: null, error: error as Parameters<typeof fromJsonRpcErrorResponse>[0]['error'] }) as Error
}

export class Libp2pTransport implements Transport {
  readonly peerId: string
  private readonly connect: A2AConnector

  constructor (peerId: string, connect: A2AConnector) {
    this.peerId = peerId
    this.connect = connect
  }

  get protocolName (): string { return A2A_BINDING_URI }
  get protocolVersion (): string { return A2A_VERSION }

  async getExtendedAgentCard (params: GetExtendedAgentCardRequest, options?: RequestOptions): Promise<AgentCard> {
    return AgentCard.fromJSON(await this.call('GetExtendedAgentCard', params, GetExtendedAgentCardRequest, options))
  }

  async sendMessage (params: SendMessageRequest, options?: RequestOptions): Promise<SendMessageResult> {
    const response = SendMessageResponse.fromJSON(await this.call('SendMessage', params, SendMessageRequest, options))
    if (response.payload == null) throw new Error('invalid SendMessage response: neither a task nor a message')
    return response.payload.value
  }

  async * sendMessageStream (params: SendMessageRequest, options?: RequestOptions): AsyncGenerator<StreamResponse, void, undefined> {
    yield * this.stream('SendStreamingMessage', params, SendMessageRequest, options)
  }

  async createTaskPushNotificationConfig (params: TaskPushNotificationConfig, options?: RequestOptions): Promise<TaskPushNotificationConfig> {
    return TaskPushNotificationConfig.fromJSON(await this.call('CreateTaskPushNotificationConfig', params, TaskPushNotificationConfig, options))
  }

  async getTaskPushNotificationConfig (params: GetTaskPushNotificationConfigRequest, options?: RequestOptions): Promise<TaskPushNotificationConfig> {
    return TaskPushNotificationConfig.fromJSON(await this.call('GetTaskPushNotificationConfig', params, GetTaskPushNotificationConfigRequest, options))
  }

  async listTaskPushNotificationConfig (params: ListTaskPushNotificationConfigsRequest, options?: RequestOptions): Promise<ListTaskPushNotificationConfigsResponse> {
    return ListTaskPushNotificationConfigsResponse.fromJSON(await this.call('ListTaskPushNotificationConfigs', params, ListTaskPushNotificationConfigsRequest, options))
  }

  async deleteTaskPushNotificationConfig (params: DeleteTaskPushNotificationConfigRequest, options?: RequestOptions): Promise<void> {
    await this.call('DeleteTaskPushNotificationConfig', params, DeleteTaskPushNotificationConfigRequest, options)
  }

  async getTask (params: GetTaskRequest, options?: RequestOptions): Promise<Task> {
    return Task.fromJSON(await this.call('GetTask', params, GetTaskRequest, options))
  }

  async cancelTask (params: CancelTaskRequest, options?: RequestOptions): Promise<Task> {
    return Task.fromJSON(await this.call('CancelTask', params, CancelTaskRequest, options))
  }

  async listTasks (params: ListTasksRequest, options?: RequestOptions): Promise<ListTasksResponse> {
    return ListTasksResponse.fromJSON(await this.call('ListTasks', params, ListTasksRequest, options))
  }

  async * resubscribeTask (params: SubscribeToTaskRequest, options?: RequestOptions): AsyncGenerator<StreamResponse, void, undefined> {
    yield * this.stream('SubscribeToTask', params, SubscribeToTaskRequest, options)
  }

  private async call<T> (method: string, params: T, codec: Codec<T>, options?: RequestOptions): Promise<unknown> {
    const client = await this.connect(this.peerId, { signal: options?.signal })
    return await client.request(method, codec.toJSON(params), {
      signal: options?.signal,
      serviceParameters: serviceParameters(options)
    })
  }

  private async * stream<T> (method: string, params: T, codec: Codec<T>, options?: RequestOptions): AsyncGenerator<StreamResponse, void, undefined> {
    const client = await this.connect(this.peerId, { signal: options?.signal })
    const results = client.subscribe(method, codec.toJSON(params), {
      signal: options?.signal,
      serviceParameters: serviceParameters(options)
    })
    for await (const result of results) yield StreamResponse.fromJSON(result)
  }
}

function serviceParameters (options?: RequestOptions): Record<string, string> {
  return { ...options?.serviceParameters, [A2A_VERSION_HEADER]: A2A_VERSION }
}

/** Lets the SDK's ClientFactory reach agents whose card offers the libp2p binding. */
export class Libp2pTransportFactory implements TransportFactory {
  private readonly connect: A2AConnector

  constructor (connect: A2AConnector) {
    this.connect = connect
  }

  get protocolName (): string { return A2A_BINDING_URI }

  async create (url: string, _card: AgentCard): Promise<Transport> {
    return new Libp2pTransport(peerIdFromInterfaceUrl(url), this.connect)
  }
}

/**
 * The RPC client options every A2A stream uses: errors become the SDK's typed A2A errors, and
 * messages may be as large as the binding allows.
 */
export function a2aRpcClient (stream: ConstructorParameters<typeof RpcClient>[0], init: ConstructorParameters<typeof RpcClient>[1] = {}): RpcClient {
  return new RpcClient(stream, { toError: a2aErrorFromRpc, ...init, maxMessageBytes: init.maxMessageBytes ?? init.maxFrameBytes ?? DEFAULT_A2A_MAX_MESSAGE_BYTES })
}
