/**
 * Requests: a peer a person answers (the PWA sets `askUnknownSenders`) holds a task from a sender
 * it does not know, stored and unrun, until the person accepts the sender or blocks it. Real
 * peers through a real relay; the receiver has a handler here so that "runs nothing until
 * accepted" is something a test can see fail.
 */
import { describe, expect, it } from 'vitest'
import { HELD_REASON } from '../core/mesh/policy.js'
import type { StarlingPeer, StarlingPeerInit } from '../core/peer.js'
import { memoryStorage } from '../core/store/memory.js'
import type { PeerStorage, TaskRecord } from '../core/store/types.js'
import type { InboundTask } from '../core/tasks/executor.js'
import { DEFAULT_MAX_REQUESTS_PER_SENDER } from '../core/tasks/inbound.js'
import { answerText } from './control-methods.js'
import { untilPublished } from './test-helpers.js'
import { peersOnRelay } from './test-peers.js'

function statusText (record: TaskRecord): string {
  return record.task.status.message?.parts.map(p => p.text ?? '').join('') ?? ''
}

/** Resolves with the record of `id` once `test` holds for it (checked now and at every change). */
async function until (peer: StarlingPeer, id: string, test: (r: TaskRecord) => boolean): Promise<TaskRecord> {
  return await new Promise<TaskRecord>((resolve, reject) => {
    const check = (record: TaskRecord | undefined): void => {
      if (record == null || record.id !== id || !test(record)) return
      peer.removeEventListener('task', onTask)
      resolve(record)
    }
    const onTask = (evt: CustomEvent<TaskRecord>): void => { check(evt.detail) }
    peer.addEventListener('task', onTask)
    void peer.task('outbound', id).then(check).catch(reject)
  })
}

const held = (r: TaskRecord): boolean => r.delivery === 'delivered' && r.state === 'TASK_STATE_SUBMITTED' && statusText(r) === HELD_REASON

