/**
 * The CLI end to end: a relay process and two native peers, each `starling serve` in a process
 * of its own, driven only through CLI verbs run as processes (from the build in dist/node, which
 * is refreshed first when a source file is newer). Every process is stopped after the tests,
 * pass or fail, and killed when the worker exits (e2e/harness/processes.ts).
 */
import { execFile } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentCardJson, TaskJson } from '../core/a2a/json.js'
import { REPO_ROOT, startPeer, startRelay, starlingCli } from '../../e2e/harness/starling.js'
import type { CliResult, PeerHandle, RelayHandle } from '../../e2e/harness/starling.js'
import { testProcesses } from '../../e2e/harness/processes.js'
import { removeTempDirs, tempDir } from '../../e2e/harness/tmp.js'

const CLI = join(REPO_ROOT, 'dist/node/src/native/cli.js')

/** The newest modification time of a .ts file under `dir`. */
async function newestSource (dir: string): Promise<number> {
  let newest = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs)
    }
  }
  return newest
}

/** Builds dist/node when it is missing or older than the sources, so the test runs this code. */
async function ensureBuilt (): Promise<void> {
  const built = await stat(CLI).then(s => s.mtimeMs, () => 0)
  const sources = Math.max(...await Promise.all(['src/core', 'src/native', 'relay'].map(async d => await newestSource(join(REPO_ROOT, d)))))
  if (built >= sources) return
  await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.node.json'], { cwd: REPO_ROOT })
}

interface AgentInfoJson { peerId: string, card: AgentCardJson, online: boolean, connected: boolean }
interface InboxJson { taskId: string, from: string, text: string }

/** Runs a verb with --json and parses its stdout. */
async function cliJson<T> (home: string, args: string[]): Promise<CliResult<T>> {
  return await starlingCli<T>(home, args, { json: true })
}

function expectExit (result: CliResult, code: number): void {
  // on failure, show what the command said
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code })
}

