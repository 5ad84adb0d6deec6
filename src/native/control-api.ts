/**
 * The methods of the control socket (see ./control.ts for the framing): their params and
 * results. The daemon implements them (./control-methods.ts); ControlClient calls them.
 * Types only, so a client pulls in nothing of libp2p.
 */
import type { AgentProfile } from '../core/a2a/binding.js'
import type { AgentCardJson, PartJson, TaskJson, TaskStateName } from '../core/a2a/json.js'
import type { ConnectionKind } from '../core/node/direct-upgrade.js'
import type { RelayStatus } from '../core/node/relay-link.js'
import type { RegistryStatus } from '../core/peer.js'
import type { DeliveryState, OutboxItem, TaskDirection } from '../core/store/types.js'
import type { InviteResult, MeshInfo, RevokeResult } from '../core/mesh/service.js'
import type { IssuedInvite } from '../core/mesh/store.js'
import type { MemberEntry } from '../core/mesh/protocol.js'

export type { InviteResult, MeshInfo, RevokeResult } from '../core/mesh/service.js'
export type { IssuedInvite } from '../core/mesh/store.js'

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

/**
 * A file on this machine to send as a part. The serving peer reads it itself (it runs as the
 * same user: the socket is the user's alone), so a file never has to fit in a request line.
 */
export interface FileRef {
  /** Absolute path. */
  path: string
  /** The name the other agent sees; default: the path's last component. */
  filename?: string
  /** Default: from the file name's extension, else application/octet-stream. */
  mediaType?: string
}

/** Content of a message or an answer: text first, then `parts`, then `files`, in that order. */
export interface ContentParams {
  text?: string
  /** Parts as they are (A2A v1.0 Part JSON: exactly one of text, raw, url, data). */
  parts?: PartJson[]
  files?: FileRef[]
}

/**
 * Longest time to live a send may ask for, in ms: 7 days (the core's MAX_TASK_TTL_MS: an agent
 * remembers message ids that long). Here too so that the CLI can check `--ttl` without loading
 * the core.
 */
export const MAX_TTL_MS = 7 * 24 * 60 * 60 * 1000

export interface SendParams extends ContentParams {
  /** The agent; or, instead, `skill` or `url`. */
  peerId?: string
  /** Send to a connected agent with this skill (anycast: the next one when one does not take it). */
  skill?: string
  /**
   * Send to a plain HTTP A2A agent: the URL of its agent card (or its base URL, the card then at
   * /.well-known/agent-card.json). The card is fetched and checked before anything is stored; the
   * task's `peerId` is then the normalised card URL.
   */
  url?: string
  /** Continue a conversation. */
  contextId?: string
  /** Continue our outbound task of this id, which waits for our input. */
  taskId?: string
  /** How long the task may wait to be delivered, in ms (default: the peer's, 24 h; at most MAX_TTL_MS). */
  ttlMs?: number
}

export interface SendResult {
  taskId: string
  /** The agent the task went to (the one chosen, for a send by skill; the card URL of an HTTP agent). */
  peerId: string
  contextId: string
  state: TaskStateName
  /** How far the message got: queued (the agent is not reachable yet; retried), sent, delivered. */
  delivery?: DeliveryState
  /** ms since the epoch when an undelivered task fails. */
  expiresAt?: number
  /** Why the last delivery attempt failed, when it did. */
  lastError?: string
  localError?: string
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
  /** Outbound: how far our latest request got (queued, sent, delivered). */
  delivery?: DeliveryState
  /** Outbound: the agent's id of the task, once it accepted it (may differ from `taskId`). */
  remoteId?: string
  /** Outbound: ms since the epoch after which what is still undelivered fails the task. */
  expiresAt?: number
  /** What this peer still owes the other one, oldest first: our message, our cancel request, or (inbound) an update. */
  pending: Array<OutboxItem['kind']>
  /** Why the last attempt at that work failed. */
  lastError?: string
  /** Why this peer failed the task itself (its time to live ran out, an update was refused). */
  localError?: string
}

