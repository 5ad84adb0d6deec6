/**
 * A peer that joins a mesh while it is connected to a private relay that refused it a slot gets
 * one without a restart: joining makes it redial the relay (RelayLink.retryReservation), and the
 * new connection shows the credential. Before this, the refused peer stayed connected without a
 * slot until the page was reloaded (seen in e2e/start.spec.ts).
 */
import { describe, expect, it } from 'vitest'
import { encodeInviteToken } from '../core/mesh/credentials.js'
import { testMesh } from '../../relay/mesh/test-helpers.js'
import { untilPublished, untilRelayState } from './test-helpers.js'
import { peersOnRelay } from './test-peers.js'

describe('joining a mesh while a private relay refuses us a slot', () => {
  const peers = peersOnRelay()

  it('gets the slot at once, without a restart', async () => {
    const mesh = await testMesh()
    const relay = await peers.relay({ mode: 'private', meshes: [mesh.meshId] })
    const peer = await peers.peer()
    const refusedBefore = (await relay.metrics.meshRefusals.get()).values.reduce((sum, v) => sum + v.value, 0)
    await untilRelayState(peer, s => s.state === 'connected')
    // the relay refused its reservation: it asked for credentials and got none
    await expect.poll(async () => (await relay.metrics.meshRefusals.get()).values.reduce((sum, v) => sum + v.value, 0)).toBeGreaterThan(refusedBefore)
    expect(peer.relayStatus.state).toBe('connected')

    await peer.meshes.join(encodeInviteToken(await mesh.invite()))
    await untilRelayState(peer, s => s.state === 'reserved')
    await untilPublished(peer)
    expect(relay.node.services.relay.reservations.has(peer.node.peerId)).toBe(true)
  })
})