describe('the starling CLI, with a relay and two peers in processes of their own', () => {
  let relay: RelayHandle
  let homeA: string
  let homeB: string
  let a: PeerHandle
  let b: PeerHandle

  /** `starling serve` in `home`, once it has published its card. */
  async function serve (home: string, name: string, args: string[] = []): Promise<PeerHandle> {
    const peer = await startPeer(home, args, { name })
    await peer.process.waitForLine(/^Published card "/, { timeoutMs: 20_000 })
    return peer
  }

  beforeAll(async () => {
    await ensureBuilt()
    relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
    homeA = await tempDir('home-a')
    homeB = await tempDir('home-b')

    const [initA, initB] = await Promise.all([
      starlingCli(homeA, ['init', '--name', 'Alice', '--skills', 'ask', '--relay', relay.url]),
      starlingCli<{ peerId: string, home: string, relay: string, prompt: string }>(homeB, ['init', '--name', 'Bob', '--skills', 'arithmetic,echo', '--description', 'answers sums', '--relay', relay.url], { json: true })
    ])
    expectExit(initA, 0)
    expect(initA.stdout).toMatch(/^Starling peer 12D3KooW\w+ is set up in /)
    expect(initA.stdout).toContain('starling inbox')
    expectExit(initB, 0)
    expect(initB.json).toMatchObject({ home: homeB, relay: relay.url })
    expect(initB.json?.prompt).toContain(initB.json?.peerId)

    ;[a, b] = await Promise.all([serve(homeA, 'peer A'), serve(homeB, 'peer B')])
    expect(initA.stdout).toContain(a.peerId)
    expect(b.peerId).toBe(initB.json?.peerId)
  }, 60_000)

  afterAll(async () => {
    await testProcesses.stopAll()
    testProcesses.clear()
    await removeTempDirs()
  })

  it('discovers, sends, shows the task in the inbox, responds and waits, in text', async () => {
    const found = await starlingCli(homeA, ['discover', 'arithmetic'])
    expectExit(found, 0)
    const [line, ...others] = found.stdout.trim().split('\n')
    expect(others).toEqual([])
    expect(line?.split('\t').slice(0, 3)).toEqual([b.peerId, 'Bob', 'online'])

    const sent = await starlingCli(homeA, ['--home', homeA, 'send', b.peerId, 'what', 'is 6 x 7?'])
    expectExit(sent, 0)
    const taskId = sent.stdout.trim()
    expect(taskId).toMatch(/^[\w-]{8,}$/)

    const inbox = await starlingCli(homeB, ['inbox'])
    expectExit(inbox, 0)
    expect(inbox.stdout.split('\n')).toContain(`${taskId}\t${a.peerId}\twhat is 6 x 7?`)

    expectExit(await starlingCli(homeB, ['respond', taskId, 'forty-two']), 0)
    const waited = await starlingCli(homeA, ['wait', taskId, '--timeout', '20'])
    expectExit(waited, 0)
    expect(waited.stdout).toBe('forty-two\n')
    expect((await starlingCli(homeB, ['inbox'])).stdout).not.toContain(taskId)
  })

  it('does the same with --json, every output parsed', async () => {
    const found = await cliJson<AgentInfoJson[]>(homeA, ['discover', 'echo', '--json'])
    expectExit(found, 0)
    expect(found.json?.map(agent => agent.peerId)).toEqual([b.peerId])
    expect(found.json?.[0]?.card).toMatchObject({ name: 'Bob', description: 'answers sums' })
    expect(found.json?.[0]?.card.skills.map(s => s.id)).toEqual(['arithmetic', 'echo'])

    const sent = await cliJson<{ taskId: string }>(homeA, ['send', b.peerId, 'ping over json', '--json'])
    expectExit(sent, 0)
    const taskId = sent.json?.taskId ?? ''
    expect(taskId).not.toBe('')

    const inbox = await cliJson<InboxJson[]>(homeB, ['inbox'])
    expect(inbox.json?.find(t => t.taskId === taskId)).toMatchObject({ taskId, from: a.peerId, text: 'ping over json' })

    const responded = await cliJson<{ taskId: string, state: string }>(homeB, ['respond', taskId, 'pong', '--json'])
    expect(responded.json).toEqual({ taskId, state: 'TASK_STATE_COMPLETED' })

    const waited = await cliJson<TaskJson>(homeA, ['wait', taskId, '--json'])
    expectExit(waited, 0)
    expect(waited.json?.id).toBe(taskId)
    expect(waited.json?.status.state).toBe('TASK_STATE_COMPLETED')
    expect(waited.json?.artifacts?.[0]?.parts[0]?.text).toBe('pong')

    const peers = await cliJson<AgentInfoJson[]>(homeA, ['peers'])
    expect(peers.json?.find(p => p.peerId === b.peerId)).toMatchObject({ online: true, connected: true, connection: 'relayed' })
    const status = await cliJson<{ peerId: string, relay: { state: string }, registry: { expiresAt?: string } }>(homeA, ['status'])
    expect(status.json).toMatchObject({ peerId: a.peerId, relay: { state: 'reserved' } })
    expect(status.json?.registry.expiresAt).toBeDefined()
    const card = await cliJson<AgentCardJson>(homeB, ['card'])
    expect(card.json?.supportedInterfaces[0]?.url).toBe(`libp2p://${b.peerId}`)
  })

  it('exits 124 when a wait times out, 3 when the agent asks for input, 1 when it rejects; cancels', async () => {
    const sent = await starlingCli(homeA, ['send', b.peerId, 'nobody will answer this in time'])
    const taskId = sent.stdout.trim()
    const timedOut = await starlingCli(homeA, ['wait', taskId, '--timeout', '1'])
    expectExit(timedOut, 124)
    expect(timedOut.stdout).toBe('')
    expect(timedOut.stderr).toContain(`task ${taskId} is still working after 1 s`)

    expectExit(await starlingCli(homeB, ['respond', taskId, '--state', 'input-required', 'which time zone?']), 0)
    const question = await starlingCli(homeA, ['wait', taskId])
    expectExit(question, 3)
    expect(question.stdout).toBe('which time zone?\n')

    const other = (await starlingCli(homeA, ['send', b.peerId, 'write me a poem'])).stdout.trim()
    expectExit(await starlingCli(homeB, ['respond', other, '--state', 'rejected', 'out of scope: I only do sums']), 0)
    const rejected = await starlingCli(homeA, ['wait', other, '--timeout', '20'])
    expectExit(rejected, 1)
    expect(rejected.stdout).toBe('out of scope: I only do sums\n')

    const unwanted = (await starlingCli(homeA, ['send', b.peerId, 'never mind this one'])).stdout.trim()
    const canceled = await starlingCli(homeA, ['cancel', unwanted])
    expectExit(canceled, 0)
    expect(canceled.stdout).toBe(`Task ${unwanted}: canceled\n`)
    expect((await cliJson<InboxJson[]>(homeB, ['inbox'])).json?.map(t => t.taskId)).not.toContain(unwanted)
    expect(rejected.stderr).toContain('rejected')
  })

  it('reports wrong usage with exit 2 and a missing daemon with exit 1', async () => {
    const unknownVerb = await starlingCli(homeA, ['frobnicate'])
    expectExit(unknownVerb, 2)
    expect(unknownVerb.stderr).toMatch(/unknown verb "frobnicate"[\s\S]*Usage: starling/)
    const unknownFlag = await starlingCli(homeA, ['inbox', '--colour'])
    expectExit(unknownFlag, 2)
    expect(unknownFlag.stderr).toMatch(/Unknown option '--colour'[\s\S]*Usage: starling inbox/)
    expectExit(await starlingCli(homeA, ['send', b.peerId]), 2)
    expectExit(await starlingCli(homeA, ['respond', 'some-task', 'text', '--state', 'maybe']), 2)
    const help = await starlingCli(homeA, ['wait', '--help'])
    expectExit(help, 0)
    expect(help.stdout).toMatch(/Usage: starling wait TASK-ID \[--timeout SECONDS\]/)

    const empty = await tempDir('home-empty')
    const notServing = await starlingCli(empty, ['inbox'])
    expectExit(notServing, 1)
    expect(notServing.stderr.trim()).toBe(`no Starling peer is serving in ${empty}: run \`starling serve\``)
    expectExit(await starlingCli(empty, ['serve']), 1)
  })

  it('keeps its PeerID, its inbox and its answers across restarts, even after SIGKILL', async () => {
    const pendingTask = (await starlingCli(homeA, ['send', b.peerId, 'answer me after your restart'])).stdout.trim()
    // what A knows of the tasks it sent that have settled (completed, rejected, input-required)
    const sentByA = (await cliJson<Array<{ taskId: string, state: string }>>(homeA, ['tasks', '--direction', 'outbound'])).json ?? []
    const finished = sentByA.filter(t => t.taskId !== pendingTask && t.state !== 'TASK_STATE_WORKING')
    const waits = await Promise.all(finished.map(async t => await starlingCli(homeA, ['wait', t.taskId, '--json'])))

    // B dies without a chance to clean up: its control socket stays behind
    const oldB = b.peerId
    b.process.kill('SIGKILL')
    await b.process.exited
    b = await serve(homeB, 'peer B (restarted)')
    expect(b.peerId).toBe(oldB)
    const inbox = await cliJson<InboxJson[]>(homeB, ['inbox'])
    expect(inbox.json?.find(t => t.taskId === pendingTask)).toMatchObject({ from: a.peerId, text: 'answer me after your restart' })

    expectExit(await starlingCli(homeB, ['respond', pendingTask, 'answered by the restarted peer']), 0)
    const answered = await starlingCli(homeA, ['wait', pendingTask, '--timeout', '25'])
    expectExit(answered, 0)
    expect(answered.stdout).toBe('answered by the restarted peer\n')

    // A stops cleanly and comes back with every result it had
    const oldA = a.peerId
    await a.stop()
    expect(a.process.exitInfo).toEqual({ code: 0, signal: null })
    a = await serve(homeA, 'peer A (restarted)')
    expect(a.peerId).toBe(oldA)
    for (const [i, task] of finished.entries()) {
      const again = await starlingCli(homeA, ['wait', task.taskId, '--json', '--timeout', '5'])
      expect(again.code).toBe(waits[i]?.code)
      expect(again.stdout).toBe(waits[i]?.stdout)
    }
    expect(finished.length).toBeGreaterThanOrEqual(3)

    // init again on a serving peer: same identity, and the running peer has published the new
    // card before init returns
    const reinit = await cliJson<{ peerId: string }>(homeA, ['init', '--description', 'asks good questions'])
    expectExit(reinit, 0)
    expect(reinit.json?.peerId).toBe(a.peerId)
    const seen = await cliJson<AgentInfoJson[]>(homeB, ['discover', 'ask'])
    expect(seen.json?.find(p => p.peerId === a.peerId)?.card.description).toBe('asks good questions')
  }, 60_000)
})

