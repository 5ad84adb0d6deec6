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
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { bytesToBase64 } from '../../src/core/a2a/parts.js'
import { openAgentRecord, sealAgentRecord } from '../../src/core/registry/agent-record.js'
import { base64ToBytes } from '../../src/core/a2a/parts.js'
import { tcpAddr, testRelay } from '../../src/native/test-helpers.js'
import type { RunningRelay } from '../relay.js'

async function peer (privateKey?: PrivateKey): Promise<Libp2p> {
  return await createLibp2p({ privateKey, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
}

describe('registry protocol on a relay', () => {
  let relay: RunningRelay
  const nodes: Libp2p[] = []

  beforeEach(async () => { relay = await testRelay() })
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    await relay.stop()
  })

  async function registryClient (privateKey?: PrivateKey): Promise<{ node: Libp2p, rpc: RpcClient }> {
    const node = await peer(privateKey)
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

  it('keeps a signed agent record with the entry, for anyone to check, and refuses one that does not hold', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const { node, rpc } = await registryClient(key)
    const me = node.peerId.toString()
    const card = buildAgentCard(me, { name: 'signed', description: '', skills: [{ id: 'signed' }] })
    const record = bytesToBase64(await sealAgentRecord(card, key, 100))
    await rpc.request(RegistryMethod.Publish, { card, record })
    const found = await rpc.request(RegistryMethod.Discover, { skill: 'signed' }) as { agents: Array<{ peerId: string, record?: string }> }
    const held = found.agents[0]?.record
    expect(held).toBe(record)
    // anyone holding it checks who published the card, without the relay's word for it
    expect((await openAgentRecord(base64ToBytes(held ?? ''))).peerId).toBe(me)
    const http = await (await fetch(new URL('/api/v1/agents?skill=signed', relay.url))).json() as Array<{ record?: string }>
    expect(http[0]?.record).toBe(record)

    const refused = async (params: Record<string, unknown>): Promise<{ code: number, message: string }> =>
      await rpc.request(RegistryMethod.Publish, params).then(() => ({ code: 0, message: 'accepted' }), (e: { rpcCode: number, message: string }) => ({ code: e.rpcCode, message: e.message }))
    // changed after signing
    const bytes = await sealAgentRecord(card, key, 200)
    const at = Buffer.from(bytes).indexOf('"name":"signed"')
    bytes[at + 9] = 'X'.charCodeAt(0)
    expect(await refused({ card, record: bytesToBase64(bytes) })).toEqual({ code: RpcErrorCode.InvalidParams, message: expect.stringMatching(/signature does not verify/) })
    // signed by someone else
    expect(await refused({ card, record: bytesToBase64(await sealAgentRecord(card, other, 300)) })).toEqual({ code: RpcErrorCode.Forbidden, message: expect.stringMatching(/you are/) })
    // a record of another card than the one published
    const renamed = { ...card, name: 'renamed' }
    expect(await refused({ card: renamed, record: bytesToBase64(await sealAgentRecord(card, key, 400)) })).toEqual({ code: RpcErrorCode.InvalidParams, message: expect.stringMatching(/another card/) })
    // an older record replayed
    expect(await refused({ card, record: bytesToBase64(await sealAgentRecord(card, key, 50)) })).toEqual({ code: RpcErrorCode.InvalidParams, message: expect.stringMatching(/not newer/) })
    // not base64 at all
    expect((await refused({ card, record: '%%%' })).code).toBe(RpcErrorCode.InvalidParams)
    // and the entry is still the first record
    const after = await rpc.request(RegistryMethod.Discover, { skill: 'signed' }) as { agents: Array<{ record?: string }> }
    expect(after.agents[0]?.record).toBe(record)
  })

  it('limits calls per peer, saying when to try again, and leaves other peers alone', async () => {
    const { rpc } = await registryClient()
    const { rpc: quiet } = await registryClient()
    // one after the other (the stream's cap on calls in flight is another limit)
    const outcomes: string[] = []
    for (let i = 0; i < 40; i++) {
      outcomes.push(await rpc.request(RegistryMethod.Discover, {}).then(() => 'ok', (e: { rpcCode: number, message: string }) => `${e.rpcCode} ${e.message}`))
    }
    const limited = outcomes.filter(o => o !== 'ok')
    expect(outcomes.filter(o => o === 'ok').length).toBeGreaterThanOrEqual(20)
    expect(limited.length).toBeGreaterThan(0)
    expect(limited[0]).toMatch(new RegExp(`^${RpcErrorCode.TooManyRequests} too many registry calls: at most 10 a second per peer \\(bursts of 20\\); try again in \\d+ ms$`))
    expect(await quiet.request(RegistryMethod.Discover, {})).toEqual({ agents: [] })
  })

  it('finds agents by free text and pages through them with cursors', async () => {
    const publishers = await Promise.all([1, 2, 3, 4, 5].map(async () => await registryClient()))
    for (const [i, { node, rpc }] of publishers.entries()) {
      await rpc.request(RegistryMethod.Publish, { card: buildAgentCard(node.peerId.toString(), { name: `Translator ${i}`, description: i % 2 === 0 ? 'French and German' : 'Italian', skills: [{ id: 'translate' }] }) })
    }
    const { rpc } = publishers[0]!
    const french = await rpc.request(RegistryMethod.Discover, { text: 'transl fren' }) as { agents: Array<{ card: { name: string } }> }
    expect(french.agents.map(a => a.card.name).sort()).toEqual(['Translator 0', 'Translator 2', 'Translator 4'])
    const seen: string[] = []
    let after: string | undefined
    let pages = 0
    do {
      const page = await rpc.request(RegistryMethod.Discover, { skill: 'translate', limit: 2, paged: true, ...(after != null ? { after } : {}) }) as { agents: Array<{ peerId: string }>, next?: string }
      seen.push(...page.agents.map(a => a.peerId))
      after = page.next
      pages++
    } while (after != null)
    expect(pages).toBe(3)
    expect(new Set(seen).size).toBe(5)
    const http = await (await fetch(new URL('/api/v1/agents?text=italian', relay.url))).json() as unknown[]
    expect(http).toHaveLength(2)
    await expect(rpc.request(RegistryMethod.Discover, { text: 'x'.repeat(201) })).rejects.toThrow(/text must be a string of at most 200 characters/)
  })

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
