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
  Revoke: 'Revoke'
} as const

export interface CredentialsParams { meshIds: string[] }
export interface CredentialsResult { credentials: CredentialBundle[] }
export interface RevocationsParams { meshIds: string[] }
export interface RevocationsResult { revocations: CredentialBundle[] }
export interface RevokeParams { revocation: CredentialBundle }

/** JSON-RPC error codes of the mesh protocol. */
export const MeshErrorCode = {
  /** The request is not well formed (bad params, too many meshes). */
  InvalidParams: -32602,
  /** A credential or revocation did not verify; the message says why (its MeshRefusal). */
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
