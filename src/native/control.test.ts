import { once } from 'node:events'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { access } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StarlingPeer } from '../core/peer.js'
import type { RunningRelay } from '../../relay/relay.js'
import { writeConfig } from './config.js'
import { DaemonRunningError, DEFAULT_MAX_LINE_BYTES } from './control.js'
import type { ControlResponse } from './control.js'
import { ControlClient, ControlRequestError, NotServingError } from './control-client.js'
import { startDaemon } from './daemon.js'
import type { RunningDaemon } from './daemon.js'
import { homePaths } from './home.js'
import { tcpAddr, tempDir, testPeer, testRelay, untilPublished } from './test-helpers.js'

/** A raw connection to the control socket that reads answers line by line. */
class RawClient {
  readonly socket: Socket
  private buffer = ''
  private readonly lines: string[] = []
  private waiting?: () => void

  static async open (path: string): Promise<RawClient> {
    const socket = connect(path)
    await once(socket, 'connect')
    return new RawClient(socket)
  }

  private constructor (socket: Socket) {
    this.socket = socket
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      this.buffer += chunk
      let newline
      while ((newline = this.buffer.indexOf('\n')) !== -1) {
        this.lines.push(this.buffer.slice(0, newline))
        this.buffer = this.buffer.slice(newline + 1)
      }
      this.waiting?.()
    })
    socket.on('error', () => {})
  }

  send (text: string): void {
    this.socket.write(text)
  }

  /** The next answer line, parsed. */
  async next (): Promise<ControlResponse> {
    while (this.lines.length === 0) {
      await new Promise<void>((resolve) => { this.waiting = resolve })
    }
    return JSON.parse(this.lines.shift() ?? '') as ControlResponse
  }

  async closed (): Promise<void> {
    if (this.socket.closed) return
    await once(this.socket, 'close')
  }
}

