/**
 * A private relay given no mesh serves one of its own (./own-mesh.ts), with real relays and real
 * native peers: its id is the relay's, and survives a restart; the operator's admin link is
 * printed, kept 0600 in the data directory and reused until it is used up; the operator joins
 * with it, becomes an admin and may invite; a local agent admitted with the relay's key
 * reserves, publishes and discovers with no step from anyone, while a stranger is refused.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import type { StarlingPeer } from '../../src/core/peer.js'
import { decodeInviteToken, readInvite } from '../../src/core/mesh/credentials.js'
import { MemoryMeshStore } from '../../src/core/mesh/store.js'
import { memoryStorage } from '../../src/core/store/memory.js'
import { loadOrCreateKey } from '../../src/native/key-file.js'
import { FileMeshStore } from '../../src/native/store/meshes.js'
import { tempDir, testPeer, testRelay, untilPublished } from '../../src/native/test-helpers.js'
import type { RunningRelay } from '../relay.js'
import { MeshAccessError } from './membership.js'
import { admitLocalAgent, JOIN_LINK_FILE, OPERATOR_INVITE_TTL_MS, OPERATOR_INVITE_USES, OWN_MESH_CREDENTIAL_TTL_MS, ownMeshId } from './own-mesh.js'

/** Resolves once `peer` is connected to its relay (reserved or not). */
async function connected (peer: StarlingPeer): Promise<void> {
  const ok = (): boolean => peer.relayStatus.state === 'connected' || peer.relayStatus.state === 'reserved'
  if (ok()) return
  await new Promise<void>((resolve) => {
    const onRelay = (): void => {
      if (!ok()) return
      peer.removeEventListener('relay', onRelay)
      resolve()
    }
    peer.addEventListener('relay', onRelay)
  })
}

