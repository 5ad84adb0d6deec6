// The relay cannot read what it relays. Two native peers (`starling serve`, one an echo agent)
// exchange an A2A task whose text is a random canary string, through the relay's circuit, while
// a packet capture records every frame on every interface of the test namespace. The canary
// must not appear anywhere in the captured bytes, though the capture did see the peers' TCP
// traffic with the relay. A control capture of the same canary sent in plain text over TCP in
// the same namespace must find it: the method can see a canary when there is one to see.
//
// The relay listens on the namespace's veth address 10.77.0.1 and the peers reach it there.
// Traffic between two local addresses goes over lo, so the capture takes every interface.
// No tcpdump here: e2e/canary-capture.py opens an AF_PACKET socket (root in the namespace).
//
// Needs the build (npm run build:node) and python3.
// Run: sh e2e/netns.sh npx playwright test e2e/canary.spec.ts

import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { TaskJson } from '../src/core/a2a/json.js'
import { test, expect } from './harness/fixtures.js'
import { spawnProcess } from './harness/processes.js'
import { REPO_ROOT, startPeer, startRelay, starlingCli } from './harness/starling.js'
import { tempDir } from './harness/tmp.js'

const RELAY_HOST = '10.77.0.1'
const OTHER_HOST = '10.77.0.2'

interface Capture {
  /** Every captured frame. */
  frames: Buffer[]
  /** What the capture printed when it stopped. */
  summary: string
}