/** A task with its A2A form. */
export interface TaskDetail extends TaskView {
  task: TaskJson
}

export interface WaitResult extends TaskDetail {
  /** True when the timeout ran out before the task finished or asked for input. */
  timedOut: boolean
}

/** A file in a message, without its bytes. */
export interface FileInfo {
  filename?: string
  mediaType?: string
  /** Bytes. */
  size: number
}

/** An inbound task waiting for our answer. */
export interface InboxEntry {
  taskId: string
  /** PeerID of the sender. */
  from: string
  /** The sender's latest message. */
  text: string
  /** The files of that message (`starling show TASK-ID` saves them). */
  files: FileInfo[]
  state: TaskStateName
  contextId: string
  createdAt: number
  updatedAt: number
}

/** How `respond` ends the turn: the default answers it. */
export type RespondState = 'completed' | 'input-required' | 'failed' | 'rejected'

export const RESPOND_STATES: readonly RespondState[] = ['completed', 'input-required', 'failed', 'rejected']

export interface RespondParams extends ContentParams {
  taskId: string
  /** Default completed. Files and parts go with completed (the artifact) and input-required only. */
  state?: RespondState
}

export interface RespondResult {
  taskId: string
  state: TaskStateName
}

/** Tasks `tasks` lists when the caller does not say. */
export const DEFAULT_TASKS_LIMIT = 20

/** Most tasks one `tasks` call lists. */
export const MAX_TASKS_LIMIT = 1_000

export interface TasksParams {
  direction?: TaskDirection
  /** Only tasks in one of these states. */
  states?: TaskStateName[]
  /** At most this many, newest first (default DEFAULT_TASKS_LIMIT). */
  limit?: number
}

export interface TaskParams {
  taskId: string
}

/** A mesh named by its id, or by its name when no other mesh of this peer has that name. */
export interface MeshParams {
  mesh: string
}

export interface MeshCreateParams {
  name: string
}

export interface MeshInviteParams extends MeshParams {
  /** Default member. */
  role?: 'member' | 'admin'
  /** How long the invite lasts, in ms (default 7 days). */
  ttlMs?: number
  /** Members it may admit (default: no limit but its expiry). */
  maxUses?: number
}

export interface MeshInviteParamsResult extends InviteResult {
  /** `<relay URL>/#join=<token>`, when the relay setting is a URL. */
  link?: string
}

export interface MeshJoinParams {
  /** The invite's token, or a link ending in `#join=<token>`. */
  token: string
}

export interface MeshRevokeParams extends MeshParams {
  /** Revoke this member (a PeerID); or, instead, `invite`. */
  member?: string
  /** Revoke this invite (its id, as `mesh invite` printed it). */
  invite?: string
}

export interface MeshMembersResult {
  mesh: MeshInfo
  /** The invites this peer issued in the mesh. */
  invites: IssuedInvite[]
  /** Members this peer knows of: itself (the full list is the relays' to keep). */
  members: Array<{ peerId: string, role: MeshInfo['role'] }>
  /** What the list leaves out, and why. */
  note: string
  /** The members the relay this peer is reserved on knows now, sorted (owner, admins, members), at most MAX_MEMBERS_PER_ANSWER. */
  relayMembers?: MemberEntry[]
  /** How many members the relay knows (more than relayMembers.length when it cut the list). */
  relayTotal?: number
  /** Why the relay gave no list (an open relay, no relay, a refusal). */
  relayError?: string
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
  meshCreate: { params: MeshCreateParams, result: MeshInfo }
  meshInvite: { params: MeshInviteParams, result: MeshInviteParamsResult }
  meshJoin: { params: MeshJoinParams, result: MeshInfo }
  meshList: { params: undefined, result: MeshInfo[] }
  meshLeave: { params: MeshParams, result: MeshInfo }
  meshRevoke: { params: MeshRevokeParams, result: RevokeResult }
  meshMembers: { params: MeshParams, result: MeshMembersResult }
}

export type ControlMethodName = keyof ControlApi
