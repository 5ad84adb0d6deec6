/**
 * A relay's private mode: only members of the meshes it serves may reserve a slot, be relayed,
 * publish or discover, and each sees only the agents of the meshes it shares. The relay asks a
 * peer for its credentials (./client.ts) the first time it needs them and keeps what verified
 * (./membership.ts) until the peer leaves, a credential expires or a revocation removes it.
 *
 * It also serves `/starling/mesh/1.0.0` to its peers: `Revocations` (to members of those meshes)
 * and `Revoke` (from an owner or admin), enforced at once: the revoked member's reservation,
 * registry entry and connections go; `Members` (to the mesh's owner or an admin): the members it
 * knows now, with whether each holds a reservation and is listed. `Credentials` asked of the
 * relay gets none: it is no member.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { TypedEventEmitter } from 'main-event'
import type { Connection, ConnectionGater, PeerId, Stream } from '@libp2p/interface'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { MeshCredentialError } from '../../src/core/mesh/credentials.js'
import type { CredentialBundle, Membership } from '../../src/core/mesh/credentials.js'
import { compareMembers, isBundleList, MAX_MEMBERS_PER_ANSWER, MAX_MESH_ID_LENGTH, MAX_MESHES_PER_REQUEST, MESH_MAX_FRAME_BYTES, MESH_PROTOCOL, MeshErrorCode, MeshMethod } from '../../src/core/mesh/protocol.js'
import type { CredentialsResult, MemberEntry, MembersResult, RevocationsResult } from '../../src/core/mesh/protocol.js'
import { errorResponse, isObject, successResponse } from '../../src/core/rpc/jsonrpc.js'
import type { JsonRpcRequest, JsonRpcResponse } from '../../src/core/rpc/jsonrpc.js'
import { serveRpc } from '../../src/core/rpc/server.js'
import type { RelayLogger } from '../logger.js'
import type { MeshOp, RelayMetrics } from '../metrics.js'
import type { Registry } from '../registry/registry.js'
import type { RegistryAccess } from '../registry/service.js'
import { askCredentials, DEFAULT_CREDENTIALS_TIMEOUT_MS } from './client.js'
import { MeshAccessError } from './membership.js'
import type { MeshAccessReason, MeshMembership } from './membership.js'

/** Mesh protocol streams one peer may hold open on the relay. */
export const MAX_MESH_STREAMS_PER_PEER = 2
/** Calls in flight on one mesh protocol stream. */
export const MAX_MESH_CALLS_PER_STREAM = 4
/** How long a mesh protocol stream may stay open with no call, in ms. */
export const MESH_STREAM_IDLE_MS = 30_000
/**
 * How long a peer that proved nothing is refused without being asked again, in ms: a stranger
 * calling the registry in a loop costs the relay one question per this long, not one per call.
 */
export const DEFAULT_REFUSAL_CACHE_MS = 5_000
/**
 * How often memberships are swept, in ms: those of peers neither connected nor listed are
 * dropped, and a peer whose credentials all expired is asked again and, proving nothing more,
 * loses its reservation and entry. An expired credential is refused at once on any use; this
 * bounds how long a reservation granted under it can outlive it.
 */
export const DEFAULT_MEMBERSHIP_SWEEP_MS = 60_000

/** What the service needs of the relay's node. */
export interface MeshNode {
  getConnections: (peerId?: PeerId) => Connection[]
  hangUp: (peer: PeerId) => Promise<void>
  handle: (protocol: string, handler: (stream: Stream, connection: Connection) => void | Promise<void>, options?: { maxInboundStreams?: number }) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  addEventListener: (type: 'peer:disconnect', listener: (evt: CustomEvent<PeerId>) => void) => void
  removeEventListener: (type: 'peer:disconnect', listener: (evt: CustomEvent<PeerId>) => void) => void
  services: { relay: Pick<CircuitRelayService, 'reservations'> }
}

export interface MeshServiceInit {
  membership: MeshMembership
  log?: RelayLogger
  metrics?: RelayMetrics
  /** How long a peer has to show its credentials, in ms. */
  credentialsTimeoutMs?: number
  /** How long a refusal is remembered, in ms (DEFAULT_REFUSAL_CACHE_MS). */
  refusalCacheMs?: number
  sweepIntervalMs?: number
}

/** A peer refused: what it tried, who it is, why. */
export interface MeshRefusalEvent { op: MeshOp, peer: string, reason: MeshAccessReason, message: string }

export interface MeshServiceEvents {
  /** A peer was refused (each decision, not its repeats from the refusal cache). */
  refused: CustomEvent<MeshRefusalEvent>
  /** A peer lost what it held here (reservation, registry entry, connections): revoked, or its credentials lapsed. */
  evicted: CustomEvent<{ peer: string, reason: MeshAccessReason }>
}

