import { describe, expect, it } from 'vitest'
import { streamPair } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import type { Stream } from '@libp2p/interface'
import { ChannelClosedError, FrameTooLargeError, RemoteRpcError } from '../errors.js'
import { RpcClient } from './client.js'
import { encodeFrame } from './frame.js'
import { errorResponse, RpcErrorCode, successResponse } from './jsonrpc.js'
import type { JsonRpcRequest } from './jsonrpc.js'
import { serveRpc } from './server.js'
import { collectFrames } from './testing.js'
import type { RpcHandler } from './server.js'

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

  it('refuses to send a request larger than the frame limit, before sending anything', async () => {
    const { client } = await pair({ maxFrameBytes: 256 })
    await expect(client.request('echo', 'z'.repeat(1000))).rejects.toBeInstanceOf(FrameTooLargeError)
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
