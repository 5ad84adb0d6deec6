/**
 * Large messages between native peers through a real relay: 25 MiB each way through a circuit,
 * small calls beside them, and relays whose data limit is too small for a message.
 */
import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { SendMessageRequest } from '@a2a-js/sdk'
import type { Client } from '@a2a-js/sdk/client'
import type { Message, Task } from '@a2a-js/sdk'
import type { Connection } from '@libp2p/interface'
import type { StarlingPeer } from '../core/peer.js'
import type { TaskHandler } from '../core/tasks/executor.js'
import { bytesToBase64 } from '../core/a2a/parts.js'
import { TooLargeForRelayError } from '../core/errors.js'
import { WEBRTC_SIGNALING_PROTOCOL } from '../core/node/direct-upgrade.js'
import { allowanceFor } from '../core/rpc/allowance.js'
import { RpcClient } from '../core/rpc/client.js'
import { successResponse } from '../core/rpc/jsonrpc.js'
import { serveRpc } from '../core/rpc/server.js'
import { tcpAddr, untilPublished } from './test-helpers.js'
import { peersOnRelay } from './test-peers.js'

const KiB = 1024
const MiB = 1024 * KiB

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** A SendMessage request with `parts`; the agent is asked not to send our message back in the task's history. */
function message (parts: Array<Record<string, unknown>>): SendMessageRequest {
  return SendMessageRequest.fromJSON({
    message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts },
    configuration: { historyLength: 0 }
  })
}

function fileMessage (bytes: Uint8Array, filename = 'file.bin'): SendMessageRequest {
  return message([{ raw: bytesToBase64(bytes), mediaType: 'application/octet-stream', filename }])
}

/** The text of a completed task's first artifact. */
function answerText (result: Task | Message): string | undefined {
  const content = (result as Task).artifacts?.[0]?.parts[0]?.content
  return content?.$case === 'text' ? content.value : undefined
}

/** The sha256 of the first file part of a message, if it has one. */
function fileHash (parts: Array<{ raw?: string }>): string | undefined {
  const raw = parts.find(p => p.raw != null)?.raw
  return raw == null ? undefined : sha256(Buffer.from(raw, 'base64'))
}

