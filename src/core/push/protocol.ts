/**
 * Push of task updates to the peer that sent the task (docs/protocol.md §Push): JSON-RPC on a
 * Starling stream opened by the agent to the sender. The sender asked for it in its SendMessage
 * (`configuration.taskPushNotificationConfig`: url `libp2p://<its own PeerID>`, token = its own
 * id of the task), so the agent can tell it what changed without being polled, including when
 * the sender was offline at the time (the agent's outbox keeps the update until it is taken).
 */
import { DEFAULT_A2A_MAX_MESSAGE_BYTES } from '../a2a/binding.js'
import type { StreamResponseJson } from '../a2a/json.js'

export const PUSH_PROTOCOL = '/starling/push/1.0.0'

/** The one method: an update of a task, for the sender that gave `token`. */
export const PUSH_METHOD = 'TaskUpdate'

/**
 * Largest push message, in bytes: the binding's (56 MiB), room for an update with 40 MiB of files
 * (base64 adds a third). Messages over 64 KiB travel as fragments (docs/protocol.md §1).
 */
export const PUSH_MAX_FRAME_BYTES = DEFAULT_A2A_MAX_MESSAGE_BYTES

export interface PushParams {
  /** The sender's own id of the task, from its push config. */
  token: string
  /** What changed: a status or artifact update, or the whole task (when updates were missed). */
  update: StreamResponseJson
}

/** Error codes a sender answers a push with (JSON-RPC `error.code`). Retrying cannot help any of them. */
export const PushErrorCode = {
  /** The params are not a PushParams, or a part in the update is malformed or too large. */
  InvalidParams: -32602,
  /** The sender has no task with this token. */
  UnknownTask: -32001,
  /** The pusher is not the agent the task was sent to. */
  NotCounterpart: -32083,
  /** The update would move the task where it cannot go (completed → working). */
  InvalidTransition: -32090
} as const
