/**
 * Tasks to plain HTTP A2A agents: an @a2a-js/sdk express server on 127.0.0.1 (the SDK's request
 * handler, in-memory task store, Starling's executor around a handler) and native peers on a
 * real relay. The peer sends by URL, and the task lives, is followed, canceled, answered and
 * resumed like a task to a mesh agent.
 */
import { EventEmitter, once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AgentCard } from '@a2a-js/sdk'
import { DefaultRequestHandler, InMemoryTaskStore } from '@a2a-js/sdk/server'
import { agentCardHandler, jsonRpcHandler, UserBuilder } from '@a2a-js/sdk/server/express'
import { buildAgentCard } from '../core/a2a/binding.js'
import type { AgentCardJson } from '../core/a2a/json.js'
import { textOf } from '../core/a2a/json.js'
import { InvalidInputError } from '../core/errors.js'
import type { StarlingPeer } from '../core/peer.js'
import { memoryStorage } from '../core/store/memory.js'
import type { PeerStorage, TaskRecord } from '../core/store/types.js'
import { StarlingExecutor } from '../core/tasks/executor.js'
import type { TaskHandler } from '../core/tasks/executor.js'
import { AgentCardError } from '../core/tasks/http-agents.js'
import type { RunningRelay } from '../../relay/relay.js'
import { startPeer, startRelay, starlingCli } from '../../e2e/harness/starling.js'
import { testProcesses } from '../../e2e/harness/processes.js'
import { removeTempDirs, tempDir as harnessTempDir } from '../../e2e/harness/tmp.js'
import { ensureBuilt } from '../../e2e/harness/build.js'
import { testPeer, testRelay, untilPublished } from './test-helpers.js'

interface HttpAgent {
  /** The base URL, http://127.0.0.1:PORT */
  base: string
  cardUrl: string
  port: number
  /** JSON-RPC methods the agent was called with, in order. */
  calls: string[]
  /** Emits 'call' with the method name of every JSON-RPC request. */
  events: EventEmitter
  stop: () => Promise<void>
}

interface AgentOptions {
  name?: string
  streaming?: boolean
  /** Listen on this port (to bring an agent back where it was). */
  port?: number
  /** Answers JSON-RPC requests itself instead of the SDK (a misbehaving agent). */
  rpc?: express.RequestHandler
  /** Serves this instead of the agent card. */
  card?: unknown
}

