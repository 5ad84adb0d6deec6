/**
 * What a relay in private mode knows of the meshes it serves: the memberships its peers proved
 * (verified credentials, kept while the peer is connected or listed, re-checked on every use for
 * expiry and revocation), the revocations it was handed, and how many members each invite has
 * admitted here. Revocations and use counts outlive a restart: they are JSON files in the relay's
 * data directory, written whole (to a temporary file, then renamed) after every change.
 *
 * Use counts are kept by the relays because an invite carries its key: anyone holding the link
 * can mint credentials offline, so only the place that admits members can count them. A count is
 * of distinct members: the same member reconnecting is not a new use.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { inviteOf, MeshCredentialError, meshOwner, verifyCredential, verifyRevocation } from '../../src/core/mesh/credentials.js'
import type { CredentialBundle, Membership, MeshRefusal, RevocationPayload } from '../../src/core/mesh/credentials.js'
import type { RelayLogger } from '../logger.js'

/** File (in the data directory) holding the revocations the relay knows. */
export const REVOCATIONS_FILE = 'mesh-revocations.json'
/** File (in the data directory) holding, per invite, the members it admitted here. */
export const INVITE_USES_FILE = 'mesh-invite-uses.json'

/** Revocations kept per mesh; past it a new one is refused (an admin flooding the relay). */
export const MAX_REVOCATIONS_PER_MESH = 10_000

/**
 * Why a peer was refused: a credential's own reason, or `no-credentials` (it showed none for a
 * served mesh, or did not answer), or `not-a-member` (it showed someone else's credential), or
 * `not-admin` (a member asked what only the mesh's owner or an admin may: its list of members).
 */
export type MeshAccessReason = MeshRefusal | 'no-credentials' | 'not-a-member' | 'not-admin'

/** A peer that may not use a private relay; `reason` says why, `message` says it to a person. */
export class MeshAccessError extends Error {
  override readonly name = 'MeshAccessError'
  readonly reason: MeshAccessReason

