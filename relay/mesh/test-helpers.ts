/**
 * For relay/mesh/*.test.ts: meshes with owners and members, and real libp2p peers that answer
 * the relay's `Credentials` question with the bundles they are given (the peers' own mesh service
 * lives in src/core/mesh and is not needed to test the relay), reserve a slot, call the registry
 * and the relay's mesh protocol.
 */
import { afterEach, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { acceptInvite, createInvite, newMeshId, ownerCredential } from '../../src/core/mesh/credentials.js'
import type { CredentialBundle, InviteInit, InviteToken } from '../../src/core/mesh/credentials.js'
import { MESH_MAX_FRAME_BYTES, MESH_PROTOCOL, MeshMethod } from '../../src/core/mesh/protocol.js'
import { buildAgentCard } from '../../src/core/a2a/binding.js'
import { RemoteRpcError } from '../../src/core/errors.js'
import { RpcClient } from '../../src/core/rpc/client.js'
import { errorResponse, isObject, successResponse } from '../../src/core/rpc/jsonrpc.js'
import { serveRpc } from '../../src/core/rpc/server.js'
import { REGISTRY_PROTOCOL, RegistryMethod } from '../../src/core/registry/protocol.js'
import { tcpAddr, testRelay } from '../../src/native/test-helpers.js'
import { HOP, HopStatus, reserveOn } from '../abuse-helpers.js'
import type { RunningRelay } from '../relay.js'

export { HOP, HopStatus }
export const ECHO = '/mesh-test/echo/1.0.0'

export interface Keyed { key: PrivateKey, id: string }

export async function keyed (): Promise<Keyed> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

export interface TestMesh {
  owner: Keyed
  meshId: string
  ownerCredential: CredentialBundle
  invite: (init?: Partial<InviteInit>) => Promise<InviteToken>
  /** A new member's key and credential, joined by `token` (a fresh invite when absent). */
  member: (token?: InviteToken) => Promise<Keyed & { credential: CredentialBundle }>
}

export async function testMesh (name = 'Build farm'): Promise<TestMesh> {
  const owner = await keyed()
  const meshId = newMeshId(owner.key)
  const invite = async (init: Partial<InviteInit> = {}): Promise<InviteToken> => await createInvite(owner.key, undefined, { meshId, meshName: name, ...init })
  return {
    owner,
    meshId,
    ownerCredential: await ownerCredential(owner.key, meshId),
    invite,
    member: async (token) => {
      const k = await keyed()
      return { ...k, credential: await acceptInvite(token ?? await invite(), k.id) }
    }
  }
}

export interface MeshPeer {
  node: Libp2p
  id: string
  /** How often the relay asked this peer for credentials. */
  asked: () => number
  /** Opens a registry client to the relay. */
  registry: () => Promise<RpcClient>
  /** Opens a mesh protocol client to the relay. */
  mesh: () => Promise<RpcClient>
  /** Sends a raw RESERVE on a hop stream; resolves with the relay's HopMessage status. */
  reserve: () => Promise<number | undefined>
  /** Publishes a small card naming `skill`. */
  publish: (skill: string) => Promise<unknown>
  /** The PeerIDs a discover of `skill` returns. */
  discover: (skill: string) => Promise<string[]>
}

export interface MeshPeerInit {
  /** What it answers the relay's `Credentials`; absent: it does not serve the protocol at all. */
  credentials?: CredentialBundle[]
  key?: PrivateKey
  /** Shows every credential it has, whatever meshes it is asked about (a peer that does not follow the protocol). */
  showAll?: boolean
  /** Listens on `/p2p-circuit`: the circuit transport reserves on its own once the relay is dialled. */
  listen?: boolean
}

export async function meshPeer (relay: RunningRelay, init: MeshPeerInit = {}): Promise<MeshPeer> {
  const node = await createLibp2p({
    privateKey: init.key,
    transports: [tcp(), circuitRelayTransport({ reservationCompletionTimeout: 10_000 })],
    addresses: { listen: init.listen === true ? ['/p2p-circuit'] : [] },
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    services: { identify: identify() }
  })
  const asked = init.credentials == null ? () => 0 : await answerCredentials(node, init.credentials, { showAll: init.showAll })
  await node.handle(ECHO, async (stream) => {
    for await (const chunk of stream) stream.send(chunk)
    await stream.close()
  }, { runOnLimitedConnection: true })
  const relayAddr = multiaddr(tcpAddr(relay))
  const id = node.peerId.toString()
  const registry = async (): Promise<RpcClient> => new RpcClient(await node.dialProtocol(relayAddr, REGISTRY_PROTOCOL))
  return {
    node,
    id,
    asked,
    registry,
    mesh: async () => new RpcClient(await node.dialProtocol(relayAddr, MESH_PROTOCOL), { maxMessageBytes: MESH_MAX_FRAME_BYTES }),
    reserve: async () => await reserveOn(node, relay),
    publish: async (skill) => {
      const rpc = await registry()
      try {
        return await rpc.request(RegistryMethod.Publish, { card: buildAgentCard(id, { name: `agent ${skill}`, description: '', skills: [{ id: skill }] }) })
      } finally {
        await rpc.close()
      }
    },
    discover: async (skill) => {
      const rpc = await registry()
      try {
        const found = await rpc.request(RegistryMethod.Discover, { skill }) as { agents: Array<{ peerId: string }> }
        return found.agents.map(a => a.peerId).sort()
      } finally {
        await rpc.close()
      }
    }
  }
}

/**
 * Serves `/starling/mesh/1.0.0` on `node` as a peer answering the relay's `Credentials` question
 * with `bundles` (those of the meshes asked for, unless `showAll`). Returns how often it was asked.
 */
export async function answerCredentials (node: Libp2p, bundles: CredentialBundle[], options: { showAll?: boolean } = {}): Promise<() => number> {
  let asked = 0
  await node.handle(MESH_PROTOCOL, async (stream) => {
    await serveRpc(stream, {
      maxMessageBytes: MESH_MAX_FRAME_BYTES,
      handler: (request) => {
        asked++
        const params = request.params
        if (request.method !== MeshMethod.Credentials || !isObject(params) || !Array.isArray(params.meshIds)) {
          return errorResponse(request.id ?? null, -32602, 'only Credentials { meshIds } is served here')
        }
        // like a peer: only credentials for the meshes asked for (a tampered one is shown as is)
        const wanted = new Set(params.meshIds as string[])
        return successResponse(request.id ?? null, { credentials: options.showAll === true ? bundles : bundles.filter(b => wanted.has(meshOf(b)) || meshOf(b) === '') })
      }
    })
  })
  return () => asked
}

/** The mesh a bundle names, read without verifying (to answer like a peer); '' when unreadable. */
function meshOf (bundle: CredentialBundle): string {
  try {
    const text = new TextDecoder().decode(Buffer.from(bundle.credential, 'base64url'))
    return /"meshId":"([^"]+)"/.exec(text)?.[1] ?? ''
  } catch {
    return ''
  }
}

