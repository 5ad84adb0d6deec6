/**
 * Durable delivery between native peers through a real relay: the outbox, exactly-once
 * acceptance, pushes to the sender, TTLs, and every kind of bad update a remote could send.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SendMessageRequest } from '@a2a-js/sdk'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { StarlingPeer } from '../core/peer.js'
import { textOf } from '../core/a2a/json.js'
import type { StreamResponseJson } from '../core/a2a/json.js'
import { A2A_PROTOCOL } from '../core/a2a/binding.js'
import { PUSH_MAX_FRAME_BYTES, PUSH_METHOD, PUSH_PROTOCOL, PushErrorCode } from '../core/push/protocol.js'
import { RpcClient } from '../core/rpc/client.js'
import { RemoteRpcError } from '../core/errors.js'
import { memoryStorage } from '../core/store/memory.js'
import type { TaskRecord } from '../core/store/types.js'
import type { TaskHandler } from '../core/tasks/executor.js'
import type { RunningRelay } from '../../relay/relay.js'
import { testPeer, testRelay, untilPublished } from './test-helpers.js'

describe('durable delivery between native peers', () => {
  let relay: RunningRelay
  const peers: StarlingPeer[] = []

  beforeEach(async () => { relay = await testRelay() })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop() }))
    await relay.stop()
  })

  async function peer (init: Parameters<typeof testPeer>[1] = {}): Promise<StarlingPeer> {
    const p = await testPeer(relay, init)
    peers.push(p)
    await untilPublished(p)
    return p
  }

  it('queues a task for an agent that is offline and delivers it once the agent is back', async () => {
    const storage = memoryStorage()
    let handled = 0
    const handler: TaskHandler = async (task) => { handled++; return { kind: 'completed', text: `echo: ${task.text}` } }
    const first = await peer({ storage, handler })
    const agentId = first.peerId
    await first.stop()
    peers.splice(peers.indexOf(first), 1)

    const sender = await peer()
    const sent = await sender.send(agentId, 'are you there?')
    expect(sent.delivery).toBe('queued')
    expect(sent.outbox?.map(i => i.kind)).toEqual(['message'])
    expect((await sender.tasks({ outbox: true })).map(t => t.id)).toEqual([sent.id])

    await peer({ storage, handler })
    const done = await sender.waitFor(sent.id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    expect(done.delivery).toBe('delivered')
    expect(textOf(done.task.artifacts?.[0]?.parts)).toBe('echo: are you there?')
    expect(done.timeline?.map(t => t.state)).toEqual(['TASK_STATE_SUBMITTED', 'TASK_STATE_COMPLETED'])
    expect(await sender.tasks({ outbox: true })).toEqual([])
    expect(handled).toBe(1)
  })

  it('handles a task again when its agent stopped half-way through, flagged as resumed, and the answer reaches the sender', async () => {
    const storage = memoryStorage()
    const calls: Array<{ resumed: boolean }> = []
    const { promise: started, resolve: onStarted } = Promise.withResolvers<void>()
    const first = await peer({
      storage,
      // never answers: the agent stops while it works
      handler: async (task, signal) => {
        calls.push({ resumed: task.resumed === true })
        onStarted()
        return await new Promise((resolve) => { signal.addEventListener('abort', () => { resolve({ kind: 'failed', text: 'stopped' }) }) })
      }
    })
    const sender = await peer()
    const sent = await sender.send(first.peerId, 'long job')
    await started
    // the agent's push tells the sender it is working
    await untilTask(sender, sent.id, r => r.state === 'TASK_STATE_WORKING')
    await first.stop()
    peers.splice(peers.indexOf(first), 1)

    await peer({
      storage,
      handler: async (task) => {
        calls.push({ resumed: task.resumed === true })
        return { kind: 'completed', text: `finished ${task.text}` }
      }
    })
    const done = await sender.waitFor(sent.id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    expect(textOf(done.task.artifacts?.[0]?.parts)).toBe('finished long job')
    expect(calls).toEqual([{ resumed: false }, { resumed: true }])
  })

  it('shows a message as sent while an attempt is under way, and queued again when the attempt fails', async () => {
    // an agent that takes the stream and never answers: the sender's attempt times out
    const agent = await peer()
    await agent.node.unhandle(A2A_PROTOCOL)
    await agent.node.handle(A2A_PROTOCOL, () => {}, { runOnLimitedConnection: true })
    const sender = await peer()
    const states: Array<string | undefined> = []
    sender.addEventListener('task', (evt) => { if (states.at(-1) !== evt.detail.delivery) states.push(evt.detail.delivery) })
    const sent = await sender.send(agent.peerId, 'into the void')
    const failed = await new Promise<TaskRecord>((resolve) => {
      const check = (record: TaskRecord | undefined): void => { if (record?.outbox?.[0]?.lastError != null) resolve(record) }
      sender.addEventListener('task', (evt) => { if (evt.detail.id === sent.id) check(evt.detail) })
      void sender.task('outbound', sent.id).then(check)
    })
    expect(states).toContain('sent')
    expect(failed.delivery).toBe('queued')
    expect(failed.outbox?.[0]).toMatchObject({ kind: 'message', attempts: 1, lastError: expect.stringMatching(/did not acknowledge/) })
  }, 30_000)

  it('keeps a cancel for an agent that went away, and delivers it when the agent is back', async () => {
    const storage = memoryStorage()
    const first = await peer({ storage })
    const sender = await peer()
    const sent = await sender.send(first.peerId, 'a long job')
    expect(sent.delivery).toBe('delivered')
    await first.stop()
    peers.splice(peers.indexOf(first), 1)

    const canceling = await sender.cancel(sent.id)
    expect(canceling.state).not.toBe('TASK_STATE_CANCELED')
    expect(canceling.outbox?.map(i => i.kind)).toEqual(['cancel'])

    const back = await peer({ storage })
    const canceled = await sender.waitFor(sent.id)
    expect(canceled.state).toBe('TASK_STATE_CANCELED')
    expect(canceled.outbox).toBeUndefined()
    expect((await back.task('inbound', remote(sent)))?.state).toBe('TASK_STATE_CANCELED')
  })

  it('accepts a message once: copies sent again and at the same time get the same task, and the handler runs once', async () => {
    let handled = 0
    const agent = await peer({
      handler: async () => {
        handled++
        // slow enough that the concurrent copies arrive while it runs
        await new Promise(resolve => setTimeout(resolve, 50))
        return { kind: 'completed', text: 'done once' }
      }
    })
    const sender = await peer()
    const client = await sender.client(agent.peerId)
    const request = SendMessageRequest.fromJSON({
      message: { messageId: 'the-same-message', role: 'ROLE_USER', parts: [{ text: 'do it' }] },
      configuration: { returnImmediately: true }
    })
    const copies = await Promise.all([client.sendMessage(request), client.sendMessage(request), client.sendMessage(request)])
    const ids = copies.map(c => 'id' in c ? c.id : undefined)
    expect(new Set(ids).size).toBe(1)
    expect(ids[0]).toBeDefined()
    const later = await client.sendMessage(request)
    expect('id' in later ? later.id : undefined).toBe(ids[0])
    const tasks = await agent.tasks({ direction: 'inbound' })
    expect(tasks).toHaveLength(1)
    expect(handled).toBe(1)
  })

  it('fails tasks whose agent never comes back at their TTL, saying why, and leaves the outbox empty', async () => {
    const sender = await peer()
    const nobody = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const sent = await Promise.all([1, 2, 3].map(async n => await sender.send(nobody, `task ${n}`, { ttlMs: 1500 })))
    for (const record of sent) expect(record.delivery).toBe('queued')
    const done = await Promise.all(sent.map(async r => await sender.waitFor(r.id)))
    for (const record of done) {
      expect(record.state).toBe('TASK_STATE_FAILED')
      expect(record.localError).toMatch(/not delivered: the agent .* could not be reached before the task's TTL ran out/)
      expect(textOf(record.task.status.message?.parts)).toBe(record.localError)
    }
    expect(await sender.tasks({ outbox: true })).toEqual([])
  })

  it('pushes a slow task\'s progress to the sender as it happens: chunks in order, each once', async () => {
    const agent = await peer({
      handler: async (_task, _signal, updates) => {
        for (const piece of ['one ', 'two ', 'three']) {
          updates.artifact({ artifactId: 'story', name: 'story', parts: [{ text: piece }], lastChunk: piece === 'three' })
          await new Promise(resolve => setTimeout(resolve, 20))
        }
        return { kind: 'completed', text: 'the end' }
      }
    })
    const sender = await peer()
    const seen: string[] = []
    sender.addEventListener('task', (evt) => {
      const story = evt.detail.task.artifacts?.find(a => a.artifactId === 'story')
      if (story != null) seen.push(textOf(story.parts).replaceAll('\n', ''))
    })
    const sent = await sender.send(agent.peerId, 'tell me a story')
    const done = await sender.waitFor(sent.id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    const story = done.task.artifacts?.find(a => a.artifactId === 'story')
    expect(story?.parts.map(p => p.text)).toEqual(['one ', 'two ', 'three'])
    // the sender saw the story grow, not only its end
    expect(seen).toContain('one ')
    expect(seen).toContain('one two ')

    // the same chunk pushed again (a retry) is not appended twice
    const pusher = await pushClient(agent, sender)
    await pusher.request(PUSH_METHOD, {
      token: sent.id,
      update: { artifactUpdate: { taskId: remote(done), contextId: done.contextId, artifact: { artifactId: 'story', parts: [{ text: 'two ' }], metadata: { 'starling/chunk': 1 } }, append: true } }
    }).catch(() => {})
    expect((await sender.task('outbound', sent.id))?.task.artifacts?.find(a => a.artifactId === 'story')?.parts).toHaveLength(3)
  })

  it('refuses bad updates from a remote with a clear error, and the task stays as it was', async () => {
    const agent = await peer({ handler: async () => ({ kind: 'completed', text: 'finished' }) })
    const sender = await peer()
    const snoop = await peer()
    const sent = await sender.send(agent.peerId, 'finish this')
    const done = await sender.waitFor(sent.id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    const before = await sender.task('outbound', sent.id)

    const fromAgent = await pushClient(agent, sender)
    const status = (state: string): StreamResponseJson => ({
      statusUpdate: { taskId: remote(done), contextId: done.contextId, status: { state: state as 'TASK_STATE_WORKING', timestamp: new Date().toISOString() } }
    })
    // completed → working
    await expectRefused(fromAgent.request(PUSH_METHOD, { token: sent.id, update: status('TASK_STATE_WORKING') }),
      PushErrorCode.InvalidTransition, /completed → working is not a valid transition/)
    // an update for a task the sender does not have
    await expectRefused(fromAgent.request(PUSH_METHOD, { token: 'no-such-task', update: status('TASK_STATE_COMPLETED') }),
      PushErrorCode.UnknownTask, /no task with id no-such-task/)
    // an update from a peer that is not the task's agent
    const fromSnoop = await pushClient(snoop, sender)
    await expectRefused(fromSnoop.request(PUSH_METHOD, { token: sent.id, update: status('TASK_STATE_FAILED') }),
      PushErrorCode.NotCounterpart, new RegExp(`was sent to ${agent.peerId}, not to ${snoop.peerId}`))
    // malformed parts: two kinds of content in one part, bytes that are not base64, no content
    const artifact = (parts: unknown[]): StreamResponseJson => ({
      artifactUpdate: { taskId: remote(done), contextId: done.contextId, artifact: { artifactId: 'x', parts: parts as [] } }
    })
    await expectRefused(fromAgent.request(PUSH_METHOD, { token: sent.id, update: artifact([{ text: 'a', raw: 'YQ==' }]) }),
      PushErrorCode.InvalidParams, /exactly one of text, raw, url or data \(it holds text and raw\)/)
    await expectRefused(fromAgent.request(PUSH_METHOD, { token: sent.id, update: artifact([{ raw: 'not base64!' }]) }),
      PushErrorCode.InvalidParams, /raw must be base64-encoded bytes/)
    await expectRefused(fromAgent.request(PUSH_METHOD, { token: sent.id, update: artifact([{ mediaType: 'text/plain' }]) }),
      PushErrorCode.InvalidParams, /it holds none/)
    // a file over the limit (32 MiB)
    const tooBig = 'A'.repeat(Math.ceil((32 * 1024 * 1024 + 3) / 3) * 4)
    await expectRefused(fromAgent.request(PUSH_METHOD, { token: sent.id, update: artifact([{ raw: tooBig, filename: 'big.bin' }]) }),
      PushErrorCode.InvalidParams, /the file is 32 MiB, over the limit of 32 MiB|over the limit/)

    expect(await sender.task('outbound', sent.id)).toEqual(before)
  })

  it('refuses a message with malformed parts at the agent, before anything is stored', async () => {
    const agent = await peer({ handler: async () => ({ kind: 'completed', text: 'never' }) })
    const sender = await peer()
    const client = await sender.client(agent.peerId)
    const request = SendMessageRequest.fromJSON({ message: { messageId: 'm1', role: 'ROLE_USER', parts: [{ text: 'fine' }] } })
    // the SDK's codec would drop what it cannot read, so the bad part goes on the wire by hand
    const rpc = await rawA2A(sender, agent)
    const json = SendMessageRequest.toJSON(request) as { message: { parts: unknown[] } }
    json.message.parts = [{ raw: '%%%', filename: 'x.bin' }]
    await expect(rpc.request('SendMessage', json)).rejects.toThrow(/raw must be base64-encoded bytes/)
    expect(await agent.tasks({ direction: 'inbound' })).toEqual([])
    expect(await client.sendMessage(request)).toBeDefined()
  })
})

/** Resolves with the task once `predicate` holds for its stored record. */
async function untilTask (peer: StarlingPeer, id: string, predicate: (record: TaskRecord) => boolean): Promise<TaskRecord> {
  const { promise, resolve } = Promise.withResolvers<TaskRecord>()
  const onTask = (evt: CustomEvent<TaskRecord>): void => { if (evt.detail.id === id && predicate(evt.detail)) resolve(evt.detail) }
  peer.addEventListener('task', onTask)
  try {
    const now = await peer.task('outbound', id)
    if (now != null && predicate(now)) return now
    return await promise
  } finally {
    peer.removeEventListener('task', onTask)
  }
}

