/**
 * The methods of the control socket (see ./control.ts for the framing): their params and
 * results. The daemon implements them (./control-methods.ts); ControlClient calls them.
 * Types only, so a client pulls in nothing of libp2p.
 */
import type { AgentProfile } from '../core/a2a/binding.js'
import type { AgentCardJson, TaskJson, TaskStateName } from '../core/a2a/json.js'
import type { ConnectionKind } from '../core/node/direct-upgrade.js'
import type { RelayStatus } from '../core/node/relay-link.js'
import type { RegistryStatus } from '../core/peer.js'
import type { TaskDirection } from '../core/store/types.js'

export interface StatusResult {
  peerId: string
  home: string
  /** The relay setting in use (a multiaddr or a URL). */
  relaySetting: string
  relay: RelayStatus
  registry: RegistryStatus
  card: AgentCardJson
  /** Whether this peer answers every task itself (`serve --echo`). */
  echo: boolean
}

/** An agent in the relay's registry, and how we are connected to it. */
export interface AgentInfo {
  peerId: string
  card: AgentCardJson
  /** Whether the agent is connected to the relay right now. */
  online: boolean
  /** ISO 8601 time its registry entry lapses unless renewed. */
  expiresAt: string
  /** Whether this peer has an open connection to the agent. */
  connected: boolean
  /** How that connection reaches it (the best one when there are several); absent when not connected. */
  connection?: ConnectionKind
}

export interface DiscoverParams {
  /** Only agents with this skill id. */
  skill?: string
  /** Only agents whose matching skill has all these tags. */
  tags?: string[]
  limit?: number
}

export interface SendParams {
  peerId: string
  text: string
  /** Continue a conversation. */
  contextId?: string
  /** Answer a task of that agent that waits for our input. */
  taskId?: string
}

export interface SendResult {
  taskId: string
  contextId: string
  state: TaskStateName
}

export interface WaitParams {
  taskId: string
  /** Give up after this many ms and answer with the task as it is (`timedOut: true`). */
  timeoutMs?: number
}

/** A task of ours as the CLI shows it. */
export interface TaskView {
  taskId: string
  direction: TaskDirection
  /** The other party: the sender of an inbound task, the agent of an outbound one. */
  peerId: string
  contextId: string
  state: TaskStateName
  /**
   * Outbound: the agent's answer (its artifacts' text, else its last status message).
   * Inbound: the sender's latest message.
   */
  text: string
  /** ms since the epoch */
  createdAt: number
  /** ms since the epoch */
  updatedAt: number
}

/** A task with its A2A form. */
export interface TaskDetail extends TaskView {
  task: TaskJson
}

export interface WaitResult extends TaskDetail {
  /** True when the timeout ran out before the task finished or asked for input. */
  timedOut: boolean
}

/** An inbound task waiting for our answer. */
export interface InboxEntry {
  taskId: string
  /** PeerID of the sender. */
  from: string
  /** The sender's latest message. */
  text: string
  state: TaskStateName
  contextId: string
  createdAt: number
  updatedAt: number
}

/** How `respond` ends the turn: the default answers it. */
export type RespondState = 'completed' | 'input-required' | 'failed' | 'rejected'

export const RESPOND_STATES: readonly RespondState[] = ['completed', 'input-required', 'failed', 'rejected']

export interface RespondParams {
  taskId: string
  text: string
  state?: RespondState
}

export interface RespondResult {
  taskId: string
  state: TaskStateName
}

export interface TasksParams {
  direction?: TaskDirection
  /** At most this many, newest first (default 20). */
  limit?: number
}

export interface TaskParams {
  taskId: string
}

/** Every method: its params and its result. */
export interface ControlApi {
  status: { params: undefined, result: StatusResult }
  card: { params: undefined, result: AgentCardJson }
  peers: { params: undefined, result: AgentInfo[] }
  discover: { params: DiscoverParams, result: AgentInfo[] }
  send: { params: SendParams, result: SendResult }
  wait: { params: WaitParams, result: WaitResult }
  inbox: { params: undefined, result: InboxEntry[] }
  respond: { params: RespondParams, result: RespondResult }
  cancel: { params: TaskParams, result: TaskView }
  task: { params: TaskParams, result: TaskDetail }
  tasks: { params: TasksParams, result: TaskView[] }
  setProfile: { params: AgentProfile, result: AgentCardJson }
}

export type ControlMethodName = keyof ControlApi
