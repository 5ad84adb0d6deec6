import { generateKeyPair, privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { fromString } from 'uint8arrays'
import { describe, expect, it } from 'vitest'
import {
  acceptInvite, createInvite, decodeInviteToken, encodeInviteToken, issueCredential, meshOwner, MeshCredentialError,
  newMeshId, ownerCredential, readInvite, revoke, verifyCredential, verifyRevocation
} from './credentials.js'
import type { CredentialBundle, MeshRefusal, VerifyContext } from './credentials.js'

const HOUR = 60 * 60 * 1000
const T0 = Date.UTC(2026, 10, 21, 12)

async function key (): Promise<{ key: PrivateKey, id: string }> {
  const k = await generateKeyPair('Ed25519')
  return { key: k, id: peerIdFromPrivateKey(k).toString() }
}

async function refused (promise: Promise<unknown>, reason: MeshRefusal, message?: RegExp): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err, `expected a refusal: ${reason}`).toBeInstanceOf(MeshCredentialError)
  expect((err as MeshCredentialError).reason).toBe(reason)
  if (message != null) expect((err as Error).message).toMatch(message)
}

/** A mesh with its owner, and a member who joined by an invite. */
async function meshWithMember (inviteInit: { maxUses?: number, ttlMs?: number, credentialTtlMs?: number } = {}) {
  const owner = await key()
  const meshId = newMeshId(owner.key)
  const token = await createInvite(owner.key, undefined, { meshId, meshName: 'Build farm', now: T0, ttlMs: HOUR, relays: ['https://relay.example'], ...inviteInit })
  const member = await key()
  const credential = await acceptInvite(token, member.id, { now: T0 + 1000 })
  return { owner, meshId, token, member, credential }
}

describe('mesh ids', () => {
  it('say who owns the mesh', async () => {
    const owner = await key()
    const meshId = newMeshId(owner.key)
    expect(meshOwner(meshId)).toBe(owner.id)
    expect(newMeshId(owner.key)).not.toBe(meshId)
    expect(() => meshOwner('nobody/abc')).toThrow(/does not start with a PeerID/)
    expect(() => meshOwner(`${owner.id}`)).toThrow(/not a mesh id/)
    expect(() => meshOwner(`${owner.id}/UPPER`)).toThrow(/not a mesh id/)
  })
})

