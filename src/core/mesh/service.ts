/**
 * A peer's side of private meshes (./credentials.ts, ./protocol.ts): the meshes it belongs to
 * (kept in a MeshStore), the `Credentials` method it serves so that others can check it belongs,
 * the memberships it checks of peers that send it tasks, and the owner's and admins' work:
 * creating meshes, inviting, revoking (handed to the relay with `Revoke`), listing the members
 * the relay knows (`Members`).
 */
import { logger } from '@libp2p/logger'
import type { Connection, Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import { InvalidInputError, RemoteRpcError, StarlingError } from '../errors.js'
import type { PeerConnector } from '../node/connector.js'
import { errorResponse, isObject, RpcErrorCode, successResponse } from '../rpc/jsonrpc.js'
import type { JsonRpcRequest, JsonRpcResponse } from '../rpc/jsonrpc.js'
import { serveRpc } from '../rpc/server.js'
import {
  acceptInvite, createInvite, decodeInviteToken, encodeInviteToken, MeshCredentialError, meshOwner, newMeshId,
  ownerCredential, readInvite, revoke, verifyCredential, verifyRevocation
} from './credentials.js'
import type { CredentialBundle, InvitePayload, Membership, MeshRole, RevocationPayload } from './credentials.js'
import { isBundleList, isMembersResult, MAX_MESHES_PER_REQUEST, MESH_MAX_FRAME_BYTES, MESH_PROTOCOL, MeshErrorCode, MeshMethod } from './protocol.js'
import type { MembersResult } from './protocol.js'
import type { MeshData, MeshStore, HeldMesh, IssuedInvite } from './store.js'

const log = logger('starling:mesh')

/** Mesh protocol streams one peer may hold open to us at once. */
export const DEFAULT_MAX_INBOUND_MESH_STREAMS = 4

/** Longest wait for a sender's credentials before its task is refused, in ms. */
export const DEFAULT_MEMBERSHIP_TIMEOUT_MS = 10_000

/** How long a peer's proven memberships are trusted without asking again, at most, in ms: 10 min. */
export const DEFAULT_MEMBERSHIP_CACHE_MS = 10 * 60 * 1000

/** How long "this peer proved no membership" is kept before it is asked again, in ms. */
export const DEFAULT_NO_MEMBERSHIP_CACHE_MS = 5_000

/** Peers whose memberships are cached; the oldest entry is dropped first. */
export const DEFAULT_MAX_CACHED_PEERS = 1024

/** How often the revocations of our meshes are fetched from the relay, in ms: 5 min. */
export const DEFAULT_REVOCATION_SYNC_MS = 5 * 60 * 1000

/** Revocations kept per mesh; a flood past it is ignored (oldest kept: they still hold). */
export const MAX_REVOCATIONS_PER_MESH = 10_000

/** Longest name of a mesh, in characters. */
export const MAX_MESH_NAME_LENGTH = 128

/** A mesh this peer does not belong to was named. */
export class UnknownMeshError extends StarlingError {
  constructor (meshId: string) {
    super(`this peer is not in mesh ${meshId}`, 'ERR_UNKNOWN_MESH')
  }
}

/** The relay does not take revocations (its side of the mesh protocol is missing). */
export class RevocationNotServedError extends StarlingError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_REVOKE_NOT_SERVED', options)
  }
}

/** Why `members` has no list from the relay. */
export type MembersFailure =
  /** This peer holds no reservation on a relay to ask. */
  | 'no-relay'
  /** The relay does not serve `Members` (a relay in open mode, or an older one). */
  | 'not-served'
  /** The relay refused (`refusal` says its reason: `not-admin`, `wrong-mesh`, `no-credentials`…), or this peer is a plain member. */
  | 'refused'
  /** The relay could not be reached, did not answer in time, or answered something else. */
  | 'unavailable'

/** The relay gave no list of a mesh's members; `failure` says why, the message says it to a person. */
export class MeshMembersError extends StarlingError {
  readonly failure: MembersFailure
  /** The relay's reason when it refused (its `data.reason`), or `not-admin` when this peer is a member. */
  readonly refusal?: string