/** A raw push stream from `from` to `to`, for sending what a well-behaved agent never would. */
async function pushClient (from: StarlingPeer, to: StarlingPeer): Promise<RpcClient> {
  const stream = await from.node.dialProtocol(circuitTo(to), PUSH_PROTOCOL, { runOnLimitedConnection: true })
  return new RpcClient(stream, { maxFrameBytes: PUSH_MAX_FRAME_BYTES })
}

/** A raw A2A stream from `from` to `to`. */
async function rawA2A (from: StarlingPeer, to: StarlingPeer): Promise<RpcClient> {
  const stream = await from.node.dialProtocol(circuitTo(to), '/starling/a2a/1.0.0', { runOnLimitedConnection: true })
  return new RpcClient(stream)
}

/** `to` through the relay it is reserved on. */
function circuitTo (to: StarlingPeer): Multiaddr {
  const relayed = to.node.getMultiaddrs().find(a => a.toString().includes('/p2p-circuit'))
  if (relayed == null) throw new Error('the peer has no relayed address')
  return relayed
}

async function expectRefused (call: Promise<unknown>, code: number, message: RegExp): Promise<void> {
  const err = await call.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(RemoteRpcError)
  expect((err as RemoteRpcError).rpcCode).toBe(code)
  expect((err as RemoteRpcError).message).toMatch(message)
}

function remote (record: TaskRecord): string {
  if (record.remoteId == null) throw new Error(`task ${record.id} has not reached its agent`)
  return record.remoteId
}
