import { describe, expect, it } from 'vitest'
import { streamPair } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import type { Stream } from '@libp2p/interface'
import { ChannelClosedError, MessageTooLargeError, RemoteRpcError, TooLargeForRelayError } from '../errors.js'
import { RpcClient } from './client.js'
import { encodeFrame } from './frame.js'
import { startFragment } from './fragment.js'
import { errorResponse, RpcErrorCode, successResponse } from './jsonrpc.js'
import type { JsonRpcRequest } from './jsonrpc.js'
import { serveRpc } from './server.js'
import { collectFrames } from './testing.js'
import type { RpcHandler } from './server.js'
import { TransferAllowance } from './allowance.js'

/** A handler with a unary echo, a streaming count, a never-ending stream and a thrower. */
const handler: RpcHandler = async (request, { signal }) => {
  const id = request.id ?? null
  switch (request.method) {
    case 'echo':
      return successResponse(id, { params: request.params, serviceParameters: request.serviceParameters })
    case 'slow':
      await new Promise(resolve => setTimeout(resolve, 50))
      return successResponse(id, 'slow')
    case 'count':
      return (async function * () {
        const n = (request.params as { n: number }).n
        for (let i = 0; i < n; i++) yield successResponse(id, i)
      })()
    case 'forever':
      return (async function * () {
        let i = 0
        while (!signal.aborted) {
          yield successResponse(id, i++)
          await new Promise(resolve => setTimeout(resolve, 5))
        }
      })()
    case 'failing-stream':
      return (async function * () {
        yield successResponse(id, 'first')
        yield errorResponse(id, -32001, 'task not found')
      })()
    case 'throws':
      throw new Error('boom')
    default:
      return errorResponse(id, RpcErrorCode.MethodNotFound, `no method ${request.method}`)
  }
}

async function pair (init: { maxFrameBytes?: number, maxInFlight?: number } = {}): Promise<{ client: RpcClient, server: Stream, raw: Stream, served: Promise<void> }> {
  const [outbound, inbound] = await streamPair()
  const served = serveRpc(inbound, { handler, ...init })
  return { client: new RpcClient(outbound, { maxFrameBytes: init.maxFrameBytes }), server: inbound, raw: outbound, served }
}

describe('RPC over one stream', () => {
  it('matches many concurrent requests to their responses by id', async () => {
    const { client } = await pair()
    const results = await Promise.all(Array.from({ length: 200 }, async (_, i) => await client.request('echo', { i })))
    expect(results.map(r => (r as { params: { i: number } }).params.i)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    await client.close()
  })

  it('carries service parameters beside the request', async () => {
    const { client } = await pair()
    const result = await client.request('echo', {}, { serviceParameters: { 'A2A-Version': '1.0' } })
    expect(result).toEqual({ params: {}, serviceParameters: { 'A2A-Version': '1.0' } })
  })

  it('does not hold a quick request behind a slow one', async () => {
    const { client } = await pair()
    const order: string[] = []
    await Promise.all([
      client.request('slow', null).then(() => order.push('slow')),
      client.request('echo', null).then(() => order.push('echo'))
    ])
    expect(order).toEqual(['echo', 'slow'])
  })

  it('streams results until $/end', async () => {
    const { client } = await pair()
    const seen: unknown[] = []
    for await (const value of client.subscribe('count', { n: 5 })) seen.push(value)
    expect(seen).toEqual([0, 1, 2, 3, 4])
    expect(client.inFlight).toBe(0)
  })

  it('ends a stream with the error response the server sends', async () => {
    const { client } = await pair()
    const seen: unknown[] = []
    await expect((async () => { for await (const v of client.subscribe('failing-stream', null)) seen.push(v) })())
      .rejects.toMatchObject({ rpcCode: -32001, message: 'task not found' })
    expect(seen).toEqual(['first'])
  })

  it('cancels a stream on the server when the consumer stops reading', async () => {
    const { client } = await pair()
    let n = 0
    for await (const _ of client.subscribe('forever', null)) { if (++n === 3) break }
    expect(client.inFlight).toBe(0)
    // the stream still works afterwards
    expect(await client.request('echo', 1)).toMatchObject({ params: 1 })
  })

  it('rejects a request whose signal aborts, and keeps the stream usable', async () => {
    const { client } = await pair()
    const controller = new AbortController()
    const pending = client.request('slow', null, { signal: controller.signal })
    controller.abort(new Error('gave up'))
    await expect(pending).rejects.toThrow('gave up')
    expect(await client.request('echo', 2)).toMatchObject({ params: 2 })
  })

  it('turns a handler that throws into an InternalError response', async () => {
    const { client } = await pair()
    await expect(client.request('throws', null)).rejects.toMatchObject({ rpcCode: RpcErrorCode.InternalError })
    expect(await client.request('echo', 3)).toMatchObject({ params: 3 })
  })

  it('answers unknown methods with MethodNotFound', async () => {
    const { client } = await pair()
    const err = await client.request('nope', null).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RemoteRpcError)
    expect(err).toMatchObject({ rpcCode: RpcErrorCode.MethodNotFound })
  })

  it('fails calls in flight when the stream closes', async () => {
    const { client, server } = await pair()
    const pending = client.request('slow', null)
    server.abort(new Error('remote went away'))
    await expect(pending).rejects.toBeInstanceOf(ChannelClosedError)
    expect(client.isOpen).toBe(false)
  })

  it('refuses to send a request larger than the message limit, before sending anything', async () => {
    const { client } = await pair({ maxFrameBytes: 256 })
    await expect(client.request('echo', 'z'.repeat(1000))).rejects.toBeInstanceOf(MessageTooLargeError)
    expect(await client.request('echo', 'small')).toMatchObject({ params: 'small' })
  })

  it('caps the requests in flight on one stream', async () => {
    const { client } = await pair({ maxInFlight: 2 })
    const results = await Promise.allSettled([client.request('slow', null), client.request('slow', null), client.request('slow', null)])
    expect(results.filter(r => r.status === 'fulfilled')).toHaveLength(2)
    expect(results.find(r => r.status === 'rejected')).toMatchObject({ reason: { rpcCode: RpcErrorCode.TooManyRequests } })
  })
})