  constructor (failure: MembersFailure, message: string, options?: ErrorOptions & { refusal?: string }) {
    super(message, 'ERR_MESH_MEMBERS', options)
    this.failure = failure
    this.refusal = options?.refusal
  }
}

export interface MeshServiceInit {
  node: Libp2p
  connector: PeerConnector
  store: MeshStore
  privateKey: PrivateKey
  /** The relay we hold a reservation on, when we do (revocations go there). */
  relayPeerId: () => string | undefined
  /** Told whenever the meshes we belong to change. */
  onChange?: () => void
  now?: () => number
  membershipTimeoutMs?: number
  maxCachedPeers?: number
  /** How often revocations are fetched from the relay, in ms (default DEFAULT_REVOCATION_SYNC_MS). */
  revocationSyncMs?: number
}

/** A mesh as `list` shows it. */
export interface MeshInfo {
  meshId: string
  name: string
  role: HeldMesh['role']
  /** ms since the epoch */
  expiresAt: number
  relays: string[]
}

export interface InviteResult {
  meshId: string
  inviteId: string
  role: MeshRole
  expiresAt: number
  maxUses?: number
  /** The token for `starling mesh join`, or a link's `#join=`. */
  token: string
}

export interface RevokeResult {
  meshId: string
  target: RevocationPayload['target']
  /** Whether the relay took it; when false, `relayError` says why (it is kept and enforced here anyway). */
  relayAccepted: boolean
  relayError?: string
}

interface CachedMemberships {
  /** The meshes asked about, sorted and joined. */
  asked: string
  meshes: Set<string>
  until: number
}

export class MeshService {
  private readonly init: MeshServiceInit
  private readonly now: () => number
  private readonly self: string
  private data: MeshData = { meshes: [], invites: [], revocations: [] }
  private readonly cache = new Map<string, CachedMemberships>()
  private readonly asking = new Map<string, Promise<Set<string>>>()
  /** Store writes, one after the other. */
  private writing: Promise<void> = Promise.resolve()
  private syncTimer?: ReturnType<typeof setInterval>
  /** Whether start() has loaded the stored meshes (changes before would overwrite them). */
  private loaded = false
  /** Aborted by stop(): a fetch in flight gives up rather than hold the peer's stop. */
  private running = new AbortController()
  private syncing?: Promise<number>

  constructor (init: MeshServiceInit) {
    this.init = init
    this.now = init.now ?? Date.now
    this.self = init.node.peerId.toString()
  }

  async start (): Promise<void> {
    this.data = await this.init.store.load()
    this.loaded = true
    this.running = new AbortController()
    await this.init.node.handle(MESH_PROTOCOL, async (stream: Stream, connection: Connection) => {
      const from = connection.remotePeer.toString()
      await serveRpc(stream, {
        connection,
        maxFrameBytes: MESH_MAX_FRAME_BYTES,
        handler: async (request) => this.call(from, request)
      })
    }, {
      // a peer we sent a task to asks over the same relayed connection, before any direct one
      runOnLimitedConnection: true,
      maxInboundStreams: DEFAULT_MAX_INBOUND_MESH_STREAMS
    })
    this.syncTimer = setInterval(() => { void this.syncRevocations().catch(() => {}) }, this.init.revocationSyncMs ?? DEFAULT_REVOCATION_SYNC_MS)
    this.syncTimer.unref?.()
  }

  async stop (): Promise<void> {
    clearInterval(this.syncTimer)
    this.running.abort()
    await this.init.node.unhandle(MESH_PROTOCOL)
    await this.syncing?.catch(() => {})
    await this.writing
  }

  /**
   * Fetches the revocations known for our meshes from `from` (default: our relay) with
   * `Revocations`, and keeps those that verify (signed by the mesh's owner or an admin): from
   * then on they are enforced in this peer's checks. Resolves with how many were new. A relay
   * that does not serve it (an open relay) adds nothing; an answer that is not a list of
   * revocations is ignored.
   */
  async syncRevocations (options: { from?: string, signal?: AbortSignal } = {}): Promise<number> {
    this.syncing ??= this.fetchRevocations(options).finally(() => { this.syncing = undefined })
    return await this.syncing
  }