describe('invites and membership credentials', () => {
  it('a member who joins by an owner\'s invite holds a credential anyone verifies offline', async () => {
    const { meshId, member, credential, token } = await meshWithMember({ maxUses: 3 })
    const invite = await readInvite(token, { now: T0 })
    expect(invite).toMatchObject({ meshId, meshName: 'Build farm', role: 'member', maxUses: 3, relays: ['https://relay.example'] })
    const membership = await verifyCredential(credential, { now: T0 + 2000 })
    expect(membership).toMatchObject({ meshId, member: member.id, role: 'member', inviteId: invite.inviteId })
    // the token survives the trip through a link
    const link = `https://relay.example/#join=${encodeInviteToken(token)}`
    expect(decodeInviteToken(link)).toEqual(token)
  })

  it('the owner\'s own credential says owner', async () => {
    const owner = await key()
    const meshId = newMeshId(owner.key)
    const own = await ownerCredential(owner.key, meshId, { now: T0 })
    expect(await verifyCredential(own, { now: T0 })).toMatchObject({ member: owner.id, role: 'owner' })
    const stranger = await key()
    await expect(ownerCredential(stranger.key, meshId)).rejects.toThrow(/does not own/)
  })

  it('an expired invite is refused, while credentials it issued in time stay valid', async () => {
    const { token, credential } = await meshWithMember()
    await refused(readInvite(token, { now: T0 + 2 * HOUR }), 'expired', /invite to Build farm expired/)
    const late = await key()
    await refused(acceptInvite(token, late.id, { now: T0 + 2 * HOUR }), 'expired')
    expect((await verifyCredential(credential, { now: T0 + 2 * HOUR })).role).toBe('member')
  })

  it('a credential expires', async () => {
    const { credential } = await meshWithMember({ credentialTtlMs: HOUR })
    await refused(verifyCredential(credential, { now: T0 + 2 * HOUR }), 'expired', /expired at/)
  })

  it('a tampered credential or proof is refused', async () => {
    const { credential } = await meshWithMember()
    const flip = (text: string): string => (text[40] === 'A' ? `${text.slice(0, 40)}B${text.slice(41)}` : `${text.slice(0, 40)}A${text.slice(41)}`)
    await refused(verifyCredential({ ...credential, credential: flip(credential.credential) }, { now: T0 }), 'bad-signature')
    // the invite in the proof changed: the credential's signer is no longer shown to be allowed
    await expect(verifyCredential({ ...credential, proof: [flip(credential.proof[0]!)] }, { now: T0 })).rejects.toThrow(MeshCredentialError)
    await refused(verifyCredential({ ...credential, credential: 'not base64!' }, { now: T0 }), 'malformed')
    await refused(verifyCredential({ ...credential, proof: [] }, { now: T0 }), 'not-issuer', /no proof/)
  })

  it('an invite key cannot grant more than its invite: another role, another mesh, a longer life', async () => {
    const { token, meshId } = await meshWithMember({ credentialTtlMs: HOUR })
    const inviteKey = privateKeyFromProtobuf(fromString(token.key, 'base64url'))
    const invite = await readInvite(token, { now: T0 })
    const someone = await key()
    const base = { member: someone.id, inviteId: invite.inviteId, now: T0 }
    await refused(verifyCredential(await issueCredential(inviteKey, [token.invite], { ...base, meshId, role: 'admin', ttlMs: HOUR }), { now: T0 }), 'not-issuer', /grants member/)
    const other = newMeshId((await key()).key)
    await refused(verifyCredential(await issueCredential(inviteKey, [token.invite], { ...base, meshId: other, role: 'member', ttlMs: HOUR }), { now: T0 }), 'wrong-mesh')
    await refused(verifyCredential(await issueCredential(inviteKey, [token.invite], { ...base, meshId, role: 'member', ttlMs: 2 * HOUR }), { now: T0 }), 'not-issuer', /longer than/)
  })

  it('admins the owner names invite too; plain members cannot', async () => {
    const { owner, meshId, member, credential: memberCredential } = await meshWithMember()
    const admin = await key()
    const adminCredential = await issueCredential(owner.key, [], { meshId, member: admin.id, role: 'admin', ttlMs: 24 * HOUR, now: T0 })
    expect((await verifyCredential(adminCredential, { now: T0 })).role).toBe('admin')

    const token = await createInvite(admin.key, adminCredential, { meshId, meshName: 'Build farm', now: T0 })
    const newcomer = await key()
    const joined = await acceptInvite(token, newcomer.id, { now: T0 })
    expect(await verifyCredential(joined, { now: T0 })).toMatchObject({ member: newcomer.id, role: 'member' })

    // a member's invite: it shows its credential, which is not an admin's
    const forged = await createInvite(member.key, memberCredential, { meshId, meshName: 'Build farm', now: T0 })
    await refused(readInvite(forged, { now: T0 }), 'not-issuer', /not an admin/)
    // someone with no credential at all
    const stranger = await key()
    await refused(readInvite(await createInvite(stranger.key, undefined, { meshId, meshName: 'x', now: T0 }), { now: T0 }), 'not-issuer', /not the owner/)
  })

  it('revocations come from the owner or an admin, and then refuse the member or the invite\'s members', async () => {
    const { owner, meshId, member, credential, token } = await meshWithMember()
    const revocation = await revoke(owner.key, undefined, meshId, { member: member.id }, T0)
    expect(await verifyRevocation(revocation, { now: T0 })).toMatchObject({ meshId, target: { member: member.id } })

    const revoked = new Set<string>()
    const context: VerifyContext = { now: T0, isRevoked: (_mesh, target) => revoked.has('member' in target ? `m:${target.member}` : `i:${target.invite}`) }
    revoked.add(`m:${member.id}`)
    await refused(verifyCredential(credential, context), 'revoked', /was revoked/)

    // revoking the invite refuses whoever it admitted, and whoever would still join by it
    revoked.clear()
    const invite = await readInvite(token, { now: T0 })
    revoked.add(`i:${invite.inviteId}`)
    await refused(verifyCredential(credential, context), 'revoked', /invite .* was revoked/)
    await refused(acceptInvite(token, (await key()).id, context), 'revoked')

    // a member cannot revoke anyone
    const byMember = await revoke(member.key, credential, meshId, { member: owner.id }, T0)
    await refused(verifyRevocation(byMember, { now: T0 }), 'not-issuer')
  })

  it('malformed tokens and statements are refused with the reason', async () => {
    for (const text of ['', 'not a token', Buffer.from('{"invite":1}').toString('base64url'), Buffer.from('[]').toString('base64url')]) {
      expect(() => decodeInviteToken(text)).toThrow(/not a Starling invite/)
    }
    const { token } = await meshWithMember()
    await refused(readInvite({ ...token, key: 'AAAA' }, { now: T0 }), 'malformed', /not a private key/)
    const otherKey = (await createInvite((await key()).key, undefined, { meshId: newMeshId((await key()).key), meshName: 'x', now: T0 })).key
    await refused(readInvite({ ...token, key: otherKey }, { now: T0 }), 'malformed', /not the one the invite names/)
    // a credential presented where an invite is expected does not open as one
    const { credential } = await meshWithMember()
    await refused(readInvite({ ...token, invite: credential.credential }, { now: T0 }), 'bad-signature')
    const long: CredentialBundle = { credential: credential.credential, proof: [credential.credential, credential.credential, credential.credential, credential.credential, credential.credential] }
    await expect(verifyCredential(long, { now: T0 })).rejects.toThrow(MeshCredentialError)
  })
})
