/**
 * `Members` on a private relay, in process, with real libp2p peers: the owner and an admin get
 * the members the relay knows (role, reserved, listed, sorted), a revoked member is gone from it;
 * a plain member, a member of another mesh and a stranger are refused with the reason, a mesh the
 * relay does not serve is named as such, malformed params get InvalidParams; the list is capped.
 * The peer's side (MeshService.members) against a private and an open relay.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { encodeInviteToken, issueCredential, revoke } from '../../src/core/mesh/credentials.js'
import { MAX_MEMBERS_PER_ANSWER, MESH_PROTOCOL, MeshErrorCode, MeshMethod } from '../../src/core/mesh/protocol.js'
import type { MembersResult } from '../../src/core/mesh/protocol.js'
import { MeshMembersError } from '../../src/core/mesh/service.js'
import type { StarlingPeer } from '../../src/core/peer.js'
import { testPeer, testRelay, untilPublished, untilRelayState } from '../../src/native/test-helpers.js'
import type { RunningRelay } from '../relay.js'
import { disconnectedFrom, HopStatus, keyed, privateRelayFixture, refusal, refusedCount, testMesh } from './test-helpers.js'
import type { MeshPeer } from './test-helpers.js'

describe('Members on a private relay', () => {
  const { relays, privateRelay, peer } = privateRelayFixture()

  async function members (p: MeshPeer, meshId: unknown): Promise<MembersResult> {
    const rpc = await p.mesh()
    try {
      return await rpc.request(MeshMethod.Members, { meshId }) as MembersResult
    } finally {
      await rpc.close()
    }
  }

  it('lists the members it knows to the owner and an admin: roles, reservations, listings, sorted; a revoked member is gone', async () => {
    const mesh = await testMesh()
    const relay = await privateRelay([mesh])
    const a = await mesh.member(await mesh.invite({ role: 'admin' }))
    const m1 = await mesh.member()
    const m2 = await mesh.member()
    const r = await mesh.member()

    // m1 reserves and publishes; m2 only discovers (connected, neither reserved nor listed)
    const member1 = await peer(relay, { key: m1.key, credentials: [m1.credential] })
    expect(await member1.reserve()).toBe(HopStatus.OK)
    await member1.publish('build')
    const member2 = await peer(relay, { key: m2.key, credentials: [m2.credential] })
    expect(await member2.discover('build')).toEqual([m1.id])
    const revoked = await peer(relay, { key: r.key, credentials: [r.credential] })
    expect(await revoked.reserve()).toBe(HopStatus.OK)

    // the owner has proved nothing yet: the relay asks it for its credentials, then answers
    const owner = await peer(relay, { key: mesh.owner.key, credentials: [mesh.ownerCredential] })
    const byOwner = await members(owner, mesh.meshId)
    expect(owner.asked()).toBe(1)
    const plain = [m1.id, m2.id, r.id].sort()
    expect(byOwner.total).toBe(4)
    expect(byOwner.members.map(m => [m.peerId, m.role])).toEqual([[mesh.owner.id, 'owner'], ...plain.map(id => [id, 'member'])])
    const entry = (list: MembersResult, id: string): MembersResult['members'][number] | undefined => list.members.find(m => m.peerId === id)
    expect(entry(byOwner, m1.id)).toMatchObject({ reserved: true, listed: true })
    expect(entry(byOwner, m2.id)).toMatchObject({ reserved: false, listed: false })
    expect(entry(byOwner, r.id)).toMatchObject({ reserved: true, listed: false })
    expect(entry(byOwner, mesh.owner.id)).toMatchObject({ reserved: false, listed: false })
    const m1Expiry = entry(byOwner, m1.id)?.expiresAt ?? 0
    expect(m1Expiry).toBeGreaterThan(Date.now())

    // the owner revokes r: it is gone from the list at once
    const gone = disconnectedFrom(revoked.node, relay)
    expect(await (await owner.mesh()).request(MeshMethod.Revoke, { revocation: await revoke(mesh.owner.key, undefined, mesh.meshId, { member: r.id }) })).toEqual({})
    await gone

    // an admin that reserved gets the same list, itself among the admins
    const admin = await peer(relay, { key: a.key, credentials: [a.credential] })
    expect(await admin.reserve()).toBe(HopStatus.OK)
    const byAdmin = await members(admin, mesh.meshId)
    expect(byAdmin.total).toBe(4)
    expect(byAdmin.members.map(m => [m.peerId, m.role, m.reserved, m.listed])).toEqual([
      [mesh.owner.id, 'owner', false, false],
      [a.id, 'admin', true, false],
      ...[m1.id, m2.id].sort().map(id => [id, 'member', id === m1.id, id === m1.id])
    ])
    expect(entry(byAdmin, r.id)).toBeUndefined()
    expect(entry(byAdmin, m1.id)?.expiresAt).toBe(m1Expiry)
  })

  it('refuses a plain member, a member of another served mesh, a stranger and a mesh it does not serve, with the reason', async () => {
    const mesh = await testMesh()
    const other = await testMesh('other')
    const unserved = await testMesh('unserved')
    const relay = await privateRelay([mesh, other])

    const m = await mesh.member()
    const member = await peer(relay, { key: m.key, credentials: [m.credential] })
    const byMember = await refusal(members(member, mesh.meshId))
    expect(byMember.rpcCode).toBe(MeshErrorCode.Refused)
    expect(byMember.data).toEqual({ reason: 'not-admin' })
    expect(byMember.message).toBe(`only the owner or an admin of ${mesh.meshId} may list its members; you are a member`)

    // the owner of the other mesh the relay serves is no admin of this one
    const otherOwner = await peer(relay, { key: other.owner.key, credentials: [other.ownerCredential] })
    const byOtherOwner = await refusal(members(otherOwner, mesh.meshId))
    expect(byOtherOwner.data).toEqual({ reason: 'not-admin' })
    expect(byOtherOwner.message).toMatch(/you proved no membership of it$/)
    // and it is the owner of its own mesh: it gets that one's list
    expect((await members(otherOwner, other.meshId)).members.map(x => x.peerId)).toEqual([other.owner.id])

    // a mesh the relay does not serve, asked by its owner proven here for a served one
    const both = await keyed()
    const servedCredential = await issueCredential(mesh.owner.key, [], { meshId: mesh.meshId, member: both.id, role: 'admin', ttlMs: 60_000 })
    const admin = await peer(relay, { key: both.key, credentials: [servedCredential] })
    expect((await members(admin, mesh.meshId)).members.map(x => [x.peerId, x.role])).toEqual([[both.id, 'admin'], [m.id, 'member']])
    const notServed = await refusal(members(admin, unserved.meshId))
    expect(notServed.rpcCode).toBe(MeshErrorCode.Refused)
    expect(notServed.data).toEqual({ reason: 'wrong-mesh' })
    expect(notServed.message).toBe(`${unserved.meshId} is not a mesh this relay serves`)

    // a stranger (no credentials): refused before anything about the mesh is said
    const stranger = await peer(relay)
    const byStranger = await refusal(members(stranger, unserved.meshId))
    expect(byStranger.rpcCode).toBe(MeshErrorCode.Refused)
    expect(byStranger.data).toEqual({ reason: 'no-credentials' })
    expect(byStranger.message).toMatch(/^only the owner or an admin of a mesh may list its members here: /)

    expect(await refusedCount(relay, 'members', 'not-admin')).toBe(2)
    expect(await refusedCount(relay, 'members', 'wrong-mesh')).toBe(1)
    expect(await refusedCount(relay, 'members', 'no-credentials')).toBe(1)
  })

  it('answers malformed params with InvalidParams', async () => {
    const mesh = await testMesh()
    const relay = await privateRelay([mesh])
    const owner = await peer(relay, { key: mesh.owner.key, credentials: [mesh.ownerCredential] })
    const rpc = await owner.mesh()
    try {
      for (const params of [{}, { meshId: 42 }, { meshId: '' }, { meshId: 'x'.repeat(513) }, { meshId: [mesh.meshId] }, [mesh.meshId]]) {
        const err = await refusal(rpc.request(MeshMethod.Members, params))
        expect(err.rpcCode, JSON.stringify(params).slice(0, 40)).toBe(MeshErrorCode.InvalidParams)
      }
    } finally {
      await rpc.close()
    }
    // nothing was asked of the owner: params are checked first
    expect(owner.asked()).toBe(0)
  })

  it(`lists at most ${MAX_MEMBERS_PER_ANSWER} members and says how many it knows`, async () => {
    const mesh = await testMesh()
    // no sweep during the test: the members admitted below are not connected
    const relay = await testRelay({ mode: 'private', meshes: [mesh.meshId] }, { mesh: { sweepIntervalMs: 3_600_000 } })
    relays.push(relay)
    // members proven earlier (admitted as the relay admits them), whether or not still connected:
    // what the relay holds until its sweep
    const extra = MAX_MEMBERS_PER_ANSWER + 5
    const ids: string[] = []
    for (let i = 0; i < extra; i++) {
      const k = await keyed()
      await relay.mesh!.membership.admit(k.id, [await issueCredential(mesh.owner.key, [], { meshId: mesh.meshId, member: k.id, role: 'member', ttlMs: 60_000 })])
      ids.push(k.id)
    }
    const owner = await peer(relay, { key: mesh.owner.key, credentials: [mesh.ownerCredential] })
    const listed = await members(owner, mesh.meshId)
    expect(listed.total).toBe(extra + 1)
    expect(listed.members).toHaveLength(MAX_MEMBERS_PER_ANSWER)
    expect(listed.members[0]?.peerId).toBe(mesh.owner.id)
    expect(listed.members.slice(1).map(m => m.peerId)).toEqual(ids.sort().slice(0, MAX_MEMBERS_PER_ANSWER - 1))
  }, 60_000)
})

describe('MeshService.members (a peer asking its relay)', () => {
  const peers: StarlingPeer[] = []
  const relays: RunningRelay[] = []

  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop() }))
    await Promise.all(relays.splice(0).map(async r => { await r.stop() }))
  })

  async function joined (relay: RunningRelay, token: string): Promise<StarlingPeer> {
    const p = await testPeer(relay)
    peers.push(p)
    await p.meshes.join(token)
    await untilRelayState(p, s => s.state === 'reserved')
    return p
  }

  it('returns the relay\'s list to an admin; a member is refused here; an open relay does not serve it', async () => {
    const mesh = await testMesh()
    const relay = await testRelay({ mode: 'private', meshes: [mesh.meshId] })
    relays.push(relay)
    const admin = await joined(relay, encodeInviteToken(await mesh.invite({ role: 'admin' })))
    const member = await joined(relay, encodeInviteToken(await mesh.invite()))
    await Promise.all([untilPublished(admin), untilPublished(member)])

    const list = await admin.meshes.members(mesh.meshId)
    expect(list.total).toBe(2)
    expect(list.members.map(m => [m.peerId, m.role, m.reserved, m.listed])).toEqual([
      [admin.peerId, 'admin', true, true],
      [member.peerId, 'member', true, true]
    ])

    const refused = await member.meshes.members(mesh.meshId).then(() => undefined, (e: unknown) => e)
    expect(refused).toBeInstanceOf(MeshMembersError)
    expect(refused).toMatchObject({ failure: 'refused', refusal: 'not-admin', code: 'ERR_MESH_MEMBERS' })

    // an open relay: the protocol is not served at all
    const open = await testRelay()
    relays.push(open)
    expect(open.node.getProtocols()).not.toContain(MESH_PROTOCOL)
    const owner = await testPeer(open)
    peers.push(owner)
    await untilRelayState(owner, s => s.state === 'reserved')
    const created = await owner.meshes.create('on an open relay')
    const notServed = await owner.meshes.members(created.meshId).then(() => undefined, (e: unknown) => e)
    expect(notServed).toBeInstanceOf(MeshMembersError)
    expect(notServed).toMatchObject({ failure: 'not-served' })
    expect((notServed as Error).message).toMatch(/open mode/)
  })
})