export class MeshService extends TypedEventEmitter<MeshServiceEvents> {
  readonly membership: MeshMembership
  private readonly log?: RelayLogger
  private readonly metrics?: RelayMetrics
  private readonly credentialsTimeoutMs: number
  private readonly sweepIntervalMs: number
  private node?: MeshNode
  private registry?: Registry
  /** Credentials being asked for, by peer: one question per peer at a time. */
  private readonly pending = new Map<string, Promise<Membership[]>>()
  /** Peers recently refused, with why and until when (ms since the epoch). */
  private readonly recentlyRefused = new Map<string, { error: MeshAccessError, until: number }>()
  private readonly refusalCacheMs: number
  private sweeper?: ReturnType<typeof setInterval>

  constructor (init: MeshServiceInit) {
    super()
    this.membership = init.membership
    this.log = init.log
    this.metrics = init.metrics
    this.credentialsTimeoutMs = init.credentialsTimeoutMs ?? DEFAULT_CREDENTIALS_TIMEOUT_MS
    this.sweepIntervalMs = init.sweepIntervalMs ?? DEFAULT_MEMBERSHIP_SWEEP_MS
    this.refusalCacheMs = init.refusalCacheMs ?? DEFAULT_REFUSAL_CACHE_MS
  }

  /**
   * The connection gater's part: reservations only for members, circuits only between peers that
   * share a mesh. Until the service is started, everything is refused.
   */
  gater (): Required<Pick<ConnectionGater, 'denyInboundRelayReservation' | 'denyOutboundRelayedConnection'>> {
    return {
      denyInboundRelayReservation: async (peer) => !(await this.allows(peer, 'reserve')),
      denyOutboundRelayedConnection: async (source, destination) => {
        if (!(await this.allows(source, 'circuit')) || !(await this.allows(destination, 'circuit'))) return true
        if (this.membership.share(source.toString(), destination.toString())) return false
        this.refused('circuit', source.toString(), new MeshAccessError('wrong-mesh', `${source.toString()} and ${destination.toString()} share no mesh`))
        return true
      }
    }
  }

  /** What the registry asks before a publish or a discover, and to filter what a discover returns. */
  registryAccess (): RegistryAccess {
    return {
      check: async (caller, op) => {
        try {
          await this.membershipsOf(peerIdFromString(caller), op)
          return undefined
        } catch (err) {
          const e = err as MeshAccessError
          return { reason: e.reason, message: `this relay serves private meshes; only their members may ${op}: ${e.message}` }
        }
      },
      visible: (caller, publisher) => this.membership.share(caller, publisher)
    }
  }

  async start (node: MeshNode, registry?: Registry): Promise<void> {
    this.node = node
    this.registry = registry
    await node.handle(MESH_PROTOCOL, async (stream, connection) => { await this.serve(stream, connection) }, { maxInboundStreams: MAX_MESH_STREAMS_PER_PEER })
    node.addEventListener('peer:disconnect', this.onDisconnect)
    this.sweeper = setInterval(() => { this.sweep() }, this.sweepIntervalMs)
    this.sweeper.unref?.()
  }

  async stop (): Promise<void> {
    clearInterval(this.sweeper)
    this.node?.removeEventListener('peer:disconnect', this.onDisconnect)
    await this.node?.unhandle(MESH_PROTOCOL)
    await this.membership.flushed()
  }

  /**
   * The memberships `peer` holds in served meshes: known ones, else asked of the peer and
   * verified. Throws MeshAccessError (counted and logged) when it holds none.
   */
  async membershipsOf (peer: PeerId, op: MeshOp): Promise<Membership[]> {
    const id = peer.toString()
    const held = this.membership.current(id)
    if (held.length > 0) return held
    const recent = this.recentlyRefused.get(id)
    if (recent != null && recent.until > Date.now()) {
      // the same answer again: counted, logged only at debug (it was logged when decided)
      this.metrics?.meshRefusals.inc({ op, reason: recent.error.reason })
      this.log?.debug({ event: 'mesh.refused', op, peer: id, reason: recent.error.reason, detail: recent.error.message }, `refused ${op}: not a member of a served mesh`)
      throw recent.error
    }
    let pending = this.pending.get(id)
    if (pending == null) {
      pending = this.prove(peer).finally(() => { this.pending.delete(id) })
      this.pending.set(id, pending)
    }
    try {
      return await pending
    } catch (err) {
      const refusal = err instanceof MeshAccessError ? err : new MeshAccessError('malformed', (err as Error).message, { cause: err })
      this.recentlyRefused.set(id, { error: refusal, until: Date.now() + this.refusalCacheMs })
      this.refused(op, id, refusal)
      throw refusal
    }
  }