describe('RPC server facing bad input', () => {
  it('answers malformed frames with JSON-RPC errors and keeps serving', async () => {
    const [outbound, inbound] = await streamPair()
    void serveRpc(inbound, { handler })
    const { frames, received } = collectFrames(outbound)
    const junk = new TextEncoder().encode('{"jsonrpc": "2.0", "method":')
    outbound.send(varint.encode(junk.byteLength))
    outbound.send(junk)
    outbound.send(encodeFrame([1, 2, 3]))
    outbound.send(encodeFrame({ jsonrpc: '1.0', id: 7, method: 'echo' }))
    outbound.send(encodeFrame({ jsonrpc: '2.0', id: { no: 1 }, method: 'echo' }))
    outbound.send(encodeFrame({ jsonrpc: '2.0', id: 8, method: 'echo', serviceParameters: { n: 1 } }))
    outbound.send(encodeFrame({ jsonrpc: '2.0', id: 9, method: 'echo', params: 'still here' }))
    await received(6)
    expect(frames[0]).toMatchObject({ id: null, error: { code: RpcErrorCode.ParseError } })
    expect(frames[1]).toMatchObject({ id: null, error: { code: RpcErrorCode.InvalidRequest } })
    expect(frames[2]).toMatchObject({ id: 7, error: { code: RpcErrorCode.InvalidRequest, message: 'invalid request: jsonrpc must be "2.0"' } })
    expect(frames[3]).toMatchObject({ id: null, error: { code: RpcErrorCode.InvalidRequest } })
    expect(frames[4]).toMatchObject({ id: 8, error: { message: 'invalid request: serviceParameters must be an object of strings' } })
    expect(frames[5]).toMatchObject({ id: 9, result: { params: 'still here' } })
  })

  it('answers an oversized frame with an error and closes that stream only', async () => {
    const [outbound, inbound] = await streamPair()
    const served = serveRpc(inbound, { handler, maxFrameBytes: 1024 })
    const { frames, received } = collectFrames(outbound)
    outbound.send(varint.encode(50 * 1024 * 1024))
    outbound.send(new Uint8Array(2048))
    await received(1)
    expect(frames[0]).toMatchObject({ id: null, error: { code: RpcErrorCode.FrameTooLarge } })
    await outbound.close()
    await served
    expect(inbound.status).not.toBe('open')
  })

  it('rejects a request id that is already in flight', async () => {
    const [outbound, inbound] = await streamPair()
    void serveRpc(inbound, { handler })
    const { frames, received } = collectFrames(outbound)
    const request: JsonRpcRequest = { jsonrpc: '2.0', id: 1, method: 'slow' }
    outbound.send(encodeFrame(request))
    outbound.send(encodeFrame(request))
    await received(2)
    expect(frames[0]).toMatchObject({ id: 1, error: { code: RpcErrorCode.InvalidRequest } })
    expect(frames[1]).toMatchObject({ id: 1, result: 'slow' })
  })
})

