import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { TaskNotFoundError } from '@a2a-js/sdk/errors'
import type { StarlingPeer } from '../core/peer.js'
import { textOf } from '../core/a2a/json.js'
import type { TaskRecord } from '../core/store/types.js'
import type { RunningRelay } from '../../relay/relay.js'
import { testPeer, testRelay, untilPublished } from './test-helpers.js'

describe('two native peers through a real relay', () => {
  let relay: RunningRelay
  const peers: StarlingPeer[] = []

  beforeEach(async () => { relay = await testRelay() })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop() }))
    await relay.stop()
  })

  it('publishes cards, discovers by skill, and completes a task answered by a handler', async () => {
    const echo = await testPeer(relay, {
      defaultProfile: { name: 'echo', description: 'echoes', skills: [{ id: 'echo', tags: ['demo'] }] },
      handler: async (task) => ({ kind: 'completed', text: `echo: ${task.text}` })
    })
    const sender = await testPeer(relay, { defaultProfile: { name: 'sender', description: '', skills: [{ id: 'ask' }] } })
    peers.push(echo, sender)
    await Promise.all([untilPublished(echo), untilPublished(sender)])

    const found = await sender.discover({ skill: 'echo' })
    expect(found.map(a => a.peerId)).toEqual([echo.peerId])
    expect(found[0]?.card.name).toBe('echo')
    expect(await sender.discover({ skill: 'echo', tags: ['demo'] })).toHaveLength(1)
    expect(await sender.discover({ skill: 'echo', tags: ['other'] })).toHaveLength(0)

    const sent = await sender.send(echo.peerId, 'hello mesh')
    const done = await sender.waitFor(sent.id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    expect(textOf(done.task.artifacts?.[0]?.parts)).toBe('echo: hello mesh')

    // the receiver stored it too, owned by the sender
    expect(sent.delivery).toBe('delivered')
    const inbound = await echo.task('inbound', remote(sent))
    expect(inbound?.peerId).toBe(sender.peerId)
    expect(inbound?.state).toBe('TASK_STATE_COMPLETED')
  })

  it('waits for a person to answer, streaming the state to the sender', async () => {
    const person = await testPeer(relay)
    const sender = await testPeer(relay)
    peers.push(person, sender)
    await Promise.all([untilPublished(person), untilPublished(sender)])

    const arrived = new Promise<string>((resolve) => {
      person.addEventListener('inbound', (evt) => { resolve(evt.detail.text) }, { once: true })
    })
    const sent = await sender.send(person.peerId, 'what is 6 x 7?')
    expect(await arrived).toBe('what is 6 x 7?')
    const inbox = await person.inbox()
    expect(inbox.map(t => t.id)).toEqual([remote(sent)])

    const working = await sender.task('outbound', sent.id)
    expect(['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING']).toContain(working?.state)

    await person.respond(remote(sent), { kind: 'completed', text: '42' })
    const done = await sender.waitFor(sent.id)
    expect(textOf(done.task.artifacts?.[0]?.parts)).toBe('42')
    expect(await person.inbox()).toEqual([])
  })

  it('carries a multi-turn task: the agent asks, the sender answers in the same task, the agent completes', async () => {
    const person = await testPeer(relay)
    const sender = await testPeer(relay)
    peers.push(person, sender)
    await Promise.all([untilPublished(person), untilPublished(sender)])

    const sent = await sender.send(person.peerId, 'book a table')
    await person.respond(remote(sent), { kind: 'input-required', text: 'for how many people?' })
    const asked = await sender.waitFor(sent.id)
    expect(asked.state).toBe('TASK_STATE_INPUT_REQUIRED')
    expect(textOf(asked.task.status.message?.parts)).toBe('for how many people?')
    expect(await person.inbox()).toEqual([])

    const turn = await sender.send(person.peerId, 'four', { taskId: sent.id, contextId: sent.contextId })
    expect(turn.id).toBe(sent.id)
    expect((await person.inbox()).map(t => t.id)).toEqual([remote(sent)])
    await person.respond(remote(sent), { kind: 'completed', text: 'table for four at eight' })
    const done = await sender.waitFor(sent.id)
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    expect(textOf(done.task.artifacts?.at(-1)?.parts)).toBe('table for four at eight')
    // both turns are in the agent's history of the task, in order
    const history = (await person.task('inbound', remote(sent)))?.task.history?.map(m => textOf(m.parts))
    expect(history).toEqual(['book a table', 'for how many people?', 'four'])
  })

  it('cancels a task at the agent', async () => {
    const person = await testPeer(relay)
    const sender = await testPeer(relay)
    peers.push(person, sender)
    await Promise.all([untilPublished(person), untilPublished(sender)])
    const sent = await sender.send(person.peerId, 'never mind')
    const canceled = await sender.cancel(sent.id)
    expect(canceled.state).toBe('TASK_STATE_CANCELED')
    expect((await person.task('inbound', remote(sent)))?.state).toBe('TASK_STATE_CANCELED')
    await expect(person.respond(remote(sent), { kind: 'completed', text: 'too late' })).rejects.toThrow(/already TASK_STATE_CANCELED/)
  })

  it('keeps one peer from reading another peer\'s task', async () => {
    const agent = await testPeer(relay, { handler: async () => ({ kind: 'completed', text: 'secret' }) })
    const owner = await testPeer(relay)
    const snoop = await testPeer(relay)
    peers.push(agent, owner, snoop)
    await Promise.all([untilPublished(agent), untilPublished(owner), untilPublished(snoop)])
    const sent = await owner.send(agent.peerId, 'mine')
    await owner.waitFor(sent.id)
    // the snoop asks the agent for the owner's task id over the same binding
    const client = await snoop.client(agent.peerId)
    await expect(client.getTask({ id: remote(sent), tenant: '' })).rejects.toBeInstanceOf(TaskNotFoundError)
  })
})

/** The agent's id of a task we sent (ours is `record.id`). */
function remote (record: TaskRecord): string {
  if (record.remoteId == null) throw new Error(`task ${record.id} has not reached its agent`)
  return record.remoteId
}
