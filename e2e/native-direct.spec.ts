// Direct paths between native peers, each peer a `starling serve` process driven by CLI verbs:
//   1. two native peers that reach each other through the relay end on a direct WebRTC
//      connection (signalled over the circuit), and a task completes over it once the relay is
//      gone;
//   2. a native peer that sends a task to a browser tab upgrades that circuit to WebRTC too
//      (native dials, the browser answers; the other way round is e2e/mesh.spec.ts);
//   3. two native peers find each other on the LAN with mDNS, with no relay at all, and complete
//      a task; a peer started with --no-mdns is found by nobody and finds nobody.
//
// Needs the builds: npm run build (the PWA for the browser test, dist/node for the rest)
// Run:             sh e2e/netns.sh npx playwright test e2e/native-direct.spec.ts

import type { TaskJson } from '../src/core/a2a/json.js'
import { test, expect } from './harness/fixtures.js'
import { openPages } from './harness/browser.js'
import { acceptSender, expectOnMesh } from './harness/app.js'
import { startPeer, startRelay, starlingCli } from './harness/starling.js'
import { tempDir } from './harness/tmp.js'
import { loadSdk, untilPublished } from './faults-harness.js'
import type { StarlingPeer } from '../src/native/sdk.js'

/** Discovery asks the registry every 5 s; a WebRTC setup takes well under a second. */
const CONNECTION_TIMEOUT_MS = 20_000

type AgentLine = { peerId: string, connection?: 'relayed' | 'webrtc' | 'direct' }

async function initHome (name: string, relay: string): Promise<{ home: string, peerId: string }> {
  const home = await tempDir(name)
  const init = await starlingCli<{ peerId: string }>(home, ['init', '--name', name, '--skills', 'echo', '--relay', relay], { json: true })
  expect(init.code, init.stderr).toBe(0)
  return { home, peerId: init.json!.peerId }
}

/** Sends `text` from `home` to `peerId` and waits for the answer; returns the task. */
async function roundTrip (home: string, peerId: string, text: string): Promise<TaskJson> {
  const sent = await starlingCli<{ taskId: string }>(home, ['send', peerId, text], { json: true })
  expect(sent.code, sent.stderr).toBe(0)
  const done = await starlingCli<TaskJson>(home, ['wait', sent.json!.taskId, '--timeout', '30'], { json: true, timeoutMs: 40_000 })
  expect(done.code, done.stderr).toBe(0)
  return done.json!
}

test('two native peers upgrade their relayed connection to WebRTC and keep working without the relay', async () => {
  // no STUN server here: the relay gives peers none, and the native peers take the relay's
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const alice = await initHome('alice', relay.url)
  const bob = await initHome('bob', relay.url)
  // without mDNS the only direct path there can be is WebRTC
  const a = await startPeer(alice.home, ['--no-mdns'], { name: 'alice' })
  const b = await startPeer(bob.home, ['--no-mdns', '--echo'], { name: 'bob' })
  await a.process.waitForLine(/^Published card "alice"/)
  await b.process.waitForLine(/^Published card "bob"/)

  await test.step('a first task goes through the relay, and the circuit is upgraded to WebRTC', async () => {
    const task = await roundTrip(alice.home, bob.peerId, 'hello over the relay')
    expect(task.status.state).toBe('TASK_STATE_COMPLETED')
    await expect.poll(async () => {
      const peers = await starlingCli<AgentLine[]>(alice.home, ['peers'], { json: true })
      return peers.json?.find(p => p.peerId === bob.peerId)?.connection
    }, { timeout: CONNECTION_TIMEOUT_MS }).toBe('webrtc')
    // the side that did not dial sees the same connection
    const fromBob = await starlingCli<AgentLine[]>(bob.home, ['peers'], { json: true })
    expect(fromBob.json?.find(p => p.peerId === alice.peerId)?.connection).toBe('webrtc')
  })

  await test.step('with the relay stopped, a task still completes over the WebRTC connection', async () => {
    await relay.stop()
    await a.process.waitForLine(/^Relay offline/)
    const task = await roundTrip(alice.home, bob.peerId, 'hello over WebRTC')
    expect(task.status.state).toBe('TASK_STATE_COMPLETED')
    expect(task.artifacts?.[0]?.parts[0]?.text).toBe('hello over WebRTC')
  })
})

