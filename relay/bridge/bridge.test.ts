/**
 * The A2A HTTP bridge, end to end: a real relay, real native peers over libp2p, and on the HTTP
 * side @a2a-js/sdk's own client (ClientFactory over HTTP, and its v0.3 compatibility client),
 * which knows nothing of libp2p.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SendMessageRequest } from '@a2a-js/sdk'
import type { StreamResponse, Task } from '@a2a-js/sdk'
import { ClientFactory } from '@a2a-js/sdk/client'
import type { Client } from '@a2a-js/sdk/client'
import { LegacyJsonRpcTransport } from '@a2a-js/sdk/compat/v0_3/client'
import { A2A_BINDING_URI, HTTP_BRIDGE_EXTENSION_URI } from '../../src/core/a2a/binding.js'
import type { StarlingPeer } from '../../src/core/peer.js'
import type { TaskHandler } from '../../src/core/tasks/executor.js'
import { testPeer, testRelay, untilPublished } from '../../src/native/test-helpers.js'
import { convertJson, loadConfig, OPTIONS } from '../config.js'
import type { RelayConfig } from '../config.js'
import { bridgeCardUrl, bridgeUrl } from './card.js'

/** The body limit of the relay under test, small so an oversized body is cheap to send. */
const MAX_BODY_BYTES = 64 * 1024

const TASK_STATE_COMPLETED = 3
const TASK_STATE_CANCELED = 5

