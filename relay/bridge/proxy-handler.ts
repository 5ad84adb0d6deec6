/**
 * An A2ARequestHandler that forwards each call from an HTTP client to one mesh agent over
 * libp2p (./peer-link.ts). The SDK's express handlers (`jsonRpcHandler`, its v0.3 compatibility
 * layer) parse and answer HTTP; this class only decides what may pass and forwards it.
 *
 * Every bridged caller reaches the agent as the relay's PeerID, so the agent cannot tell two
 * HTTP callers apart. What would show one caller's tasks to another is refused: ListTasks, and
 * push configs (the agent would push to the relay, which has nowhere to send them). A task is
 * reached by its id, which the agent makes unguessable.
 */
import { Extensions } from '@a2a-js/sdk'
import type {
  AgentCard, CancelTaskRequest, DeleteTaskPushNotificationConfigRequest, GetExtendedAgentCardRequest,
  GetTaskPushNotificationConfigRequest, GetTaskRequest, ListTaskPushNotificationConfigsRequest,
  ListTaskPushNotificationConfigsResponse, ListTasksRequest, ListTasksResponse, Message, SendMessageRequest,
  StreamResponse, SubscribeToTaskRequest, Task, TaskPushNotificationConfig
} from '@a2a-js/sdk'
import type { Client, RequestOptions } from '@a2a-js/sdk/client'
import {
  A2AError, ExtendedAgentCardNotConfiguredError, PushNotificationNotSupportedError, UnsupportedOperationError
} from '@a2a-js/sdk/errors'
import type { A2ARequestHandler, ServerCallContext, User } from '@a2a-js/sdk/server'
import { ChannelClosedError, PeerUnreachableError, TimeoutError } from '../../src/core/errors.js'
import type { BridgeOutcome } from '../metrics.js'

/** How long a bridged call that waits for the agent's answer may take, in ms: 5 minutes. */
export const DEFAULT_BRIDGE_CALL_TIMEOUT_MS = 300_000

/** The HTTP header that carries A2A extensions (A2A v1.0). */
const EXTENSIONS_HEADER = 'A2A-Extensions'

/**
 * One HTTP request's caller, as the SDK's `User`: not authenticated (the bridge knows nothing
 * of HTTP callers), with the request's abort signal and, once the call ends, its outcome.
 */
export class BridgeCaller implements User {
  readonly address: string
  readonly signal: AbortSignal
  outcome?: BridgeOutcome

  constructor (address: string, signal: AbortSignal) {
    this.address = address
    this.signal = signal
  }

  get isAuthenticated (): boolean { return false }
  get userName (): string { return `http:${this.address}` }
}

export interface BridgeRequestHandlerInit {
  peerId: string
  /** The card served to HTTP callers (./card.ts), read per call: the agent may change it. */
  card: () => Promise<AgentCard>
  /** An SDK client for the agent over libp2p. */
  client: () => Promise<Client>
  /** Whether the agent is connected to the relay now (to tell "offline" from other failures). */
  connected: () => boolean
  /** Time limit of calls that wait for the agent (all but the streams), in ms. */
  callTimeoutMs?: number
}

export class BridgeRequestHandler implements A2ARequestHandler {
  private readonly init: BridgeRequestHandlerInit
  private readonly callTimeoutMs: number

  constructor (init: BridgeRequestHandlerInit) {
    this.init = init
    this.callTimeoutMs = init.callTimeoutMs ?? DEFAULT_BRIDGE_CALL_TIMEOUT_MS
  }

  async getAgentCard (): Promise<AgentCard> {
    return await this.init.card()
  }

  async getAuthenticatedExtendedAgentCard (_params: GetExtendedAgentCardRequest, context: ServerCallContext): Promise<AgentCard> {
    throw refuse(context, new ExtendedAgentCardNotConfiguredError('agents reached through the bridge have no extended card'))
  }

  async sendMessage (params: SendMessageRequest, context: ServerCallContext): Promise<Message | Task> {
    refusePushConfig(params, context)
    return await this.unary(context, async (client, options) => await client.sendMessage(params, options))
  }

  async * sendMessageStream (params: SendMessageRequest, context: ServerCallContext): AsyncGenerator<StreamResponse, void, undefined> {
    refusePushConfig(params, context)
    yield * this.stream(context, (client, options) => client.sendMessageStream(params, options))
  }

  async getTask (params: GetTaskRequest, context: ServerCallContext): Promise<Task> {
    return await this.unary(context, async (client, options) => await client.getTask(params, options))
  }

  async cancelTask (params: CancelTaskRequest, context: ServerCallContext): Promise<Task> {
    return await this.unary(context, async (client, options) => await client.cancelTask(params, options))
  }

