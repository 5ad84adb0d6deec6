/**
 * Private meshes between real native peers through a real relay (open mode): who may task whom.
 * An owner creates a mesh and invites; a peer joins; members' tasks run, an outsider's are
 * rejected with the reason and never reach the handler; per-mesh skill rules; per-sender rate
 * limits; and peers that answer `Credentials` with garbage or forgeries.
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { SendMessageRequest, taskStateToJSON } from '@a2a-js/sdk'
import type { Task } from '@a2a-js/sdk'
import type { StarlingPeer } from '../core/peer.js'
import type { StarlingPeerInit } from '../core/peer.js'
import { acceptInvite, decodeInviteToken, issueCredential, newMeshId, ownerCredential, revoke, verifyCredential } from '../core/mesh/credentials.js'
import { MemoryMeshStore } from '../core/mesh/store.js'
import { MESH_PROTOCOL, MESH_MAX_FRAME_BYTES } from '../core/mesh/protocol.js'
import { errorResponse, successResponse } from '../core/rpc/jsonrpc.js'
import { serveRpc } from '../core/rpc/server.js'
import { memoryStorage } from '../core/store/memory.js'
import type { TaskRecord } from '../core/store/types.js'
import type { InboundTask } from '../core/tasks/executor.js'
import { untilPublished } from './test-helpers.js'
import { peersOnRelay } from './test-peers.js'

/** The text of a task's status message (a rejection's reason). */
function statusText (record: TaskRecord): string {
  return record.task.status.message?.parts.map(p => p.text ?? '').join('') ?? ''
}

