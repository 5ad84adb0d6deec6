/**
 * A relay in private mode, in process, with real libp2p peers: only members of the meshes it
 * serves reserve, are relayed, publish and discover; each sees only its meshes' agents; expired,
 * used-up and tampered credentials are refused with their reason; a revocation is enforced at once
 * and outlives a restart. Open mode is left as it was.
 */
import { describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { fromString, toString } from 'uint8arrays'
import type { PrivateKey } from '@libp2p/interface'
import { issueCredential, readInvite, revoke } from '../../src/core/mesh/credentials.js'
import type { CredentialBundle } from '../../src/core/mesh/credentials.js'
import { MESH_PROTOCOL, MeshErrorCode, MeshMethod } from '../../src/core/mesh/protocol.js'
import { RpcErrorCode } from '../../src/core/rpc/jsonrpc.js'
import { tcpAddr, tempDir, testRelay } from '../../src/native/test-helpers.js'
import { INVITE_USES_FILE, REVOCATIONS_FILE } from './membership.js'
import { disconnectedFrom, ECHO, HopStatus, keyed, meshPeer, privateRelayFixture, refusal, refusedCount, reserved, testMesh } from './test-helpers.js'

describe('a relay in private mode', () => {
  const { relays, nodes, afterwards, privateRelay, peer } = privateRelayFixture()

  it('lets a member reserve, publish and discover, and an outsider (no credentials, or another mesh\'s) none of it', async () => {
    const mesh = await testMesh()
    const elsewhere = await testMesh('another mesh')
    const relay = await privateRelay([mesh])

    const m = await mesh.member()
    const member = await peer(relay, { key: m.key, credentials: [m.credential], listen: true })
    const reservation = reserved(member.node)
    await member.node.dial(multiaddr(tcpAddr(relay)))
    await reservation
    expect(relay.node.services.relay.reservations.has(member.node.peerId)).toBe(true)
    await member.publish('build')
    expect(await member.discover('build')).toEqual([member.id])

    // no credentials at all: the peer does not even serve the mesh protocol
    const stranger = await peer(relay)
    expect(await stranger.reserve()).toBe(HopStatus.PERMISSION_DENIED)
    expect(relay.node.services.relay.reservations.has(stranger.node.peerId)).toBe(false)
    const strangerPublish = await refusal(stranger.publish('build'))
    expect(strangerPublish.rpcCode).toBe(RpcErrorCode.Forbidden)
    expect(strangerPublish.message).toMatch(/only their members may publish/)
    expect(strangerPublish.data).toEqual({ reason: 'no-credentials' })
    const strangerDiscover = await refusal(stranger.discover('build'))
    expect(strangerDiscover.data).toEqual({ reason: 'no-credentials' })

    // a valid credential, of a mesh this relay does not serve
    const o = await elsewhere.member()
    const outsider = await peer(relay, { key: o.key, credentials: [o.credential] })
    expect(await outsider.reserve()).toBe(HopStatus.PERMISSION_DENIED)
    // the peer answers with nothing for the meshes asked: it has none of them
    expect((await refusal(outsider.discover('build'))).data).toEqual({ reason: 'no-credentials' })
    // one that shows its other mesh's credential anyway is told which rule it broke
    const o2 = await elsewhere.member()
    const pushy = await peer(relay, { key: o2.key, credentials: [o2.credential], showAll: true })
    const wrong = await refusal(pushy.publish('build'))
    expect(wrong.data).toEqual({ reason: 'wrong-mesh' })
    expect(wrong.message).toMatch(/is not a mesh this relay serves/)
    // and one that shows a member's credential as its own is not that member
    const thief = await peer(relay, { credentials: [m.credential] })
    expect(await thief.reserve()).toBe(HopStatus.PERMISSION_DENIED)
    expect((await refusal(thief.discover('build'))).data).toEqual({ reason: 'not-a-member' })

    // the HTTP listing is closed to everyone: strangers must not list a private mesh's agents
    const res = await fetch(`${relay.url}/api/v1/agents`)
    expect(res.status).toBe(403)
    expect(((await res.json()) as { error: string }).error).toMatch(/private meshes/)
    // nor task or read them through the A2A HTTP bridge: it is off on a private relay
    expect((await fetch(`${relay.url}/a2a/${member.id}/.well-known/agent-card.json`)).status).toBe(404)
    expect(await refusedCount(relay, 'reserve', 'no-credentials')).toBeGreaterThanOrEqual(2)
  })

  it('scopes discovery to the meshes the asker shares, and relays circuits only between peers of one mesh', async () => {
    const a = await testMesh('A')
    const b = await testMesh('B')
    const relay = await privateRelay([a, b])
    const a1 = await a.member()
    const a2 = await a.member()
    const b1 = await b.member()
    const agentA = await peer(relay, { key: a1.key, credentials: [a1.credential], listen: true })
    const askerA = await peer(relay, { key: a2.key, credentials: [a2.credential] })
    const agentB = await peer(relay, { key: b1.key, credentials: [b1.credential] })
    const reservation = reserved(agentA.node)
    await agentA.node.dial(multiaddr(tcpAddr(relay)))
    await reservation
    await agentA.publish('build')
    await agentB.publish('build')

    expect(await askerA.discover('build')).toEqual([agentA.id])
    expect(await agentB.discover('build')).toEqual([agentB.id])

    // a member of A reaches A's agent through the relay; B's member is refused the circuit
    const circuit = multiaddr(`${tcpAddr(relay)}/p2p-circuit/p2p/${agentA.id}`)
    const stream = await askerA.node.dialProtocol(circuit, ECHO, { runOnLimitedConnection: true })
    stream.send(new TextEncoder().encode('hello'))
    const [echoed] = await Promise.all([(async () => { for await (const chunk of stream) return chunk.subarray() })(), stream.close()])
    expect(new TextDecoder().decode(echoed)).toBe('hello')
    await expect(agentB.node.dialProtocol(circuit, ECHO, { runOnLimitedConnection: true })).rejects.toThrow()
    expect(await refusedCount(relay, 'circuit', 'wrong-mesh')).toBe(1)
  })

  it('refuses an expired invite\'s late credential, a used-up invite and a tampered credential, with the reason', async () => {
    const mesh = await testMesh()
    const relay = await privateRelay([mesh])

    // a credential minted with the invite's key after the invite expired
    const expiredToken = await mesh.invite({ ttlMs: 1000, now: Date.now() - 60_000 })
    const invite = await readInvite(expiredToken, { now: Date.now() - 59_500 })
    const late = await keyedCredential(expiredToken.key, [expiredToken.invite, ...expiredToken.proof], mesh.meshId, invite.inviteId)
    const latecomer = await peer(relay, { key: late.key, credentials: [late.credential] })
    const expired = await refusal(latecomer.publish('build'))
    expect(expired.data).toEqual({ reason: 'expired' })
    expect(expired.message).toMatch(/had expired when the credential was issued/)
    expect(await latecomer.reserve()).toBe(HopStatus.PERMISSION_DENIED)
    expect(await refusedCount(relay, 'reserve', 'expired')).toBe(1)

    // an invite for one member: the first is admitted, the second refused, the first again admitted
    const once = await mesh.invite({ maxUses: 1 })
    const first = await mesh.member(once)
    const second = await mesh.member(once)
    const firstPeer = await peer(relay, { key: first.key, credentials: [first.credential] })
    expect(await firstPeer.reserve()).toBe(HopStatus.OK)
    const secondPeer = await peer(relay, { key: second.key, credentials: [second.credential] })
    const usedUp = await refusal(secondPeer.publish('build'))
    expect(usedUp.data).toEqual({ reason: 'used-up' })
    expect(usedUp.message).toMatch(/has admitted its 1 member already/)
    expect(await secondPeer.reserve()).toBe(HopStatus.PERMISSION_DENIED)
    await firstPeer.publish('build')

    // a credential whose signature was altered
    const t = await mesh.member()
    const bytes = fromString(t.credential.credential, 'base64url')
    bytes[bytes.length - 1]! ^= 0x01
    const tampered: CredentialBundle = { credential: toString(bytes, 'base64url'), proof: t.credential.proof }
    const tamperer = await peer(relay, { key: t.key, credentials: [tampered] })
    const bad = await refusal(tamperer.publish('build'))
    expect(bad.data).toEqual({ reason: 'bad-signature' })
    expect(await tamperer.reserve()).toBe(HopStatus.PERMISSION_DENIED)
  })

  it('enforces a revocation at once: the member loses its reservation and entry, cannot reserve again, and members learn it', async () => {
    const mesh = await testMesh()
    const relay = await privateRelay([mesh])
    const r = await mesh.member()
    const revoked = await peer(relay, { key: r.key, credentials: [r.credential] })
    expect(await revoked.reserve()).toBe(HopStatus.OK)
    await revoked.publish('build')
    const w = await mesh.member()
    const witness = await peer(relay, { key: w.key, credentials: [w.credential] })
    expect(await witness.discover('build')).toEqual([revoked.id])

    // a member may not revoke
    const byMember = await revoke(w.key, w.credential, mesh.meshId, { member: r.id })
    const witnessMesh = await witness.mesh()
    const notAllowed = await refusal(witnessMesh.request(MeshMethod.Revoke, { revocation: byMember }))
    expect(notAllowed.rpcCode).toBe(MeshErrorCode.Refused)
    expect(notAllowed.data).toEqual({ reason: 'not-issuer' })
    expect(relay.node.services.relay.reservations.has(revoked.node.peerId)).toBe(true)

    // the owner does
    const owner = await peer(relay, { key: mesh.owner.key, credentials: [mesh.ownerCredential] })
    const ownerMesh = await owner.mesh()
    const revocation = await revoke(mesh.owner.key, undefined, mesh.meshId, { member: r.id })
    const gone = disconnectedFrom(revoked.node, relay)
    expect(await ownerMesh.request(MeshMethod.Revoke, { revocation })).toEqual({})
    await gone
    expect(relay.node.services.relay.reservations.has(revoked.node.peerId)).toBe(false)
    expect(relay.registry.registry.get(r.id)).toBeUndefined()
    expect(await witness.discover('build')).toEqual([])

    // it comes back: no reservation, no registry
    expect(await revoked.reserve()).toBe(HopStatus.PERMISSION_DENIED)
    expect((await refusal(revoked.publish('build'))).data).toEqual({ reason: 'revoked' })

    // members learn it from the relay; strangers do not
    expect(await witnessMesh.request(MeshMethod.Revocations, { meshIds: [mesh.meshId] })).toEqual({ revocations: [revocation] })
    const stranger = await peer(relay)
    const strangerMesh = await stranger.mesh()
    expect((await refusal(strangerMesh.request(MeshMethod.Revocations, { meshIds: [mesh.meshId] }))).data).toEqual({ reason: 'no-credentials' })
    // the relay holds no credentials of its own
    expect(await strangerMesh.request(MeshMethod.Credentials, { meshIds: [mesh.meshId] })).toEqual({ credentials: [] })
  })

  it('takes its reservation from a member whose credential expired and who shows nothing newer', async () => {
    const mesh = await testMesh()
    const relay = await testRelay({ mode: 'private', meshes: [mesh.meshId] }, { mesh: { sweepIntervalMs: 100 } })
    relays.push(relay)
    // a credential that lasts 2 s: the relay notices on its own, without the member doing anything
    const m = await mesh.member(await mesh.invite({ credentialTtlMs: 2_000 }))
    const member = await peer(relay, { key: m.key, credentials: [m.credential] })
    expect(await member.reserve()).toBe(HopStatus.OK)
    await member.publish('build')
    const evicted = new Promise<{ peer: string, reason: string }>((resolve) => {
      relay.mesh!.addEventListener('evicted', (evt) => { resolve(evt.detail) })
    })
    const gone = disconnectedFrom(member.node, relay)
    expect(await evicted).toEqual({ peer: m.id, reason: 'expired' })
    await gone
    expect(relay.node.services.relay.reservations.has(member.node.peerId)).toBe(false)
    expect(relay.registry.registry.get(m.id)).toBeUndefined()
  })

  it('takes an admin\'s revocation, and refuses one for a mesh it does not serve', async () => {
    const mesh = await testMesh()
    const other = await testMesh('other')
    const relay = await privateRelay([mesh])
    const admin = await mesh.member(await mesh.invite({ role: 'admin' }))
    const m = await mesh.member()
    const member = await peer(relay, { key: m.key, credentials: [m.credential] })
    expect(await member.reserve()).toBe(HopStatus.OK)
    const adminPeer = await peer(relay, { key: admin.key, credentials: [admin.credential] })
    const rpc = await adminPeer.mesh()
    const foreign = await revoke(other.owner.key, undefined, other.meshId, { member: m.id })
    expect((await refusal(rpc.request(MeshMethod.Revoke, { revocation: foreign }))).data).toEqual({ reason: 'wrong-mesh' })
    const gone = disconnectedFrom(member.node, relay)
    await rpc.request(MeshMethod.Revoke, { revocation: await revoke(admin.key, admin.credential, mesh.meshId, { member: m.id }) })
    await gone
    expect(relay.node.services.relay.reservations.has(member.node.peerId)).toBe(false)
  })

  it('revoking an invite removes every member it admitted', async () => {
    const mesh = await testMesh()
    const relay = await privateRelay([mesh])
    const token = await mesh.invite()
    const m = await mesh.member(token)
    const member = await peer(relay, { key: m.key, credentials: [m.credential] })
    expect(await member.reserve()).toBe(HopStatus.OK)
    const owner = await peer(relay)
    const invite = await readInvite(token)
    const gone = disconnectedFrom(member.node, relay)
    await (await owner.mesh()).request(MeshMethod.Revoke, { revocation: await revoke(mesh.owner.key, undefined, mesh.meshId, { invite: invite.inviteId }) })
    await gone
    expect(relay.node.services.relay.reservations.has(member.node.peerId)).toBe(false)
    expect(await member.reserve()).toBe(HopStatus.PERMISSION_DENIED)
  })

  it('remembers revocations and invite uses across a restart on the same data directory', async () => {
    const dir = await tempDir('starling-mesh-relay-')
    afterwards.push(dir.remove)
    const mesh = await testMesh()
    let relay = await privateRelay([mesh], dir.path)
    const once = await mesh.invite({ maxUses: 1 })
    const first = await mesh.member(once)
    const firstPeer = await peer(relay, { key: first.key, credentials: [first.credential] })
    expect(await firstPeer.reserve()).toBe(HopStatus.OK)
    const r = await mesh.member()
    const revocation = await revoke(mesh.owner.key, undefined, mesh.meshId, { member: r.id })
    const owner = await peer(relay)
    await (await owner.mesh()).request(MeshMethod.Revoke, { revocation })
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    await relays.splice(0)[0]!.stop()
    expect(existsSync(join(dir.path, REVOCATIONS_FILE))).toBe(true)
    expect(existsSync(join(dir.path, INVITE_USES_FILE))).toBe(true)

    relay = await privateRelay([mesh], dir.path)
    const second = await mesh.member(once)
    const secondPeer = await peer(relay, { key: second.key, credentials: [second.credential] })
    expect((await refusal(secondPeer.publish('build'))).data).toEqual({ reason: 'used-up' })
    const firstAgain = await peer(relay, { key: first.key, credentials: [first.credential] })
    expect(await firstAgain.reserve()).toBe(HopStatus.OK)
    const revokedPeer = await peer(relay, { key: r.key, credentials: [r.credential] })
    expect((await refusal(revokedPeer.publish('build'))).data).toEqual({ reason: 'revoked' })
    expect(await (await firstAgain.mesh()).request(MeshMethod.Revocations, { meshIds: [mesh.meshId] })).toEqual({ revocations: [revocation] })
  })
})

describe('a relay in open mode', () => {
  it('serves no mesh protocol, lists its agents over HTTP and lets anyone reserve', async () => {
    const relay = await testRelay()
    const p = await meshPeer(relay)
    try {
      expect(relay.mesh).toBeUndefined()
      expect(relay.node.getProtocols()).not.toContain(MESH_PROTOCOL)
      expect((await fetch(`${relay.url}/api/v1/agents`)).status).toBe(200)
      expect(await p.reserve()).toBe(HopStatus.OK)
      await p.publish('build')
      expect(await p.discover('build')).toEqual([p.id])
    } finally {
      await p.node.stop()
      await relay.stop()
    }
  })
})

/** A member credential signed with an invite's key (given as the token carries it), issued now. */
async function keyedCredential (inviteKey: string, proof: string[], meshId: string, inviteId: string): Promise<{ key: PrivateKey, credential: CredentialBundle }> {
  const member = await keyed()
  const credential = await issueCredential(privateKeyFromProtobuf(fromString(inviteKey, 'base64url')), proof, {
    meshId, member: member.id, role: 'member', ttlMs: 60 * 60 * 1000, inviteId
  })
  return { key: member.key, credential }
}