/** Resolves when `node` loses its connection to the relay. */
export async function disconnectedFrom (node: Libp2p, relay: RunningRelay): Promise<void> {
  await new Promise<void>((resolve) => {
    const check = (evt: CustomEvent<{ toString: () => string }>): void => {
      if (evt.detail.toString() !== relay.peerId) return
      node.removeEventListener('peer:disconnect', check)
      resolve()
    }
    node.addEventListener('peer:disconnect', check)
  })
}

/** Resolves once `node` holds a reservation on the relay (its circuit address appears). */
export async function reserved (node: Libp2p): Promise<void> {
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (node.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit'))) {
        node.removeEventListener('self:peer:update', check)
        resolve()
      }
    }
    node.addEventListener('self:peer:update', check)
    check()
  })
}

/** The error a call failed with (a RemoteRpcError), or a failure of the test when it succeeded. */
export async function refusal (call: Promise<unknown>): Promise<RemoteRpcError> {
  const err = await call.then(() => undefined, (e: unknown) => e)
  expect(err, 'the call should have been refused').toBeInstanceOf(RemoteRpcError)
  return err as RemoteRpcError
}

/** How many refusals of `op` for `reason` the relay has counted (starling_relay_mesh_refusals_total). */
export async function refusedCount (relay: RunningRelay, op: string, reason: string): Promise<number> {
  const metric = await relay.metrics.meshRefusals.get()
  return metric.values.find(v => v.labels.op === op && v.labels.reason === reason)?.value ?? 0
}

/** What the tests of a describe block on private relays start, all stopped after each test. */
export interface PrivateRelayFixture {
  /** Relays to stop after the test (privateRelay adds its own; a test may add others). */
  relays: RunningRelay[]
  /** libp2p nodes to stop after the test, before the relays. */
  nodes: Libp2p[]
  /** Run after the nodes and relays are stopped (temporary directories). */
  afterwards: Array<() => Promise<void>>
  /** A relay in private mode serving `meshes`. */
  privateRelay: (meshes: TestMesh[], dataDir?: string) => Promise<RunningRelay>
  /** A bare libp2p peer connected to `relay` (see meshPeer). */
  peer: (relay: RunningRelay, init?: MeshPeerInit) => Promise<MeshPeer>
}

/** The relays and peers of each test in the calling describe block (it registers an afterEach). */
export function privateRelayFixture (): PrivateRelayFixture {
  const fixture: PrivateRelayFixture = {
    relays: [],
    nodes: [],
    afterwards: [],
    privateRelay: async (meshes, dataDir) => {
      const relay = await testRelay({ mode: 'private', meshes: meshes.map(m => m.meshId), ...(dataDir != null ? { dataDir } : {}) })
      fixture.relays.push(relay)
      return relay
    },
    peer: async (relay, init = {}) => {
      const p = await meshPeer(relay, init)
      fixture.nodes.push(p.node)
      return p
    }
  }
  afterEach(async () => {
    await Promise.all(fixture.nodes.splice(0).map(async n => { await n.stop() }))
    await Promise.all(fixture.relays.splice(0).map(async r => { await r.stop() }))
    for (const task of fixture.afterwards.splice(0)) await task()
  })
  return fixture
}