/** Runs `work` while every frame in the namespace is captured; returns the frames once `work` is done. */
async function captureDuring (work: () => Promise<void>): Promise<Capture> {
  const file = join(await tempDir('capture'), 'frames.bin')
  const capture = spawnProcess('python3', [join(REPO_ROOT, 'e2e', 'canary-capture.py'), file], { name: 'capture' })
  await capture.waitForLine(/^capturing$/)
  try {
    await work()
  } finally {
    await capture.stop({ signal: 'SIGTERM' })
  }
  const summary = (await capture.waitForLine(/^captured \d+ frames/))[0]
  const raw = await readFile(file)
  const frames: Buffer[] = []
  for (let at = 0; at + 4 <= raw.length;) {
    const length = raw.readUInt32BE(at)
    frames.push(raw.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  return { frames, summary }
}

/** TCP payloads of IPv4 frames (Ethernet, as lo and veth deliver them) to or from `port`. */
function tcpPayloads (frames: Buffer[], port: number): Buffer[] {
  const out: Buffer[] = []
  for (const frame of frames) {
    if (frame.length < 14 + 20 || frame.readUInt16BE(12) !== 0x0800) continue
    const ip = frame.subarray(14)
    if (ip[9] !== 6) continue
    const ipHeader = (ip[0]! & 0x0f) * 4
    const totalLength = ip.readUInt16BE(2)
    const tcp = ip.subarray(ipHeader, totalLength)
    if (tcp.length < 20) continue
    if (tcp.readUInt16BE(0) !== port && tcp.readUInt16BE(2) !== port) continue
    const payload = tcp.subarray((tcp[12]! >> 4) * 4)
    if (payload.length > 0) out.push(payload)
  }
  return out
}

function newCanary (): string {
  return `starling-canary-${randomBytes(12).toString('hex')}`
}

/** Neither LAN discovery nor WebRTC: what the peers say to each other crosses the relay. */
const RELAYED_ONLY = { STARLING_MDNS: 'off', STARLING_WEBRTC: 'off' }

test('a task relayed between two native peers is unreadable on the wire; the same canary in plain text is found', async () => {
  const relay = await startRelay({ extraArgs: ['--host', RELAY_HOST, '--mode', 'open', '--ice-servers', 'none'] })
  expect(relay.url).toMatch(`http://${RELAY_HOST}:`)
  const info = await (await fetch(`${relay.url}/api/v1/relay`)).json() as { multiaddrs: string[] }
  const tcpAddr = info.multiaddrs.find(a => a.startsWith(`/ip4/${RELAY_HOST}/tcp/`) && !a.includes('/ws'))
  expect(tcpAddr).toBeDefined()
  const relayTcpPort = Number(/\/tcp\/(\d+)\//.exec(tcpAddr!)![1])

  const senderHome = await tempDir('sender')
  const agentHome = await tempDir('agent')
  expect((await starlingCli(senderHome, ['init', '--name', 'Sender', '--skills', 'ask', '--relay', relay.url])).code).toBe(0)
  const agentInit = await starlingCli<{ peerId: string }>(agentHome, ['init', '--name', 'Echo agent', '--skills', 'echo', '--relay', relay.url], { json: true })
  expect(agentInit.code).toBe(0)
  const agentId = agentInit.json!.peerId

  const canary = newCanary()
  const encrypted = await captureDuring(async () => {
    // both peers start inside the capture: their whole conversation with the relay is recorded
    const agent = await startPeer(agentHome, ['--echo'], { name: 'agent', env: RELAYED_ONLY })
    await agent.process.waitForLine(/^Published card "Echo agent"/)
    await startPeer(senderHome, [], { name: 'sender', env: RELAYED_ONLY })
    const sent = await starlingCli<{ taskId: string }>(senderHome, ['send', agentId, `Please repeat: ${canary}`], { json: true })
    expect(sent.code).toBe(0)
    const done = await starlingCli<TaskJson>(senderHome, ['wait', sent.json!.taskId, '--timeout', '30'], { json: true })
    expect(done.code).toBe(0)
    expect(done.json?.status.state).toBe('TASK_STATE_COMPLETED')
    // the canary went to the agent and came back in its answer
    expect(JSON.stringify(done.json?.artifacts)).toContain(canary)
    // native peers have no direct transport to each other: the task went through the relay
    const health = await (await fetch(`${relay.url}/health`)).json() as { reservations: number, connectedPeers: number }
    expect(health.reservations).toBe(2)
  })
  const relayed = tcpPayloads(encrypted.frames, relayTcpPort)
  const relayedBytes = relayed.reduce((n, p) => n + p.length, 0)
  const all = Buffer.concat(encrypted.frames)
  console.log(`encrypted run: ${encrypted.summary}; ${relayed.length} TCP segments with payload to or from the relay's port ${relayTcpPort}, ${relayedBytes} bytes`)
  // the capture saw the peers' connections to the relay: their plain-text multistream-select
  // negotiation (before Noise) and enough bytes for the task and its answer
  expect(Buffer.concat(relayed).includes('/noise')).toBe(true)
  expect(relayedBytes).toBeGreaterThan(2 * canary.length)
  // … and never the canary: not in the relay's traffic, not anywhere in the namespace
  expect(Buffer.concat(relayed).includes(canary)).toBe(false)
  expect(all.includes(canary)).toBe(false)

  // control: the same kind of canary sent in plain text over TCP between the same addresses
  const control = newCanary()
  let controlPort = 0
  const plain = await captureDuring(async () => {
    const server = createServer()
    server.listen(0, RELAY_HOST)
    await once(server, 'listening')
    controlPort = (server.address() as AddressInfo).port
    const received = new Promise<string>((resolve) => {
      server.on('connection', (socket) => {
        let text = ''
        socket.setEncoding('utf8')
        socket.on('data', (chunk: string) => { text += chunk })
        socket.on('end', () => { resolve(text); socket.end() })
      })
    })
    const client = createConnection({ host: RELAY_HOST, port: controlPort, localAddress: OTHER_HOST })
    client.end(`Please repeat: ${control}`)
    expect(await received).toBe(`Please repeat: ${control}`)
    await once(client, 'close')
    server.close()
  })
  const plainSegments = tcpPayloads(plain.frames, controlPort)
  console.log(`control run: ${plain.summary}; ${plainSegments.length} TCP segments with payload on port ${controlPort}`)
  expect(Buffer.concat(plainSegments).includes(control)).toBe(true)
  expect(Buffer.concat(plain.frames).includes(control)).toBe(true)
})