/** An @a2a-js/sdk express agent answering with `handler`. */
async function httpAgent (handler: TaskHandler, options: AgentOptions = {}): Promise<HttpAgent> {
  const app = express()
  const server: Server = app.listen(options.port ?? 0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const base = `http://127.0.0.1:${port}`
  const calls: string[] = []
  const events = new EventEmitter()
  const cardJson: AgentCardJson = {
    ...buildAgentCard('http-agent', { name: options.name ?? 'HTTP agent', description: 'an agent over plain HTTP', skills: [{ id: 'echo' }] }),
    supportedInterfaces: [{ url: `${base}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
    capabilities: { streaming: options.streaming === true, pushNotifications: false, extensions: [] }
  }
  const requestHandler = new DefaultRequestHandler(AgentCard.fromJSON(cardJson), new InMemoryTaskStore(), new StarlingExecutor({ handler }))
  if (options.card !== undefined) app.get('/.well-known/agent-card.json', (_req, res) => { res.json(options.card) })
  else app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: requestHandler }))
  app.use('/a2a/jsonrpc', express.json(), (req, _res, next) => {
    const method = String((req.body as { method?: unknown }).method)
    calls.push(method)
    events.emit('call', method)
    next()
  }, options.rpc ?? jsonRpcHandler({ requestHandler, userBuilder: UserBuilder.noAuthentication }))
  return {
    base,
    cardUrl: `${base}/.well-known/agent-card.json`,
    port,
    calls,
    events,
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}

/** Resolves with the first stored change of `taskId` at `peer` that `predicate` accepts (or the current record, if it does). */
async function untilTask (peer: StarlingPeer, taskId: string, predicate: (record: TaskRecord) => boolean): Promise<TaskRecord> {
  const { promise, resolve } = Promise.withResolvers<TaskRecord>()
  const onTask = (evt: CustomEvent<TaskRecord>): void => {
    if (evt.detail.id === taskId && evt.detail.direction === 'outbound' && predicate(evt.detail)) resolve(evt.detail)
  }
  peer.addEventListener('task', onTask)
  try {
    const current = await peer.task('outbound', taskId)
    if (current != null && predicate(current)) return current
    return await promise
  } finally {
    peer.removeEventListener('task', onTask)
  }
}

describe('tasks to plain HTTP A2A agents', () => {
  let relay: RunningRelay
  const peers: StarlingPeer[] = []
  const agents: HttpAgent[] = []

  beforeAll(async () => { relay = await testRelay() })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop() }))
    await Promise.all(agents.splice(0).map(async a => { await a.stop() }))
  })
  afterAll(async () => { await relay.stop() })

  async function peer (init: { storage?: PeerStorage, handler?: TaskHandler } = {}): Promise<StarlingPeer> {
    const p = await testPeer(relay, init)
    peers.push(p)
    return p
  }

  async function agent (handler: TaskHandler, options?: AgentOptions): Promise<HttpAgent> {
    const a = await httpAgent(handler, options)
    agents.push(a)
    return a
  }

  it('sends by URL: the answer arrives and the task is listed with the mesh tasks', async () => {
    const http = await agent(async (task) => ({ kind: 'completed', text: `http: ${task.text}` }), { name: 'Plain agent' })
    const mesh = await peer({ handler: async (task) => ({ kind: 'completed', text: `mesh: ${task.text}` }) })
    const sender = await peer()
    await Promise.all([untilPublished(mesh), untilPublished(sender)])

    const viaHttp = await sender.sendToUrl(http.base, 'hello')
    // the base URL names the agent by its card URL
    expect(viaHttp.peerId).toBe(http.cardUrl)
    const viaMesh = await sender.send(mesh.peerId, 'hello')
    const [httpDone, meshDone] = await Promise.all([sender.waitFor(viaHttp.id), sender.waitFor(viaMesh.id)])
    expect(httpDone.state).toBe('TASK_STATE_COMPLETED')
    expect(textOf(httpDone.task.artifacts?.[0]?.parts)).toBe('http: hello')
    expect(httpDone.delivery).toBe('delivered')
    expect(httpDone.remoteId).toMatch(/\S/)
    expect(meshDone.state).toBe('TASK_STATE_COMPLETED')

    const listed = await sender.tasks({ direction: 'outbound' })
    expect(listed.map(r => r.id).sort()).toEqual([viaHttp.id, viaMesh.id].sort())
    expect((await sender.tasks({ peerId: http.cardUrl })).map(r => r.id)).toEqual([viaHttp.id])
    // the agent's card is kept: lists show its name
    expect(sender.knownAgents().find(a => a.peerId === http.cardUrl)?.card.name).toBe('Plain agent')
    // no push config: the agent cannot reach us
    expect(http.calls[0]).toBe('SendMessage')
  })

  it('follows a streaming agent by SubscribeToTask: artifact chunks arrive while it works', async () => {
    const release = Promise.withResolvers<void>()
    const http = await agent(async (_task, _signal, updates) => {
      updates.artifact({ artifactId: 'story', name: 'story', parts: [{ text: 'once ' }] })
      await release.promise
      updates.artifact({ artifactId: 'story', parts: [{ text: 'upon a time' }], append: true, lastChunk: true })
      return { kind: 'completed', text: 'the end' }
    }, { streaming: true })
    const sender = await peer()

    const record = await sender.sendToUrl(http.cardUrl, 'tell me a story')
    const first = await untilTask(sender, record.id, r => r.task.artifacts?.some(a => a.artifactId === 'story') === true)
    expect(first.state).toBe('TASK_STATE_WORKING')
    expect(textOf(first.task.artifacts?.find(a => a.artifactId === 'story')?.parts)).toBe('once ')
    release.resolve()

    const done = await sender.waitFor(record.id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    expect(done.task.artifacts?.find(a => a.artifactId === 'story')?.parts.map(p => p.text)).toEqual(['once ', 'upon a time'])
    expect(http.calls).toContain('SubscribeToTask')
  })

  it('answers an agent that asks for input, in the same task', async () => {
    const http = await agent(async (task) => task.text === 'paint it'
      ? { kind: 'input-required', text: 'which colour?' }
      : { kind: 'completed', text: `painted ${task.text}` })
    const sender = await peer()

    const record = await sender.sendToUrl(http.cardUrl, 'paint it')
    const asked = await sender.waitFor(record.id)
    expect(asked.state).toBe('TASK_STATE_INPUT_REQUIRED')
    expect(textOf(asked.task.status.message?.parts)).toBe('which colour?')

    await sender.send(asked.peerId, 'blue', { taskId: record.id })
    const done = await untilTask(sender, record.id, r => r.state === 'TASK_STATE_COMPLETED')
    expect(textOf(done.task.artifacts?.at(-1)?.parts)).toBe('painted blue')
    expect(done.task.history?.map(m => textOf(m.parts))).toEqual(expect.arrayContaining(['paint it', 'which colour?', 'blue']))
  })

  it('queues a task while the agent is down and delivers it when it comes back', async () => {
    const handler: TaskHandler = async (task) => ({ kind: 'completed', text: `back: ${task.text}` })
    const first = await httpAgent(handler)
    const sender = await peer()
    // the card is known from before; then the agent goes away
    await sender.addHttpAgent(first.cardUrl)
    await first.stop()

    const record = await sender.sendToUrl(first.cardUrl, 'are you there?')
    expect(record.delivery).toBe('queued')
    expect(record.peerId).toBe(first.cardUrl)
    await untilTask(sender, record.id, r => (r.outbox?.[0]?.attempts ?? 0) >= 1)

    await agent(handler, { port: first.port })
    sender.reconnect()
    const done = await sender.waitFor(record.id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    expect(textOf(done.task.artifacts?.[0]?.parts)).toBe('back: are you there?')
  }, 60_000)

  it('cancels a task the agent is working on', async () => {
    const started = Promise.withResolvers<void>()
    const http = await agent(async (_task, signal) => {
      started.resolve()
      await new Promise<void>((resolve) => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })
      return { kind: 'completed', text: 'too late' }
    })
    const sender = await peer()

    const record = await sender.sendToUrl(http.cardUrl, 'work forever')
    await started.promise
    await untilTask(sender, record.id, r => r.remoteId != null)
    await sender.cancel(record.id)
    const done = await sender.waitFor(record.id)
    expect(done.state).toBe('TASK_STATE_CANCELED')
    expect(http.calls).toContain('CancelTask')
  })

  it('fails the task clearly when the agent answers garbage, and refuses bad URLs and cards before storing anything', async () => {
    const html = await agent(async () => ({ kind: 'completed' }), {
      rpc: (_req, res) => { res.type('text/html').send('<html><body>Service temporarily upgraded</body></html>') }
    })
    const bogus = await agent(async () => ({ kind: 'completed' }), {
      rpc: (req, res) => {
        const id = (req.body as { id?: unknown }).id
        res.json({ jsonrpc: '2.0', id, result: { task: { id: 't1', contextId: 'c1', status: { state: 'TASK_STATE_DANCING' } } } })
      }
    })
    const notCard = await agent(async () => ({ kind: 'completed' }), { card: { hello: 'world' } })
    const sender = await peer()

    const viaHtml = await sender.sendToUrl(html.cardUrl, 'hi')
    const failed = await sender.waitFor(viaHtml.id)
    expect(failed.state).toBe('TASK_STATE_FAILED')
    expect(failed.localError).toMatch(/not JSON/)

    const viaBogus = await sender.sendToUrl(bogus.cardUrl, 'hi')
    const refused = await sender.waitFor(viaBogus.id)
    expect(refused.state).toBe('TASK_STATE_FAILED')
    expect(refused.localError).toMatch(/the agent's answer was refused/)

    await expect(sender.sendToUrl(notCard.cardUrl, 'hi')).rejects.toThrow(AgentCardError)
    await expect(sender.sendToUrl(notCard.cardUrl, 'hi')).rejects.toThrow(/not a valid A2A card/)
    await expect(sender.sendToUrl('ftp://127.0.0.1/card.json', 'hi')).rejects.toThrow(InvalidInputError)
    await expect(sender.sendToUrl(`http://127.0.0.1:${html.port}/nothing-here.json`, 'hi')).rejects.toThrow(/HTTP 404/)
    expect(await sender.tasks()).toHaveLength(2)
  })

  it('resumes following a task that is still working after the peer restarts', async () => {
    const release = Promise.withResolvers<void>()
    const started = Promise.withResolvers<void>()
    const http = await agent(async (task) => {
      started.resolve()
      await release.promise
      return { kind: 'completed', text: `finished ${task.text}` }
    }, { streaming: true })
    const storage = memoryStorage()
    const before = await testPeer(relay, { storage })
    const record = await before.sendToUrl(http.cardUrl, 'the long job')
    await started.promise
    await untilTask(before, record.id, r => r.remoteId != null && r.state === 'TASK_STATE_WORKING')
    await before.stop()

    const after = await peer({ storage })
    expect(after.peerId).toBe(before.peerId)
    const working = await after.task('outbound', record.id)
    expect(working?.state).toBe('TASK_STATE_WORKING')
    // the subscription of the restarted peer is what brings the answer
    const subscribed = http.calls.filter(c => c === 'SubscribeToTask').length
    const resumed = untilTask(after, record.id, r => r.state === 'TASK_STATE_COMPLETED')
    await untilSubscribed(http, subscribed + 1)
    release.resolve()
    const done = await resumed
    expect(textOf(done.task.artifacts?.[0]?.parts)).toBe('finished the long job')
  })

  it('learns after a restart that a task finished meanwhile (the agent refuses to subscribe to a final task)', async () => {
    const release = Promise.withResolvers<void>()
    const finished = Promise.withResolvers<void>()
    const http = await agent(async (task) => {
      await release.promise
      setImmediate(() => { finished.resolve() })
      return { kind: 'completed', text: `done: ${task.text}` }
    }, { streaming: true })
    const storage = memoryStorage()
    const before = await testPeer(relay, { storage })
    const record = await before.sendToUrl(http.cardUrl, 'while you were away')
    await untilTask(before, record.id, r => r.remoteId != null && r.state === 'TASK_STATE_WORKING')
    await before.stop()
    release.resolve()
    await finished.promise

    const after = await peer({ storage })
    const done = await after.waitFor(record.id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    expect(textOf(done.task.artifacts?.[0]?.parts)).toBe('done: while you were away')
    // the subscription was refused (the task is final there); a GetTask told the rest
    expect(http.calls.lastIndexOf('GetTask')).toBeGreaterThan(http.calls.lastIndexOf('SubscribeToTask'))
  })
})

/** Resolves once the agent has been asked to subscribe `count` times. */
async function untilSubscribed (agent: HttpAgent, count: number): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>()
  const onCall = (): void => { if (agent.calls.filter(c => c === 'SubscribeToTask').length >= count) resolve() }
  agent.events.on('call', onCall)
  try {
    onCall()
    await promise
  } finally {
    agent.events.off('call', onCall)
  }
}

describe('starling send --url, through a real `starling serve`', () => {
  let http: HttpAgent | undefined

  beforeAll(async () => {
    await ensureBuilt()
    http = await httpAgent(async (task) => ({ kind: 'completed', text: `cli: ${task.text}` }), { name: 'CLI HTTP agent' })
  }, 120_000)

  afterAll(async () => {
    await testProcesses.stopAll()
    testProcesses.clear()
    await http?.stop()
    await removeTempDirs()
  })

  it('sends to the agent by its card URL and waits for the answer; refuses a URL that is not http', async () => {
    const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
    try {
      const home = await harnessTempDir('home-http')
      const init = await starlingCli(home, ['init', '--name', 'CLI sender', '--relay', relay.url])
      expect({ code: init.code, stderr: init.stderr }).toMatchObject({ code: 0 })
      const served = await startPeer(home, [], { name: 'sender' })
      await served.process.waitForLine(/^Published card "/, { timeoutMs: 20_000 })

      const sent = await starlingCli<{ taskId: string, peerId: string, delivery: string }>(home, ['send', '--url', http?.cardUrl ?? '', 'hello', 'there'], { json: true })
      expect({ code: sent.code, stderr: sent.stderr }).toMatchObject({ code: 0 })
      expect(sent.json?.peerId).toBe(http?.cardUrl)
      const taskId = sent.json?.taskId ?? ''

      const waited = await starlingCli(home, ['wait', taskId, '--timeout', '30'])
      expect({ code: waited.code, stderr: waited.stderr }).toMatchObject({ code: 0 })
      expect(waited.stdout).toBe('cli: hello there\n')

      const listed = await starlingCli(home, ['tasks'])
      expect(listed.stdout.split('\n').find(l => l.startsWith(`${taskId}\t`))?.split('\t').slice(1, 4)).toEqual(['outbound', http?.cardUrl, 'completed'])

      const refused = await starlingCli(home, ['send', '--url', 'ftp://127.0.0.1/agent.json', 'hi'])
      expect(refused.code).toBe(2)
      expect(refused.stderr).toMatch(/ftp: URLs are not supported/)
      const noCard = await starlingCli(home, ['send', '--url', `${http?.base ?? ''}/nothing-here.json`, 'hi'])
      expect(noCard.code).toBe(2)
      expect(noCard.stderr).toMatch(/answered HTTP 404/)
      // nothing was stored for the refused sends
      const all = await starlingCli<unknown[]>(home, ['tasks'], { json: true })
      expect(all.json).toHaveLength(1)
    } finally {
      await relay.stop()
    }
  }, 120_000)
})