  private async allows (peer: PeerId, op: MeshOp): Promise<boolean> {
    try {
      await this.membershipsOf(peer, op)
      return true
    } catch {
      return false
    }
  }

  private async prove (peer: PeerId): Promise<Membership[]> {
    // a direct connection: the relay never asks over a circuit (and holds none)
    const connection = this.node?.getConnections(peer).find(c => c.status === 'open' && c.limits == null)
    if (connection == null) throw new MeshAccessError('no-credentials', 'the relay has no connection to you to ask for your credentials on')
    const bundles = await askCredentials(connection, this.membership.meshIds, { timeoutMs: this.credentialsTimeoutMs })
    return await this.membership.admit(peer.toString(), bundles)
  }

  private refused (op: MeshOp, peer: string, err: MeshAccessError): void {
    this.metrics?.meshRefusals.inc({ op, reason: err.reason })
    this.log?.info({ event: 'mesh.refused', op, peer, reason: err.reason, detail: err.message }, `refused ${op}: not a member of a served mesh`)
    this.safeDispatchEvent('refused', { detail: { op, peer, reason: err.reason, message: err.message } })
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail.toString()
    this.recentlyRefused.delete(peer)
    // a listed agent's meshes decide who may discover it while it is away
    if (this.registry?.get(peer) == null) this.membership.forget(peer)
  }

  private sweep (): void {
    const now = Date.now()
    for (const [peer, refusal] of this.recentlyRefused) if (refusal.until <= now) this.recentlyRefused.delete(peer)
    for (const peer of this.membership.takeLapsed()) void this.recheck(peer)
    for (const peer of this.membership.peers()) {
      if (this.registry?.get(peer) != null) continue
      if ((this.node?.getConnections(peerIdFromString(peer)).length ?? 0) > 0) continue
      this.membership.forget(peer)
    }
  }

