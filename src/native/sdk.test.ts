import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningRelay } from '../../relay/relay.js'
import { ConfigError, createNativePeer, readConfig } from './sdk.js'
import { tempDir, testPeer, testRelay, untilPublished } from './test-helpers.js'

describe('createNativePeer', () => {
  let relay: RunningRelay
  let home: { path: string, remove: () => Promise<void> }

  beforeAll(async () => {
    relay = await testRelay()
    home = await tempDir('starling-sdk-')
  })
  afterAll(async () => {
    await relay?.stop()
    await home?.remove()
  })

  it('runs a peer from a home, finding the relay by its URL, and keeps its identity and tasks', async () => {
    const profile = { name: 'embedded', description: 'inside a program', skills: [{ id: 'shout' }] }
    const handler = async (task: { text: string }): Promise<{ kind: 'completed', text: string }> => ({ kind: 'completed', text: task.text.toUpperCase() })
    const agent = await createNativePeer({ home: home.path, relay: relay.url, profile, handler })
    const sender = await testPeer(relay)
    try {
      await Promise.all([untilPublished(agent), untilPublished(sender)])
      const [found] = await sender.discover({ skill: 'shout' })
      expect(found?.peerId).toBe(agent.peerId)
      const sent = await sender.send(agent.peerId, 'hello')
      expect((await sender.waitFor(sent.id)).task.artifacts?.[0]?.parts[0]?.text).toBe('HELLO')
    } finally {
      await agent.stop()
      await sender.stop()
    }
    // what it was started with is now in config.json: the next start needs nothing else
    expect(await readConfig(home.path)).toEqual({ relay: relay.url, profile })

    const again = await createNativePeer({ home: home.path })
    try {
      expect(again.peerId).toBe(agent.peerId)
      const [task] = await again.tasks({ direction: 'inbound' })
      expect(task?.state).toBe('TASK_STATE_COMPLETED')
    } finally {
      await again.stop()
    }
  })

  it('finds its relay again at the same URL after it restarted with a new key and TCP port', async () => {
    const first = await testRelay()
    const url = first.url
    const port = Number(new URL(url).port)
    const other = await tempDir('starling-sdk-')
    let second: Awaited<ReturnType<typeof testRelay>> | undefined
    const peer = await createNativePeer({ home: other.path, relay: url, profile: { name: 'roamer', description: '', skills: [{ id: 'roam' }] } })
    try {
      await untilPublished(peer)
      expect(peer.relayStatus.relayPeerId).toBe(first.peerId)
      await first.stop()
      const republished = new Promise<void>((resolve) => {
        peer.addEventListener('registry', (evt) => {
          if (evt.detail.expiresAt != null && peer.relayStatus.relayPeerId !== first.peerId) resolve()
        })
      })
      second = await testRelay({ port })
      expect(second.peerId).not.toBe(first.peerId)
      peer.reconnect()
      await republished
      expect(peer.relayStatus.relayPeerId).toBe(second.peerId)
      const [entry] = await peer.discover({ skill: 'roam' })
      expect(entry?.peerId).toBe(peer.peerId)
    } finally {
      await peer.stop()
      await second?.stop()
      await other.remove()
    }
  })

  it('needs a profile when the home has no config.json', async () => {
    const empty = await tempDir('starling-sdk-')
    try {
      await expect(createNativePeer({ home: empty.path, relay: relay.url })).rejects.toBeInstanceOf(ConfigError)
    } finally {
      await empty.remove()
    }
  })
})
