import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { access, mkdir, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PartJson } from '../core/a2a/json.js'
import { DEFAULT_MAX_FILE_BYTES } from '../core/a2a/parts.js'
import type { StarlingPeer } from '../core/peer.js'
import { memoryStorage } from '../core/store/memory.js'
import type { TaskRecord } from '../core/store/types.js'
import { MAX_TASK_TTL_MS } from '../core/tasks/outbound.js'
import type { RunningRelay } from '../../relay/relay.js'
import { writeConfig } from './config.js'
import { DaemonRunningError, DEFAULT_MAX_LINE_BYTES } from './control.js'
import type { ControlResponse } from './control.js'
import { MAX_TTL_MS } from './control-api.js'
import { ControlClient, ControlRequestError, NotServingError } from './control-client.js'
import { startDaemon } from './daemon.js'
import type { RunningDaemon } from './daemon.js'
import { homePaths } from './home.js'
import { tcpAddr, tempDir, testPeer, testRelay, untilPublished } from './test-helpers.js'

/** Resolves with the next inbound task (or new turn of one) `peer` hears of. */
async function nextInbound (peer: StarlingPeer, taskId?: string): Promise<string> {
  return await new Promise<string>((resolve) => {
    const onInbound = (evt: CustomEvent<{ taskId: string }>): void => {
      if (taskId != null && evt.detail.taskId !== taskId) return
      peer.removeEventListener('inbound', onInbound)
      resolve(evt.detail.taskId)
    }
    peer.addEventListener('inbound', onInbound)
  })
}

/** The parts of the latest message from the sender in an inbound task. */
function lastUserParts (record: TaskRecord | undefined): PartJson[] {
  const history = record?.task.history ?? []
  return history.filter(m => m.role === 'ROLE_USER').at(-1)?.parts ?? []
}