  constructor (reason: MeshAccessReason, message: string, options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

type Target = RevocationPayload['target']

export interface MeshMembershipInit {
  /** The meshes the relay serves. */
  meshIds: string[]
  /** Where revocations and use counts are kept. */
  dataDir: string
  log?: RelayLogger
  /** The clock, in ms since the epoch (tests move it). */
  now?: () => number
}

export class MeshMembership {
  readonly meshIds: readonly string[]
  private readonly served: Set<string>
  private readonly dataDir: string
  private readonly log?: RelayLogger
  private readonly now: () => number
  /** Verified memberships, by member PeerID. */
  private readonly members = new Map<string, Membership[]>()
  /** Revocations by mesh, keyed `member:<id>` / `invite:<id>`. */
  private readonly revocations = new Map<string, Map<string, CredentialBundle>>()
  /** Members admitted per invite, keyed `<meshId> <inviteId>`. */
  private readonly uses = new Map<string, Set<string>>()
  /** Peers whose every membership lapsed (expired or revoked) since the last takeLapsed(). */
  private readonly lapsed = new Set<string>()
  private writing: Promise<void> = Promise.resolve()

  constructor (init: MeshMembershipInit) {
    for (const id of init.meshIds) meshOwner(id)
    this.meshIds = [...init.meshIds]
    this.served = new Set(init.meshIds)
    this.dataDir = init.dataDir
    this.log = init.log
    this.now = init.now ?? Date.now
  }

  /** Reads the revocations and use counts kept by an earlier run; each revocation is checked again. */
  async load (): Promise<void> {
    const revocations = await this.readJson(REVOCATIONS_FILE)
    if (Array.isArray(revocations)) {
      for (const bundle of revocations) {
        try {
          const payload = await verifyRevocation(bundle as CredentialBundle, { now: this.now() })
          if (this.served.has(payload.meshId)) this.keep(payload, bundle as CredentialBundle)
        } catch (err) {
          this.log?.warn({ event: 'mesh.revocation_unreadable', err: (err as Error).message }, `a kept revocation does not verify and is skipped (${REVOCATIONS_FILE})`)
        }
      }
    }
    const uses = await this.readJson(INVITE_USES_FILE)
    if (typeof uses === 'object' && uses !== null && !Array.isArray(uses)) {
      for (const [key, members] of Object.entries(uses)) {
        if (Array.isArray(members) && members.every(m => typeof m === 'string')) this.uses.set(key, new Set(members))
      }
    }
  }

  /** Whether a mesh is one this relay serves. */
  serves (meshId: string): boolean {
    return this.served.has(meshId)
  }

  readonly isRevoked = (meshId: string, target: Target): boolean => {
    return this.revocations.get(meshId)?.has(targetKey(target)) === true
  }

  /** The memberships `peer` proved that still hold (not expired, not revoked). */
  current (peer: string): Membership[] {
    const held = this.members.get(peer)
    if (held == null) return []
    const now = this.now()
    const valid = held.filter(m => m.expiresAt > now && !this.revokes(m))
    if (valid.length !== held.length) {
      if (valid.length === 0) {
        this.members.delete(peer)
        this.lapsed.add(peer)
      } else {
        this.members.set(peer, valid)
      }
    }
    return valid
  }

  /** Whether two peers share a served mesh, as far as they proved it. */
  share (a: string, b: string): boolean {
    const meshes = new Set(this.current(a).map(m => m.meshId))
    return this.current(b).some(m => meshes.has(m.meshId))
  }

  /** Forgets what `peer` proved (it left: a new connection proves it again). */
  forget (peer: string): void {
    this.members.delete(peer)
    this.lapsed.delete(peer)
  }

  /**
   * The peers whose memberships all lapsed since the last call, every expired one found first:
   * they may still hold a reservation or an entry granted while their credentials held.
   */
  takeLapsed (): string[] {
    for (const peer of [...this.members.keys()]) this.current(peer)
    const out = [...this.lapsed]
    this.lapsed.clear()
    return out
  }

  /** Whether anything is known of `peer` (for tests and the service's bookkeeping). */
  knows (peer: string): boolean {
    return this.members.has(peer)
  }

  /** Peers whose memberships are known. */
  peers (): string[] {
    return [...this.members.keys()]
  }

  /**
   * The memberships of `meshId` that hold now (not expired, not revoked), one per member: every
   * peer that proved it and is still known (connected or listed: the service forgets the others).
   */
  membersOf (meshId: string): Membership[] {
    if (!this.served.has(meshId)) return []
    const out: Membership[] = []
    for (const peer of [...this.members.keys()]) {
      const held = this.current(peer).find(m => m.meshId === meshId)
      if (held != null) out.push(held)
    }
    return out
  }

  /**
   * Verifies the credentials `peer` showed and admits it with those of a served mesh that hold;
   * throws MeshAccessError with the reason of the first that did not when none does.
   */
  async admit (peer: string, bundles: CredentialBundle[]): Promise<Membership[]> {
    const admitted: Membership[] = []
    let refusal: MeshAccessError | undefined
    for (const bundle of bundles) {
      try {
        const membership = await verifyCredential(bundle, { now: this.now(), isRevoked: this.isRevoked })
        if (!this.served.has(membership.meshId)) throw new MeshAccessError('wrong-mesh', `${membership.meshId} is not a mesh this relay serves`)
        if (membership.member !== peer) throw new MeshAccessError('not-a-member', `the credential is ${membership.member}'s; you are ${peer}`)
        await this.countUse(peer, membership, bundle)
        admitted.push(membership)
      } catch (err) {
        if (err instanceof MeshAccessError) refusal ??= err
        else if (err instanceof MeshCredentialError) refusal ??= new MeshAccessError(err.reason, err.message, { cause: err })
        else refusal ??= new MeshAccessError('malformed', `the credential could not be checked: ${(err as Error).message}`, { cause: err })
      }
    }
    if (admitted.length === 0) {
      throw refusal ?? new MeshAccessError('no-credentials', `you showed no credential for the meshes this relay serves (${this.meshIds.join(', ')})`)
    }
    const held = this.current(peer).filter(m => !admitted.some(a => a.meshId === m.meshId))
    this.members.set(peer, [...held, ...admitted])
    this.lapsed.delete(peer)
    return this.current(peer)
  }

  /** Checks a revocation and keeps it; returns it, with the peers it removes from every served mesh. */
  async revoke (bundle: CredentialBundle): Promise<{ revocation: RevocationPayload, evicted: string[] }> {
    const revocation = await verifyRevocation(bundle, { now: this.now(), isRevoked: this.isRevoked })
    if (!this.served.has(revocation.meshId)) throw new MeshCredentialError('wrong-mesh', `${revocation.meshId} is not a mesh this relay serves`)
    const held = this.revocations.get(revocation.meshId)
    if (held != null && held.size >= MAX_REVOCATIONS_PER_MESH && !held.has(targetKey(revocation.target))) {
      throw new MeshCredentialError('malformed', `this relay keeps at most ${MAX_REVOCATIONS_PER_MESH} revocations per mesh`)
    }
    this.keep(revocation, bundle)
    await this.persist(REVOCATIONS_FILE, () => [...this.revocations.values()].flatMap(m => [...m.values()]))
    const evicted: string[] = []
    for (const peer of [...this.members.keys()]) {
      const before = this.members.get(peer)?.length ?? 0
      const after = this.current(peer).length
      if (after === 0 && before > 0) evicted.push(peer)
    }
    return { revocation, evicted }
  }

  /** The revocations kept for those meshes. */
  revocationsOf (meshIds: string[]): CredentialBundle[] {
    return meshIds.flatMap(id => [...(this.revocations.get(id)?.values() ?? [])])
  }

  /** Members admitted by an invite here. */
  usesOf (meshId: string, inviteId: string): number {
    return this.uses.get(`${meshId} ${inviteId}`)?.size ?? 0
  }

  /** Waits for the files being written (a relay stopping, a test reading them). */
  async flushed (): Promise<void> {
    await this.writing
  }

  private revokes (m: Membership): boolean {
    return this.isRevoked(m.meshId, { member: m.member }) || (m.inviteId != null && this.isRevoked(m.meshId, { invite: m.inviteId }))
  }

  private keep (revocation: RevocationPayload, bundle: CredentialBundle): void {
    let held = this.revocations.get(revocation.meshId)
    if (held == null) {
      held = new Map()
      this.revocations.set(revocation.meshId, held)
    }
    held.set(targetKey(revocation.target), bundle)
  }

  /** Counts `peer` as a use of its credential's invite, refusing one past the invite's maxUses. */
  private async countUse (peer: string, membership: Membership, bundle: CredentialBundle): Promise<void> {
    if (membership.inviteId == null) return
    const key = `${membership.meshId} ${membership.inviteId}`
    const members = this.uses.get(key) ?? new Set<string>()
    if (members.has(peer)) return
    const maxUses = await inviteMaxUses(bundle)
    // the set may have grown while the invite was read: look again
    const now = this.uses.get(key) ?? members
    if (now.has(peer)) return
    if (maxUses != null && now.size >= maxUses) {
      throw new MeshAccessError('used-up', `the invite ${membership.inviteId} has admitted its ${maxUses} member${maxUses === 1 ? '' : 's'} already`)
    }
    now.add(peer)
    this.uses.set(key, now)
    await this.persist(INVITE_USES_FILE, () => Object.fromEntries([...this.uses].map(([k, v]) => [k, [...v]])))
  }

  private async persist (file: string, value: () => unknown): Promise<void> {
    const path = join(this.dataDir, file)
    // one write at a time, each of the whole state as it is when it starts
    this.writing = this.writing.then(async () => {
      const tmp = `${path}.tmp`
      await writeFile(tmp, JSON.stringify(value(), null, 1))
      await rename(tmp, path)
    }).catch((err: unknown) => {
      this.log?.error({ event: 'mesh.persist_failed', file: path, err: (err as Error).message }, 'could not write the mesh state')
    })
    await this.writing
  }

  private async readJson (file: string): Promise<unknown> {
    const path = join(this.dataDir, file)
    try {
      return JSON.parse(await readFile(path, 'utf8'))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log?.warn({ event: 'mesh.state_unreadable', file: path, err: (err as Error).message }, 'the mesh state file is unreadable; starting without it')
      }
      return undefined
    }
  }
}

function targetKey (target: Target): string {
  return 'member' in target ? `member:${target.member}` : `invite:${target.invite}`
}

/** The maxUses of the invite a (verified) credential came from, if an invite key signed it. */
async function inviteMaxUses (bundle: CredentialBundle): Promise<number | undefined> {
  return (await inviteOf(bundle))?.maxUses
}
