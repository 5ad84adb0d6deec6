/**
 * `starling mcp` end to end: a relay and two native peers in processes of their own (one of them
 * `serve --echo`), and the MCP server as a process too, driven by the MCP SDK's client over stdio
 * (and over Streamable HTTP). Runs the build in dist/node, refreshed first when a source is newer.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, startPeer, startRelay, starlingCli } from '../../e2e/harness/starling.js'
import type { PeerHandle, RelayHandle } from '../../e2e/harness/starling.js'
import { spawnProcess, testProcesses } from '../../e2e/harness/processes.js'
import { removeTempDirs, tempDir } from '../../e2e/harness/tmp.js'
import { CLI, ensureBuilt } from '../../e2e/harness/build.js'


/** The environment of this process, plus `extra`. */
function env (extra: Record<string, string>): Record<string, string> {
  const result: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v != null) result[k] = v
  return { ...result, NO_COLOR: '1', ...extra }
}

/** An MCP client of `starling mcp` on stdio, for the peer in `home`. */
async function stdioClient (home: string): Promise<Client> {
  const client = new Client({ name: 'starling-test', version: '0.0.0' })
  await client.connect(new StdioClientTransport({
    command: process.execPath,
    args: ['--import', './bin/polyfill.mjs', 'dist/node/src/native/cli.js', 'mcp'],
    cwd: REPO_ROOT,
    env: env({ STARLING_HOME: home }),
    stderr: 'pipe'
  }))
  return client
}

/** The JSON of a tool's text content. */
function json<T> (result: CallToolResult): T {
  const first = result.content[0]
  if (first?.type !== 'text') throw new Error(`no text content in ${JSON.stringify(result)}`)
  return JSON.parse(first.text) as T
}

function text (result: CallToolResult): string {
  return result.content.map(c => c.type === 'text' ? c.text : '').join('\n')
}

async function callTool (client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return await client.callTool({ name, arguments: args }) as CallToolResult
}

