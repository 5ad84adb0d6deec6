/**
 * The registry protocol on a real relay, spoken by real libp2p peers: the rules, and every kind
 * of bad input a remote could send. The relay must answer each with a clear error and go on
 * serving everyone else.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import * as varint from 'uint8-varint'
import type { Libp2p, Stream } from '@libp2p/interface'
import { buildAgentCard } from '../../src/core/a2a/binding.js'
import { encodeFrame } from '../../src/core/rpc/frame.js'
import { RpcClient } from '../../src/core/rpc/client.js'
import { RpcErrorCode } from '../../src/core/rpc/jsonrpc.js'
import { collectFrames } from '../../src/core/rpc/testing.js'
import type { FrameCollector } from '../../src/core/rpc/testing.js'
import { REGISTRY_PROTOCOL, RegistryMethod } from '../../src/core/registry/protocol.js'
import { tcpAddr, testRelay } from '../../src/native/test-helpers.js'
import type { RunningRelay } from '../relay.js'

async function peer (): Promise<Libp2p> {
  return await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
}

describe('registry protocol on a relay', () => {
  let relay: RunningRelay
  const nodes: Libp2p[] = []

  beforeEach(async () => { relay = await testRelay() })
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    await relay.stop()
  })

  async function registryClient (): Promise<{ node: Libp2p, rpc: RpcClient }> {
    const node = await peer()
    nodes.push(node)
    const stream = await node.dialProtocol(multiaddr(tcpAddr(relay)), REGISTRY_PROTOCOL)
    return { node, rpc: new RpcClient(stream) }
  }

  async function raw (): Promise<{ stream: Stream } & FrameCollector> {
    const node = await peer()
    nodes.push(node)
    const stream = await node.dialProtocol(multiaddr(tcpAddr(relay)), REGISTRY_PROTOCOL)
    return { stream, ...collectFrames(stream) }
  }

  it('publishes, discovers over libp2p and HTTP, and removes', async () => {
    const { node, rpc } = await registryClient()
    const me = node.peerId.toString()
    const published = await rpc.request(RegistryMethod.Publish, { card: buildAgentCard(me, { name: 'a', description: '', skills: [{ id: 'echo' }] }), ttlSeconds: 120 }) as { ttlSeconds: number, expiresAt: string }
    expect(published.ttlSeconds).toBe(120)
    const found = await rpc.request(RegistryMethod.Discover, { skill: 'echo' }) as { agents: Array<{ peerId: string, addresses: string[], online: boolean }> }
    expect(found.agents.map(a => a.peerId)).toEqual([me])
    expect(found.agents[0]?.online).toBe(true)
    expect(found.agents[0]?.addresses.every(a => a.endsWith(`/p2p-circuit/p2p/${me}`))).toBe(true)

    const http = await (await fetch(`${relay.url}/api/v1/agents?skill=echo`)).json() as Array<{ peerId: string, expiresAt: string, card: { name: string } }>
    expect(http).toEqual([expect.objectContaining({ peerId: me, expiresAt: published.expiresAt, card: expect.objectContaining({ name: 'a' }) })])
    expect(await (await fetch(`${relay.url}/api/v1/agents?skill=other`)).json()).toEqual([])
    const health = await (await fetch(`${relay.url}/health`)).json() as { agents: number, status: string }
    expect(health).toMatchObject({ status: 'ok', agents: 1 })

    expect(await rpc.request(RegistryMethod.Remove, {})).toEqual({ removed: true })
    expect(await rpc.request(RegistryMethod.Discover, { skill: 'echo' })).toEqual({ agents: [] })
  })

  it('refuses to act on another peer\'s entry, saying why', async () => {
    const owner = await registryClient()
    const intruder = await registryClient()
    const ownerId = owner.node.peerId.toString()
    await owner.rpc.request(RegistryMethod.Publish, { card: buildAgentCard(ownerId, { name: 'owner', description: '', skills: [{ id: 'echo' }] }) })

    // a card that claims the owner's PeerID
    await expect(intruder.rpc.request(RegistryMethod.Publish, { card: buildAgentCard(ownerId, { name: 'fake', description: '', skills: [{ id: 'echo' }] }) }))
      .rejects.toMatchObject({ rpcCode: RpcErrorCode.Forbidden, message: expect.stringMatching(/only publish its own card/) })
    // naming the owner explicitly
    await expect(intruder.rpc.request(RegistryMethod.Remove, { peerId: ownerId }))
      .rejects.toMatchObject({ rpcCode: RpcErrorCode.Forbidden, message: expect.stringMatching(/only remove its own entry/) })
    await expect(intruder.rpc.request(RegistryMethod.Publish, { peerId: ownerId, card: {} }))
      .rejects.toMatchObject({ rpcCode: RpcErrorCode.Forbidden })
    // removing "its own" entry removes nothing of the owner's
    expect(await intruder.rpc.request(RegistryMethod.Remove, {})).toEqual({ removed: false })

    const found = await owner.rpc.request(RegistryMethod.Discover, { skill: 'echo' }) as { agents: Array<{ peerId: string, card: { name: string } }> }
    expect(found.agents).toEqual([expect.objectContaining({ peerId: ownerId, card: expect.objectContaining({ name: 'owner' }) })])
  })

  it('answers bad params with errors that name the problem', async () => {
    const { node, rpc } = await registryClient()
    const me = node.peerId.toString()
    await expect(rpc.request(RegistryMethod.Publish, { card: { ...buildAgentCard(me, { name: '', description: '', skills: [] }) } }))
      .rejects.toMatchObject({ rpcCode: RpcErrorCode.InvalidParams, message: 'card.name: must not be empty' })
    await expect(rpc.request(RegistryMethod.Publish, { card: buildAgentCard(me, { name: 'x', description: '', skills: [] }), ttlSeconds: 'long' }))
      .rejects.toMatchObject({ rpcCode: RpcErrorCode.InvalidParams, message: 'ttlSeconds must be a number' })
    await expect(rpc.request(RegistryMethod.Discover, { skill: 7 })).rejects.toMatchObject({ rpcCode: RpcErrorCode.InvalidParams })
    await expect(rpc.request(RegistryMethod.Discover, { tags: 'a' })).rejects.toMatchObject({ rpcCode: RpcErrorCode.InvalidParams })
    await expect(rpc.request(RegistryMethod.Discover, [1, 2])).rejects.toMatchObject({ rpcCode: RpcErrorCode.InvalidParams })
    await expect(rpc.request('registry.nuke', {})).rejects.toMatchObject({ rpcCode: RpcErrorCode.MethodNotFound })
  })

  it('survives malformed and oversized frames and keeps serving others', async () => {
    const bad = await raw()
    bad.stream.send(encodeFrame('just a string'))
    const junk = new TextEncoder().encode('\u0000\u0001 not json')
    bad.stream.send(varint.encode(junk.byteLength))
    bad.stream.send(junk)
    await bad.received(2)
    expect(bad.frames[0]).toMatchObject({ error: { code: RpcErrorCode.InvalidRequest } })
    expect(bad.frames[1]).toMatchObject({ error: { code: RpcErrorCode.ParseError } })
    bad.stream.send(varint.encode(1024 * 1024 * 1024))
    await bad.received(3)
    expect(bad.frames[2]).toMatchObject({ error: { code: RpcErrorCode.FrameTooLarge, message: expect.stringMatching(/exceeds the limit of 262144 bytes/) } })

    const { node, rpc } = await registryClient()
    await rpc.request(RegistryMethod.Publish, { card: buildAgentCard(node.peerId.toString(), { name: 'ok', description: '', skills: [{ id: 'echo' }] }) })
    expect(((await rpc.request(RegistryMethod.Discover, { skill: 'echo' })) as { agents: unknown[] }).agents).toHaveLength(1)
    expect((await fetch(`${relay.url}/health`)).status).toBe(200)
  })
})
