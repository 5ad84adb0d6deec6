/**
 * The paths a native peer takes, outside the network namespace: with WebRTC and mDNS turned off
 * (SDK options) two native peers stay on the relay's circuit, as the relayed benchmark needs;
 * with WebRTC on, a peer listens for it and announces the signalling protocol. Direct WebRTC and
 * mDNS themselves (and the LAN listener) are shown in e2e/native-direct.spec.ts, inside the
 * namespace: here, on the machine's own network, the environment turns both off.
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

  it('listens for WebRTC when it is on (the test environment turns it off: STARLING_WEBRTC=off)', async () => {
    expect(process.env.STARLING_WEBRTC).toBe('off')
    const c = await createNativePeer({ relay: tcpAddr(relay), profile, home: join(dir.path, 'c'), iceServers: [], webrtc: true, mdns: false })
    peers.push(c)
    expect(c.node.getProtocols()).toContain(WEBRTC_SIGNALING_PROTOCOL)
    const d = await createNativePeer({ relay: tcpAddr(relay), profile, home: join(dir.path, 'd') })
    peers.push(d)
    expect(d.node.getProtocols()).not.toContain(WEBRTC_SIGNALING_PROTOCOL)
  })
})