test('a native peer upgrades its relayed connection to a browser tab to WebRTC', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const nell = await initHome('nell', relay.url)
  const native = await startPeer(nell.home, ['--no-mdns'], { name: 'nell' })
  await native.process.waitForLine(/^Published card "nell"/)
  const [tab] = await openPages(browser, 1, { url: relay.url })
  const page = tab!.page
  const browserId = await expectOnMesh(page)

  const sent = await starlingCli<{ taskId: string }>(nell.home, ['send', browserId, 'Are you there?'], { json: true })
  expect(sent.code, sent.stderr).toBe(0)
  await acceptSender(page, native.peerId)
  await expect(page.getByTestId('inbox-item').filter({ hasText: 'Are you there?' })).toHaveCount(1)
  await expect.poll(async () => {
    const peers = await starlingCli<AgentLine[]>(nell.home, ['peers'], { json: true })
    return peers.json?.find(p => p.peerId === browserId)?.connection
  }, { timeout: CONNECTION_TIMEOUT_MS }).toBe('webrtc')
  expect(tab!.errors).toEqual([])
})

test('two native peers find each other by mDNS with no relay and complete a task; --no-mdns stays hidden', async () => {
  // nothing listens there: these peers never have a relay
  const noRelay = 'http://127.0.0.1:4'
  const alice = await initHome('alice', noRelay)
  const bob = await initHome('bob', noRelay)
  const carol = await initHome('carol', noRelay)
  const a = await startPeer(alice.home, [], { name: 'alice' })
  // carol starts before bob: had she mDNS on, the query bob sends when he starts would find her too
  const c = await startPeer(carol.home, ['--no-mdns'], { name: 'carol' })
  const b = await startPeer(bob.home, ['--echo'], { name: 'bob' })

  await test.step('alice and bob find each other on the LAN', async () => {
    await a.process.waitForLine(new RegExp(`^LAN peer ${bob.peerId} found at /ip4/`))
    await b.process.waitForLine(new RegExp(`^LAN peer ${alice.peerId} found at /ip4/`))
  })

  await test.step('alice sends bob a task, which completes with no relay', async () => {
    const task = await roundTrip(alice.home, bob.peerId, 'hello on the LAN')
    expect(task.status.state).toBe('TASK_STATE_COMPLETED')
    expect(task.artifacts?.[0]?.parts[0]?.text).toBe('hello on the LAN')
  })

  await test.step('carol, with --no-mdns, found nobody and was found by nobody', async () => {
    // by now alice and bob have answered each other's queries and exchanged a task
    for (const proc of [a.process, b.process]) expect(proc.stdout).not.toContain(carol.peerId)
    expect(c.process.stdout).not.toMatch(/^LAN peer/m)
    // and with neither the LAN nor a relay, carol cannot reach alice: her task waits in the queue
    const sent = await starlingCli<{ delivery: string }>(carol.home, ['send', alice.peerId, 'anyone there?'], { json: true })
    expect(sent.code, sent.stderr).toBe(0)
    expect(sent.json?.delivery).toBe('queued')
  })
})

test('when a direct WebRTC connection goes while the circuit stays, the peer that opened the circuit upgrades again', async () => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const { createNativePeer } = await loadSdk()
  const peers: StarlingPeer[] = []
  try {
    const make = async (name: string, handler?: Parameters<typeof createNativePeer>[0]['handler']): Promise<StarlingPeer> => {
      const peer = await createNativePeer({
        home: await tempDir(name),
        relay: relay.url,
        profile: { name, description: '', skills: [{ id: 'echo' }] },
        handler,
        iceServers: [],
        mdns: false,
        webrtc: true
      })
      peers.push(peer)
      await untilPublished(peer)
      return peer
    }
    const agent = await make('agent', async (task) => ({ kind: 'completed', text: task.text }))
    const sender = await make('sender')
    const kinds = (): string[] => sender.connections().filter(c => c.peerId === agent.peerId).map(c => c.kind)
    const done = await sender.waitFor((await sender.send(agent.peerId, 'first')).id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    await expect.poll(kinds, { timeout: 20_000 }).toContain('webrtc')

    // the agent drops the direct connection; the circuit the sender opened stays
    const isWebRTC = (c: { remoteAddr: { toString: () => string } }): boolean => c.remoteAddr.toString().includes('/webrtc')
    const before = sender.node.getConnections().find(c => c.remotePeer.toString() === agent.peerId && isWebRTC(c))
    const direct = agent.node.getConnections().find(c => c.remotePeer.toString() === sender.peerId && isWebRTC(c))
    expect(before).toBeDefined()
    expect(direct).toBeDefined()
    const directId = before!.id
    await direct!.close()
    await expect.poll(() => sender.node.getConnections().some(c => c.id !== directId && c.remotePeer.toString() === agent.peerId && isWebRTC(c) && c.status === 'open'), { timeout: 20_000 }).toBe(true)
    const again = await sender.waitFor((await sender.send(agent.peerId, 'second')).id)
    expect(again.state).toBe('TASK_STATE_COMPLETED')
  } finally {
    await Promise.all(peers.map(async p => { await p.stop() }))
  }
})
