/**
 * Private meshes: who belongs, proven offline. Every statement is JSON signed by a key in a libp2p
 * signed envelope (../identity/signed-json.ts), each kind under its own domain:
 *
 * - A mesh is its owner's: its id is `<owner PeerID>/<tag>`, so the id itself says whose
 *   signature counts, and nobody else can make a mesh of that id.
 * - An **invite** (signed by the owner, or by an admin with its admin credential) hands out a
 *   fresh *invite key* able to issue credentials of one role until the invite expires. The link
 *   carries the invite and that key's private half: joining needs nobody online.
 * - A **membership credential** (`{ meshId, member, role, expiresAt }`) is signed by the owner,
 *   an admin, or an invite key, and travels with its proof: the chain of statements from the owner
 *   down to its signer. A relay or a peer verifies it with nothing but the bytes and the time.
 * - A **revocation** (of a member or of an invite), signed by the owner or an admin, takes effect
 *   wherever it is known; relays learn it first and hand it to peers.
 *
 * Use counts of invites are kept by whoever admits members (the relays; see
 * docs/protocol.md "Private meshes"): a credential says which invite it came from.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { fromString, toString } from 'uint8arrays'
import { InvalidInputError } from '../errors.js'
import { openJson, sealJson } from '../identity/signed-json.js'
import type { SignedJsonKind } from '../identity/signed-json.js'

export type MeshRole = 'member' | 'admin'

/** Largest sealed statement, in bytes (a real one is a few hundred). */
export const MAX_STATEMENT_BYTES = 4 * 1024

/** Most statements in a credential's proof: owner → admin → invite key → member, and no more. */
export const MAX_PROOF_LENGTH = 3

/** How long a credential from an invite lasts unless the invite says otherwise, in ms: 90 days. */
export const DEFAULT_CREDENTIAL_TTL_MS = 90 * 24 * 60 * 60 * 1000

/** How long an invite lasts unless its issuer says otherwise, in ms: 7 days. */
export const DEFAULT_INVITE_TTL_MS = 7 * 24 * 60 * 60 * 1000

const kind = (name: string, domain: string): SignedJsonKind => ({
  domain,
  codec: new TextEncoder().encode(`/starling/${domain}/1`),
  maxBytes: MAX_STATEMENT_BYTES,
  name
})
const INVITE = kind('invite', 'starling-mesh-invite')
const CREDENTIAL = kind('membership credential', 'starling-mesh-credential')
const REVOCATION = kind('revocation', 'starling-mesh-revocation')

/** Why a mesh statement was refused, for a program to act on (and a person to read in the message). */
export type MeshRefusal = 'malformed' | 'bad-signature' | 'wrong-mesh' | 'not-issuer' | 'expired' | 'revoked' | 'used-up'

/** A mesh statement that does not hold; `reason` says which rule it broke. */
export class MeshCredentialError extends InvalidInputError {
  readonly reason: MeshRefusal