const base64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64')

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
      // the agent's id of the task; ours is sent.taskId
      const remoteId = await arrived
      let waited = false
      const waiting = client.request('wait', { taskId: sent.taskId }).finally(() => { waited = true })
      // answered while the wait is still open
      const outbound = await client.request('tasks', { direction: 'outbound' })
      expect(outbound.map(t => t.taskId)).toContain(sent.taskId)
      expect((await client.request('card')).name).toBe('Control test')
      expect(waited).toBe(false)
      await agent.respond(remoteId, { kind: 'completed', text: '42' })
      const done = await waiting
      expect(done).toMatchObject({ taskId: sent.taskId, state: 'TASK_STATE_COMPLETED', text: '42', timedOut: false })

      const timed = await client.request('wait', { taskId: (await client.request('send', { peerId: agent.peerId, text: 'no answer' })).taskId, timeoutMs: 200 })
      expect(timed).toMatchObject({ timedOut: true, state: 'TASK_STATE_WORKING' })
    } finally {
      client.close()
    }
  })

  it('sends by skill to a connected agent that has it, and says so when none has', async () => {
    const client = await ControlClient.connect(home.path)
    try {
      const sent = await client.request('send', { skill: 'echo', text: 'anyone who echoes' })
      expect(sent).toMatchObject({ peerId: agent.peerId, delivery: 'delivered' })
      const nobody = await client.request('send', { skill: 'juggling', text: 'anyone?' }).catch((e: unknown) => e)
      expect(String(nobody)).toMatch(/no connected agent has the skill juggling/)
      const both = await client.request('send', { skill: 'echo', peerId: agent.peerId, text: 'x' }).catch((e: unknown) => e)
      expect(String(both)).toMatch(/give either peerId or skill/)
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
    const arrived = nextInbound(agent)
    const { taskId } = await bystander.request('send', { peerId: agent.peerId, text: 'still here?' })
    const remoteId = await arrived
    const bystanderWait = bystander.request('wait', { taskId, timeoutMs: 60_000 })
    raw.send('{"id":2,"method":"card","params":"' + 'x'.repeat(DEFAULT_MAX_LINE_BYTES))
    expect(await raw.next()).toMatchObject({ id: null, error: { code: 'ERR_LINE_TOO_LONG' } })
    await raw.closed()

    expect((await bystander.request('card')).name).toBe('Control test')
    const fresh = await ControlClient.connect(home.path)
    expect((await fresh.request('status')).peerId).toBe(daemon.peer.peerId)
    fresh.close()
    await agent.respond(remoteId, { kind: 'completed', text: 'yes' })
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

  it('sends text and files: the serving peer reads each file into a part with its media type and name', async () => {
    const dir = await tempDir('starling-files-')
    try {
      const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255])
      await writeFile(join(dir.path, 'notes.txt'), 'first line\nsecond line\n')
      await writeFile(join(dir.path, 'chart.png'), png)
      await writeFile(join(dir.path, 'blob'), 'opaque')
      const client = await ControlClient.connect(home.path)
      try {
        const arrived = nextInbound(agent)
        const sent = await client.request('send', {
          peerId: agent.peerId,
          text: 'see attached',
          files: ['notes.txt', 'chart.png', 'blob'].map(name => ({ path: join(dir.path, name) }))
        })
        expect(sent).toMatchObject({ state: expect.stringMatching(/^TASK_STATE_/), contextId: expect.any(String) })
        // the agent was reachable: the first attempt delivered it
        expect(sent.delivery).toBe('delivered')
        const received = await agent.task('inbound', await arrived)
        expect(lastUserParts(received)).toEqual([
          expect.objectContaining({ text: 'see attached' }),
          { raw: base64('first line\nsecond line\n'), mediaType: 'text/plain', filename: 'notes.txt' },
          { raw: base64(png), mediaType: 'image/png', filename: 'chart.png' },
          { raw: base64('opaque'), mediaType: 'application/octet-stream', filename: 'blob' }
        ])
        await agent.respond(received?.id ?? '', { kind: 'completed', text: 'thanks' })

        // a file alone makes a message; name and media type may be given
        const second = nextInbound(agent)
        await client.request('send', { peerId: agent.peerId, files: [{ path: join(dir.path, 'blob'), filename: 'data.json', mediaType: 'application/json' }] })
        const alone = await agent.task('inbound', await second)
        expect(lastUserParts(alone)).toEqual([{ raw: base64('opaque'), mediaType: 'application/json', filename: 'data.json' }])
        await agent.respond(alone?.id ?? '', { kind: 'rejected', text: 'not JSON' })
      } finally {
        client.close()
      }
    } finally {
      await dir.remove()
    }
  })

  it('sends a file of several MiB, larger than one A2A frame', async () => {
    const dir = await tempDir('starling-files-')
    const client = await ControlClient.connect(home.path)
    try {
      const bytes = randomBytes(6 * 1024 * 1024)
      await writeFile(join(dir.path, 'photo.jpg'), bytes)
      const arrived = nextInbound(agent)
      const sent = await client.request('send', { peerId: agent.peerId, text: 'a big photo', files: [{ path: join(dir.path, 'photo.jpg') }] })
      // the agent is reachable: the first attempt delivers it, whatever its size within the limits
      expect({ delivery: sent.delivery, lastError: sent.lastError }).toEqual({ delivery: 'delivered', lastError: undefined })
      const received = await agent.task('inbound', await arrived)
      expect(lastUserParts(received)[1]).toEqual({ raw: bytes.toString('base64'), mediaType: 'image/jpeg', filename: 'photo.jpg' })
      await agent.respond(received?.id ?? '', { kind: 'completed', parts: [{ raw: bytes.toString('base64'), mediaType: 'image/jpeg', filename: 'back.jpg' }] })
      const done = await client.request('wait', { taskId: sent.taskId })
      expect(done.task.artifacts?.[0]?.parts[0]).toEqual({ raw: bytes.toString('base64'), mediaType: 'image/jpeg', filename: 'back.jpg' })
    } finally {
      client.close()
      await dir.remove()
    }
  }, 60_000)

  it('refuses what it cannot send before anything is queued: missing, relative, oversized files, bad parts, nothing at all', async () => {
    const dir = await tempDir('starling-files-')
    const client = await ControlClient.connect(home.path)
    try {
      const big = join(dir.path, 'big.bin')
      await writeFile(big, '')
      // sparse: the size is what counts, and the file is never read
      await truncate(big, DEFAULT_MAX_FILE_BYTES + 1024 * 1024)
      await mkdir(join(dir.path, 'folder'))
      const before = await client.request('tasks', { direction: 'outbound', limit: 1000 })
      const attempt = async (params: Record<string, unknown>): Promise<unknown> =>
        await client.request('send', { peerId: agent.peerId, ...params } as never).catch((e: unknown) => e)

      expect(await attempt({ text: 'big', files: [{ path: big }] })).toMatchObject({
        code: 'ERR_INVALID_INPUT',
        message: `${big} is 33 MiB, over the limit of 32 MiB for one file`
      })
      expect(await attempt({ text: 'gone', files: [{ path: join(dir.path, 'missing.txt') }] })).toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(/missing\.txt: no such file/) })
      expect(await attempt({ text: 'relative', files: [{ path: 'notes.txt' }] })).toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(/must be absolute/) })
      expect(await attempt({ text: 'a folder', files: [{ path: join(dir.path, 'folder') }] })).toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(/is not a file/) })
      expect(await attempt({ parts: [{ text: 'two kinds', url: 'https://example.org' }] })).toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(/exactly one of text, raw, url or data/) })
      expect(await attempt({ parts: [{ raw: 'not base64!' }] })).toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(/base64/) })
      expect(await attempt({ text: '   ' })).toMatchObject({ code: 'ERR_INVALID_PARAMS', message: expect.stringMatching(/say something/) })
      expect(await attempt({ text: 'x', ttlMs: 0 })).toMatchObject({ code: 'ERR_INVALID_PARAMS', message: expect.stringMatching(/^ttlMs:/) })
      expect(await attempt({ text: 'x', ttlMs: MAX_TTL_MS + 1 })).toMatchObject({ code: 'ERR_INVALID_PARAMS', message: expect.stringMatching(/^ttlMs:/) })
      // the CLI checks --ttl against the same limit as the core
      expect(MAX_TTL_MS).toBe(MAX_TASK_TTL_MS)
      expect(await attempt({ text: 'x', files: [{ path: big, extra: true }] })).toMatchObject({ code: 'ERR_INVALID_PARAMS' })

      const after = await client.request('tasks', { direction: 'outbound', limit: 1000 })
      expect(after.map(t => t.taskId)).toEqual(before.map(t => t.taskId))
    } finally {
      client.close()
      await dir.remove()
    }
  })

  it('answers inbound tasks every way: text and files, a question with a file, a failure, a rejection', async () => {
    const dir = await tempDir('starling-files-')
    const client = await ControlClient.connect(home.path)
    try {
      await writeFile(join(dir.path, 'report.csv'), 'a,b\n1,2\n')
      await writeFile(join(dir.path, 'form.pdf'), '%PDF-1.4 fake')
      /** Sends `text` from the agent to the daemon: the agent's id of the task, and the daemon's. */
      const ask = async (text: string): Promise<[string, string]> => {
        const arrived = nextInbound(daemon.peer)
        const sent = await agent.send(daemon.peer.peerId, text)
        return [sent.id, await arrived]
      }

      const [full, fullHere] = await ask('the report, please')
      expect(await client.request('respond', { taskId: fullHere, text: 'here it is', files: [{ path: join(dir.path, 'report.csv') }] }))
        .toEqual({ taskId: fullHere, state: 'TASK_STATE_COMPLETED' })
      const done = await agent.waitFor(full)
      expect(done.state).toBe('TASK_STATE_COMPLETED')
      expect(done.task.artifacts?.[0]?.parts).toEqual([
        expect.objectContaining({ text: 'here it is' }),
        { raw: base64('a,b\n1,2\n'), mediaType: 'text/csv', filename: 'report.csv' }
      ])

      const [filesOnly, filesOnlyHere] = await ask('just the file')
      await client.request('respond', { taskId: filesOnlyHere, files: [{ path: join(dir.path, 'report.csv') }] })
      expect((await agent.waitFor(filesOnly)).task.artifacts?.[0]?.parts).toEqual([{ raw: base64('a,b\n1,2\n'), mediaType: 'text/csv', filename: 'report.csv' }])

      const [question, questionHere] = await ask('fill in my form')
      expect(await client.request('respond', { taskId: questionHere, state: 'input-required', text: 'sign this first', files: [{ path: join(dir.path, 'form.pdf') }] }))
        .toEqual({ taskId: questionHere, state: 'TASK_STATE_INPUT_REQUIRED' })
      const asked = await agent.waitFor(question)
      expect(asked.state).toBe('TASK_STATE_INPUT_REQUIRED')
      expect(asked.task.status.message?.parts).toEqual([
        expect.objectContaining({ text: 'sign this first' }),
        { raw: base64('%PDF-1.4 fake'), mediaType: 'application/pdf', filename: 'form.pdf' }
      ])

      const [failing, failingHere] = await ask('divide by zero')
      expect(await client.request('respond', { taskId: failingHere, state: 'failed', text: 'cannot divide by zero' })).toEqual({ taskId: failingHere, state: 'TASK_STATE_FAILED' })
      const failed = await agent.waitFor(failing)
      expect(failed.state).toBe('TASK_STATE_FAILED')
      expect(failed.task.status.message?.parts[0]?.text).toBe('cannot divide by zero')

      const [refusing, refusingHere] = await ask('write me a poem')
      await client.request('respond', { taskId: refusingHere, state: 'rejected', text: 'I only do sums' })
      expect((await agent.waitFor(refusing)).state).toBe('TASK_STATE_REJECTED')

      // what a respond cannot carry is refused, and the task still waits
      const [, open] = await ask('still open')
      const refused = async (params: Record<string, unknown>): Promise<unknown> =>
        await client.request('respond', { taskId: open, ...params } as never).catch((e: unknown) => e)
      expect(await refused({ state: 'failed', text: 'no', files: [{ path: join(dir.path, 'report.csv') }] })).toMatchObject({ code: 'ERR_INVALID_PARAMS', message: expect.stringMatching(/reason only/) })
      expect(await refused({ state: 'input-required' })).toMatchObject({ code: 'ERR_INVALID_PARAMS', message: expect.stringMatching(/question must not be empty/) })
      expect(await refused({ text: '' })).toMatchObject({ code: 'ERR_INVALID_PARAMS', message: expect.stringMatching(/answer is empty/) })
      expect(await refused({ text: 'x', files: [{ path: join(dir.path, 'nope.csv') }] })).toMatchObject({ code: 'ERR_INVALID_INPUT' })
      expect((await client.request('inbox')).map(t => t.taskId)).toContain(open)
      await client.request('respond', { taskId: open, text: 'closed now' })

      // an outbound task is not answered with respond
      const mineArrived = nextInbound(agent)
      const outbound = (await client.request('send', { peerId: agent.peerId, text: 'mine' })).taskId
      expect(await client.request('respond', { taskId: outbound, text: 'x' }).catch((e: unknown) => e)).toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(/sent by this peer/) })
      await agent.respond(await mineArrived, { kind: 'completed', text: 'ok' })

      // the list filters by state and direction, and says how far each task got
      const failedInbound = await client.request('tasks', { direction: 'inbound', states: ['TASK_STATE_FAILED', 'TASK_STATE_REJECTED'] })
      expect(failedInbound.map(t => t.taskId)).toEqual(expect.arrayContaining([failingHere, refusingHere]))
      expect(failedInbound.every(t => t.direction === 'inbound' && ['TASK_STATE_FAILED', 'TASK_STATE_REJECTED'].includes(t.state))).toBe(true)
      expect(failedInbound.find(t => t.taskId === failingHere)).toMatchObject({ peerId: agent.peerId, text: 'divide by zero', pending: expect.any(Array) })
      const mine = (await client.request('tasks', { direction: 'outbound', limit: 1000 })).find(t => t.taskId === outbound)
      expect(mine).toMatchObject({ taskId: outbound, direction: 'outbound', delivery: 'delivered', pending: [] })
      expect(await client.request('tasks', { states: ['TASK_STATE_BORED'] } as never).catch((e: unknown) => e)).toMatchObject({ code: 'ERR_INVALID_PARAMS' })
    } finally {
      client.close()
      await dir.remove()
    }
  })

  it('continues a task that waits for our input, and only such a task', async () => {
    const client = await ControlClient.connect(home.path)
    try {
      const arrived = nextInbound(agent)
      const { taskId } = await client.request('send', { peerId: agent.peerId, text: 'what time is it?' })
      const remoteId = await arrived
      await agent.respond(remoteId, { kind: 'input-required', text: 'in which time zone?' })
      expect(await client.request('wait', { taskId })).toMatchObject({ state: 'TASK_STATE_INPUT_REQUIRED', text: 'in which time zone?' })

      const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
      expect(await client.request('send', { peerId: stranger, taskId, text: 'UTC' }).catch((e: unknown) => e))
        .toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(/was sent to/) })
      const again = nextInbound(agent, remoteId)
      await client.request('send', { peerId: agent.peerId, taskId, text: 'UTC' })
      await again
      expect(lastUserParts(await agent.task('inbound', remoteId))).toEqual([expect.objectContaining({ text: 'UTC' })])
      await agent.respond(remoteId, { kind: 'completed', text: 'noon' })
      expect(await client.request('wait', { taskId })).toMatchObject({ state: 'TASK_STATE_COMPLETED', text: 'noon' })

      expect(await client.request('send', { peerId: agent.peerId, taskId, text: 'and now?' }).catch((e: unknown) => e))
        .toMatchObject({ code: 'ERR_TASK_STATE', message: expect.stringMatching(/is completed: only a task that waits for your input/) })
      expect(await client.request('send', { peerId: agent.peerId, taskId: 'no-such-task', text: 'hm' }).catch((e: unknown) => e))
        .toMatchObject({ code: 'ERR_UNKNOWN_TASK' })
    } finally {
      client.close()
    }
  })

  it('queues a task for an agent that is away, with its time to live, and delivers it when the agent is back', async () => {
    const storage = memoryStorage()
    let away = await testPeer(relay, { storage })
    await untilPublished(away)
    const awayId = away.peerId
    await away.stop()
    const client = await ControlClient.connect(home.path)
    try {
      const before = Date.now()
      const sent = await client.request('send', { peerId: awayId, text: 'read this when you are back', ttlMs: 10 * 60_000 })
      expect(sent.delivery).toBe('queued')
      expect(sent.expiresAt).toBeGreaterThanOrEqual(before + 10 * 60_000)
      expect(sent.expiresAt).toBeLessThanOrEqual(Date.now() + 10 * 60_000)
      expect((await client.request('tasks', { direction: 'outbound', limit: 1000 })).find(t => t.taskId === sent.taskId))
        .toMatchObject({ delivery: 'queued', pending: ['message'] })

      away = await testPeer(relay, { storage })
      const arrived = await nextInbound(away)
      expect(lastUserParts(await away.task('inbound', arrived))).toEqual([expect.objectContaining({ text: 'read this when you are back' })])
      await away.respond(arrived, { kind: 'completed', text: 'back and read' })
      expect(await client.request('wait', { taskId: sent.taskId })).toMatchObject({ state: 'TASK_STATE_COMPLETED', text: 'back and read', delivery: 'delivered' })
    } finally {
      client.close()
      await away.stop().catch(() => {})
    }
  }, 120_000)

  it('queues a cancel for an agent that went away, and fails a task whose time to live runs out', async () => {
    const storage = memoryStorage()
    let away = await testPeer(relay, { storage })
    await untilPublished(away)
    const client = await ControlClient.connect(home.path)
    try {
      const arrived = nextInbound(away)
      const { taskId } = await client.request('send', { peerId: away.peerId, text: 'a long job' })
      const remoteId = await arrived
      await away.stop()
      const canceling = await client.request('cancel', { taskId })
      expect(canceling).toMatchObject({ taskId, pending: ['cancel'] })
      expect(canceling.state).not.toBe('TASK_STATE_CANCELED')

      away = await testPeer(relay, { storage })
      expect(await client.request('wait', { taskId })).toMatchObject({ state: 'TASK_STATE_CANCELED', pending: [] })
      expect((await away.task('inbound', remoteId))?.state).toBe('TASK_STATE_CANCELED')

      // nobody ever answers at this PeerID
      await away.stop()
      const expiring = await client.request('send', { peerId: away.peerId, text: 'too late', ttlMs: 1_000 })
      expect(expiring.delivery).toBe('queued')
      const expired = await client.request('wait', { taskId: expiring.taskId })
      expect(expired).toMatchObject({ state: 'TASK_STATE_FAILED', localError: expect.any(String) })
    } finally {
      client.close()
      await away.stop().catch(() => {})
    }
  }, 120_000)

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
