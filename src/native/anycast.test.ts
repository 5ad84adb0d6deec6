/**
 * Sending by skill (anycast) through a real relay: the task goes to a connected agent that has
 * the skill, and to another one when the first does not take it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { StarlingPeer } from '../core/peer.js'
import { A2A_PROTOCOL } from '../core/a2a/binding.js'
import { textOf } from '../core/a2a/json.js'
import { NoAgentError } from '../core/errors.js'
import type { RunningRelay } from '../../relay/relay.js'
import { testPeer, testRelay, untilPublished } from './test-helpers.js'

describe('sending a task by skill', () => {
  let relay: RunningRelay
  const peers: StarlingPeer[] = []

  beforeEach(async () => { relay = await testRelay() })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop() }))
    await relay.stop()
  })

  /** The skill each agent's tasks said they ask for (message metadata), by agent name. */
  const asked = new Map<string, unknown[]>()

  async function agent (name: string): Promise<StarlingPeer> {
    const peer = await testPeer(relay, {
      defaultProfile: { name, description: '', skills: [{ id: 'translate' }] },
      handler: async (task) => {
        asked.set(name, [...asked.get(name) ?? [], task.message.metadata?.skill])
        return { kind: 'completed', text: `${name}: ${task.text}` }
      }
    })
    peers.push(peer)
    await untilPublished(peer)
    return peer
  }

  it('falls over to a second agent when the first does not take the task, and prefers it next time', async () => {
    const first = await agent('first')
    const second = await agent('second')
    const sender = await testPeer(relay)
    peers.push(sender)
    await untilPublished(sender)

    // the first agent is listed and connected, but no longer answers tasks
    await first.node.unhandle(A2A_PROTOCOL)
    const record = await sender.sendToSkill('translate', 'bonjour')
    expect(record.peerId).toBe(second.peerId)
    const done = await sender.waitFor(record.id)
    expect(textOf(done.task.artifacts?.[0]?.parts)).toBe('second: bonjour')
    // the task says which skill it asks for: an agent's policy may allow it to some senders only
    expect(asked.get('second')).toEqual(['translate'])

    const given = (await sender.tasks({ direction: 'outbound', peerId: first.peerId }))
    expect(given).toHaveLength(1)
    expect(given[0]?.state).toBe('TASK_STATE_FAILED')
    expect(given[0]?.localError).toMatch(/the task went to another agent with skill translate/)
    expect(given[0]?.outbox).toBeUndefined()

    // the agent that failed goes last now
    const again = await sender.sendToSkill('translate', 'merci')
    expect(again.peerId).toBe(second.peerId)
    expect(await sender.tasks({ direction: 'outbound', peerId: first.peerId })).toHaveLength(1)
  })

  it('says so when no connected agent has the skill', async () => {
    const sender = await testPeer(relay)
    peers.push(sender)
    await untilPublished(sender)
    await expect(sender.sendToSkill('juggling', 'anyone?')).rejects.toBeInstanceOf(NoAgentError)
    await expect(sender.sendToSkill('juggling', 'anyone?')).rejects.toThrow(/no connected agent has the skill juggling/)
  })
})