  private async fetchRevocations (options: { from?: string, signal?: AbortSignal }): Promise<number> {
    const from = options.from ?? this.init.relayPeerId()
    const meshIds = this.meshIds().slice(0, MAX_MESHES_PER_REQUEST)
    if (from == null || meshIds.length === 0) return 0
    let answer: unknown
    try {
      answer = await this.callPeer(from, MeshMethod.Revocations, { meshIds }, options.signal)
    } catch (err) {
      if (notServed(err)) return 0
      log('could not fetch revocations from %s - %s', from, err instanceof Error ? err.message : String(err))
      return 0
    }
    const bundles = isObject(answer) && isBundleList(answer.revocations, 1024) ? answer.revocations : undefined
    if (bundles == null) {
      log('%s answered Revocations with something that is not { revocations: [...] }', from)
      return 0
    }
    const fresh: MeshData['revocations'] = []
    for (const bundle of bundles) {
      try {
        const payload = await verifyRevocation(bundle, { now: this.now(), isRevoked: this.isRevoked })
        if (!meshIds.includes(payload.meshId) || this.isRevoked(payload.meshId, payload.target)) continue
        if (fresh.some(r => r.meshId === payload.meshId && JSON.stringify(r.target) === JSON.stringify(payload.target))) continue
        if (this.data.revocations.filter(r => r.meshId === payload.meshId).length + fresh.length >= MAX_REVOCATIONS_PER_MESH) continue
        fresh.push({ meshId: payload.meshId, target: payload.target, revocation: bundle, revokedAt: payload.revokedAt })
      } catch (err) {
        log('a revocation from %s does not verify - %s', from, err instanceof Error ? err.message : String(err))
      }
    }
    if (fresh.length === 0) return 0
    await this.update(data => { data.revocations.push(...fresh) })
    // a member revoked since its memberships were cached is an outsider from now on
    this.cache.clear()
    log('learnt %d revocations from %s', fresh.length, from)
    return fresh.length
  }

  /** The meshes this peer belongs to now (credentials not yet expired). */
  meshIds (): string[] {
    const now = this.now()
    return this.data.meshes.filter(m => m.expiresAt > now).map(m => m.meshId)
  }

  list (): MeshInfo[] {
    return this.data.meshes.map(m => this.info(m))
  }

  /** The invites this peer issued in `meshId` (all meshes when absent). */
  invites (meshId?: string): IssuedInvite[] {
    return this.data.invites.filter(i => meshId == null || i.meshId === meshId)
  }

  /** Creates a mesh owned by this peer's key. */
  async create (name: string, options: { relays?: string[] } = {}): Promise<MeshInfo> {
    const trimmed = name.trim()
    if (trimmed === '' || trimmed.length > MAX_MESH_NAME_LENGTH) throw new InvalidInputError(`a mesh name has 1 to ${MAX_MESH_NAME_LENGTH} characters`)
    const meshId = newMeshId(this.init.privateKey)
    const credential = await ownerCredential(this.init.privateKey, meshId, { now: this.now() })
    const membership = await verifyCredential(credential, { now: this.now() })
    const held: HeldMesh = { meshId, name: trimmed, role: 'owner', credential, expiresAt: membership.expiresAt, relays: options.relays ?? [], joinedAt: this.now() }
    await this.update(data => { data.meshes.push(held) })
    log('created mesh %s (%s)', meshId, trimmed)
    return this.info(held)
  }

  /** Issues an invite to `meshId` (this peer must own it or be one of its admins). */
  async invite (meshId: string, options: { role?: MeshRole, ttlMs?: number, maxUses?: number, relays?: string[] } = {}): Promise<InviteResult> {
    const held = this.held(meshId)
    if (held.role === 'member') throw new InvalidInputError(`only the owner or an admin of ${meshId} may invite; this peer is a member`)
    const token = await createInvite(this.init.privateKey, held.role === 'owner' ? undefined : held.credential, {
      meshId,
      meshName: held.name,
      role: options.role ?? 'member',
      ttlMs: options.ttlMs,
      maxUses: options.maxUses,
      relays: options.relays ?? held.relays,
      now: this.now()
    })
    const invite = await readInvite(token, { now: this.now() })
    const issued: IssuedInvite = {
      meshId, inviteId: invite.inviteId, role: invite.role, expiresAt: invite.expiresAt, createdAt: this.now(), ...(invite.maxUses != null ? { maxUses: invite.maxUses } : {})
    }
    await this.update(data => { data.invites.push(issued) })
    return { ...issued, token: encodeInviteToken(token) }
  }