const MiB = 1024 * 1024

/** A payload of `n` bytes of JSON string (no escapes, so its JSON is n + 2 bytes). */
function blob (n: number, fill = 'x'): string {
  return fill.repeat(n)
}

describe('large messages on one stream', () => {
  /** A server whose handler logs what reached it, in order. */
  async function logged (serverInit: { maxMessageBytes?: number, connection?: { limits?: { bytes?: bigint } } } = {}, clientInit: { maxMessageBytes?: number } = {}): Promise<{ client: RpcClient, arrived: string[], server: Stream }> {
    const [outbound, inbound] = await streamPair()
    const arrived: string[] = []
    void serveRpc(inbound, {
      ...serverInit,
      handler: async (request, context) => {
        arrived.push(typeof request.params === 'string' && request.params.length > 1000 ? `${request.method} (large)` : request.method)
        if (request.method === 'big-answer') return successResponse(request.id ?? null, blob((request.params as { n: number }).n, 'r'))
        if (request.method === 'big-then-small') {
          return (async function * () {
            try {
              yield successResponse(request.id ?? null, 'first')
              yield successResponse(request.id ?? null, blob(2 * MiB, 'b'))
              yield successResponse(request.id ?? null, 'last')
            } finally {
              arrived.push('big-then-small ended')
            }
          })()
        }
        return await handler(request, context)
      }
    })
    return { client: new RpcClient(outbound, { maxMessageBytes: 8 * MiB, ...clientInit }), arrived, server: inbound }
  }

  it('carries requests and results far larger than one frame, intact', async () => {
    const { client } = await logged({ maxMessageBytes: 8 * MiB })
    const payload = blob(5 * MiB, 'q') + 'ünïcødé ✓'
    expect(await client.request('echo', payload)).toEqual({ params: payload })
    expect(await client.request('big-answer', { n: 6 * MiB })).toBe(blob(6 * MiB, 'r'))
  })

  it('lets a small call overtake a large one already being sent', async () => {
    const { client, arrived } = await logged({ maxMessageBytes: 8 * MiB })
    const order: string[] = []
    const big = client.request('echo', blob(4 * MiB)).then(() => order.push('big'))
    const small = client.request('echo', 'small').then(() => order.push('small'))
    await Promise.all([big, small])
    // the small request reached the server first, and its answer came back first
    expect(arrived).toEqual(['echo', 'echo (large)'])
    expect(order).toEqual(['small', 'big'])
  })

  it('keeps the results of one call in order when a large one is among them', async () => {
    const { client } = await logged({ maxMessageBytes: 8 * MiB })
    const seen: unknown[] = []
    for await (const value of client.subscribe('big-then-small', null)) seen.push(typeof value === 'string' && value.length > 100 ? value.length : value)
    expect(seen).toEqual(['first', 2 * MiB, 'last'])
  })

  it('answers a request over the server\'s limit with -32085, stops sending it, and serves the next call', async () => {
    const { client, arrived } = await logged({ maxMessageBytes: 1 * MiB })
    const err = await client.request('echo', blob(3 * MiB)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MessageTooLargeError)
    expect(err).toMatchObject({ limit: 1 * MiB, message: expect.stringMatching(/exceeds the limit of 1048576 bytes/) })
    expect(await client.request('echo', 'next')).toEqual({ params: 'next' })
    expect(arrived).toEqual(['echo'])
  })

  it('answers -32085 when a response is over the server\'s limit', async () => {
    const { client } = await logged({ maxMessageBytes: 1 * MiB })
    await expect(client.request('big-answer', { n: 2 * MiB })).rejects.toMatchObject({ code: 'ERR_MESSAGE_TOO_LARGE', limit: 1 * MiB })
    expect(await client.request('echo', 'next')).toEqual({ params: 'next' })
  })

  it('fails only the call whose response is over the client\'s limit', async () => {
    const { client } = await logged({ maxMessageBytes: 8 * MiB }, { maxMessageBytes: 1 * MiB })
    const big = client.request('big-answer', { n: 2 * MiB })
    const small = client.request('echo', 'beside it')
    await expect(big).rejects.toBeInstanceOf(MessageTooLargeError)
    expect(await small).toEqual({ params: 'beside it' })
    expect(await client.request('echo', 'after')).toEqual({ params: 'after' })
  })

  it('drops a large request aborted halfway: the server never sees it, the stream goes on', async () => {
    const { client, arrived } = await logged({ maxMessageBytes: 8 * MiB })
    const controller = new AbortController()
    const pending = client.request('echo', blob(4 * MiB), { signal: controller.signal })
    controller.abort(new Error('changed my mind'))
    await expect(pending).rejects.toThrow('changed my mind')
    expect(await client.request('echo', 'after')).toEqual({ params: 'after' })
    expect(arrived).toEqual(['echo'])
  })

  it('stops a large result when the consumer stops reading', async () => {
    const { client } = await logged({ maxMessageBytes: 8 * MiB })
    for await (const value of client.subscribe('big-then-small', null)) {
      expect(value).toBe('first')
      break
    }
    expect(client.inFlight).toBe(0)
    expect(await client.request('echo', 'after')).toEqual({ params: 'after' })
  })

  it('refuses a response that does not fit a relayed connection with -32086, and sends nothing of it', async () => {
    const limits = { bytes: BigInt(1 * MiB) }
    const { client } = await logged({ maxMessageBytes: 8 * MiB, connection: { limits } })
    const err = await client.request('big-answer', { n: 2 * MiB }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TooLargeForRelayError)
    expect(err).toMatchObject({ limit: 'data', message: expect.stringMatching(/does not fit the relayed connection/) })
    expect((err as TooLargeForRelayError).remaining).toBeLessThan(1 * MiB)
    // a small answer still fits
    expect(await client.request('echo', 'small')).toEqual({ params: 'small' })
  })

  it('ends a streaming call whose next result does not fit a relayed connection with -32086', async () => {
    const { client, arrived } = await logged({ maxMessageBytes: 8 * MiB, connection: { limits: { bytes: BigInt(1 * MiB) } } })
    const seen: unknown[] = []
    const err = await (async () => { for await (const v of client.subscribe('big-then-small', null)) seen.push(v) })().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TooLargeForRelayError)
    expect(seen).toEqual(['first'])
    // the server stopped the call rather than go on with results nobody will take
    expect(arrived).toEqual(['big-then-small', 'big-then-small ended'])
    expect(await client.request('echo', 'small')).toEqual({ params: 'small' })
  })

  it('sends a request that does not fit its connection elsewhere, or fails with TooLargeForRelayError', async () => {
    const relayed = await logged({ maxMessageBytes: 8 * MiB })
    const direct = await logged({ maxMessageBytes: 8 * MiB })
    const allowance = new TransferAllowance({ bytes: BigInt(1 * MiB) })
    const limited = new RpcClient(relayed.client.stream, { maxMessageBytes: 8 * MiB, allowance, reroute: async () => direct.client })
    expect(await limited.request('echo', blob(2 * MiB))).toEqual({ params: blob(2 * MiB) })
    expect(direct.arrived).toEqual(['echo (large)'])
    expect(relayed.arrived).toEqual([])

    const [outbound, inbound] = await streamPair()
    const arrived: string[] = []
    void serveRpc(inbound, { handler: async (request, context) => { arrived.push(request.method); return await handler(request, context) } })
    const stranded = new RpcClient(outbound, { maxMessageBytes: 8 * MiB, allowance: new TransferAllowance({ bytes: BigInt(1 * MiB) }) })
    await expect(stranded.request('echo', blob(2 * MiB))).rejects.toBeInstanceOf(TooLargeForRelayError)
    expect(await stranded.request('echo', 'small')).toEqual({ params: 'small' })
    expect(arrived).toEqual(['echo'])
  })

  it('answers a fragmented request over the limit by its id, even from a raw sender', async () => {
    const [outbound, inbound] = await streamPair()
    void serveRpc(inbound, { handler, maxMessageBytes: 1024 })
    const { frames, received } = collectFrames(outbound)
    outbound.send(startFragment(1, 5000, 'call-1', new Uint8Array(100)))
    outbound.send(encodeFrame({ jsonrpc: '2.0', id: 2, method: 'echo', params: 'after' }))
    await received(2)
    expect(frames[0]).toMatchObject({ id: 'call-1', error: { code: RpcErrorCode.MessageTooLarge, data: { size: 5000, limit: 1024 } } })
    expect(frames[1]).toMatchObject({ id: 2, result: { params: 'after' } })
  })
})
