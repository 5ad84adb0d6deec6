/**
 * A relay in private mode under bad input, from real libp2p peers: malformed frames, wrong types
 * and oversized messages on `/starling/mesh/1.0.0`, each answered with its own clear error while
 * a member keeps reserving, publishing, discovering and reading revocations. The flood (random
 * frames on every protocol, strangers asking what only members may, peers that never answer the
 * relay's question, stream limits, idle streams, memory) is relay/abuse.test.ts, in both modes.
 */
import { describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import * as varint from 'uint8-varint'
import type { Stream } from '@libp2p/interface'
import { MAX_MESHES_PER_REQUEST, MESH_MAX_FRAME_BYTES, MESH_PROTOCOL, MeshErrorCode, MeshMethod } from '../../src/core/mesh/protocol.js'
import { encodeFrame } from '../../src/core/rpc/frame.js'
import { RpcErrorCode } from '../../src/core/rpc/jsonrpc.js'
import { collectFrames } from '../../src/core/rpc/testing.js'
import { tcpAddr } from '../../src/native/test-helpers.js'
import type { RunningRelay } from '../relay.js'
import { barePeer } from '../abuse-helpers.js'
import { HopStatus, privateRelayFixture, testMesh } from './test-helpers.js'
import type { MeshPeer } from './test-helpers.js'

describe('a private relay under bad input', () => {
  const fixture = privateRelayFixture()
  /** The relay of the test (member() starts it; the fixture stops it). */
  let relay: RunningRelay | undefined

  async function member (): Promise<{ peer: MeshPeer, meshId: string }> {
    const mesh = await testMesh()
    relay = await fixture.privateRelay([mesh])
    const m = await mesh.member()
    const peer = await fixture.peer(relay, { key: m.key, credentials: [m.credential] })
    return { peer, meshId: mesh.meshId }
  }

  /** The member still does everything a member does. */
  async function stillServes (peer: MeshPeer, meshId: string, skill: string): Promise<void> {
    expect(await peer.reserve()).toBe(HopStatus.OK)
    await peer.publish(skill)
    expect(await peer.discover(skill)).toEqual([peer.id])
    const rpc = await peer.mesh()
    expect(await rpc.request(MeshMethod.Revocations, { meshIds: [meshId] })).toEqual({ revocations: [] })
    await rpc.close()
    expect((await fetch(`${relay!.url}/health`)).status).toBe(200)
  }

  async function rawMesh (): Promise<{ stream: Stream } & ReturnType<typeof collectFrames>> {
    const node = await barePeer()
    fixture.nodes.push(node)
    const stream = await node.dialProtocol(multiaddr(tcpAddr(relay!)), MESH_PROTOCOL)
    return { stream, ...collectFrames(stream) }
  }

  it('answers malformed frames, wrong types and oversized messages on the mesh protocol with clear errors, and keeps serving', async () => {
    const { peer, meshId } = await member()
    await stillServes(peer, meshId, 'before')

    const bad = await rawMesh()
    const calls: Array<[unknown, number, RegExp]> = [
      ['just a string', RpcErrorCode.InvalidRequest, /./],
      [{ jsonrpc: '2.0', id: 1, method: MeshMethod.Revoke, params: { revocation: 5 } }, MeshErrorCode.InvalidParams, /revocation must be a signed revocation/],
      [{ jsonrpc: '2.0', id: 2, method: MeshMethod.Revoke, params: { revocation: { credential: 'not base64 !!', proof: [] } } }, MeshErrorCode.Refused, /the revocation was refused/],
      [{ jsonrpc: '2.0', id: 3, method: MeshMethod.Revocations, params: { meshIds: 'all of them' } }, MeshErrorCode.InvalidParams, /meshIds must be a list/],
      [{ jsonrpc: '2.0', id: 4, method: MeshMethod.Revocations, params: { meshIds: Array.from({ length: MAX_MESHES_PER_REQUEST + 1 }, () => meshId) } }, MeshErrorCode.InvalidParams, /at most 32/],
      [{ jsonrpc: '2.0', id: 5, method: MeshMethod.Revoke, params: [1, 2] }, MeshErrorCode.InvalidParams, /params must be an object/],
      [{ jsonrpc: '2.0', id: 6, method: 'Steal', params: {} }, MeshErrorCode.NotServed, /unknown mesh method Steal/]
    ]
    // one at a time: the relay takes at most MAX_MESH_CALLS_PER_STREAM at once (the rest are told so)
    for (const [i, [call]] of calls.entries()) {
      bad.stream.send(encodeFrame(call))
      await bad.received(i + 1)
    }
    const junk = new TextEncoder().encode('\u0000\u0001 not json')
    bad.stream.send(varint.encode(junk.byteLength))
    bad.stream.send(junk)
    await bad.received(calls.length + 1)
    const byId = new Map(bad.frames.map(f => [(f as { id: unknown }).id, f as { error: { code: number, message: string, data?: unknown } }]))
    calls.forEach(([call, code, message], i) => {
      const id = typeof call === 'object' && call !== null ? (call as { id: number }).id : null
      const answer = id == null ? bad.frames.find(f => (f as { error?: { code: number } }).error?.code === code) as { error: { code: number, message: string } } : byId.get(id)
      expect(answer?.error.code, `call ${i}`).toBe(code)
      expect(answer?.error.message, `call ${i}`).toMatch(message)
    })
    expect(byId.get(2)?.error.data).toEqual({ reason: 'malformed' })
    expect(bad.frames.some(f => (f as { error?: { code: number } }).error?.code === RpcErrorCode.ParseError)).toBe(true)
    // a frame far past the limit: an error, and the stream (its framing lost) is closed
    bad.stream.send(varint.encode(MESH_MAX_FRAME_BYTES + 1))
    await bad.received(calls.length + 2)
    expect(bad.frames.at(-1)).toMatchObject({ error: { code: RpcErrorCode.FrameTooLarge, message: expect.stringMatching(/exceeds the limit of 262144 bytes/) } })

    await stillServes(peer, meshId, 'after')
  })
})