  constructor (reason: MeshRefusal, message: string, options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

export interface InvitePayload {
  v: 1
  meshId: string
  /** A name for people ("Acme build farm"); not authoritative. */
  meshName: string
  inviteId: string
  role: MeshRole
  /** The invite key's PeerID: the key that signs the credentials of those who join. */
  inviteKey: string
  /** ms since the epoch */
  expiresAt: number
  /** Members it may admit; absent: no limit but its expiry. */
  maxUses?: number
  /** How long the credentials it issues last, in ms. */
  credentialTtlMs: number
  /** Relay URLs where the mesh meets. */
  relays: string[]
}

export interface CredentialPayload {
  v: 1
  meshId: string
  member: string
  role: MeshRole
  /** ms since the epoch */
  issuedAt: number
  expiresAt: number
  /** The invite it came from, if any (use counts are kept per invite). */
  inviteId?: string
}

export interface RevocationPayload {
  v: 1
  meshId: string
  /** A member's PeerID, or an invite's id. */
  target: { member: string } | { invite: string }
  /** ms since the epoch */
  revokedAt: number
}

/**
 * A credential with its proof: the sealed credential, then the statements from its signer up to
 * the owner (an invite, and the admin credential of the invite's issuer when that is an admin).
 * Base64url text, so it fits a config file, a link or a protocol message alike.
 */
export interface CredentialBundle {
  credential: string
  proof: string[]
}

/** An invite as its link carries it: the sealed invite (and its issuer's proof), and the invite key. */
export interface InviteToken {
  invite: string
  proof: string[]
  /** The invite key's private key, libp2p protobuf, base64url. */
  key: string
}

/** A verified credential: who, in which mesh, as what, until when. */
export interface Membership {
  meshId: string
  member: string
  role: MeshRole | 'owner'
  expiresAt: number
  inviteId?: string
}

/** What verification consults besides the bytes. */
export interface VerifyContext {
  /** ms since the epoch (default Date.now()). */
  now?: number
  /** Revoked members and invites of the mesh, as the verifier knows them. */
  isRevoked?: (meshId: string, target: { member: string } | { invite: string }) => boolean
}

/** A new mesh's id: `<owner PeerID>/<tag>`, the tag 8 random bytes. */
export function newMeshId (owner: PrivateKey): string {
  return `${peerIdFromPrivateKey(owner).toString()}/${toString(crypto.getRandomValues(new Uint8Array(8)), 'base32')}`
}

/** The owner's PeerID of a mesh id; throws MeshCredentialError when `meshId` is not one. */
export function meshOwner (meshId: string): string {
  const [owner, tag, extra] = meshId.split('/')
  if (owner == null || tag == null || extra != null || !/^[a-z2-7]{1,32}$/.test(tag)) throw new MeshCredentialError('malformed', `"${meshId}" is not a mesh id (<owner PeerID>/<tag>)`)
  try {
    peerIdFromString(owner)
  } catch {
    throw new MeshCredentialError('malformed', `"${meshId}" does not start with a PeerID`)
  }
  return owner
}

/** The owner's own credential, signed by itself: the root every other one leads to. */
export async function ownerCredential (owner: PrivateKey, meshId: string, options: { now?: number, ttlMs?: number } = {}): Promise<CredentialBundle> {
  const member = peerIdFromPrivateKey(owner).toString()
  if (meshOwner(meshId) !== member) throw new InvalidInputError(`${member} does not own ${meshId}`)
  return await issueCredential(owner, [], { meshId, member, role: 'admin', ttlMs: options.ttlMs ?? 10 * 365 * 24 * 60 * 60 * 1000, now: options.now })
}

export interface IssueInit {
  meshId: string
  member: string
  role: MeshRole
  ttlMs: number
  inviteId?: string
  now?: number
}

/** A credential signed by `issuer` (owner, admin, or invite key), whose proof is `issuerProof`. */
export async function issueCredential (issuer: PrivateKey, issuerProof: string[], init: IssueInit): Promise<CredentialBundle> {
  const now = init.now ?? Date.now()
  const payload: CredentialPayload = {
    v: 1,
    meshId: init.meshId,
    member: init.member,
    role: init.role,
    issuedAt: now,
    expiresAt: now + init.ttlMs,
    ...(init.inviteId != null ? { inviteId: init.inviteId } : {})
  }
  return { credential: b64(await sealJson(CREDENTIAL, payload, issuer)), proof: issuerProof }
}

export interface InviteInit {
  meshId: string
  meshName: string
  role?: MeshRole
  ttlMs?: number
  maxUses?: number
  credentialTtlMs?: number
  relays?: string[]
  now?: number
}

/**
 * An invite issued by `issuer`: the owner (`issuerCredential` absent or the owner's own), or an
 * admin with its admin credential. Returns the token a link or `starling mesh join` carries.
 */
export async function createInvite (issuer: PrivateKey, issuerCredential: CredentialBundle | undefined, init: InviteInit): Promise<InviteToken> {
  const now = init.now ?? Date.now()
  const inviteKey = await generateKeyPair('Ed25519')
  const payload: InvitePayload = {
    v: 1,
    meshId: init.meshId,
    meshName: init.meshName,
    inviteId: toString(crypto.getRandomValues(new Uint8Array(12)), 'base32'),
    role: init.role ?? 'member',
    inviteKey: peerIdFromPrivateKey(inviteKey).toString(),
    expiresAt: now + (init.ttlMs ?? DEFAULT_INVITE_TTL_MS),
    ...(init.maxUses != null ? { maxUses: init.maxUses } : {}),
    credentialTtlMs: init.credentialTtlMs ?? DEFAULT_CREDENTIAL_TTL_MS,
    relays: init.relays ?? []
  }
  const issuerIsOwner = peerIdFromPrivateKey(issuer).toString() === meshOwner(init.meshId)
  const proof = issuerIsOwner ? [] : issuerCredential == null ? [] : [issuerCredential.credential, ...issuerCredential.proof]
  return {
    invite: b64(await sealJson(INVITE, payload, issuer)),
    proof,
    key: b64(privateKeyToProtobuf(inviteKey))
  }
}

/** Reads an invite token without trusting it yet: what a person is shown before joining. */
export async function readInvite (token: InviteToken, context: VerifyContext = {}): Promise<InvitePayload> {
  const invite = await verifyInvite(token.invite, token.proof, context)
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(unb64(token.key))
  } catch (err) {
    throw new MeshCredentialError('malformed', 'the invite\'s key is not a private key', { cause: err })
  }
  if (peerIdFromPrivateKey(key).toString() !== invite.inviteKey) throw new MeshCredentialError('malformed', 'the invite\'s key is not the one the invite names')
  return invite
}

/**
 * The invite a credential came from, when its signer is an invite key (the first statement of
 * its proof is then that invite); undefined when an owner or admin signed it directly. Call it on
 * a bundle verifyCredential() accepted: it reads, it does not verify.
 */
export async function inviteOf (bundle: CredentialBundle): Promise<InvitePayload | undefined> {
  const first = bundle.proof[0]
  if (first == null) return undefined
  const opened = await tryOpen(INVITE, first)
  if (opened == null) return undefined
  try {
    return checkInvite(opened.payload)
  } catch {
    return undefined
  }
}

/** Joins with an invite: `member` gets a credential signed by the invite's key. */
export async function acceptInvite (token: InviteToken, member: string, context: VerifyContext = {}): Promise<CredentialBundle> {
  const invite = await readInvite(token, context)
  const key = privateKeyFromProtobuf(unb64(token.key))
  const now = context.now ?? Date.now()
  // a credential outlives neither its invite's terms nor what the invite was given for
  return await issueCredential(key, [token.invite, ...token.proof], {
    meshId: invite.meshId,
    member,
    role: invite.role,
    ttlMs: invite.credentialTtlMs,
    inviteId: invite.inviteId,
    now
  })
}

/** Revokes a member or an invite; `issuerCredential` for an admin (absent for the owner). */
export async function revoke (issuer: PrivateKey, issuerCredential: CredentialBundle | undefined, meshId: string, target: RevocationPayload['target'], now = Date.now()): Promise<CredentialBundle> {
  const payload: RevocationPayload = { v: 1, meshId, target, revokedAt: now }
  const issuerIsOwner = peerIdFromPrivateKey(issuer).toString() === meshOwner(meshId)
  return { credential: b64(await sealJson(REVOCATION, payload, issuer)), proof: issuerIsOwner || issuerCredential == null ? [] : [issuerCredential.credential, ...issuerCredential.proof] }
}

/**
 * Verifies a credential and its proof down from the mesh's owner. Throws MeshCredentialError with
 * the reason when any link does not hold: a bad signature, another mesh, a signer without the
 * right to sign, an expired or revoked link.
 */
export async function verifyCredential (bundle: CredentialBundle, context: VerifyContext = {}): Promise<Membership> {
  return await verifyChain(bundle.credential, bundle.proof, context, 0)
}

/** Verifies a revocation: it must come from the mesh's owner or one of its admins. */
export async function verifyRevocation (bundle: CredentialBundle, context: VerifyContext = {}): Promise<RevocationPayload> {
  const opened = await open(REVOCATION, bundle.credential)
  const payload = checkRevocation(opened.payload)
  await checkIssuer(payload.meshId, opened.signer, bundle.proof, context, 0, 'revoke')
  return payload
}

async function verifyChain (credential: string, proof: string[], context: VerifyContext, depth: number): Promise<Membership> {
  if (depth > MAX_PROOF_LENGTH) throw new MeshCredentialError('malformed', `the proof is longer than ${MAX_PROOF_LENGTH} statements`)
  const now = context.now ?? Date.now()
  const opened = await open(CREDENTIAL, credential)
  const c = checkCredential(opened.payload)
  const owner = meshOwner(c.meshId)
  if (c.expiresAt <= now) throw new MeshCredentialError('expired', `the credential of ${c.member} in ${c.meshId} expired at ${new Date(c.expiresAt).toISOString()}`)
  if (context.isRevoked?.(c.meshId, { member: c.member }) === true) throw new MeshCredentialError('revoked', `${c.member} was revoked from ${c.meshId}`)
  if (c.inviteId != null && context.isRevoked?.(c.meshId, { invite: c.inviteId }) === true) throw new MeshCredentialError('revoked', `the invite ${c.inviteId} that admitted ${c.member} was revoked`)

  if (opened.signer === owner) {
    return { meshId: c.meshId, member: c.member, role: c.member === owner ? 'owner' : c.role, expiresAt: c.expiresAt, inviteId: c.inviteId }
  }
  const [next, ...rest] = proof
  if (next == null) throw new MeshCredentialError('not-issuer', `${opened.signer} signed a credential of ${c.meshId} with no proof that it may`)
  // signed by an invite key: the next statement is the invite that named that key
  const invite = await tryOpen(INVITE, next)
  if (invite != null) {
    const i = await verifyInvite(next, rest, context, depth + 1)
    if (i.meshId !== c.meshId) throw new MeshCredentialError('wrong-mesh', `the invite is for ${i.meshId}, the credential for ${c.meshId}`)
    if (i.inviteKey !== opened.signer) throw new MeshCredentialError('not-issuer', 'the credential was not signed by the key its invite names')
    if (c.inviteId !== i.inviteId) throw new MeshCredentialError('malformed', 'the credential does not name the invite it came from')
    if (c.role !== i.role) throw new MeshCredentialError('not-issuer', `the invite grants ${i.role}, the credential says ${c.role}`)
    if (c.issuedAt > i.expiresAt) throw new MeshCredentialError('expired', `the invite ${i.inviteId} had expired when the credential was issued`)
    if (c.expiresAt - c.issuedAt > i.credentialTtlMs) throw new MeshCredentialError('not-issuer', 'the credential lasts longer than its invite allows')
    return { meshId: c.meshId, member: c.member, role: c.role, expiresAt: c.expiresAt, inviteId: c.inviteId }
  }
  // signed by an admin: the next statement is the admin's own credential
  await checkIssuer(c.meshId, opened.signer, proof, context, depth, 'sign credentials')
  return { meshId: c.meshId, member: c.member, role: c.role, expiresAt: c.expiresAt, inviteId: c.inviteId }
}

async function verifyInvite (invite: string, proof: string[], context: VerifyContext, depth = 0): Promise<InvitePayload> {
  const now = context.now ?? Date.now()
  const opened = await open(INVITE, invite)
  const i = checkInvite(opened.payload)
  meshOwner(i.meshId)
  if (i.expiresAt <= now && depth === 0) throw new MeshCredentialError('expired', `the invite to ${i.meshName} expired at ${new Date(i.expiresAt).toISOString()}`)
  if (context.isRevoked?.(i.meshId, { invite: i.inviteId }) === true) throw new MeshCredentialError('revoked', `the invite ${i.inviteId} was revoked`)
  await checkIssuer(i.meshId, opened.signer, proof, context, depth, 'invite')
  return i
}

/** `signer` is the mesh's owner, or an admin whose credential is the first statement of `proof`. */
async function checkIssuer (meshId: string, signer: string, proof: string[], context: VerifyContext, depth: number, what: string): Promise<void> {
  if (signer === meshOwner(meshId)) return
  const [adminCredential, ...rest] = proof
  if (adminCredential == null) throw new MeshCredentialError('not-issuer', `${signer} may not ${what} in ${meshId}: it is not the owner and shows no admin credential`)
  const admin = await verifyChain(adminCredential, rest, context, depth + 1)
  if (admin.meshId !== meshId) throw new MeshCredentialError('wrong-mesh', `the admin credential is for ${admin.meshId}, not ${meshId}`)
  if (admin.member !== signer) throw new MeshCredentialError('not-issuer', `the admin credential is ${admin.member}'s, not the signer's (${signer})`)
  if (admin.role !== 'admin' && admin.role !== 'owner') throw new MeshCredentialError('not-issuer', `${signer} is a member of ${meshId}, not an admin: it may not ${what}`)
}

async function open (k: SignedJsonKind, text: string): Promise<{ payload: unknown, signer: string }> {
  let bytes: Uint8Array
  try {
    bytes = unb64(text)
  } catch {
    throw new MeshCredentialError('malformed', `the ${k.name} is not base64url`)
  }
  const opened = await openJson(k, bytes, BadSignatureError)
  return { payload: opened.payload, signer: opened.signer }
}

async function tryOpen (k: SignedJsonKind, text: string): Promise<{ payload: unknown, signer: string } | undefined> {
  try {
    return await open(k, text)
  } catch {
    return undefined
  }
}

class BadSignatureError extends MeshCredentialError {
  constructor (message: string, options?: ErrorOptions) {
    super(/not JSON|limit/.test(message) ? 'malformed' : 'bad-signature', message, options)
  }
}

function checkCredential (value: unknown): CredentialPayload {
  const c = value as Partial<CredentialPayload> | null
  if (typeof c !== 'object' || c === null || c.v !== 1 || typeof c.meshId !== 'string' || typeof c.member !== 'string' ||
    (c.role !== 'member' && c.role !== 'admin') || !isTime(c.issuedAt) || !isTime(c.expiresAt) ||
    (c.inviteId != null && typeof c.inviteId !== 'string')) {
    throw new MeshCredentialError('malformed', 'the credential is not { v: 1, meshId, member, role, issuedAt, expiresAt }')
  }
  return c as CredentialPayload
}

function checkInvite (value: unknown): InvitePayload {
  const i = value as Partial<InvitePayload> | null
  if (typeof i !== 'object' || i === null || i.v !== 1 || typeof i.meshId !== 'string' || typeof i.meshName !== 'string' ||
    typeof i.inviteId !== 'string' || (i.role !== 'member' && i.role !== 'admin') || typeof i.inviteKey !== 'string' ||
    !isTime(i.expiresAt) || !isTime(i.credentialTtlMs) || !Array.isArray(i.relays) || !i.relays.every(r => typeof r === 'string') ||
    (i.maxUses != null && (!Number.isSafeInteger(i.maxUses) || i.maxUses < 1))) {
    throw new MeshCredentialError('malformed', 'the invite is not { v: 1, meshId, meshName, inviteId, role, inviteKey, expiresAt, credentialTtlMs, relays }')
  }
  return i as InvitePayload
}

function checkRevocation (value: unknown): RevocationPayload {
  const r = value as Partial<RevocationPayload> | null
  const target = r?.target as { member?: unknown, invite?: unknown } | undefined
  if (typeof r !== 'object' || r === null || r.v !== 1 || typeof r.meshId !== 'string' || !isTime(r.revokedAt) ||
    typeof target !== 'object' || target === null || (typeof target.member !== 'string') === (typeof target.invite !== 'string')) {
    throw new MeshCredentialError('malformed', 'the revocation is not { v: 1, meshId, target: { member } | { invite }, revokedAt }')
  }
  return r as RevocationPayload
}

function isTime (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function b64 (bytes: Uint8Array): string {
  return toString(bytes, 'base64url')
}

function unb64 (text: string): Uint8Array {
  return fromString(text, 'base64url')
}

/** An invite token as one string, for a link (`#join=…`) or `starling mesh join`. */
export function encodeInviteToken (token: InviteToken): string {
  return toString(new TextEncoder().encode(JSON.stringify(token)), 'base64url')
}

/** The invite token in a string from encodeInviteToken (or a link that ends in `#join=<it>`). */
export function decodeInviteToken (text: string): InviteToken {
  const raw = text.includes('#join=') ? text.slice(text.indexOf('#join=') + 6) : text.trim()
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(unb64(raw)))
  } catch {
    throw new MeshCredentialError('malformed', 'this is not a Starling invite (it does not decode)')
  }
  const t = value as Partial<InviteToken> | null
  if (typeof t !== 'object' || t === null || typeof t.invite !== 'string' || typeof t.key !== 'string' ||
    !Array.isArray(t.proof) || t.proof.length > MAX_PROOF_LENGTH || !t.proof.every(p => typeof p === 'string')) {
    throw new MeshCredentialError('malformed', 'this is not a Starling invite ({ invite, proof, key })')
  }
  return { invite: t.invite, proof: t.proof, key: t.key }
}
