/**
 * The mesh a private relay serves when it is given none (`--mode private` without `--mesh`, which
 * is what a relay bound to a non-loopback address gets by default): a mesh owned by the relay's
 * own key, `<relay PeerID>/relay`. The key lives in the data directory, so the mesh id survives
 * restarts.
 *
 * Nobody is a member at first. At each start the relay hands its operator an admin invite as a
 * link, `<public URL>/#join=<token>`, printed on the terminal and kept in
 * `<data-dir>/join-link.txt` (0600): the operator opens it in a browser (or gives it to
 * `starling mesh join`), becomes an admin, and invites everyone else from there. The link is
 * kept while it can still be used: a restart prints the same one until it is used up, revoked,
 * or close to its expiry, then makes a new one.
 *
 * `admitLocalAgent` is what `npm start` (bin/start.mjs) calls for its demo agent: the relay's
 * key signs that agent a member credential directly, written into the agent's home before it
 * starts, so it reserves and publishes with no step from anyone.
 */
import { chmod, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { createInvite, decodeInviteToken, encodeInviteToken, issueCredential, readInvite } from '../../src/core/mesh/credentials.js'
import type { InvitePayload, VerifyContext } from '../../src/core/mesh/credentials.js'
import type { HeldMesh } from '../../src/core/mesh/store.js'
import { loadOrCreateKey, writeFileAtomic } from '../../src/native/key-file.js'
import { homePaths } from '../../src/native/home.js'
import { FileMeshStore } from '../../src/native/store/meshes.js'
import { RELAY_KEY_FILE } from '../config.js'

/** The tag of the relay's own mesh: its id is `<relay PeerID>/relay`. */
export const OWN_MESH_TAG = 'relay'

/** The file in the data directory that holds the operator's join link (mode 0600: it is a secret). */
export const JOIN_LINK_FILE = 'join-link.txt'

/**
 * How long the operator's admin invite lasts: a day. Long enough to open it from another
 * machine at leisure; short enough that a link left in a scrollback or a log is soon worthless.
 */
export const OPERATOR_INVITE_TTL_MS = 24 * 60 * 60 * 1000

/**
 * How many peers the operator's invite admits: one. It makes an admin, who can invite anyone
 * (other devices of the operator's included) from the PWA or the CLI.
 */
export const OPERATOR_INVITE_USES = 1

/** A kept link with less than this left is replaced by a new one at start, in ms (an hour). */
export const OPERATOR_INVITE_MIN_LEFT_MS = 60 * 60 * 1000

/**
 * How long the credentials the relay signs last: the operator's admin credential (from the
 * invite) and a local agent's. A year: an operator should not lose the mesh to a quiet quarter.
 */
export const OWN_MESH_CREDENTIAL_TTL_MS = 365 * 24 * 60 * 60 * 1000

/** The id of the mesh a relay with this PeerID serves when it is given none. */
export function ownMeshId (relayPeerId: string): string {
  return `${relayPeerId}/${OWN_MESH_TAG}`
}

/** The name people see for the relay's own mesh (the join screen's "Join …"). */
export function ownMeshName (baseUrl: string): string {
  return `Starling relay ${URL.canParse(baseUrl) ? new URL(baseUrl).host : baseUrl}`
}

export interface OperatorInvite {
  /** `<baseUrl>/#join=<token>` */
  link: string
  inviteId: string
  /** ms since the epoch */
  expiresAt: number
  maxUses: number
  /** Members it admitted so far (at most maxUses - 1 when it is handed out). */
  used: number
  /** Where the link is kept. */
  file: string
  /** Whether the link is the one kept from an earlier start. */
  kept: boolean
}

export interface OperatorInviteInit {
  /** The relay's key: the owner of the mesh. */
  key: PrivateKey
  meshId: string
  /** The relay's public origin, without a trailing slash: where the link opens the PWA. */
  baseUrl: string
  dataDir: string
  /** Members an invite admitted on this relay (MeshMembership.usesOf). */
  usesOf: (meshId: string, inviteId: string) => number
  /** Revoked invites (MeshMembership.isRevoked). */
  isRevoked?: VerifyContext['isRevoked']
  now?: number
}

/**
 * The operator's admin invite: the one kept in the data directory while it can still admit
 * someone (not used up, not revoked, not about to expire), else a new one, which is kept.
 */
export async function operatorInvite (init: OperatorInviteInit): Promise<OperatorInvite> {
  const now = init.now ?? Date.now()
  const file = join(init.dataDir, JOIN_LINK_FILE)
  const kept = await keptInvite(file, init, now)
  let token: string
  let invite: InvitePayload
  if (kept != null) {
    ({ token, invite } = kept)
  } else {
    const created = await createInvite(init.key, undefined, {
      meshId: init.meshId,
      meshName: ownMeshName(init.baseUrl),
      role: 'admin',
      ttlMs: OPERATOR_INVITE_TTL_MS,
      maxUses: OPERATOR_INVITE_USES,
      credentialTtlMs: OWN_MESH_CREDENTIAL_TTL_MS,
      relays: [init.baseUrl],
      now
    })
    token = encodeInviteToken(created)
    invite = await readInvite(created, { now })
  }
  const link = `${init.baseUrl}/#join=${token}`
  await writeFileAtomic(file, `${link}\n`, 0o600)
  // an older file may have been made with a wider mode: the rename keeps the new one's, but be sure
  await chmod(file, 0o600)
  return {
    link,
    inviteId: invite.inviteId,
    expiresAt: invite.expiresAt,
    maxUses: invite.maxUses ?? OPERATOR_INVITE_USES,
    used: init.usesOf(init.meshId, invite.inviteId),
    file,
    kept: kept != null
  }
}

/** The invite in the kept link file, when it is this mesh's admin invite and can still be used. */
async function keptInvite (file: string, init: OperatorInviteInit, now: number): Promise<{ token: string, invite: InvitePayload } | undefined> {
  let text: string
  try {
    text = (await readFile(file, 'utf8')).trim()
  } catch {
    return undefined
  }
  try {
    const token = decodeInviteToken(text)
    const invite = await readInvite(token, { now, isRevoked: init.isRevoked })
    if (invite.meshId !== init.meshId || invite.role !== 'admin') return undefined
    if (invite.expiresAt - now < OPERATOR_INVITE_MIN_LEFT_MS) return undefined
    if (init.usesOf(init.meshId, invite.inviteId) >= (invite.maxUses ?? Infinity)) return undefined
    return { token: encodeInviteToken(token), invite }
  } catch {
    // expired, revoked, tampered with or not a link at all: a new one replaces it
    return undefined
  }
}

export interface AdmitLocalAgentInit {
  /** The relay's data directory: its key is read from there (the relay must have started once). */
  dataDir: string
  /** The agent's home (`starling init` made its key). */
  home: string
  /** The relay's URL, recorded as where the mesh meets. */
  relayUrl: string
  now?: number
}

/**
 * Makes the agent at `home` a member of the relay's own mesh: the relay's key signs it a member
 * credential, written into the home's meshes.json (replacing an older one of this mesh). Run it
 * while the agent is stopped: a running daemon rewrites meshes.json from what it holds.
 */
export async function admitLocalAgent (init: AdmitLocalAgentInit): Promise<{ meshId: string, member: string, expiresAt: number }> {
  const relayKey = privateKeyFromProtobuf(new Uint8Array(await readFile(join(init.dataDir, RELAY_KEY_FILE))))
  const meshId = ownMeshId(peerIdFromPrivateKey(relayKey).toString())
  const agentKey = await loadOrCreateKey(homePaths(init.home).identity)
  const member = peerIdFromPrivateKey(agentKey).toString()
  const now = init.now ?? Date.now()
  const credential = await issueCredential(relayKey, [], { meshId, member, role: 'member', ttlMs: OWN_MESH_CREDENTIAL_TTL_MS, now })
  const held: HeldMesh = {
    meshId,
    name: ownMeshName(init.relayUrl),
    role: 'member',
    credential,
    expiresAt: now + OWN_MESH_CREDENTIAL_TTL_MS,
    relays: [init.relayUrl],
    joinedAt: now
  }
  const store = new FileMeshStore(init.home)
  const data = await store.load()
  data.meshes = [...data.meshes.filter(m => m.meshId !== meshId), held]
  await store.save(data)
  return { meshId, member, expiresAt: held.expiresAt }
}