describe('large transfers between native peers through a real relay', () => {
  const onRelay = peersOnRelay()

  /** An agent that logs what reaches its handler, and a sender with an SDK client for it. */
  async function pair (handler: TaskHandler): Promise<{ agent: StarlingPeer, sender: StarlingPeer, client: Client }> {
    const agent = await onRelay.peer({ handler })
    const sender = await onRelay.peer()
    await Promise.all([untilPublished(agent), untilPublished(sender)])
    return { agent, sender, client: await sender.client(agent.peerId) }
  }

  /** A handler that stores the hash of the file it is sent (`received`) and answers "stored". */
  function storing (): { handler: TaskHandler, received?: string } {
    const store: { handler: TaskHandler, received?: string } = {
      handler: async (task) => {
        store.received = fileHash(task.message.parts)
        return { kind: 'completed', text: 'stored' }
      }
    }
    return store
  }

  function circuits (from: StarlingPeer, to: StarlingPeer): Connection[] {
    return from.node.getConnections(peerIdFromString(to.peerId)).filter(c => c.limits != null)
  }

  it('carries a 25 MiB file to the agent and a 25 MiB artifact back, byte for byte', async () => {
    // 25 MiB each way is 2 x 33.3 MiB of base64 on one circuit: more than the default 64 MiB
    await onRelay.relay({ relayDataLimit: 128 * MiB })
    const file = randomBytes(25 * MiB)
    const answer = randomBytes(25 * MiB)
    let received: string | undefined
    const { agent, sender, client } = await pair(async (task) => {
      received = fileHash(task.message.parts)
      return { kind: 'completed', parts: [{ raw: bytesToBase64(answer), mediaType: 'application/octet-stream', filename: 'answer.bin' }] }
    })

    const result = await client.sendMessage(fileMessage(file))

    expect(received).toBe(sha256(file))
    const content = (result as Task).artifacts[0]?.parts[0]?.content
    expect(content?.$case).toBe('raw')
    expect(sha256(content?.value as Uint8Array)).toBe(sha256(answer))
    // it all went through the one circuit, which is still open
    const [circuit, ...others] = circuits(sender, agent)
    expect(others).toEqual([])
    expect(circuit?.status).toBe('open')
  }, 120_000)

  it('answers a small call while a 25 MiB message is on its way over the same stream', async () => {
    await onRelay.relay({ relayDataLimit: 128 * MiB })
    const arrived: string[] = []
    const { client } = await pair(async (task) => {
      const large = task.message.parts.some(p => p.raw != null)
      arrived.push(large ? 'large' : task.text)
      return { kind: 'completed', text: large ? 'got the file' : `echo: ${task.text}` }
    })
    await client.sendMessage(message([{ text: 'warm up' }]))

    const order: string[] = []
    const large = client.sendMessage(fileMessage(randomBytes(25 * MiB))).then((r) => { order.push('large'); return r })
    const small = client.sendMessage(message([{ text: 'quick one' }])).then((r) => { order.push('small'); return r })
    const [largeResult, smallResult] = await Promise.all([large, small])

    expect(answerText(smallResult)).toBe('echo: quick one')
    expect(answerText(largeResult)).toBe('got the file')
    // the small message overtook the large one on the wire, and its answer came back first
    expect(arrived).toEqual(['warm up', 'quick one', 'large'])
    expect(order).toEqual(['small', 'large'])
  }, 120_000)

  it('refuses a message too large for a tiny relay limit with a typed error, cuts nothing, and small calls go on', async () => {
    await onRelay.relay({ relayDataLimit: 128 * KiB })
    const arrived: string[] = []
    const { agent, sender, client } = await pair(async (task) => {
      arrived.push(task.text === '' ? 'file' : task.text)
      return { kind: 'completed', text: `echo: ${task.text}` }
    })
    expect(answerText(await client.sendMessage(message([{ text: 'hello' }])))).toBe('echo: hello')
    const [circuit] = circuits(sender, agent)
    expect(circuit?.limits?.bytes).toBeDefined()

    const err = await client.sendMessage(fileMessage(randomBytes(1 * MiB))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TooLargeForRelayError)
    expect(err).toMatchObject({ code: 'ERR_TOO_LARGE_FOR_RELAY', peerId: agent.peerId, limit: 'data' })
    expect((err as TooLargeForRelayError).size).toBeGreaterThan(1 * MiB)
    expect((err as TooLargeForRelayError).message).toMatch(/does not fit a relayed connection .*no direct connection/)

    // nothing of it left: the agent never saw it, and the circuit was not cut
    expect(arrived).toEqual(['hello'])
    expect(circuit?.status).toBe('open')
    expect(answerText(await client.sendMessage(message([{ text: 'still there?' }])))).toBe('echo: still there?')
    expect(arrived).toEqual(['hello', 'still there?'])
  }, 60_000)

  it('refuses a message that could not be sent before the relay\'s time limit ends its circuit', async () => {
    // a large message needs its transfer time at 256 KiB/s plus 10 s; the circuit lasts 20 s
    await onRelay.relay({ relayDurationLimit: 20 })
    const arrived: string[] = []
    const { client } = await pair(async (task) => {
      arrived.push(task.text === '' ? 'file' : task.text)
      return { kind: 'completed', text: 'stored' }
    })
    expect(answerText(await client.sendMessage(fileMessage(randomBytes(1 * MiB))))).toBe('stored')
    const err = await client.sendMessage(fileMessage(randomBytes(4 * MiB))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TooLargeForRelayError)
    expect(err).toMatchObject({ limit: 'duration', message: expect.stringMatching(/before its relay closes the circuit/) })
    expect(arrived).toEqual(['file'])
    expect(answerText(await client.sendMessage(message([{ text: 'small' }])))).toBe('stored')
  }, 60_000)

  it('sends a message that no longer fits what is left of a circuit over a fresh one', async () => {
    await onRelay.relay({ relayDataLimit: 3 * MiB })
    const received: string[] = []
    const { agent, sender, client } = await pair(async (task) => {
      const raw = task.message.parts.find(p => p.raw != null)?.raw
      received.push(raw == null ? task.text : sha256(Buffer.from(raw, 'base64')))
      return { kind: 'completed', text: 'stored' }
    })
    const files = [randomBytes(1 * MiB), randomBytes(1 * MiB), randomBytes(1 * MiB)]
    for (const file of files) expect(answerText(await client.sendMessage(fileMessage(file)))).toBe('stored')

    expect(received).toEqual(files.map(sha256))
    // the third did not fit the first circuit: it went over a second; neither was cut
    const used = circuits(sender, agent)
    expect(used.length).toBeGreaterThanOrEqual(2)
    for (const c of used) expect(c.status).toBe('open')
  }, 60_000)

  it('sends a message too large for the relay over a direct connection when there is one', async () => {
    await onRelay.relay({ relayDataLimit: 128 * KiB })
    const store = storing()
    const agent = await onRelay.peer({ listen: ['/p2p-circuit', '/ip4/127.0.0.1/tcp/0'], handler: store.handler })
    const sender = await onRelay.peer()
    await Promise.all([untilPublished(agent), untilPublished(sender)])
    const client = await sender.client(agent.peerId)
    expect(answerText(await client.sendMessage(message([{ text: 'over the relay' }])))).toBe('stored')
    expect(circuits(sender, agent)).toHaveLength(1)

    await sender.node.dial(agent.node.getMultiaddrs().find(a => !a.toString().includes('/p2p-circuit'))!)
    const file = randomBytes(1 * MiB)
    expect(answerText(await client.sendMessage(fileMessage(file)))).toBe('stored')
    expect(store.received).toBe(sha256(file))
    expect(sender.connections().filter(c => c.peerId === agent.peerId).map(c => c.kind).sort()).toEqual(['direct', 'relayed'])
  }, 60_000)

  it('waits for a direct connection, where one may come, for a message too large for the relay', async () => {
    await onRelay.relay({ relayDataLimit: 128 * KiB })
    const store = storing()
    const agent = await onRelay.peer({ listen: ['/p2p-circuit', '/ip4/127.0.0.1/tcp/0'], handler: store.handler })
    const sender = await onRelay.peer()
    // both ends say they can do WebRTC (as browsers do), so a direct connection may come
    for (const peer of [agent, sender]) await peer.node.handle(WEBRTC_SIGNALING_PROTOCOL, (stream) => { stream.abort(new Error('not in this test')) }, { runOnLimitedConnection: true })
    await Promise.all([untilPublished(agent), untilPublished(sender)])
    const client = await sender.client(agent.peerId)
    expect(answerText(await client.sendMessage(message([{ text: 'over the relay' }])))).toBe('stored')

    // the connector starts waiting: it listens for new connections
    const waiting = new Promise<void>((resolve) => {
      const node = sender.node
      const add = node.addEventListener.bind(node)
      node.addEventListener = ((type: string, ...rest: unknown[]) => {
        (add as (type: string, ...rest: unknown[]) => void)(type, ...rest)
        if (type === 'connection:open') resolve()
      }) as typeof node.addEventListener
    })
    const file = randomBytes(1 * MiB)
    const sent = client.sendMessage(fileMessage(file))
    await Promise.race([waiting, sent])
    expect(store.received).toBeUndefined()
    // the direct connection comes (here: TCP; in browsers: the WebRTC upgrade)
    await sender.node.dial(agent.node.getMultiaddrs().find(a => !a.toString().includes('/p2p-circuit'))!)
    expect(answerText(await sent)).toBe('stored')
    expect(store.received).toBe(sha256(file))
  }, 60_000)

  it('refuses an answer that does not fit the circuit it would go back on (-32086), and the circuit stays usable', async () => {
    const relay = await onRelay.relay({ relayDataLimit: 1 * MiB })
    const agent = await onRelay.peer()
    const sender = await onRelay.peer()
    await Promise.all([untilPublished(agent), untilPublished(sender)])
    const protocol = '/starling-test/answer/1.0.0'
    await agent.node.handle(protocol, async (stream, connection) => {
      await serveRpc(stream, {
        maxMessageBytes: 8 * MiB,
        connection,
        handler: (request) => successResponse(request.id ?? null, 'a'.repeat(Number(request.params)))
      })
    }, { runOnLimitedConnection: true })

    const circuit = await sender.node.dial(multiaddr(`${tcpAddr(relay)}/p2p-circuit/p2p/${agent.peerId}`))
    expect(circuit.limits).toBeDefined()
    const stream = await circuit.newStream(protocol, { runOnLimitedConnection: true })
    const client = new RpcClient(stream, { maxMessageBytes: 8 * MiB, allowance: allowanceFor(circuit) })

    const err = await client.request('answer', 2 * MiB).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TooLargeForRelayError)
    expect((err as TooLargeForRelayError).message).toMatch(/does not fit the relayed connection/)
    // the caller's side knows: this circuit is not for new calls any more
    expect(client.allowance?.exhausted).toBe(true)
    expect(circuit.status).toBe('open')
    expect(await client.request('answer', 100)).toBe('a'.repeat(100))
  }, 60_000)
})
