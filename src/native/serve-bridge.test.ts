/**
 * `starling serve --bridge` as a person runs it: the peer (a process of its own) publishes a card
 * that opts in to the relay's A2A HTTP bridge, so an ordinary A2A client, the SDK's own over
 * HTTP, tasks it through the relay; the same peer served without the flag is not reachable so.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { SendMessageRequest, TaskState } from '@a2a-js/sdk'
import type { Task } from '@a2a-js/sdk'
import { ClientFactory } from '@a2a-js/sdk/client'
import { HTTP_BRIDGE_EXTENSION_URI } from '../core/a2a/binding.js'
import type { AgentCardJson } from '../core/a2a/json.js'
import { startPeer, startRelay, starlingCli } from '../../e2e/harness/starling.js'
import type { PeerHandle, RelayHandle } from '../../e2e/harness/starling.js'
import { testProcesses } from '../../e2e/harness/processes.js'
import { removeTempDirs, tempDir } from '../../e2e/harness/tmp.js'
import { ensureBuilt } from '../../e2e/harness/build.js'

describe('starling serve --bridge', () => {
  let relay: RelayHandle
  let home: string
  let peerId: string

  beforeAll(async () => {
    await ensureBuilt()
    relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
    home = await tempDir('bridged')
    const init = await starlingCli<{ peerId: string }>(home, ['init', '--name', 'Bridged Bea', '--skills', 'echo', '--relay', relay.url], { json: true })
    expect(init.code).toBe(0)
    peerId = init.json!.peerId
  })

  afterAll(async () => {
    await testProcesses.stopAll()
    await removeTempDirs()
  })

  async function serve (args: string[]): Promise<PeerHandle> {
    const peer = await startPeer(home, args, { name: `serve ${args.join(' ')}` })
    await peer.process.waitForLine(/^Published card "Bridged Bea"/, { timeoutMs: 20_000 })
    return peer
  }

  const cardUrl = (): string => `${relay.url}/a2a/${peerId}/.well-known/agent-card.json`

  it('opts in: the card is served with a JSON-RPC interface, and a task over HTTP is answered', async () => {
    const peer = await serve(['--bridge', '--echo'])
    onTestFinished(async () => { await peer.stop() })
    await peer.process.waitForLine(/^\s*Bridge: on/)
    const response = await fetch(cardUrl(), { headers: { 'A2A-Version': '1.0' } })
    expect(response.status).toBe(200)
    const card = await response.json() as AgentCardJson
    expect(card.name).toBe('Bridged Bea')
    expect(card.supportedInterfaces[0]).toMatchObject({ url: `${relay.url}/a2a/${peerId}`, protocolBinding: 'JSONRPC' })
    expect(JSON.stringify(card.capabilities.extensions)).toContain(HTTP_BRIDGE_EXTENSION_URI)

    // the agent's base URL, as A2A clients take it (with its trailing slash, the card is below it)
    const client = await new ClientFactory().createFromUrl(`${relay.url}/a2a/${peerId}/`)
    const result = await client.sendMessage(SendMessageRequest.fromJSON({
      message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text: 'through the bridge', mediaType: 'text/plain' }] }
    }))
    const task = result as Task
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED)
    expect(JSON.stringify(task.artifacts)).toContain('through the bridge')
  })

  it('without --bridge the same peer is not reachable over HTTP', async () => {
    const peer = await serve(['--echo'])
    onTestFinished(async () => { await peer.stop() })
    await peer.process.waitForLine(/^\s*Bridge: off/)
    // the relay has its new card (published after the start): the bridge says not found
    await expect.poll(async () => (await fetch(cardUrl(), { headers: { 'A2A-Version': '1.0' } })).status, { timeout: 10_000 }).toBe(404)
    const post = await fetch(`${relay.url}/a2a/${peerId}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'A2A-Version': '1.0' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: 'x' } })
    })
    expect(post.status).toBe(404)
  })
})