describe('private meshes between native peers', () => {
  const onRelay = peersOnRelay()

  async function peer (init: Partial<StarlingPeerInit> = {}): Promise<StarlingPeer> {
    return await onRelay.peer(init)
  }

  /** An agent that answers every task, noting who reached its handler. */
  async function agent (init: Partial<StarlingPeerInit> = {}): Promise<{ agent: StarlingPeer, handled: InboundTask[] }> {
    const handled: InboundTask[] = []
    const a = await peer({
      ...init,
      handler: async (task) => { handled.push(task); return { kind: 'completed', text: `done: ${task.text}` } }
    })
    return { agent: a, handled }
  }

  async function task (from: StarlingPeer, to: StarlingPeer, text: string): Promise<TaskRecord> {
    const sent = await from.send(to.peerId, text)
    return await from.waitFor(sent.id)
  }

  /** Sends a task asking for `skill` (message metadata) with the SDK's client. */
  async function skillTask (from: StarlingPeer, to: StarlingPeer, skill: string): Promise<Task> {
    const client = await from.client(to.peerId)
    return await client.sendMessage(SendMessageRequest.fromJSON({
      message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text: `please ${skill}` }], metadata: { skill } }
    })) as Task
  }

  const stateOf = (result: Task): string => taskStateToJSON(result.status?.state ?? 0)
  const rejection = (result: Task): string => result.status?.message?.parts.map(p => p.content?.$case === 'text' ? p.content.value : '').join('') ?? ''

  it('runs a member\'s tasks and rejects an outsider\'s with the reason, its handler never reached', async () => {
    const { agent: owner, handled } = await agent()
    const member = await peer()
    const outsider = await peer()

    // before any mesh, the owner is open to everyone, as peers always were
    expect((await task(outsider, owner, 'before')).state).toBe('TASK_STATE_COMPLETED')

    const mesh = await owner.meshes.create('build farm')
    const invite = await owner.meshes.invite(mesh.meshId, { maxUses: 1 })
    const joined = await member.meshes.join(`http://relay.example/#join=${invite.token}`)
    expect(joined).toMatchObject({ meshId: mesh.meshId, name: 'build farm', role: 'member' })
    expect(member.meshes.list().map(m => m.meshId)).toEqual([mesh.meshId])
    expect(owner.meshes.list()).toMatchObject([{ meshId: mesh.meshId, role: 'owner' }])

    const done = await task(member, owner, 'hello')
    expect(done.state).toBe('TASK_STATE_COMPLETED')

    const refused = await task(outsider, owner, 'let me in')
    expect(refused.state).toBe('TASK_STATE_REJECTED')
    expect(statusText(refused)).toBe('not a member of any mesh this agent serves')

    // a member of another mesh is an outsider here too
    const other = await peer()
    const otherMesh = await other.meshes.create('elsewhere')
    const stranger = await peer()
    await stranger.meshes.join((await other.meshes.invite(otherMesh.meshId)).token)
    const alsoRefused = await task(stranger, owner, 'me too')
    expect(alsoRefused.state).toBe('TASK_STATE_REJECTED')
    expect(statusText(alsoRefused)).toBe('not a member of any mesh this agent serves')

    expect(handled.map(t => [t.from, t.text])).toEqual([[outsider.peerId, 'before'], [member.peerId, 'hello']])
    // the refusals are on record at the agent, as rejected tasks from their senders
    const inbound = await owner.tasks({ direction: 'inbound', states: ['TASK_STATE_REJECTED'] })
    expect(inbound.map(r => r.peerId).sort()).toEqual([outsider.peerId, stranger.peerId].sort())
    // revoked by the owner, the member is an outsider at once (whether the relay took it or not)
    const revoked = await owner.meshes.revoke(mesh.meshId, { member: member.peerId })
    expect(revoked).toMatchObject({ meshId: mesh.meshId, target: { member: member.peerId } })
    // the test relay is in open mode: it does not take revocations, and says so
    expect(revoked.relayAccepted).toBe(false)
    expect(revoked.relayError).toMatch(/the relay does not take mesh revocations/)
    const afterRevoke = await task(member, owner, 'still in?')
    expect(afterRevoke.state).toBe('TASK_STATE_REJECTED')
    expect(statusText(afterRevoke)).toBe('not a member of any mesh this agent serves')
    expect(handled).toHaveLength(2)

    // leaving forgets the credential: this peer no longer shows it to anyone
    await member.meshes.leave(mesh.meshId)
    expect(member.meshes.list()).toEqual([])
  }, 60_000)

  it('lets a skill allowed to mesh A and denied to mesh B behave so', async () => {
    const owner = await peer()
    const meshA = await owner.meshes.create('A')
    const meshB = await owner.meshes.create('B')
    const { agent: worker, handled } = await agent({
      policy: [
        { effect: 'allow', from: { mesh: meshA.meshId }, skill: 'deploy' },
        { effect: 'deny', from: { mesh: meshB.meshId }, skill: 'deploy' }
      ]
    })
    await worker.meshes.join((await owner.meshes.invite(meshA.meshId)).token)
    await worker.meshes.join((await owner.meshes.invite(meshB.meshId)).token)
    const inA = await peer()
    await inA.meshes.join((await owner.meshes.invite(meshA.meshId)).token)
    const inB = await peer()
    await inB.meshes.join((await owner.meshes.invite(meshB.meshId)).token)
    // the SDK's client dials at once: both ends hold their reservations first
    await Promise.all([worker, inA, inB].map(untilPublished))

    expect(stateOf(await skillTask(inA, worker, 'deploy'))).toBe('TASK_STATE_COMPLETED')
    const denied = await skillTask(inB, worker, 'deploy')
    expect(stateOf(denied)).toBe('TASK_STATE_REJECTED')
    expect(rejection(denied)).toBe(`denied by rule 2: skill deploy is not allowed to mesh ${meshB.meshId}`)
    // B's members may still ask for anything else: the default admits members of its meshes
    expect(stateOf(await skillTask(inB, worker, 'echo'))).toBe('TASK_STATE_COMPLETED')
    expect(handled.map(t => [t.from, t.message.metadata?.skill])).toEqual([[inA.peerId, 'deploy'], [inB.peerId, 'echo']])
  }, 60_000)

  it('refuses a sender over its rate limit with the reason', async () => {
    const { agent: limited, handled } = await agent({ rateLimit: { perSecond: 0.001, burst: 2 } })
    const sender = await peer()
    expect((await task(sender, limited, 'one')).state).toBe('TASK_STATE_COMPLETED')
    expect((await task(sender, limited, 'two')).state).toBe('TASK_STATE_COMPLETED')
    const third = await task(sender, limited, 'three')
    expect(third.state).toBe('TASK_STATE_REJECTED')
    expect(statusText(third)).toMatch(/^rate limit: more than 2 tasks at once/)
    // another sender has its own allowance
    expect((await task(await peer(), limited, 'other')).state).toBe('TASK_STATE_COMPLETED')
    expect(handled.map(t => t.text)).toEqual(['one', 'two', 'other'])
  }, 60_000)

  it('rejects the task of a peer answering Credentials with garbage or forgeries, and keeps serving', async () => {
    const { agent: owner, handled } = await agent()
    const mesh = await owner.meshes.create('guarded')
    const invite = await owner.meshes.invite(mesh.meshId)
    const member = await peer()
    await member.meshes.join(invite.token)
    const forgerKey = await generateKeyPair('Ed25519')

    const answers: Array<(self: string) => Promise<unknown>> = [
      async () => 'not an object',
      async () => ({ credentials: [{ credential: 42, proof: 'x' }] }),
      async () => ({ credentials: [{ credential: 'AAAA', proof: ['!!!'] }] }),
      // a credential for the mesh signed by a key that is not its owner's
      async (self) => ({ credentials: [await issueCredential(forgerKey, [], { meshId: mesh.meshId, member: self, role: 'admin', ttlMs: 60_000 })] }),
      // a real member's credential, shown by someone else
      async () => ({ credentials: [await acceptInvite(decodeInviteToken(invite.token), member.peerId)] })
    ]
    for (const answer of answers) {
      const liar = await peer()
      await liar.node.unhandle(MESH_PROTOCOL)
      await liar.node.handle(MESH_PROTOCOL, async (stream, connection) => {
        await serveRpc(stream, {
          connection,
          maxFrameBytes: MESH_MAX_FRAME_BYTES,
          handler: async (request) => successResponse(request.id ?? null, await answer(liar.peerId))
        })
      }, { runOnLimitedConnection: true })
      const refused = await task(liar, owner, 'trust me')
      expect(refused.state).toBe('TASK_STATE_REJECTED')
      expect(statusText(refused)).toBe('not a member of any mesh this agent serves')
    }
    // the owner is unharmed: a real member's task still runs
    expect((await task(member, owner, 'still there')).state).toBe('TASK_STATE_COMPLETED')
    expect(handled.map(t => t.from)).toEqual([member.peerId])
  }, 90_000)

  it('learns revocations from its relay\'s Revocations answer, keeps only those that verify, and refuses the revoked', async () => {
    const ownerStorage = memoryStorage()
    const owner = await peer({ storage: ownerStorage })
    const mesh = await owner.meshes.create('watched')
    const { agent: watcher, handled } = await agent()
    await watcher.meshes.join((await owner.meshes.invite(mesh.meshId)).token)
    const member = await peer()
    await member.meshes.join((await owner.meshes.invite(mesh.meshId)).token)
    const other = await peer()
    await other.meshes.join((await owner.meshes.invite(mesh.meshId)).token)
    expect((await task(member, watcher, 'before')).state).toBe('TASK_STATE_COMPLETED')

    // a stand-in for a relay in private mode: it hands out what it was told, good and bad
    const notOwner = await generateKeyPair('Ed25519')
    const answers: unknown[] = [
      { revocations: 'all of them' },
      { revocations: [
        // signed by a key that is neither the owner nor an admin: ignored
        await revoke(notOwner, undefined, mesh.meshId, { member: other.peerId }),
        { credential: 'garbage', proof: [] }
      ] }
    ]
    const standIn = await peer()
    let asked: unknown
    await standIn.node.unhandle(MESH_PROTOCOL)
    await standIn.node.handle(MESH_PROTOCOL, async (stream, connection) => {
      await serveRpc(stream, {
        connection,
        maxFrameBytes: MESH_MAX_FRAME_BYTES,
        handler: async (request) => {
          asked = request.params
          const next = answers.shift()
          return next == null ? errorResponse(request.id ?? null, -32601, 'no such method') : successResponse(request.id ?? null, next)
        }
      })
    }, { runOnLimitedConnection: true })
    await Promise.all([watcher, standIn].map(untilPublished))

    expect(await watcher.meshes.syncRevocations({ from: standIn.peerId })).toBe(0)
    expect(asked).toEqual({ meshIds: [mesh.meshId] })
    expect(await watcher.meshes.syncRevocations({ from: standIn.peerId })).toBe(0)
    // a relay without the method (an open one) adds nothing either
    expect(await watcher.meshes.syncRevocations({ from: standIn.peerId })).toBe(0)

    // the owner revokes the member; the relay it was handed to (here: the stand-in) passes it on
    const revocation = await revoke(privateKeyFromProtobuf(await ownerStorage.identity.load() ?? new Uint8Array()), undefined, mesh.meshId, { member: member.peerId })
    answers.push({ revocations: [revocation, revocation] })
    expect(await watcher.meshes.syncRevocations({ from: standIn.peerId })).toBe(1)
    expect(watcher.meshes.isRevoked(mesh.meshId, { member: member.peerId })).toBe(true)
    expect(watcher.meshes.isRevoked(mesh.meshId, { member: other.peerId })).toBe(false)

    const refused = await task(member, watcher, 'after')
    expect(refused.state).toBe('TASK_STATE_REJECTED')
    expect(statusText(refused)).toBe('not a member of any mesh this agent serves')
    expect((await task(other, watcher, 'unaffected')).state).toBe('TASK_STATE_COMPLETED')
    expect(handled.map(t => t.text)).toEqual(['before', 'unaffected'])
  }, 60_000)

  it('lives on a relay in private mode: members reserve and task each other, a revocation goes to the relay and back to peers', async () => {
    // the mesh exists before its relay: the relay is told which meshes it serves
    const ownerKey = await generateKeyPair('Ed25519')
    const meshId = newMeshId(ownerKey)
    await onRelay.relay({ mode: 'private', meshes: [meshId] })
    const storage = memoryStorage()
    await storage.identity.save(privateKeyToProtobuf(ownerKey))
    const credential = await ownerCredential(ownerKey, meshId)
    const meshStore = new MemoryMeshStore()
    await meshStore.save({
      meshes: [{ meshId, name: 'private farm', role: 'owner', credential, expiresAt: (await verifyCredential(credential)).expiresAt, relays: [], joinedAt: Date.now() }],
      invites: [],
      revocations: []
    })
    const { agent: owner, handled } = await agent({ storage, meshStore })
    // the relay asked the owner for its credentials (its mesh service answered) and let it in
    await untilPublished(owner)

    const member = await peer({ meshStore: new MemoryMeshStore() })
    await member.meshes.join((await owner.meshes.invite(meshId)).token)
    const watcher = await peer()
    await watcher.meshes.join((await owner.meshes.invite(meshId)).token)
    member.reconnect()
    watcher.reconnect()
    await Promise.all([member, watcher].map(untilPublished))

    expect((await task(member, owner, 'inside')).state).toBe('TASK_STATE_COMPLETED')
    expect(handled.map(t => t.text)).toEqual(['inside'])

    const revoked = await owner.meshes.revoke(meshId, { member: member.peerId })
    expect(revoked).toEqual({ meshId, target: { member: member.peerId }, relayAccepted: true })
    // a peer that was not told learns it from the relay
    expect(watcher.meshes.isRevoked(meshId, { member: member.peerId })).toBe(false)
    expect(await watcher.meshes.syncRevocations()).toBe(1)
    expect(watcher.meshes.isRevoked(meshId, { member: member.peerId })).toBe(true)
  }, 60_000)
})
