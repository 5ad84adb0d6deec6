/**
 * The A2A binding over a real libp2p connection (TCP, Noise, yamux) between two nodes: the SDK
 * client through our TransportFactory against the SDK handler behind our server, and raw frames
 * for everything a misbehaving peer could send.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import * as varint from 'uint8-varint'
import { ClientFactory } from '@a2a-js/sdk/client'
import type { Client } from '@a2a-js/sdk/client'
import { AgentCard, SendMessageRequest } from '@a2a-js/sdk'
import { TaskNotFoundError } from '@a2a-js/sdk/errors'
import type { Libp2p, Stream } from '@libp2p/interface'
import { encodeFrame } from '../rpc/frame.js'
import { RpcClient } from '../rpc/client.js'
import { RpcErrorCode } from '../rpc/jsonrpc.js'
import { collectFrames } from '../rpc/testing.js'
import type { FrameCollector } from '../rpc/testing.js'
import { memoryStorage } from '../store/memory.js'
import { InboundTasks } from '../tasks/inbound.js'
import { TaskRecords } from '../tasks/records.js'
import { A2A_PROTOCOL, bindingInterface, buildAgentCard } from './binding.js'
import type { AgentCardJson } from './json.js'
import { A2AServer } from './server.js'
import { a2aErrorFromRpc, Libp2pTransportFactory } from './transport.js'

async function node (): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
}

describe('A2A over libp2p', () => {
  let agent: Libp2p
  let caller: Libp2p
  let other: Libp2p
  let inbound: InboundTasks
  let card: AgentCardJson

  beforeEach(async () => {
    [agent, caller, other] = await Promise.all([node(), node(), node()])
    card = buildAgentCard(agent.peerId.toString(), { name: 'agent', description: '', skills: [{ id: 'echo' }] })
    inbound = new InboundTasks({
      records: new TaskRecords(memoryStorage().tasks),
      card: () => card,
      // these callers give no push config, so nothing is ever pushed
      push: async () => { throw new Error('no push expected') },
      // "wait" waits until canceled, "slow" answers after 100 ms; anything else is echoed at once
      handler: async (task, signal) => {
        if (task.text === 'slow') {
          await new Promise(resolve => setTimeout(resolve, 100))
          return { kind: 'completed', text: 'slow echo' }
        }
        if (task.text !== 'wait') return { kind: 'completed', text: `echo: ${task.text}` }
        return await new Promise((resolve) => { signal.addEventListener('abort', () => { resolve({ kind: 'failed', text: 'aborted' }) }) })
      }
    })
    await new A2AServer(agent, { requestHandler: () => inbound.requestHandler(), maxFrameBytes: 64 * 1024 }).start()
  })

  afterEach(async () => {
    await Promise.all([agent.stop(), caller.stop(), other.stop()])
  })

  /** An SDK client on `from` for the agent, through the libp2p TransportFactory. */
  async function sdkClient (from: Libp2p): Promise<Client> {
    let shared: RpcClient | undefined
    const factory = new ClientFactory({
      transports: [new Libp2pTransportFactory(async () => {
        if (shared?.isOpen !== true) {
          const stream = await from.dialProtocol(agent.getMultiaddrs()[0]!, A2A_PROTOCOL)
          shared = new RpcClient(stream, { toError: a2aErrorFromRpc })
        }
        return shared
      })]
    })
    return await factory.createFromAgentCard(AgentCard.fromJSON({ ...card, supportedInterfaces: [bindingInterface(agent.peerId.toString())] }))
  }

  async function rawStream (from: Libp2p = caller): Promise<{ stream: Stream, closed: Promise<void> } & FrameCollector> {
    const stream = await from.dialProtocol(agent.getMultiaddrs()[0]!, A2A_PROTOCOL)
    const closed = new Promise<void>((resolve) => { stream.addEventListener('remoteCloseWrite', () => { resolve() }) })
    return { stream, closed, ...collectFrames(stream) }
  }

  it('runs SendMessage, GetTask and CancelTask from the SDK client through the binding', async () => {
    const client = await sdkClient(caller)
    const result = await client.sendMessage(SendMessageRequest.fromJSON({
      message: { messageId: 'm1', role: 'ROLE_USER', parts: [{ text: 'hello' }] }
    }))
    expect('status' in result && result.status?.state).toBe(3 /* TASK_STATE_COMPLETED */)
    const id = (result as { id: string }).id
    const task = await client.getTask({ id, tenant: '' })
    expect(task.artifacts[0]?.parts[0]?.content).toEqual({ $case: 'text', value: 'echo: hello' })
    expect(task.history.map(m => m.messageId)).toContain('m1')

    // a task still working can be canceled; a finished one cannot
    const stream = client.sendMessageStream(SendMessageRequest.fromJSON({
      message: { messageId: 'm2', role: 'ROLE_USER', parts: [{ text: 'wait' }] }
    }))
    const first = await stream.next()
    const waitingId = first.value?.payload?.$case === 'task' ? first.value.payload.value.id : ''
    const canceled = await client.cancelTask({ id: waitingId, tenant: '', metadata: {} })
    expect(canceled.status?.state).toBe(5 /* TASK_STATE_CANCELED */)
    await expect(client.cancelTask({ id, tenant: '', metadata: {} })).rejects.toMatchObject({ name: expect.stringMatching(/NotCancelable/) })
  })

  it('streams a slow task as it goes (task, working, artifact, completed), a quick one as its one final event', async () => {
    const client = await sdkClient(caller)
    const stream = async (text: string): Promise<Array<{ $case: string, state?: number }>> => {
      const items: Array<{ $case: string, state?: number }> = []
      for await (const item of client.sendMessageStream(SendMessageRequest.fromJSON({
        message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text }] }
      }))) {
        const p = item.payload
        items.push({ $case: p?.$case ?? '?', state: p?.$case === 'task' ? p.value.status?.state : p?.$case === 'statusUpdate' ? p.value.status?.state : undefined })
      }
      return items
    }
    expect(await stream('slow')).toEqual([
      { $case: 'task', state: 1 /* submitted */ },
      { $case: 'statusUpdate', state: 2 /* working */ },
      { $case: 'artifactUpdate', state: undefined },
      { $case: 'statusUpdate', state: 3 /* completed */ }
    ])
    expect(await stream('quick')).toEqual([{ $case: 'task', state: 3 }])
    const quick = await client.listTasks({ tenant: '', contextId: '', status: 0, pageToken: '', statusTimestampAfter: undefined, includeArtifacts: true })
    const answered = quick.tasks.find(t => t.artifacts[0]?.parts[0]?.content?.value === 'echo: quick')
    // the one event still carries the whole exchange: the question and the answer
    expect(answered?.history.map(m => m.role)).toEqual([1 /* user */])
    expect(answered?.status?.state).toBe(3)
  })

  it('pages through ListTasks, returns at once with returnImmediately, and follows a task with SubscribeToTask', async () => {
    const client = await sdkClient(caller)
    for (let i = 0; i < 5; i++) {
      await client.sendMessage(SendMessageRequest.fromJSON({ message: { messageId: `page-${i}`, role: 'ROLE_USER', parts: [{ text: `n${i}` }] } }))
    }
    const seen: string[] = []
    let pageToken = ''
    let pages = 0
    do {
      const page = await client.listTasks({ tenant: '', contextId: '', status: 0, pageSize: 2, pageToken, statusTimestampAfter: undefined })
      expect(page.tasks.length).toBeLessThanOrEqual(2)
      seen.push(...page.tasks.map(t => t.id))
      pageToken = page.nextPageToken
      pages++
    } while (pageToken !== '')
    expect(pages).toBe(3)
    expect(new Set(seen).size).toBe(5)

    // "wait" is never answered on its own: with returnImmediately the call comes back at once
    const started = await client.sendMessage(SendMessageRequest.fromJSON({
      message: { messageId: 'held', role: 'ROLE_USER', parts: [{ text: 'wait' }] },
      configuration: { returnImmediately: true }
    }))
    expect('status' in started && [1, 2].includes(started.status?.state ?? 0)).toBe(true)
    const id = (started as { id: string }).id
    const states: number[] = []
    const followed = (async () => {
      for await (const item of client.resubscribeTask({ id, tenant: '' })) {
        const p = item.payload
        const state = p?.$case === 'task' ? p.value.status?.state : p?.$case === 'statusUpdate' ? p.value.status?.state : undefined
        if (state != null) states.push(state)
      }
    })()
    // the subscription hears the cancel another call makes
    await expect.poll(() => states.length).toBeGreaterThan(0)
    await client.cancelTask({ id, tenant: '', metadata: {} })
    await followed
    expect(states.at(-1)).toBe(5 /* canceled */)
  })

  it('shows a peer only its own tasks', async () => {
    const mine = await sdkClient(caller)
    const theirs = await sdkClient(other)
    const result = await mine.sendMessage(SendMessageRequest.fromJSON({
      message: { messageId: 'm4', role: 'ROLE_USER', parts: [{ text: 'private' }] }
    }))
    const id = (result as { id: string }).id
    await expect(theirs.getTask({ id, tenant: '' })).rejects.toBeInstanceOf(TaskNotFoundError)
    await expect(theirs.cancelTask({ id, tenant: '', metadata: {} })).rejects.toBeInstanceOf(TaskNotFoundError)
    const list = await theirs.listTasks({ tenant: '', contextId: '', status: 0, pageToken: '', statusTimestampAfter: undefined })
    expect(list.tasks).toEqual([])
    // nor continue it by naming its id in a new message
    await expect(theirs.sendMessage(SendMessageRequest.fromJSON({
      message: { messageId: 'm5', taskId: id, role: 'ROLE_USER', parts: [{ text: 'hijack' }] }
    }))).rejects.toBeInstanceOf(TaskNotFoundError)
  })

  it('answers unknown methods, bad params and unsupported versions with JSON-RPC errors', async () => {
    const { stream, frames, received } = await rawStream()
    stream.send(encodeFrame({ jsonrpc: '2.0', id: 1, method: 'tasks/send', params: {} }))
    stream.send(encodeFrame({ jsonrpc: '2.0', id: 2, method: 'SendMessage', params: 'not an object' }))
    stream.send(encodeFrame({ jsonrpc: '2.0', id: 3, method: 'SendMessage', params: { message: 42 } }))
    stream.send(encodeFrame({ jsonrpc: '2.0', id: 4, method: 'GetTask', params: { id: '' } }))
    stream.send(encodeFrame({ jsonrpc: '2.0', id: 5, method: 'GetTask', params: { id: 'x' }, serviceParameters: { 'A2A-Version': '0.3' } }))
    stream.send(encodeFrame({ jsonrpc: '2.0', id: 6, method: 'SubscribeToTask', params: { id: 'no-such-task' } }))
    await received(6)
    const byId = new Map(frames.map(f => [(f as { id: number }).id, f]))
    expect(byId.get(1)).toMatchObject({ error: { code: RpcErrorCode.MethodNotFound } })
    expect(byId.get(2)).toMatchObject({ error: { code: RpcErrorCode.InvalidParams } })
    expect(byId.get(3)).toMatchObject({ error: { code: expect.any(Number) } })
    expect(byId.get(4)).toMatchObject({ error: { code: RpcErrorCode.InvalidParams } })
    expect(byId.get(5)).toMatchObject({ error: { code: -32009 } })
    expect(byId.get(6)).toMatchObject({ error: { code: -32001 } })
  })

  it('survives malformed and oversized frames, and keeps serving other streams', async () => {
    const bad = await rawStream()
    const junk = new TextEncoder().encode('{"jsonrpc":')
    bad.stream.send(varint.encode(junk.byteLength))
    bad.stream.send(junk)
    await bad.received(1)
    expect(bad.frames[0]).toMatchObject({ id: null, error: { code: RpcErrorCode.ParseError } })

    bad.stream.send(varint.encode(10 * 1024 * 1024))
    bad.stream.send(new Uint8Array(1024))
    await bad.received(2)
    expect(bad.frames[1]).toMatchObject({ id: null, error: { code: RpcErrorCode.FrameTooLarge } })
    await bad.closed

    // another peer (and the same one, on a new stream) are served as before
    const client = await sdkClient(other)
    const result = await client.sendMessage(SendMessageRequest.fromJSON({
      message: { messageId: 'm6', role: 'ROLE_USER', parts: [{ text: 'still there?' }] }
    }))
    expect((result as { status?: { state: number } }).status?.state).toBe(3)
    const again = await rawStream()
    again.stream.send(encodeFrame({ jsonrpc: '2.0', id: 9, method: 'GetTask', params: { id: 'nope' } }))
    await again.received(1)
    expect(again.frames[0]).toMatchObject({ id: 9, error: { code: -32001 } })
  })
})