  /** What an invite (its token or a link ending in `#join=…`) offers, checked, without joining. */
  async readInvite (tokenOrLink: string): Promise<InvitePayload> {
    return await readInvite(decodeInviteToken(tokenOrLink), { now: this.now() })
  }

  /** Joins the mesh of an invite: this peer gets (and keeps) a credential signed by the invite's key. */
  async join (tokenOrLink: string): Promise<MeshInfo> {
    const token = decodeInviteToken(tokenOrLink)
    const invite = await readInvite(token, { now: this.now() })
    const credential = await acceptInvite(token, this.self, { now: this.now() })
    const membership = await verifyCredential(credential, { now: this.now() })
    const existing = this.data.meshes.find(m => m.meshId === invite.meshId)
    if (existing?.role === 'owner') throw new InvalidInputError(`this peer owns ${invite.meshId} already`)
    const held: HeldMesh = {
      meshId: invite.meshId, name: invite.meshName, role: membership.role === 'owner' ? 'admin' : membership.role, credential, expiresAt: membership.expiresAt, relays: invite.relays, joinedAt: this.now()
    }
    await this.update(data => { data.meshes = [...data.meshes.filter(m => m.meshId !== held.meshId), held] })
    log('joined mesh %s (%s) as %s', held.meshId, held.name, held.role)
    return this.info(held)
  }

  /** Leaves a mesh: its credential is forgotten (an owner's mesh is forgotten with its owner key's claim to it). */
  async leave (meshId: string): Promise<MeshInfo> {
    const held = this.held(meshId)
    await this.update(data => {
      data.meshes = data.meshes.filter(m => m.meshId !== meshId)
      data.invites = data.invites.filter(i => i.meshId !== meshId)
    })
    return this.info(held)
  }

  /**
   * Revokes a member or an invite of `meshId`: the revocation is signed, kept and enforced here
   * at once, and handed to the relay (`Revoke`), which enforces it for everyone it serves.
   */
  async revoke (meshId: string, target: RevocationPayload['target'], options: { signal?: AbortSignal } = {}): Promise<RevokeResult> {
    const held = this.held(meshId)
    if (held.role === 'member') throw new InvalidInputError(`only the owner or an admin of ${meshId} may revoke; this peer is a member`)
    const revocation = await revoke(this.init.privateKey, held.role === 'owner' ? undefined : held.credential, meshId, target, this.now())
    await this.update(data => { data.revocations.push({ meshId, target, revocation, revokedAt: this.now() }) })
    this.cache.clear()
    const relay = this.init.relayPeerId()
    if (relay == null) return { meshId, target, relayAccepted: false, relayError: 'not connected to a relay: the revocation is enforced by this peer only until a relay takes it' }
    try {
      await this.callPeer(relay, MeshMethod.Revoke, { revocation }, options.signal)
      return { meshId, target, relayAccepted: true }
    } catch (err) {
      const message = notServed(err)
        ? 'the relay does not take mesh revocations (it does not serve them: a relay in open mode, or one without private meshes); the revocation is enforced by this peer only'
        : `the relay did not take the revocation: ${err instanceof Error ? err.message : String(err)}`
      log('revocation in %s not taken by the relay - %s', meshId, message)
      return { meshId, target, relayAccepted: false, relayError: message }
    }
  }

