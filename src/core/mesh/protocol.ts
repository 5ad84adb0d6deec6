/**
 * `/starling/mesh/1.0.0`: how peers and relays learn who belongs to which mesh (./credentials.ts).
 * JSON-RPC over Starling's length-prefixed frames (src/core/rpc), like the registry and push
 * protocols. Every peer serves it (a relay in private mode, or a peer applying its policy, asks
 * it for credentials); a relay also serves the revocations it knows.
 *
 * Methods:
 * - `Credentials { meshIds: string[] }` → `{ credentials: CredentialBundle[] }`: the answerer's
 *   credentials for those of the named meshes it belongs to (never a list of all its meshes: the
 *   asker names what it cares about).
 * - `Revocations { meshIds: string[] }` → `{ revocations: CredentialBundle[] }` (relays): the
 *   revocations known for those meshes.
 * - `Revoke { revocation: CredentialBundle }` → `{}` (relays): an owner or admin hands a
 *   revocation to a relay, which checks it, keeps it and enforces it at once.
 * - `Members { meshId: string }` → `{ members: MemberEntry[], total: number }` (private relays):
 *   the members of a served mesh the relay knows now (connected or listed), to the mesh's owner
 *   or one of its admins only; at most MAX_MEMBERS_PER_ANSWER, sorted (owner, admins, members,
 *   then by PeerID).
 */
import type { CredentialBundle } from './credentials.js'

export const MESH_PROTOCOL = '/starling/mesh/1.0.0'

/** Largest frame on the mesh protocol, in bytes (a few credentials with their proofs). */
export const MESH_MAX_FRAME_BYTES = 256 * 1024

/** Mesh ids one request may name. */
export const MAX_MESHES_PER_REQUEST = 32

export const MeshMethod = {
  Credentials: 'Credentials',
  Revocations: 'Revocations',
  Revoke: 'Revoke',
  Members: 'Members'
} as const

export interface CredentialsParams { meshIds: string[] }
export interface CredentialsResult { credentials: CredentialBundle[] }
export interface RevocationsParams { meshIds: string[] }
export interface RevocationsResult { revocations: CredentialBundle[] }
export interface RevokeParams { revocation: CredentialBundle }
export interface MembersParams { meshId: string }

/** Members one `Members` answer lists, at most (the first ones in its order). */
export const MAX_MEMBERS_PER_ANSWER = 1000

/** Longest mesh id a request may name, in characters (a PeerID, a slash, a tag). */
export const MAX_MESH_ID_LENGTH = 512

/** A member of a mesh as a relay knows it. */
export interface MemberEntry {
  peerId: string
  role: 'owner' | 'admin' | 'member'
  /** When the credential it showed expires, in ms since the epoch. */
  expiresAt: number
  /** Whether it holds a reservation on the relay now. */
  reserved: boolean
  /** Whether its card is listed in the relay's registry now. */
  listed: boolean
}

export interface MembersResult {
  /** Sorted: the owner, then admins, then members, each by PeerID; at most MAX_MEMBERS_PER_ANSWER. */
  members: MemberEntry[]
  /** How many members the relay knows (more than `members.length` when the list was cut). */
  total: number
}

/** JSON-RPC error codes of the mesh protocol. */
export const MeshErrorCode = {
  /** The request is not well formed (bad params, too many meshes). */
  InvalidParams: -32602,
  /**
   * A credential or revocation did not verify, or the caller may not do this (`Members` from a
   * plain member); the message says why, `data.reason` names it.
   */
  Refused: -32040,
  /** The answerer does not serve this method (a peer asked for revocations). */
  NotServed: -32601
} as const

/** Whether `value` is a list of credential bundles (an answer is checked before use). */
export function isBundleList (value: unknown, max = 64): value is CredentialBundle[] {
  return Array.isArray(value) && value.length <= max && value.every(b =>
    typeof b === 'object' && b !== null &&
    typeof (b as CredentialBundle).credential === 'string' &&
    Array.isArray((b as CredentialBundle).proof) &&
    (b as CredentialBundle).proof.length <= 3 &&
    (b as CredentialBundle).proof.every(p => typeof p === 'string'))
}

const ROLE_ORDER = { owner: 0, admin: 1, member: 2 } as const

/** The order of a `Members` answer: the owner, then admins, then members, each by PeerID. */
export function compareMembers (a: Pick<MemberEntry, 'peerId' | 'role'>, b: Pick<MemberEntry, 'peerId' | 'role'>): number {
  return ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
}

/** Whether `value` is a `Members` answer (an answer is checked before use). */
export function isMembersResult (value: unknown): value is MembersResult {
  if (typeof value !== 'object' || value === null) return false
  const { members, total } = value as Partial<MembersResult>
  return Array.isArray(members) && members.length <= MAX_MEMBERS_PER_ANSWER &&
    typeof total === 'number' && Number.isInteger(total) && total >= members.length &&
    members.every(m => typeof m === 'object' && m !== null &&
      typeof m.peerId === 'string' && m.peerId.length > 0 && m.peerId.length <= 128 &&
      (m.role === 'owner' || m.role === 'admin' || m.role === 'member') &&
      typeof m.expiresAt === 'number' && Number.isFinite(m.expiresAt) &&
      typeof m.reserved === 'boolean' && typeof m.listed === 'boolean')
}