describe('requests: tasks from unknown senders wait for the person', () => {
  const mesh = peersOnRelay()

  async function peer (init: Partial<StarlingPeerInit> = {}): Promise<StarlingPeer> {
    const p = await mesh.peer(init)
    await untilPublished(p)
    return p
  }

  /** A peer that asks about unknown senders, with a handler that notes what it ran. */
  async function asking (storage: PeerStorage = memoryStorage()): Promise<{ agent: StarlingPeer, handled: InboundTask[], requests: InboundTask[] }> {
    const handled: InboundTask[] = []
    const requests: InboundTask[] = []
    const agent = await peer({
      storage,
      askUnknownSenders: true,
      handler: async (task) => { handled.push(task); return { kind: 'completed', text: `done: ${task.text}` } }
    })
    agent.addEventListener('request', (evt) => { requests.push(evt.detail) })
    return { agent, handled, requests }
  }

  it('holds a stranger\'s task unrun and out of the inbox until the person accepts the sender; then it runs, and the sender\'s next task runs at once', async () => {
    const { agent, handled, requests } = await asking()
    const stranger = await peer()

    const first = await stranger.send(agent.peerId, 'may I?')
    const waiting = await until(stranger, first.id, held)
    expect(statusText(waiting)).toBe(HELD_REASON)
    const [request] = await agent.requests()
    expect(request).toMatchObject({ peerId: stranger.peerId, state: 'TASK_STATE_SUBMITTED', held: true })
    expect(requests.map(r => r.text)).toEqual(['may I?'])
    expect(await agent.inbox()).toEqual([])
    expect(handled).toEqual([])

    await agent.acceptSender(stranger.peerId)
    expect((await stranger.waitFor(first.id)).task.status.state).toBe('TASK_STATE_COMPLETED')
    expect(handled.map(t => t.text)).toEqual(['may I?'])
    expect(await agent.requests()).toEqual([])
    expect(agent.policyRules[0]).toEqual({ effect: 'allow', from: { peer: stranger.peerId } })

    const second = await stranger.send(agent.peerId, 'and this?')
    expect(answerText((await stranger.waitFor(second.id)).task)).toBe('done: and this?')
    expect(requests).toHaveLength(1)
  })

  it('rejects a blocked sender\'s held task with the reason and its later tasks at once, running none', async () => {
    const { agent, handled } = await asking()
    const stranger = await peer()
    const first = await stranger.send(agent.peerId, 'spam')
    await until(stranger, first.id, held)

    await agent.blockSender(stranger.peerId)
    const blocked = await stranger.waitFor(first.id)
    expect(blocked.task.status.state).toBe('TASK_STATE_REJECTED')
    expect(statusText(blocked)).toBe(`denied by rule 1: tasks are not allowed to peer ${stranger.peerId}`)

    const again = await stranger.waitFor((await stranger.send(agent.peerId, 'more spam')).id)
    expect(again.task.status.state).toBe('TASK_STATE_REJECTED')
    expect(await agent.requests()).toEqual([])
    expect(handled).toEqual([])
  })

  it('does not hold a task from an agent the person sent a task to: who we asked may ask us back', async () => {
    const { agent, handled } = await asking()
    const other = await peer({ handler: async (task) => ({ kind: 'completed', text: `re: ${task.text}` }) })
    await agent.waitFor((await agent.send(other.peerId, 'hello')).id)
    const back = await other.waitFor((await other.send(agent.peerId, 'hello to you')).id)
    expect(answerText(back.task)).toBe('done: hello to you')
    expect(handled.map(t => t.text)).toEqual(['hello to you'])
    expect(await agent.requests()).toEqual([])
  })

  it('keeps a request across a restart, and runs it when the sender is accepted afterwards', async () => {
    const storage = memoryStorage()
    const first = await asking(storage)
    const stranger = await peer()
    const task = await stranger.send(first.agent.peerId, 'still there?')
    await until(stranger, task.id, held)
    await mesh.stop(first.agent)

    // the same identity and store: a reload of the page
    const { agent, handled } = await asking(storage)
    expect(agent.peerId).toBe(first.agent.peerId)
    expect((await agent.requests()).map(r => r.peerId)).toEqual([stranger.peerId])
    expect(handled).toEqual([])

    await agent.acceptSender(stranger.peerId)
    const done = await until(stranger, task.id, r => r.state === 'TASK_STATE_COMPLETED')
    expect(answerText(done.task)).toBe('done: still there?')
    expect(handled.map(t => t.text)).toEqual(['still there?'])
  })

  it('keeps at most a few requests per sender: past them a stranger\'s tasks are rejected, saying why', async () => {
    const { agent, handled } = await asking()
    const stranger = await peer()
    const sent: TaskRecord[] = []
    for (let i = 0; i < DEFAULT_MAX_REQUESTS_PER_SENDER; i++) sent.push(await stranger.send(agent.peerId, `ask ${i}`))
    await Promise.all(sent.map(async s => await until(stranger, s.id, held)))

    const over = await stranger.waitFor((await stranger.send(agent.peerId, 'one more')).id)
    expect(over.task.status.state).toBe('TASK_STATE_REJECTED')
    expect(statusText(over)).toMatch(/10 of your tasks already wait for this agent's person to accept you/)
    expect(await agent.requests()).toHaveLength(DEFAULT_MAX_REQUESTS_PER_SENDER)
    expect(handled).toEqual([])
  })

  it('lets a sender cancel its held task, and lets the rules the person writes settle held requests', async () => {
    const { agent, handled } = await asking()
    const stranger = await peer()
    const a = await stranger.send(agent.peerId, 'never mind')
    await until(stranger, a.id, held)
    await stranger.cancel(a.id)
    expect((await stranger.waitFor(a.id)).task.status.state).toBe('TASK_STATE_CANCELED')

    const b = await stranger.send(agent.peerId, 'echo me', { metadata: { skill: 'echo' } })
    await until(stranger, b.id, held)
    await agent.setPolicy([{ effect: 'allow', skill: 'echo' }])
    expect(answerText((await stranger.waitFor(b.id)).task)).toBe('done: echo me')
    expect(handled.map(t => t.text)).toEqual(['echo me'])
    expect(await agent.requests()).toEqual([])
  })
})
