/**
 * Typed errors shared by every part of Starling. Each has a stable `code` so that a
 * CLI, a UI or a remote peer can tell them apart without parsing messages.
 */
export class StarlingError extends Error {
  readonly code: string

  constructor (message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** A frame on a Starling stream was larger than the limit of its protocol. */
export class FrameTooLargeError extends StarlingError {
  readonly size: number
  readonly limit: number

  constructor (size: number, limit: number) {
    super(`frame of ${size} bytes exceeds the limit of ${limit} bytes`, 'ERR_FRAME_TOO_LARGE')
    this.size = size
    this.limit = limit
  }
}

/** Bytes on a Starling stream could not be read as a frame (bad length prefix, not JSON). */
export class MalformedFrameError extends StarlingError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_MALFORMED_FRAME', options)
  }
}

/** The stream carrying a request closed before the answer arrived. */
export class ChannelClosedError extends StarlingError {
  constructor (message = 'the stream closed before the response arrived', options?: ErrorOptions) {
    super(message, 'ERR_CHANNEL_CLOSED', options)
  }
}

/** A remote answered a JSON-RPC request with an error object. */
export class RemoteRpcError extends StarlingError {
  readonly rpcCode: number
  readonly data: unknown

  constructor (rpcCode: number, message: string, data?: unknown) {
    super(message, 'ERR_REMOTE_RPC')
    this.rpcCode = rpcCode
    this.data = data
  }
}

/** No relay could be reached, so the peer is not on the mesh right now. */
export class RelayUnavailableError extends StarlingError {
  constructor (message = 'not connected to a relay', options?: ErrorOptions) {
    super(message, 'ERR_RELAY_UNAVAILABLE', options)
  }
}

/** A peer could not be reached directly or through the relay. */
export class PeerUnreachableError extends StarlingError {
  readonly peerId: string

  constructor (peerId: string, options?: ErrorOptions) {
    super(`peer ${peerId} could not be reached`, 'ERR_PEER_UNREACHABLE', options)
    this.peerId = peerId
  }
}

/** A value given to a Starling API was not valid (a PeerID, a multiaddr, a card). */
export class InvalidInputError extends StarlingError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_INPUT', options)
  }
}

/** A task the caller named is not known here. */
export class UnknownTaskError extends StarlingError {
  readonly taskId: string

  constructor (taskId: string) {
    super(`no task with id ${taskId}`, 'ERR_UNKNOWN_TASK')
    this.taskId = taskId
  }
}

/** The task is in a state that does not allow the operation (e.g. answering a completed task). */
export class TaskStateError extends StarlingError {
  constructor (message: string) {
    super(message, 'ERR_TASK_STATE')
  }
}

/** A registry request was refused by the registry; `reason` says why. */
export class RegistryError extends StarlingError {
  readonly rpcCode: number

  constructor (rpcCode: number, message: string) {
    super(message, 'ERR_REGISTRY')
    this.rpcCode = rpcCode
  }
}

/** An operation did not finish within its time limit. */
export class TimeoutError extends StarlingError {
  constructor (message: string) {
    super(message, 'ERR_TIMEOUT')
  }
}

/**
 * A JSON-RPC message was larger than the message limit of its protocol (the sender refuses to
 * send it; a receiver refuses it with -32085 and drops its fragments).
 */
export class MessageTooLargeError extends StarlingError {
  readonly size: number
  readonly limit: number

  constructor (size: number, limit: number, message = `a message of ${size} bytes exceeds the limit of ${limit} bytes`) {
    super(message, 'ERR_MESSAGE_TOO_LARGE')
    this.size = size
    this.limit = limit
  }
}

/**
 * A message does not fit what remains of a relayed connection's allowance (the relay's data or
 * time limit), and no connection that could carry it exists: it was not started, so nothing was
 * cut. Retrying later can succeed (on a fresh circuit, or a direct connection).
 */
export class TooLargeForRelayError extends StarlingError {
  /** Bytes the message needs on the wire. */
  readonly size: number
  /** Bytes the best relayed connection could still carry, when known. */
  readonly remaining?: number
  /** Which relay limit is in the way. */
  readonly limit: 'data' | 'duration'
  readonly peerId?: string

  constructor (message: string, init: { size: number, remaining?: number, limit?: 'data' | 'duration', peerId?: string }, options?: ErrorOptions) {
    super(message, 'ERR_TOO_LARGE_FOR_RELAY', options)
    this.size = init.size
    this.remaining = init.remaining
    this.limit = init.limit ?? 'data'
    this.peerId = init.peerId
  }
}

/** No agent with the skill asked for could take a task. */
export class NoAgentError extends StarlingError {
  readonly skill: string
  /** The agents tried, in order. */
  readonly tried: string[]

  constructor (skill: string, tried: string[]) {
    super(tried.length === 0
      ? `no connected agent has the skill ${skill}`
      : `no agent with the skill ${skill} accepted the task (tried ${tried.length}: ${tried.join(', ')})`, 'ERR_NO_AGENT')
    this.skill = skill
    this.tried = tried
  }
}

/** Turns anything thrown into a message fit for a person to read. */
export function errorMessage (err: unknown): string {
  if (err instanceof Error) return err.message
  // WebRTC data channels fail with events, not errors (an RTCErrorEvent carries its error)
  if (typeof err === 'object' && err !== null && typeof (err as { type?: unknown }).type === 'string') {
    const inner = (err as { error?: unknown }).error
    return `${(err as { type: string }).type} event${inner instanceof Error ? `: ${inner.message}` : ''}`
  }
  return String(err)
}

/** `err` as an Error: events and other thrown values become one, their message kept. */
export function toError (err: unknown): Error {
  return err instanceof Error ? err : new Error(errorMessage(err), { cause: err })
}