  /**
   * The members of `meshId` that the relay this peer holds a reservation on knows now (connected
   * or listed), with whether each holds a reservation and is listed there: `Members`, which a
   * relay answers only to the mesh's owner or an admin. Throws UnknownMeshError when this peer
   * is not in the mesh, MeshMembersError when there is no list (no relay, a relay that does not
   * serve it, a refusal, no answer in time).
   */
  async members (meshId: string, options: { signal?: AbortSignal } = {}): Promise<MembersResult> {
    const held = this.held(meshId)
    if (held.role === 'member') {
      throw new MeshMembersError('refused', `only the owner or an admin of ${meshId} may list its members; this peer is a member`, { refusal: 'not-admin' })
    }
    const relay = this.init.relayPeerId()
    if (relay == null) throw new MeshMembersError('no-relay', 'this peer holds no reservation on a relay: only a relay knows a mesh\'s members')
    let answer: unknown
    try {
      answer = await this.callPeer(relay, MeshMethod.Members, { meshId }, options.signal)
    } catch (err) {
      if (notServed(err)) {
        throw new MeshMembersError('not-served', 'the relay does not list mesh members (it serves no private meshes: a relay in open mode, or an older one)', { cause: err })
      }
      if (err instanceof RemoteRpcError && err.rpcCode === MeshErrorCode.Refused) {
        const refusal = isObject(err.data) && typeof err.data.reason === 'string' ? err.data.reason : undefined
        throw new MeshMembersError('refused', `the relay refused to list the members: ${err.message}`, { cause: err, ...(refusal != null ? { refusal } : {}) })
      }
      throw new MeshMembersError('unavailable', `the relay did not list the members: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    if (!isMembersResult(answer)) throw new MeshMembersError('unavailable', 'the relay answered Members with something that is not { members: [...], total }')
    return answer
  }

  /** Whether this peer knows `target` revoked in `meshId` (revocations it signed or fetched from its relay). */
  isRevoked = (meshId: string, target: { member: string } | { invite: string }): boolean => {
    return this.data.revocations.some(r => r.meshId === meshId &&
      ('member' in target ? 'member' in r.target && r.target.member === target.member : 'invite' in r.target && r.target.invite === target.invite))
  }

  /**
   * The meshes among `meshIds` that `peerId` proves it belongs to: it is asked for its
   * credentials (`Credentials`), and each is verified down to its mesh's owner. Anything it
   * answers that does not verify is ignored; no answer in time is no membership. Cached per peer
   * until the earliest credential expires (at most DEFAULT_MEMBERSHIP_CACHE_MS).
   */
  async membershipsOf (peerId: string, meshIds: string[], options: { signal?: AbortSignal } = {}): Promise<Set<string>> {
    const wanted = [...new Set(meshIds)].sort().slice(0, MAX_MESHES_PER_REQUEST)
    if (wanted.length === 0) return new Set()
    const asked = wanted.join(' ')
    const cached = this.cache.get(peerId)
    if (cached != null && cached.asked === asked && cached.until > this.now()) return cached.meshes
    const key = `${peerId} ${asked}`
    let pending = this.asking.get(key)
    if (pending == null) {
      pending = this.ask(peerId, wanted, asked, options.signal).finally(() => this.asking.delete(key))
      this.asking.set(key, pending)
    }
    return await pending
  }

  private async ask (peerId: string, meshIds: string[], asked: string, signal?: AbortSignal): Promise<Set<string>> {
    const meshes = new Set<string>()
    let until = this.now() + DEFAULT_MEMBERSHIP_CACHE_MS
    try {
      const result = await this.callPeer(peerId, MeshMethod.Credentials, { meshIds }, signal)
      const bundles = isObject(result) && isBundleList(result.credentials, MAX_MESHES_PER_REQUEST) ? result.credentials : undefined
      if (bundles == null) throw new InvalidInputError('the answer to Credentials is not { credentials: CredentialBundle[] }')
      for (const bundle of bundles) {
        let membership: Membership
        try {
          membership = await verifyCredential(bundle, { now: this.now(), isRevoked: this.isRevoked })
        } catch (err) {
          log('a credential from %s does not verify - %s', peerId, err instanceof MeshCredentialError ? `${err.reason}: ${err.message}` : String(err))
          continue
        }
        if (membership.member !== peerId || !meshIds.includes(membership.meshId)) {
          log('%s showed a credential of %s in %s: not its own, or not asked for', peerId, membership.member, membership.meshId)
          continue
        }
        meshes.add(membership.meshId)
        until = Math.min(until, membership.expiresAt)
      }
    } catch (err) {
      log('could not learn the meshes of %s - %s', peerId, err instanceof Error ? err.message : String(err))
    }
    if (meshes.size === 0) until = this.now() + DEFAULT_NO_MEMBERSHIP_CACHE_MS
    this.cache.delete(peerId)
    this.cache.set(peerId, { asked, meshes, until })
    if (this.cache.size > (this.init.maxCachedPeers ?? DEFAULT_MAX_CACHED_PEERS)) {
      const oldest = this.cache.keys().next().value
      if (oldest != null) this.cache.delete(oldest)
    }
    return meshes
  }

  /**
   * One mesh protocol call to `peerId` (our relay, or a sender asked for its credentials), given
   * up after DEFAULT_MEMBERSHIP_TIMEOUT_MS, when `signal` aborts or when this service stops.
   */
  private async callPeer (peerId: string, method: string, params: Record<string, unknown>, signal?: AbortSignal): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.init.membershipTimeoutMs ?? DEFAULT_MEMBERSHIP_TIMEOUT_MS)
    const timed = AbortSignal.any([this.running.signal, timeout, ...(signal != null ? [signal] : [])])
    const client = await this.init.connector.rpc(peerId, { protocol: MESH_PROTOCOL, maxFrameBytes: MESH_MAX_FRAME_BYTES, signal: timed })
    return await client.request(method, params, { signal: timed })
  }

  private call (from: string, request: JsonRpcRequest): JsonRpcResponse {
    const id = request.id ?? null
    if (request.method !== MeshMethod.Credentials) {
      return errorResponse(id, RpcErrorCode.MethodNotFound, `a peer serves only ${MeshMethod.Credentials}, not ${request.method}`)
    }
    const params = request.params
    if (!isObject(params) || !Array.isArray(params.meshIds) || params.meshIds.length > MAX_MESHES_PER_REQUEST || !params.meshIds.every(m => typeof m === 'string')) {
      return errorResponse(id, MeshErrorCode.InvalidParams, `params must be { meshIds: string[] } with at most ${MAX_MESHES_PER_REQUEST} ids`)
    }
    const named = new Set(params.meshIds as string[])
    const now = this.now()
    // only the meshes the asker named, and only our own credential in each
    const credentials: CredentialBundle[] = this.data.meshes.filter(m => named.has(m.meshId) && m.expiresAt > now).map(m => m.credential)
    log.trace('%s asked for our credentials in %d meshes; %d held', from, named.size, credentials.length)
    return successResponse(id, { credentials })
  }

  private held (meshId: string): HeldMesh {
    const held = this.data.meshes.find(m => m.meshId === meshId)
    if (held == null) {
      // a malformed id says so; a well-formed one we are not in is unknown
      meshOwner(meshId)
      throw new UnknownMeshError(meshId)
    }
    return held
  }

  private info (held: HeldMesh): MeshInfo {
    return { meshId: held.meshId, name: held.name, role: held.role, expiresAt: held.expiresAt, relays: held.relays }
  }

  /** Changes the data and saves it whole, one write after another. */
  private async update (change: (data: MeshData) => void): Promise<void> {
    // before start() the stored meshes are not loaded: a write now would replace them
    if (!this.loaded) throw new StarlingError('the peer has not started: its meshes are not loaded yet', 'ERR_NOT_STARTED')
    const next = structuredClone(this.data)
    change(next)
    this.data = next
    const write = this.writing.catch(() => {}).then(async () => { await this.init.store.save(structuredClone(this.data)) })
    this.writing = write
    await write
    this.init.onChange?.()
  }
}

/**
 * Whether `err` says the remote does not serve the method or the protocol at all (a relay in
 * open mode, or an older one): not a failure worth more than a note.
 */
function notServed (err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e != null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof RemoteRpcError && e.rpcCode === MeshErrorCode.NotServed) return true
    if ((e as { name?: unknown }).name === 'UnsupportedProtocolError') return true
  }
  return false
}