describe('starling mcp, with a relay and two peers in processes of their own', () => {
  let relay: RelayHandle
  let homeA: string
  let homeB: string
  let b: PeerHandle
  const clients: Client[] = []

  async function serve (home: string, name: string, args: string[] = []): Promise<PeerHandle> {
    const peer = await startPeer(home, args, { name })
    await peer.process.waitForLine(/^Published card "/, { timeoutMs: 20_000 })
    return peer
  }

  beforeAll(async () => {
    await ensureBuilt()
    relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
    homeA = await tempDir('mcp-home-a')
    homeB = await tempDir('mcp-home-b')
    const inits = await Promise.all([
      starlingCli(homeA, ['init', '--name', 'Alice', '--skills', 'ask', '--relay', relay.url]),
      starlingCli(homeB, ['init', '--name', 'Echo', '--skills', 'echo', '--relay', relay.url])
    ])
    for (const init of inits) expect({ code: init.code, stderr: init.stderr }).toMatchObject({ code: 0 })
    ;[, b] = await Promise.all([serve(homeA, 'peer A'), serve(homeB, 'peer B', ['--echo'])])
  }, 90_000)

  afterAll(async () => {
    await Promise.allSettled(clients.map(async c => { await c.close() }))
    await testProcesses.stopAll()
    testProcesses.clear()
    await removeTempDirs()
  })

  it('lists its tools, each with a description and an input schema', async () => {
    const client = await stdioClient(homeA)
    clients.push(client)
    const { tools } = await client.listTools()
    expect(tools.map(t => t.name).sort()).toEqual([
      'cancel_task', 'discover_agents', 'get_card', 'get_task', 'list_inbox', 'list_peers', 'list_tasks', 'respond_task', 'send_task', 'wait_task'
    ])
    for (const tool of tools) {
      expect(tool.description?.length, tool.name).toBeGreaterThan(20)
      expect(tool.inputSchema.type).toBe('object')
    }
    const send = tools.find(t => t.name === 'send_task')
    expect(send?.inputSchema.required).toEqual(['text'])
  }, 30_000)

  it('discovers the echo agent, sends it a task and waits for its answer', async () => {
    const client = await stdioClient(homeA)
    clients.push(client)
    const card = await callTool(client, 'get_card')
    expect(card.isError).toBeFalsy()
    expect(json<{ name: string }>(card).name).toBe('Alice')

    const found = await callTool(client, 'discover_agents', { skill: 'echo' })
    expect(found.isError, text(found)).toBeFalsy()
    const agents = json<Array<{ peerId: string, card: { name: string }, online: boolean }>>(found)
    expect(agents.map(a => a.peerId)).toEqual([b.peerId])
    expect(agents[0]).toMatchObject({ card: { name: 'Echo' }, online: true })

    const sent = await callTool(client, 'send_task', { peerId: agents[0]?.peerId, text: 'hello over MCP' })
    expect(sent.isError, text(sent)).toBeFalsy()
    const { taskId } = json<{ taskId: string }>(sent)
    expect(taskId).toMatch(/^[\w-]{8,}$/)

    const waited = await callTool(client, 'wait_task', { taskId, timeoutSeconds: 20 })
    expect(waited.isError, text(waited)).toBeFalsy()
    expect(json(waited)).toMatchObject({ taskId, direction: 'outbound', peerId: b.peerId, state: 'TASK_STATE_COMPLETED', text: 'hello over MCP', timedOut: false })

    const got = await callTool(client, 'get_task', { taskId })
    expect(json(got)).toMatchObject({ taskId, state: 'TASK_STATE_COMPLETED', artifacts: ['hello over MCP'] })
    const listed = await callTool(client, 'list_tasks', { direction: 'outbound' })
    expect(json<Array<{ taskId: string }>>(listed).map(t => t.taskId)).toContain(taskId)

    // by skill: the echo agent is the one connected agent that has it
    const bySkill = await callTool(client, 'send_task', { skill: 'echo', text: 'whoever echoes' })
    expect(bySkill.isError, text(bySkill)).toBeFalsy()
    expect(json(bySkill)).toMatchObject({ peerId: b.peerId })
    const nobody = await callTool(client, 'send_task', { skill: 'juggling', text: 'anyone?' })
    expect(nobody.isError).toBe(true)
    expect(text(nobody)).toMatch(/no connected agent has the skill juggling/)
  }, 60_000)

  it('answers a task from the inbox with respond_task', async () => {
    const clientA = await stdioClient(homeA)
    const clientB = await stdioClient(homeB)
    clients.push(clientA, clientB)
    // B echoes by itself; send the other way: from B to A, and answer with A's tools
    const peerA = json<{ supportedInterfaces: Array<{ url: string }> }>(await callTool(clientA, 'get_card')).supportedInterfaces[0]?.url.replace('libp2p://', '') ?? ''
    const sent = json<{ taskId: string }>(await callTool(clientB, 'send_task', { peerId: peerA, text: 'what is 6 x 7?' }))
    const inbox = json<Array<{ taskId: string, from: string, text: string }>>(await callTool(clientA, 'list_inbox'))
    const entry = inbox.find(t => t.text === 'what is 6 x 7?')
    expect(entry).toMatchObject({ from: b.peerId })
    const asked = await callTool(clientA, 'respond_task', { taskId: entry?.taskId, text: 'in which base?', state: 'input-required' })
    expect(json(asked)).toMatchObject({ state: 'TASK_STATE_INPUT_REQUIRED' })
    const question = json(await callTool(clientB, 'wait_task', { taskId: sent.taskId, timeoutSeconds: 20 }))
    expect(question).toMatchObject({ state: 'TASK_STATE_INPUT_REQUIRED', text: 'in which base?' })
    const failed = await callTool(clientA, 'respond_task', { taskId: entry?.taskId, text: 'cannot count', state: 'failed' })
    expect(json(failed)).toMatchObject({ state: 'TASK_STATE_FAILED' })
    // B has not replied, so its copy is still input-required (which wait_task returns at once)
    // until A's push of the failure arrives
    await expect.poll(async () => json<{ state: string }>(await callTool(clientB, 'get_task', { taskId: sent.taskId })).state, { timeout: 20_000 }).toBe('TASK_STATE_FAILED')
  }, 60_000)

  it('reports an unknown task, bad input and a missing daemon as tool errors', async () => {
    const client = await stdioClient(homeA)
    clients.push(client)
    for (const name of ['get_task', 'wait_task', 'cancel_task']) {
      const result = await callTool(client, name, { taskId: 'no-such-task' })
      expect(result.isError, name).toBe(true)
      expect(text(result), name).toContain('no-such-task')
    }
    const bad = await callTool(client, 'send_task', { peerId: b.peerId })
    expect(bad.isError).toBe(true)
    expect(text(bad)).toContain('text')

    // the server still answers after the errors
    expect((await callTool(client, 'get_card')).isError).toBeFalsy()

    const lonely = await stdioClient(await tempDir('mcp-no-daemon'))
    clients.push(lonely)
    const result = await callTool(lonely, 'list_inbox')
    expect(result.isError).toBe(true)
    expect(text(result)).toContain('no Starling peer is serving')
  }, 60_000)

  it('serves Streamable HTTP on 127.0.0.1 with --http', async () => {
    const proc = spawnProcess(process.execPath, ['--import', './bin/polyfill.mjs', CLI, 'mcp', '--http', '0'], {
      cwd: REPO_ROOT,
      env: { NO_COLOR: '1', STARLING_HOME: homeA },
      name: 'starling mcp --http'
    })
    const match = await proc.waitForLine(/serving MCP on (http:\/\/127\.0\.0\.1:\d+\/mcp)/, { stream: 'stderr', timeoutMs: 20_000 })
    const client = new Client({ name: 'starling-test-http', version: '0.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(match[1] ?? '')))
    clients.push(client)
    expect((await client.listTools()).tools.length).toBe(10)
    const found = json<Array<{ peerId: string }>>(await callTool(client, 'discover_agents', { skill: 'echo' }))
    expect(found.map(a => a.peerId)).toEqual([b.peerId])
    const unknown = await callTool(client, 'get_task', { taskId: 'no-such-task' })
    expect(unknown.isError).toBe(true)
  }, 60_000)
})