  async * resubscribe (params: SubscribeToTaskRequest, context: ServerCallContext): AsyncGenerator<StreamResponse, void, undefined> {
    yield * this.stream(context, (client, options) => client.resubscribeTask(params, options))
  }

  async listTasks (_params: ListTasksRequest, context: ServerCallContext): Promise<ListTasksResponse> {
    throw refuse(context, new UnsupportedOperationError(
      'ListTasks is not offered through the HTTP bridge: every HTTP caller reaches the agent as the relay, so the list would hold other callers\' tasks'))
  }

  async createTaskPushNotificationConfig (_params: TaskPushNotificationConfig, context: ServerCallContext): Promise<TaskPushNotificationConfig> {
    throw refuse(context, noPush())
  }

  async getTaskPushNotificationConfig (_params: GetTaskPushNotificationConfigRequest, context: ServerCallContext): Promise<TaskPushNotificationConfig> {
    throw refuse(context, noPush())
  }

  async listTaskPushNotificationConfigs (_params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext): Promise<ListTaskPushNotificationConfigsResponse> {
    throw refuse(context, noPush())
  }

  async deleteTaskPushNotificationConfig (_params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext): Promise<void> {
    throw refuse(context, noPush())
  }

  private async unary<T> (context: ServerCallContext, call: (client: Client, options: RequestOptions) => Promise<T>): Promise<T> {
    const caller = callerOf(context)
    const timeout = AbortSignal.timeout(this.callTimeoutMs)
    const signal = caller == null ? timeout : AbortSignal.any([caller.signal, timeout])
    try {
      const result = await call(await this.init.client(), this.options(context, signal))
      if (caller != null) caller.outcome = 'ok'
      return result
    } catch (err) {
      throw this.failure(err, caller, timeout.aborted)
    }
  }

  private async * stream (context: ServerCallContext, call: (client: Client, options: RequestOptions) => AsyncGenerator<StreamResponse, void, undefined>): AsyncGenerator<StreamResponse, void, undefined> {
    const caller = callerOf(context)
    try {
      yield * call(await this.init.client(), this.options(context, caller?.signal))
      if (caller != null) caller.outcome = 'ok'
    } catch (err) {
      throw this.failure(err, caller, false)
    }
  }

  private options (context: ServerCallContext, signal?: AbortSignal): RequestOptions {
    const extensions = context.requestedExtensions
    return {
      signal,
      // extensions the HTTP caller asked for go on to the agent, which decides about them
      serviceParameters: extensions != null && extensions.length > 0 ? { [EXTENSIONS_HEADER]: Extensions.toServiceParameter(extensions) } : undefined
    }
  }

  /** The error the HTTP caller gets: the agent's A2A error as it is, else what went wrong, said plainly. */
  private failure (err: unknown, caller: BridgeCaller | undefined, timedOut: boolean): Error {
    const set = (outcome: BridgeOutcome): void => { if (caller != null) caller.outcome = outcome }
    if (err instanceof A2AError) {
      set('a2a_error')
      return err
    }
    if (timedOut) {
      set('timeout')
      return new TimeoutError(`agent ${this.init.peerId} did not answer within ${Math.round(this.callTimeoutMs / 1000)} s; the call was abandoned (a task it started may go on: ask with GetTask)`)
    }
    if (caller?.signal.aborted === true) {
      set('aborted')
      return new Error('the HTTP client went away', { cause: err })
    }
    if (err instanceof PeerUnreachableError || err instanceof ChannelClosedError || !this.init.connected()) {
      set('unreachable')
      const unreachable = new PeerUnreachableError(this.init.peerId, { cause: err })
      unreachable.message = `agent ${this.init.peerId} cannot be reached through this relay now: it is offline, or its connection closed during the call`
      return unreachable
    }
    set('error')
    return err instanceof Error ? err : new Error(String(err))
  }
}

/** The bridge's caller of a call, when the call came through the bridge's express app. */
function callerOf (context: ServerCallContext): BridgeCaller | undefined {
  return context.user instanceof BridgeCaller ? context.user : undefined
}

function refuse (context: ServerCallContext, err: Error): Error {
  const caller = callerOf(context)
  if (caller != null) caller.outcome = 'refused'
  return err
}

function noPush (): PushNotificationNotSupportedError {
  return new PushNotificationNotSupportedError('push notifications are not offered through the HTTP bridge: poll with GetTask or use SendStreamingMessage / SubscribeToTask')
}

function refusePushConfig (params: SendMessageRequest, context: ServerCallContext): void {
  if (params.configuration?.taskPushNotificationConfig != null) throw refuse(context, noPush())
}
