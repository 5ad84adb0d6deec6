/**
 * The paths a native peer takes, outside the network namespace: with WebRTC and mDNS turned off
 * (SDK options) two native peers stay on the relay's circuit, as the relayed benchmark needs;
 * with them on, a peer listens for WebRTC and announces the signalling protocol. Direct WebRTC
 * and mDNS themselves are shown in e2e/native-direct.spec.ts, inside the namespace.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WEBRTC_SIGNALING_PROTOCOL } from '../core/node/direct-upgrade.js'
import { createNativePeer } from './sdk.js'
import type { StarlingPeer } from './sdk.js'
import { tcpAddr, tempDir, testRelay, untilPublished } from './test-helpers.js'

const profile = { name: 'native', description: '', skills: [{ id: 'echo' }] }

describe('native peer paths', () => {
  let relay: Awaited<ReturnType<typeof testRelay>>
  let dir: Awaited<ReturnType<typeof tempDir>>
  const peers: StarlingPeer[] = []

  beforeAll(async () => {
    relay = await testRelay({ iceServers: [] })
    dir = await tempDir()
  })

  afterAll(async () => {
    await Promise.all(peers.map(async p => { await p.stop() }))
    await relay.stop()
    await dir.remove()
  })

  it('stays on the relay\'s circuit with webrtc and mdns off', async () => {
    const init = { relay: tcpAddr(relay), profile, mdns: false, webrtc: false }
    const a = await createNativePeer({ ...init, home: join(dir.path, 'a') })
    const b = await createNativePeer({ ...init, home: join(dir.path, 'b'), handler: async (task) => ({ kind: 'completed', text: task.text }) })
    peers.push(a, b)
    await Promise.all([untilPublished(a), untilPublished(b)])
    expect(a.node.getProtocols()).not.toContain(WEBRTC_SIGNALING_PROTOCOL)
    expect(a.node.getMultiaddrs().some(ma => ma.toString().includes('/tcp/') && !ma.toString().includes('/p2p-circuit'))).toBe(false)

    const done = await a.waitFor((await a.send(b.peerId, 'relayed only')).id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    expect(a.connections().filter(c => c.peerId === b.peerId).map(c => c.kind)).toEqual(['relayed'])
  })

  it('listens for WebRTC and on a LAN port by default', async () => {
    const c = await createNativePeer({ relay: tcpAddr(relay), profile, home: join(dir.path, 'c'), iceServers: [] })
    peers.push(c)
    expect(c.node.getProtocols()).toContain(WEBRTC_SIGNALING_PROTOCOL)
    // the LAN listener: one TCP port on every interface, of which only private addresses are announced
    const tcpListeners = c.node.getMultiaddrs().filter(ma => /\/tcp\/\d+\/p2p\//.test(ma.toString()) && !ma.toString().includes('/p2p-circuit'))
    expect(tcpListeners.length).toBeGreaterThan(0)
  })
})