describe('the relay\'s A2A HTTP bridge', () => {
  let relay: Awaited<ReturnType<typeof testRelay>>
  let agent: StarlingPeer
  let closed: StarlingPeer
  /** Released by the test once the first artifact chunk of a "stream" task has reached it over HTTP. */
  let release = Promise.withResolvers<void>()

  // "stream" sends an artifact in two chunks around a wait for the test; "wait" waits until
  // canceled; anything else is echoed at once
  const handler: TaskHandler = async (task, signal, updates) => {
    if (task.text === 'stream') {
      updates.artifact({ artifactId: 'story', name: 'story', parts: [{ text: 'once upon ' }] })
      await release.promise
      updates.artifact({ artifactId: 'story', parts: [{ text: 'a time' }], append: true, lastChunk: true })
      return { kind: 'completed', text: 'the end' }
    }
    if (task.text === 'wait') {
      return await new Promise((resolve) => { signal.addEventListener('abort', () => { resolve({ kind: 'failed', text: 'aborted' }) }) })
    }
    return { kind: 'completed', text: `echo: ${task.text}` }
  }

  beforeAll(async () => {
    relay = await testRelay({ bridgeMaxBodyBytes: MAX_BODY_BYTES })
    agent = await testPeer(relay, {
      defaultProfile: { name: 'bridged agent', description: 'reachable over HTTP', skills: [{ id: 'echo' }], bridge: true },
      handler
    })
    closed = await testPeer(relay, {
      defaultProfile: { name: 'private agent', description: 'did not opt in', skills: [{ id: 'echo' }] },
      handler
    })
    await Promise.all([untilPublished(agent), untilPublished(closed)])
  })

  afterAll(async () => {
    await Promise.all([agent?.stop(), closed?.stop()])
    await relay?.stop()
  })

  async function httpClient (peerId = agent.peerId): Promise<Client> {
    return await new ClientFactory().createFromUrl(relay.url, new URL(bridgeCardUrl(relay.url, peerId)).pathname)
  }

  function message (text: string): SendMessageRequest {
    return SendMessageRequest.fromJSON({ message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text }] } })
  }

  function textOf (task: Task): unknown {
    return task.artifacts[0]?.parts[0]?.content
  }

  /** A JSON-RPC answer, as much of it as the tests read. */
  interface RpcAnswer {
    id: unknown
    error: { code: number, message: string }
    result: { kind: string, artifacts: Array<{ parts: unknown[] }> }
  }

  /** A bridged agent card, as much of it as the tests read. */
  interface BridgedCard {
    name: string
    supportedInterfaces: unknown[]
    capabilities: { pushNotifications: boolean, extensions: Array<{ uri: string }> }
  }

  async function postJson (body: string, headers: Record<string, string> = { 'A2A-Version': '1.0' }): Promise<{ status: number, json: RpcAnswer }> {
    const response = await fetch(bridgeUrl(relay.url, agent.peerId), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body
    })
    return { status: response.status, json: await response.json() as RpcAnswer }
  }

  it('serves the opted-in agent\'s card: JSON-RPC over HTTP first, its libp2p interface after, no push', async () => {
    const response = await fetch(bridgeCardUrl(relay.url, agent.peerId), { headers: { 'A2A-Version': '1.0' } })
    expect(response.status).toBe(200)
    const card = await response.json() as BridgedCard
    expect(card.name).toBe('bridged agent')
    expect(card.supportedInterfaces).toMatchObject([
      { url: bridgeUrl(relay.url, agent.peerId), protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
      { url: bridgeUrl(relay.url, agent.peerId), protocolBinding: 'JSONRPC', protocolVersion: '0.3' },
      { url: `libp2p://${agent.peerId}`, protocolBinding: A2A_BINDING_URI, protocolVersion: '1.0' }
    ])
    expect(card.capabilities.pushNotifications).toBe(false)
    expect(card.capabilities.extensions.map((e: { uri: string }) => e.uri)).toEqual([HTTP_BRIDGE_EXTENSION_URI])
  })

  it('answers SendMessage from the SDK\'s HTTP client with the agent\'s answer, and GetTask with the same task', async () => {
    const client = await httpClient()
    const result = await client.sendMessage(message('hello over http'))
    expect('status' in result).toBe(true)
    const task = result as Task
    expect(task.status?.state).toBe(TASK_STATE_COMPLETED)
    expect(textOf(task)).toEqual({ $case: 'text', value: 'echo: hello over http' })
    const again = await client.getTask({ id: task.id, tenant: '' })
    expect(again.id).toBe(task.id)
    expect(textOf(again)).toEqual({ $case: 'text', value: 'echo: hello over http' })
    // the agent saw the call from the relay, over libp2p
    expect(agent.card.capabilities.extensions).toHaveLength(1)
  })

  it('streams SendStreamingMessage as SSE: the task, the artifact chunks in order, the end', async () => {
    release = Promise.withResolvers<void>()
    const client = await httpClient()
    const events: Array<StreamResponse['payload']> = []
    for await (const event of client.sendMessageStream(message('stream'))) {
      events.push(event.payload)
      const p = event.payload
      if (p?.$case === 'artifactUpdate' && p.value.artifact?.parts[0]?.content?.value === 'once upon ') release.resolve()
    }
    const kinds = events.map(p => p?.$case)
    expect(kinds[0]).toBe('task')
    const chunks = events.flatMap(p => p?.$case === 'artifactUpdate' ? [p.value.artifact?.parts[0]?.content?.value] : [])
    expect(chunks.slice(0, 2)).toEqual(['once upon ', 'a time'])
    const last = events.at(-1)
    expect(last?.$case).toBe('statusUpdate')
    expect(last?.$case === 'statusUpdate' ? last.value.status?.state : undefined).toBe(TASK_STATE_COMPLETED)
  })

  it('cancels a task that waits until canceled (CancelTask)', async () => {
    const client = await httpClient()
    const stream = client.sendMessageStream(message('wait'))
    const first = await stream.next()
    const id = first.value?.payload?.$case === 'task' ? first.value.payload.value.id : ''
    expect(id).not.toBe('')
    const canceled = await client.cancelTask({ id, tenant: '', metadata: {} })
    expect(canceled.status?.state).toBe(TASK_STATE_CANCELED)
    // the stream ends with the cancellation
    const rest: Array<StreamResponse['payload']> = []
    for await (const event of { [Symbol.asyncIterator]: () => stream }) rest.push(event.payload)
    const last = rest.at(-1)
    expect(last?.$case === 'statusUpdate' ? last.value.status?.state : last?.$case === 'task' ? last.value.status?.state : undefined).toBe(TASK_STATE_CANCELED)
  })

  it('refuses ListTasks (every caller is the relay to the agent) and push configs', async () => {
    const client = await httpClient()
    await expect(client.listTasks({ tenant: '', contextId: '', status: 0, pageToken: '', statusTimestampAfter: undefined, includeArtifacts: false }))
      .rejects.toMatchObject({ message: expect.stringMatching(/ListTasks is not offered/) })
    const list = await postJson(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ListTasks', params: {} }))
    expect(list.json.error.code).toBe(-32004)
    const push = await postJson(JSON.stringify({
      jsonrpc: '2.0', id: 8, method: 'CreateTaskPushNotificationConfig', params: { taskId: 'x', url: 'https://example.com/hook' }
    }))
    expect(push.json.error.code).toBe(-32003)
  })

  it('answers a v0.3 request (no A2A-Version) through the SDK\'s compatibility layer', async () => {
    const raw = await postJson(JSON.stringify({
      jsonrpc: '2.0',
      id: 'old-1',
      method: 'message/send',
      params: { message: { kind: 'message', messageId: crypto.randomUUID(), role: 'user', parts: [{ kind: 'text', text: 'from 2025' }] } }
    }), {})
    expect(raw.status).toBe(200)
    expect(raw.json.id).toBe('old-1')
    expect(raw.json.result.kind).toBe('task')
    expect(raw.json.result.artifacts[0]?.parts[0]).toMatchObject({ kind: 'text', text: 'echo: from 2025' })

    // and the SDK's own v0.3 client
    const legacy = new LegacyJsonRpcTransport({ endpoint: bridgeUrl(relay.url, agent.peerId) })
    const result = await legacy.sendMessage(message('legacy client'))
    expect(textOf(result as Task)).toEqual({ $case: 'text', value: 'echo: legacy client' })
  })

  it('refuses an agent that did not opt in, and an unknown PeerID, with the same 404', async () => {
    for (const peerId of [closed.peerId, relay.peerId, 'not-a-peer-id']) {
      const card = await fetch(bridgeCardUrl(relay.url, peerId))
      expect(card.status).toBe(404)
      expect((await card.json() as { error: string }).error).toBe(`no agent ${peerId} is reachable through this relay's A2A bridge (unknown, or it did not allow the bridge)`)
      const post = await fetch(bridgeUrl(relay.url, peerId), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'A2A-Version': '1.0' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SendMessage', params: { message: { messageId: 'm', role: 'ROLE_USER', parts: [{ text: 'hi' }] } } })
      })
      expect(post.status).toBe(404)
      expect((await post.json() as { error: { message: string } }).error.message).toMatch(/reachable through this relay's A2A bridge/)
    }
    await expect(httpClient(closed.peerId)).rejects.toThrow(/404/)
  })

  it('answers malformed JSON, an unknown method and an oversized body with clear errors, and serves the next call', async () => {
    const malformed = await postJson('{"jsonrpc": "2.0", "id": 1, "method": ')
    expect(malformed.status).toBe(200)
    expect(malformed.json.error.code).toBe(-32700)

    const unknown = await postJson(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'FlyToTheMoon', params: {} }))
    expect(unknown.json.id).toBe(2)
    expect(unknown.json.error.code).toBe(-32601)

    const big = await postJson(JSON.stringify({
      jsonrpc: '2.0', id: 3, method: 'SendMessage', params: { message: { messageId: 'big', role: 'ROLE_USER', parts: [{ text: 'x'.repeat(MAX_BODY_BYTES) }] } }
    }))
    expect(big.status).toBe(413)
    expect(big.json.error.message).toBe(`the request body is over ${MAX_BODY_BYTES} bytes, this bridge's limit`)

    const get = await fetch(bridgeUrl(relay.url, agent.peerId))
    expect(get.status).toBe(405)

    const client = await httpClient()
    expect(textOf(await client.sendMessage(message('still here')) as Task)).toEqual({ $case: 'text', value: 'echo: still here' })
  })

  it('survives an HTTP client that goes away mid-stream: the forwarded call is aborted, the relay serves on', async () => {
    const controller = new AbortController()
    const response = await fetch(bridgeUrl(relay.url, agent.peerId), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'A2A-Version': '1.0' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SendStreamingMessage', params: { message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text: 'wait' }] } } }),
      signal: controller.signal
    })
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/)
    const reader = response.body!.getReader()
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: /)
    controller.abort()
    await reader.cancel().catch(() => {})

    // the relay counts the call as aborted once it has seen the client go
    await until(async () => (await countOf('SendStreamingMessage', 'aborted')) >= 1)
    const client = await httpClient()
    expect(textOf(await client.sendMessage(message('after the abort')) as Task)).toEqual({ $case: 'text', value: 'echo: after the abort' })
  })

  it('counts bridged calls by method and outcome', async () => {
    expect(await countOf('SendMessage', 'ok')).toBeGreaterThanOrEqual(3)
    expect(await countOf('ListTasks', 'refused')).toBeGreaterThanOrEqual(2)
    expect(await countOf('card', 'not_found')).toBeGreaterThanOrEqual(3)
    const text = (await relay.metrics.render()).body
    expect(text).toContain('starling_relay_http_requests_total{route="a2a_bridge"')
  })

  it('tells the caller clearly when the agent goes offline', async () => {
    const client = await httpClient()
    const stream = client.sendMessageStream(message('wait'))
    const first = await stream.next()
    expect(first.value?.payload?.$case).toBe('task')
    // the agent leaves while its task is open: the stream ends with an error saying so (after
    // whatever the agent said on its way out)
    const rest = (async () => { for await (const _ of { [Symbol.asyncIterator]: () => stream }) { /* drained */ } })()
    await agent.stop()
    await expect(rest).rejects.toThrow(/cannot be reached through this relay now: it is offline/)
    await until(async () => !relay.node.getConnections().some(c => c.remotePeer.toString() === agent.peerId))
    await expect(client.sendMessage(message('anyone?'))).rejects.toThrow(/offline|503/)
  })

  async function countOf (method: string, outcome: string): Promise<number> {
    const metric = await relay.metrics.bridgedRequests.get()
    return metric.values.find(v => v.labels.method === method && v.labels.outcome === outcome)?.value ?? 0
  }
})