  /** Asks a peer whose memberships lapsed again; one that proves nothing loses what it holds. */
  private async recheck (member: string): Promise<void> {
    const peer = safePeerId(member)
    if (peer == null || !this.holdsAnything(member, peer)) return
    try {
      await this.membershipsOf(peer, 'reserve')
    } catch (err) {
      await this.evict(member, undefined, err instanceof MeshAccessError ? err.reason : 'expired')
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    await serveRpc(stream, {
      maxMessageBytes: MESH_MAX_FRAME_BYTES,
      maxInFlight: MAX_MESH_CALLS_PER_STREAM,
      idleTimeoutMs: MESH_STREAM_IDLE_MS,
      onProblem: () => { this.metrics?.refusals.inc({ reason: 'bad_frame' }) },
      handler: async (request) => await this.call(request, connection.remotePeer)
    })
  }

  /** One mesh protocol call from `caller`; every refusal says why. */
  async call (request: JsonRpcRequest, caller: PeerId): Promise<JsonRpcResponse> {
    const id = request.id ?? null
    const params = request.params ?? {}
    if (!isObject(params)) return errorResponse(id, MeshErrorCode.InvalidParams, 'params must be an object')
    switch (request.method) {
      case MeshMethod.Credentials: {
        // the relay is no member of anything
        const result: CredentialsResult = { credentials: [] }
        return successResponse(id, result)
      }
      case MeshMethod.Revocations: {
        const meshIds = params.meshIds
        if (!Array.isArray(meshIds) || meshIds.length > MAX_MESHES_PER_REQUEST || !meshIds.every(m => typeof m === 'string')) {
          return errorResponse(id, MeshErrorCode.InvalidParams, `meshIds must be a list of at most ${MAX_MESHES_PER_REQUEST} mesh ids`)
        }
        let memberOf: Membership[]
        try {
          memberOf = await this.membershipsOf(caller, 'revocations')
        } catch (err) {
          const e = err as MeshAccessError
          return errorResponse(id, MeshErrorCode.Refused, `only members learn a mesh's revocations here: ${e.message}`, { reason: e.reason })
        }
        const mine = new Set(memberOf.map(m => m.meshId))
        const result: RevocationsResult = { revocations: this.membership.revocationsOf((meshIds as string[]).filter(m => mine.has(m))) }
        return successResponse(id, result)
      }
      case MeshMethod.Revoke: {
        if (!isBundleList([params.revocation], 1)) {
          return errorResponse(id, MeshErrorCode.InvalidParams, 'revocation must be a signed revocation { credential, proof }')
        }
        return await this.revoke(id, params.revocation as CredentialBundle, caller.toString())
      }
      case MeshMethod.Members: {
        const meshId = params.meshId
        if (typeof meshId !== 'string' || meshId === '' || meshId.length > MAX_MESH_ID_LENGTH) {
          return errorResponse(id, MeshErrorCode.InvalidParams, `params must be { meshId: string } (a mesh id of at most ${MAX_MESH_ID_LENGTH} characters)`)
        }
        return await this.members(id, meshId, caller)
      }
      default:
        return errorResponse(id, MeshErrorCode.NotServed, `unknown mesh method ${request.method}`)
    }
  }

  /**
   * `Members`: the members of `meshId` known here, to its owner or an admin (as proven to this
   * relay). Who asks is checked first: a stranger learns nothing, not even whether the mesh is
   * served.
   */
  private async members (id: JsonRpcRequest['id'], meshId: string, caller: PeerId): Promise<JsonRpcResponse> {
    let memberOf: Membership[]
    try {
      memberOf = await this.membershipsOf(caller, 'members')
    } catch (err) {
      const e = err as MeshAccessError
      return errorResponse(id ?? null, MeshErrorCode.Refused, `only the owner or an admin of a mesh may list its members here: ${e.message}`, { reason: e.reason })
    }
    const refuse = (error: MeshAccessError): JsonRpcResponse => {
      this.refused('members', caller.toString(), error)
      return errorResponse(id ?? null, MeshErrorCode.Refused, error.message, { reason: error.reason })
    }
    if (!this.membership.serves(meshId)) return refuse(new MeshAccessError('wrong-mesh', `${meshId} is not a mesh this relay serves`))
    const held = memberOf.find(m => m.meshId === meshId)
    if (held == null || held.role === 'member') {
      return refuse(new MeshAccessError('not-admin', held == null
        ? `only the owner or an admin of ${meshId} may list its members; you proved no membership of it`
        : `only the owner or an admin of ${meshId} may list its members; you are a member`))
    }
    const reservations = this.node?.services.relay.reservations
    const all: MemberEntry[] = this.membership.membersOf(meshId).map(m => {
      const peer = safePeerId(m.member)
      return {
        peerId: m.member,
        role: m.role,
        expiresAt: m.expiresAt,
        reserved: peer != null && reservations?.has(peer) === true,
        listed: this.registry?.get(m.member) != null
      }
    }).sort(compareMembers)
    const result: MembersResult = { members: all.slice(0, MAX_MEMBERS_PER_ANSWER), total: all.length }
    this.log?.debug({ event: 'mesh.members', meshId, by: caller.toString(), total: all.length }, 'members listed')
    return successResponse(id ?? null, result)
  }

  private async revoke (id: JsonRpcRequest['id'], bundle: CredentialBundle, caller: string): Promise<JsonRpcResponse> {
    let outcome: Awaited<ReturnType<MeshMembership['revoke']>>
    try {
      outcome = await this.membership.revoke(bundle)
    } catch (err) {
      const reason: MeshAccessReason = err instanceof MeshCredentialError ? err.reason : 'malformed'
      this.refused('revoke', caller, new MeshAccessError(reason, (err as Error).message, { cause: err }))
      return errorResponse(id ?? null, MeshErrorCode.Refused, `the revocation was refused: ${(err as Error).message}`, { reason })
    }
    const { revocation, evicted } = outcome
    const targets = new Set(evicted)
    // a revoked member this relay holds anything of, even if it never had to prove itself since
    if ('member' in revocation.target) {
      const member = revocation.target.member
      const peer = safePeerId(member)
      if (peer != null && this.membership.current(member).length === 0 && this.holdsAnything(member, peer)) targets.add(member)
    }
    this.log?.info({ event: 'mesh.revoked', meshId: revocation.meshId, target: revocation.target, by: caller, evicted: [...targets] }, 'revocation kept and enforced')
    await Promise.all([...targets].map(async (member) => { await this.evict(member, revocation.meshId, 'revoked') }))
    return successResponse(id ?? null, {})
  }

  /** Whether `member` holds a registry entry or a reservation here. */
  private holdsAnything (member: string, peer: PeerId): boolean {
    return this.registry?.get(member) != null || this.node?.services.relay.reservations.has(peer) === true
  }

  /** Takes away all a peer holds here: its reservation, its registry entry, its connections. */
  private async evict (member: string, meshId: string | undefined, reason: MeshAccessReason): Promise<void> {
    const peer = safePeerId(member)
    if (peer == null) return
    this.node?.services.relay.reservations.delete(peer)
    this.registry?.remove(member)
    this.membership.forget(member)
    this.log?.info({ event: 'mesh.evicted', peer: member, meshId, reason }, `${reason} member disconnected: reservation and registry entry removed`)
    await this.node?.hangUp(peer).catch(() => {})
    this.safeDispatchEvent('evicted', { detail: { peer: member, reason } })
  }
}

function safePeerId (text: string): PeerId | undefined {
  try {
    return peerIdFromString(text)
  } catch {
    return undefined
  }
}