describe('control socket', () => {
  let relay: RunningRelay
  let daemon: RunningDaemon
  let home: { path: string, remove: () => Promise<void> }
  let agent: StarlingPeer
  const output: string[] = []

  beforeAll(async () => {
    relay = await testRelay()
    home = await tempDir('starling-control-')
    await writeConfig(home.path, { relay: tcpAddr(relay), profile: { name: 'Control test', description: '', skills: [{ id: 'ask' }] } })
    daemon = await startDaemon({ home: home.path, stdout: (line) => { output.push(line) }, stderr: (line) => { output.push(line) } })
    // an agent that answers only when the test says so
    agent = await testPeer(relay)
    await Promise.all([untilPublished(daemon.peer), untilPublished(agent)])
  })

  afterAll(async () => {
    await daemon?.stop()
    await agent?.stop()
    await relay?.stop()
    await home?.remove()
  })

  it('prints the serving line first, then the relay and the card', () => {
    expect(output[0]).toBe(`Starling peer ${daemon.peer.peerId} is serving`)
    const reserved = output.findIndex(l => l.startsWith('Relay reservation held'))
    const published = output.findIndex(l => l.startsWith('Published card "Control test"'))
    expect(reserved).toBeGreaterThan(0)
    expect(published).toBeGreaterThan(reserved)
  })

  it('answers malformed lines with errors and keeps serving the connection', async () => {
    const raw = await RawClient.open(homePaths(home.path).socket)
    raw.send('this is not json\n')
    expect(await raw.next()).toMatchObject({ id: null, error: { code: 'ERR_PARSE' } })
    raw.send('[1,2,3]\n')
    expect(await raw.next()).toMatchObject({ id: null, error: { code: 'ERR_INVALID_REQUEST' } })
    raw.send('{"id":2}\n')
    expect(await raw.next()).toMatchObject({ id: 2, error: { code: 'ERR_INVALID_REQUEST' } })
    raw.send('{"id":3,"method":"launchMissiles"}\n{"id":"4","method":"__proto__"}\n')
    expect(await raw.next()).toMatchObject({ id: 3, error: { code: 'ERR_UNKNOWN_METHOD' } })
    expect(await raw.next()).toMatchObject({ id: '4', error: { code: 'ERR_UNKNOWN_METHOD' } })
    raw.send('{"id":5,"method":"send","params":{"peerId":"not-a-peer","text":"hi"}}\n')
    expect(await raw.next()).toMatchObject({ id: 5, error: { code: 'ERR_INVALID_PARAMS', message: expect.stringMatching(/peerId: must be a PeerID/) } })
    raw.send('{"id":6,"method":"wait","params":{"taskId":"no-such-task"}}\n')
    expect(await raw.next()).toMatchObject({ id: 6, error: { code: 'ERR_UNKNOWN_TASK' } })
    raw.send('{"id":7,"method":"respond","params":{"taskId":"x","text":"y","state":"exploded"}}\n')
    expect(await raw.next()).toMatchObject({ id: 7, error: { code: 'ERR_INVALID_PARAMS' } })
    // a request split across writes, blank lines between requests
    raw.send('\n{"id":8,"meth')
    raw.send('od":"card"}\n')
    expect(await raw.next()).toMatchObject({ id: 8, result: { name: 'Control test' } })
    raw.socket.end()
  })

  it('runs requests on one connection concurrently: a long wait does not hold up the others', async () => {
    const client = await ControlClient.connect(home.path)
    try {
      const arrived = new Promise<string>((resolve) => {
        agent.addEventListener('inbound', (evt) => { resolve(evt.detail.taskId) }, { once: true })
      })
      const sent = await client.request('send', { peerId: agent.peerId, text: 'what is 6 x 7?' })
      expect(await arrived).toBe(sent.taskId)
      let waited = false
      const waiting = client.request('wait', { taskId: sent.taskId }).finally(() => { waited = true })
      // answered while the wait is still open
      const outbound = await client.request('tasks', { direction: 'outbound' })
      expect(outbound.map(t => t.taskId)).toContain(sent.taskId)
      expect((await client.request('card')).name).toBe('Control test')
      expect(waited).toBe(false)
      await agent.respond(sent.taskId, { kind: 'completed', text: '42' })
      const done = await waiting
      expect(done).toMatchObject({ taskId: sent.taskId, state: 'TASK_STATE_COMPLETED', text: '42', timedOut: false })

      const timed = await client.request('wait', { taskId: (await client.request('send', { peerId: agent.peerId, text: 'no answer' })).taskId, timeoutMs: 200 })
      expect(timed).toMatchObject({ timedOut: true, state: 'TASK_STATE_WORKING' })
    } finally {
      client.close()
    }
  })

  it('closes a client that sends an oversized line, and only that client', async () => {
    const bystander = await ControlClient.connect(home.path)
    const raw = await RawClient.open(homePaths(home.path).socket)
    // the offender has a long request running when it misbehaves
    raw.send('{"id":1,"method":"wait","params":{"taskId":"x"}}\n')
    expect(await raw.next()).toMatchObject({ id: 1, error: { code: 'ERR_UNKNOWN_TASK' } })
    const { taskId } = await bystander.request('send', { peerId: agent.peerId, text: 'still here?' })
    const bystanderWait = bystander.request('wait', { taskId, timeoutMs: 60_000 })
    raw.send('{"id":2,"method":"card","params":"' + 'x'.repeat(DEFAULT_MAX_LINE_BYTES))
    expect(await raw.next()).toMatchObject({ id: null, error: { code: 'ERR_LINE_TOO_LONG' } })
    await raw.closed()

    expect((await bystander.request('card')).name).toBe('Control test')
    const fresh = await ControlClient.connect(home.path)
    expect((await fresh.request('status')).peerId).toBe(daemon.peer.peerId)
    fresh.close()
    await agent.respond(taskId, { kind: 'completed', text: 'yes' })
    expect((await bystanderWait).text).toBe('yes')
    bystander.close()
  })

  it('refuses a second daemon on the same home, and reports typed errors to clients', async () => {
    await expect(startDaemon({ home: home.path, stdout: () => {}, stderr: () => {} })).rejects.toBeInstanceOf(DaemonRunningError)
    const client = await ControlClient.connect(home.path)
    const err = await client.request('respond', { taskId: 'nope', text: 'hi' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ControlRequestError)
    expect(err).toMatchObject({ code: 'ERR_UNKNOWN_TASK', method: 'respond' })
    client.close()
  })

  it('answers every task itself with --echo', async () => {
    const other = await tempDir('starling-control-')
    let echo: RunningDaemon | undefined
    try {
      await writeConfig(other.path, { relay: tcpAddr(relay), profile: { name: 'echo', description: '', skills: [{ id: 'echo' }] } })
      echo = await startDaemon({ home: other.path, echo: true, stdout: () => {}, stderr: () => {} })
      await untilPublished(echo.peer)
      const sent = await agent.send(echo.peer.peerId, 'say it back')
      const done = await agent.waitFor(sent.id)
      expect(done.state).toBe('TASK_STATE_COMPLETED')
      expect(done.task.artifacts?.[0]?.parts[0]?.text).toBe('say it back')
    } finally {
      await echo?.stop()
      await other.remove()
    }
  })

  it('removes its socket when it stops, and clients are told nobody serves', async () => {
    const other = await tempDir('starling-control-')
    try {
      await writeConfig(other.path, { relay: tcpAddr(relay), profile: { name: 'short-lived', description: '', skills: [] } })
      const shortLived = await startDaemon({ home: other.path, stdout: () => {}, stderr: () => {} })
      await untilPublished(shortLived.peer)
      const client = await ControlClient.connect(other.path)
      const sent = await client.request('send', { peerId: agent.peerId, text: 'stop before answering' })
      const longWait = client.request('wait', { taskId: sent.taskId }).catch((e: unknown) => e)
      // requests start in the order they arrive: once this is answered, the wait is running
      await client.request('card')
      // a client that never closes its side must not hold the stop up
      const stubborn = connect({ path: homePaths(other.path).socket, allowHalfOpen: true })
      await once(stubborn, 'connect')
      stubborn.write('{"id":1,"method":"ca')
      stubborn.on('error', () => {})
      // stopping begins: clients are told at once, but the socket stays bound until the peer
      // has stopped, so no second daemon can start on the same files meanwhile
      shortLived.server.drain()
      expect(await longWait).toMatchObject({ code: 'ERR_SHUTTING_DOWN' })
      await expect(startDaemon({ home: other.path, stdout: () => {}, stderr: () => {} })).rejects.toBeInstanceOf(DaemonRunningError)
      await shortLived.stop()
      expect(stubborn.destroyed || stubborn.readableEnded).toBe(true)
      await expect(access(homePaths(other.path).socket)).rejects.toThrow()
      await expect(ControlClient.connect(other.path)).rejects.toBeInstanceOf(NotServingError)
    } finally {
      await other.remove()
    }
  })
})