/** Resolves once `condition` holds, checking it as the event loop turns. */
async function until (condition: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await condition())) await new Promise(resolve => setTimeout(resolve, 10))
}

describe('turning the bridge off', () => {
  it('takes --no-bridge, --bridge off, STARLING_BRIDGE and a JSON boolean, flags first', () => {
    const load = (argv: string[], env: NodeJS.ProcessEnv = {}): RelayConfig => {
      const config = loadConfig([...argv, '--data-dir', '/nonexistent-starling'], env)
      if (config === 'help') throw new Error('unreachable')
      return config
    }
    expect(load([]).bridge).toBe(true)
    expect(load(['--no-bridge']).bridge).toBe(false)
    expect(load(['--bridge', 'off']).bridge).toBe(false)
    expect(load([], { STARLING_BRIDGE: 'off' }).bridge).toBe(false)
    expect(load(['--bridge', 'on'], { STARLING_BRIDGE: 'off' }).bridge).toBe(true)
    expect(() => load(['--bridge', 'maybe'])).toThrow('--bridge: bridge must be on or off, got "maybe"')
    expect(convertJson(false, OPTIONS.bridge, { kind: 'file', name: 'relay.json' })).toBe(false)
    expect(load([], { STARLING_PUBLIC_URL: 'https://relay.example.com/' }).publicUrl).toBe('https://relay.example.com')
    expect(() => load(['--public-url', 'ftp://relay.example.com'])).toThrow(/public-url must be an http\(s\) URL/)
  })

  it('answers 404 under /a2a/ on a relay with the bridge off, even for an agent that opted in', async () => {
    const relay = await testRelay({ bridge: false })
    const agent = await testPeer(relay, { defaultProfile: { name: 'bridged agent', description: '', skills: [], bridge: true } })
    try {
      await untilPublished(agent)
      const card = await fetch(bridgeCardUrl(relay.url, agent.peerId))
      expect(card.status).toBe(404)
      expect(await card.json()).toEqual({ error: 'the A2A HTTP bridge is turned off on this relay' })
      const post = await fetch(bridgeUrl(relay.url, agent.peerId), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
      expect(post.status).toBe(404)
    } finally {
      await agent.stop()
      await relay.stop()
    }
  })
})

describe('the bridge\'s limits', () => {
  // "wait" waits until canceled; anything else is echoed at once
  const handler: TaskHandler = async (task, signal) => {
    if (task.text !== 'wait') return { kind: 'completed', text: `echo: ${task.text}` }
    return await new Promise((resolve) => { signal.addEventListener('abort', () => { resolve({ kind: 'failed', text: 'aborted' }) }) })
  }

  async function withAgent (overrides: Partial<RelayConfig>, run: (relay: Awaited<ReturnType<typeof testRelay>>, agent: StarlingPeer) => Promise<void>): Promise<void> {
    const relay = await testRelay(overrides)
    const agent = await testPeer(relay, { defaultProfile: { name: 'bridged agent', description: '', skills: [], bridge: true }, handler })
    try {
      await untilPublished(agent)
      await run(relay, agent)
    } finally {
      await agent.stop()
      await relay.stop()
    }
  }

  function streamingCall (relay: { url: string }, peerId: string, signal?: AbortSignal): Promise<Response> {
    return fetch(bridgeUrl(relay.url, peerId), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'A2A-Version': '1.0' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SendStreamingMessage', params: { message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text: 'wait' }] } } }),
      signal
    })
  }

  it('answers a client over its rate 429 with Retry-After, and counts it', async () => {
    await withAgent({ bridgeCallsPerSecond: 1 }, async (relay, agent) => {
      // a burst of twice the rate passes; the call after it, made at once, does not
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((await fetch(bridgeCardUrl(relay.url, agent.peerId))).status)
      expect(statuses).toEqual([200, 200, 429])
      const refused = await fetch(bridgeCardUrl(relay.url, agent.peerId))
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/)
      expect((await refused.json() as { error: string }).error).toMatch(/^too many calls from /)
      const metric = await relay.metrics.bridgedRequests.get()
      expect(metric.values.find(v => v.labels.outcome === 'rate_limited')?.value).toBeGreaterThanOrEqual(2)
    })
  })

  it('refuses a stream past --bridge-max-streams with 503, and abandons a blocking call past --bridge-call-timeout', async () => {
    await withAgent({ bridgeMaxStreams: 1, bridgeCallTimeout: 1 }, async (relay, agent) => {
      const controller = new AbortController()
      const first = await streamingCall(relay, agent.peerId, controller.signal)
      expect(first.headers.get('content-type')).toMatch(/text\/event-stream/)
      const reader = first.body!.getReader()
      expect((await reader.read()).done).toBe(false)

      const second = await streamingCall(relay, agent.peerId)
      expect(second.status).toBe(503)
      expect(second.headers.get('retry-after')).toBe('5')
      expect((await second.json() as { error: { message: string } }).error.message).toBe('the bridge has 1 streams open, its limit: try again later')
      controller.abort()
      await reader.cancel().catch(() => {})

      // a blocking SendMessage whose task waits is abandoned at the time limit, with the reason
      const client = await new ClientFactory().createFromUrl(relay.url, new URL(bridgeCardUrl(relay.url, agent.peerId)).pathname)
      await expect(client.sendMessage(SendMessageRequest.fromJSON({
        message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text: 'wait' }] }
      }))).rejects.toThrow(`agent ${agent.peerId} did not answer within 1 s; the call was abandoned (a task it started may go on: ask with GetTask)`)
    })
  })
})