describe('the relay\'s own mesh', () => {
  const relays: RunningRelay[] = []
  const peers: StarlingPeer[] = []
  const dirs: Array<{ path: string, remove: () => Promise<void> }> = []

  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop() }))
    await Promise.all(relays.splice(0).map(async r => { await r.stop() }))
    await Promise.all(dirs.splice(0).map(async d => { await d.remove() }))
  })

  async function dir (): Promise<string> {
    const d = await tempDir()
    dirs.push(d)
    return d.path
  }

  async function ownRelay (dataDir: string): Promise<RunningRelay> {
    const relay = await testRelay({ mode: 'private', meshes: [], dataDir })
    relays.push(relay)
    return relay
  }

  async function stop (relay: RunningRelay): Promise<void> {
    relays.splice(relays.indexOf(relay), 1)
    await relay.stop()
  }

  async function peer (relay: RunningRelay, init: Parameters<typeof testPeer>[1] = {}): Promise<StarlingPeer> {
    const p = await testPeer(relay, init)
    peers.push(p)
    return p
  }

  it('is the relay key\'s, survives a restart, and hands the operator an admin link kept until it is used', async () => {
    const dataDir = await dir()
    const first = await ownRelay(dataDir)
    const meshId = ownMeshId(first.peerId)
    expect(meshId).toBe(`${first.peerId}/relay`)
    expect(first.ownMesh?.meshId).toBe(meshId)
    expect(first.mesh?.membership.meshIds).toEqual([meshId])

    // the link opens the PWA on this relay and carries an admin invite of the relay's mesh
    const invite = first.ownMesh!.invite
    expect(invite.link).toMatch(new RegExp(`^${first.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/#join=[A-Za-z0-9_-]+$`))
    const payload = await readInvite(decodeInviteToken(invite.link))
    expect(payload).toMatchObject({ meshId, role: 'admin', maxUses: OPERATOR_INVITE_USES, credentialTtlMs: OWN_MESH_CREDENTIAL_TTL_MS, relays: [first.url] })
    expect(payload.expiresAt - Date.now()).toBeGreaterThan(OPERATOR_INVITE_TTL_MS - 60_000)
    expect(payload.expiresAt - Date.now()).toBeLessThanOrEqual(OPERATOR_INVITE_TTL_MS)
    expect(invite).toMatchObject({ inviteId: payload.inviteId, expiresAt: payload.expiresAt, maxUses: 1, used: 0, kept: false, file: join(dataDir, JOIN_LINK_FILE) })
    // kept for the operator to find later, readable by the relay's user only
    expect(await readFile(invite.file, 'utf8')).toBe(`${invite.link}\n`)
    expect((await stat(invite.file)).mode & 0o777).toBe(0o600)

    // a restart before anyone used it: same mesh, same invite (on the new port)
    await stop(first)
    const second = await ownRelay(dataDir)
    expect(second.peerId).toBe(first.peerId)
    expect(second.ownMesh?.meshId).toBe(meshId)
    expect(second.ownMesh!.invite).toMatchObject({ inviteId: invite.inviteId, kept: true, used: 0 })
    expect(second.ownMesh!.invite.link).toBe(`${second.url}/#join=${invite.link.split('#join=')[1]!}`)

    // the operator joins with it and holds a reservation: it is an admin, so it may invite
    const operator = await peer(second, { meshStore: new MemoryMeshStore() })
    const joined = await operator.meshes.join(second.ownMesh!.invite.link)
    expect(joined).toMatchObject({ meshId, role: 'admin' })
    operator.reconnect()
    await untilPublished(operator)
    expect(second.mesh?.membership.usesOf(meshId, invite.inviteId)).toBe(1)
    const friendInvite = await operator.meshes.invite(meshId, { role: 'member' })
    const friend = await peer(second, { meshStore: new MemoryMeshStore() })
    await friend.meshes.join(friendInvite.token)
    friend.reconnect()
    await untilPublished(friend)
    expect((await friend.discover({})).map(e => e.peerId).sort()).toEqual([friend.peerId, operator.peerId].sort())

    // used up: the next start makes a new link and keeps that one instead
    await Promise.all(peers.splice(0).map(async p => { await p.stop() }))
    await stop(second)
    const third = await ownRelay(dataDir)
    expect(third.ownMesh?.meshId).toBe(meshId)
    const fresh = third.ownMesh!.invite
    expect(fresh.kept).toBe(false)
    expect(fresh.inviteId).not.toBe(invite.inviteId)
    expect(await readFile(join(dataDir, JOIN_LINK_FILE), 'utf8')).toBe(`${fresh.link}\n`)
  }, 60_000)

  it('admits a local agent with the relay\'s key before it starts: it reserves and publishes with no step; a stranger is refused', async () => {
    const dataDir = await dir()
    const relay = await ownRelay(dataDir)
    const meshId = relay.ownMesh!.meshId
    const home = await dir()
    // twice, as two starts of `npm start` do: one membership of the mesh, renewed
    await admitLocalAgent({ dataDir, home, relayUrl: relay.url })
    const admitted = await admitLocalAgent({ dataDir, home, relayUrl: relay.url })
    expect(admitted.meshId).toBe(meshId)
    const store = new FileMeshStore(home)
    const held = (await store.load()).meshes
    expect(held.map(m => [m.meshId, m.role])).toEqual([[meshId, 'member']])
    expect((await stat(join(home, 'meshes.json'))).mode & 0o777).toBe(0o600)

    // the agent as `starling serve` runs it: its key and meshes.json from its home
    const key = await loadOrCreateKey(join(home, 'identity.key'))
    const storage = memoryStorage()
    await storage.identity.save(privateKeyToProtobuf(key))
    const agent = await peer(relay, { storage, meshStore: store })
    expect(agent.peerId).toBe(admitted.member)
    await untilPublished(agent)
    expect(relay.node.services.relay.reservations.has(peerIdFromString(agent.peerId))).toBe(true)
    expect(relay.mesh!.membership.current(agent.peerId).map(m => [m.meshId, m.role])).toEqual([[meshId, 'member']])

    // a peer with no credential of the mesh is asked, shows none, and is refused
    const stranger = await peer(relay)
    await connected(stranger)
    await expect(relay.mesh!.membershipsOf(peerIdFromString(stranger.peerId), 'reserve')).rejects.toThrow(MeshAccessError)
    await expect(stranger.discover({})).rejects.toThrow(/only their members may discover/)
    expect(relay.node.services.relay.reservations.has(peerIdFromString(stranger.peerId))).toBe(false)
  }, 60_000)

  it('refuses to admit an agent before the relay has a key', async () => {
    await expect(admitLocalAgent({ dataDir: await dir(), home: await dir(), relayUrl: 'http://127.0.0.1:8080' })).rejects.toThrow(/ENOENT/)
  })
})
