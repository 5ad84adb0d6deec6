/**
 * A private relay with Starling's own native peers (src/core/peer.ts and its mesh service), not
 * test doubles: members set up with `meshes.create/invite/join` reserve, publish and find each
 * other; the owner's `meshes.revoke` hands the revocation to the relay, which cuts the member off.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryMeshStore } from '../../src/core/mesh/store.js'
import type { StarlingPeer } from '../../src/core/peer.js'
import { memoryStorage } from '../../src/core/store/memory.js'
import { testPeer, testRelay, untilPublished } from '../../src/native/test-helpers.js'
import type { RunningRelay } from '../relay.js'

describe('a private relay with Starling peers', () => {
  const relays: RunningRelay[] = []
  const peers: StarlingPeer[] = []

  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop() }))
    await Promise.all(relays.splice(0).map(async r => { await r.stop() }))
  })

  it('admits the members a peer invited, scopes their discovery, and enforces the owner\'s revocation', async () => {
    // the mesh is made and joined on an open relay (joining needs nobody online, but the peers need a relay to start)
    const setup = await testRelay()
    relays.push(setup)
    const owner = { storage: memoryStorage(), meshStore: new MemoryMeshStore() }
    const member = { storage: memoryStorage(), meshStore: new MemoryMeshStore() }
    const first = await testPeer(setup, owner)
    const mesh = await first.meshes.create('team')
    const invite = await first.meshes.invite(mesh.meshId)
    const joining = await testPeer(setup, member)
    await joining.meshes.join(invite.token)
    await first.stop()
    await joining.stop()

    const relay = await testRelay({ mode: 'private', meshes: [mesh.meshId] })
    relays.push(relay)
    const ownerPeer = await testPeer(relay, { ...owner })
    const memberPeer = await testPeer(relay, { ...member })
    peers.push(ownerPeer, memberPeer)
    // (their profiles were kept in their storage from the first start: testPeer's, skill "echo")
    await Promise.all([untilPublished(ownerPeer), untilPublished(memberPeer)])
    expect(relay.node.services.relay.reservations.has(memberPeer.node.peerId)).toBe(true)
    expect((await memberPeer.discover({ skill: 'echo' })).map(a => a.peerId).sort()).toEqual([ownerPeer.peerId, memberPeer.peerId].sort())

    // a peer in no mesh connects but never holds a reservation, and may not publish
    const refusedReservation = new Promise<string>((resolve) => {
      relay.mesh!.addEventListener('refused', (evt) => { if (evt.detail.op === 'reserve') resolve(evt.detail.peer) })
    })
    const outsider = await testPeer(relay)
    peers.push(outsider)
    expect(await refusedReservation).toBe(outsider.peerId)
    expect(relay.node.services.relay.reservations.has(outsider.node.peerId)).toBe(false)
    await expect(outsider.discover({ skill: 'echo' })).rejects.toThrow(/only their members may discover/)

    const cutOff = new Promise<void>((resolve) => {
      const onRelay = (evt: CustomEvent<{ state: string }>): void => {
        if (evt.detail.state === 'reserved') return
        memberPeer.removeEventListener('relay', onRelay)
        resolve()
      }
      memberPeer.addEventListener('relay', onRelay)
    })
    const result = await ownerPeer.meshes.revoke(mesh.meshId, { member: memberPeer.peerId })
    expect(result.relayAccepted).toBe(true)
    await cutOff
    expect(relay.node.services.relay.reservations.has(memberPeer.node.peerId)).toBe(false)
    expect((await ownerPeer.discover({ skill: 'echo' })).map(a => a.peerId)).toEqual([ownerPeer.peerId])
  })
})
