/**
 * The CLI end to end: a relay process and two native peers, each `starling serve` in a process
 * of its own, driven only through CLI verbs run as processes (from the build in dist/node, which
 * is refreshed first when a source file is newer). Every process is stopped after the tests,
 * pass or fail, and killed when the worker exits (e2e/harness/processes.ts).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentCardJson, PartJson, TaskJson } from '../core/a2a/json.js'
import { DEFAULT_MAX_FILE_BYTES } from '../core/a2a/parts.js'
import { REPO_ROOT, startPeer, startRelay, starlingCli } from '../../e2e/harness/starling.js'
import type { CliResult, PeerHandle, RelayHandle } from '../../e2e/harness/starling.js'
import { runProcess, testProcesses } from '../../e2e/harness/processes.js'
import { removeTempDirs, tempDir } from '../../e2e/harness/tmp.js'
import { parseDuration } from './cli/duration.js'
import { DEFAULT_FILES_DIR, safeFilename, saveTaskFiles } from './cli/save.js'
import { UsageError } from './cli/verb.js'
import { ControlClient } from './control-client.js'
import { CLI, ensureBuilt } from '../../e2e/harness/build.js'


interface AgentInfoJson { peerId: string, card: AgentCardJson, online: boolean, connected: boolean }
interface InboxJson { taskId: string, from: string, text: string }
interface SendJson { taskId: string, contextId: string, state: string, delivery?: string, expiresAt?: number, lastError?: string }
interface TaskViewJson { taskId: string, direction: string, peerId: string, state: string, text: string, updatedAt: number, delivery?: string, pending: string[], localError?: string }

/** Runs a verb like starlingCli, but in the working directory `cwd`. */
async function starlingIn (cwd: string, home: string, args: string[]): Promise<CliResult> {
  const result = await runProcess(process.execPath, ['--import', pathToFileURL(join(REPO_ROOT, 'bin/polyfill.mjs')).href, CLI, ...args], {
    cwd,
    env: { NO_COLOR: '1', STARLING_HOME: home },
    name: `starling ${args[0] ?? ''}`,
    timeoutMs: 30_000
  })
  return { code: result.code, stdout: result.stdout, stderr: result.stderr, json: undefined }
}

/** Every `"raw"` key anywhere in a JSON value. */
function rawKeys (value: unknown): number {
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + rawKeys(v), 0)
  if (typeof value !== 'object' || value === null) return 0
  return Object.entries(value).reduce((n, [k, v]) => n + (k === 'raw' ? 1 : 0) + rawKeys(v), 0)
}

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

  /** The id of the task in `home`'s inbox whose text is `text` (the agent's id of it). */
  async function inboxId (home: string, text: string): Promise<string> {
    const inbox = await cliJson<InboxJson[]>(home, ['inbox'])
    const id = inbox.json?.find(t => t.text === text)?.taskId
    expect(id, `"${text}" in the inbox of ${home}`).toBeDefined()
    return id ?? ''
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

    // the agent has its own id for the task
    const inbox = await starlingCli(homeB, ['inbox'])
    expectExit(inbox, 0)
    const entry = inbox.stdout.split('\n').find(l => l.endsWith(`\t${a.peerId}\twhat is 6 x 7?`))
    const remoteId = entry?.split('\t')[0] ?? ''
    expect(remoteId).toMatch(/^[\w-]{8,}$/)

    expectExit(await starlingCli(homeB, ['respond', remoteId, 'forty-two']), 0)
    const waited = await starlingCli(homeA, ['wait', taskId, '--timeout', '20'])
    expectExit(waited, 0)
    expect(waited.stdout).toBe('forty-two\n')
    expect((await starlingCli(homeB, ['inbox'])).stdout).not.toContain(remoteId)

    // by skill: Bob is the connected agent with "arithmetic"
    const bySkill = await starlingCli(homeA, ['send', '--skill', 'arithmetic', 'what', 'is 2 + 2?'])
    expectExit(bySkill, 0)
    expect(bySkill.stderr).toContain(`sent to ${b.peerId}, which has the skill arithmetic`)
    expect((await starlingCli(homeB, ['inbox'])).stdout).toContain('what is 2 + 2?')
    const nobody = await starlingCli(homeA, ['send', '--skill', 'juggling', 'anyone?'])
    expect(nobody.code).not.toBe(0)
    expect(nobody.stderr).toMatch(/no connected agent has the skill juggling/)
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
    const received = inbox.json?.find(t => t.text === 'ping over json')
    expect(received).toMatchObject({ taskId: expect.any(String), from: a.peerId, text: 'ping over json' })
    const remoteId = received?.taskId ?? ''

    const responded = await cliJson<{ taskId: string, state: string }>(homeB, ['respond', remoteId, 'pong', '--json'])
    expect(responded.json).toEqual({ taskId: remoteId, state: 'TASK_STATE_COMPLETED' })

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

    expectExit(await starlingCli(homeB, ['respond', await inboxId(homeB, 'nobody will answer this in time'), '--state', 'input-required', 'which time zone?']), 0)
    const question = await starlingCli(homeA, ['wait', taskId])
    expectExit(question, 3)
    expect(question.stdout).toBe('which time zone?\n')

    const other = (await starlingCli(homeA, ['send', b.peerId, 'write me a poem'])).stdout.trim()
    expectExit(await starlingCli(homeB, ['respond', await inboxId(homeB, 'write me a poem'), '--state', 'rejected', 'out of scope: I only do sums']), 0)
    const rejected = await starlingCli(homeA, ['wait', other, '--timeout', '20'])
    expectExit(rejected, 1)
    expect(rejected.stdout).toBe('out of scope: I only do sums\n')

    const unwanted = (await starlingCli(homeA, ['send', b.peerId, 'never mind this one'])).stdout.trim()
    const unwantedAtB = await inboxId(homeB, 'never mind this one')
    const canceled = await starlingCli(homeA, ['cancel', unwanted])
    expectExit(canceled, 0)
    expect(canceled.stdout).toBe(`Task ${unwanted}: canceled\n`)
    expect((await cliJson<InboxJson[]>(homeB, ['inbox'])).json?.map(t => t.taskId)).not.toContain(unwantedAtB)
    const again = await starlingCli(homeA, ['cancel', unwanted])
    expectExit(again, 1)
    expect(again.stderr).toMatch(/already canceled/)
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
    const pendingAtB = inbox.json?.find(t => t.text === 'answer me after your restart')
    expect(pendingAtB).toMatchObject({ from: a.peerId, text: 'answer me after your restart' })

    expectExit(await starlingCli(homeB, ['respond', pendingAtB?.taskId ?? '', 'answered by the restarted peer']), 0)
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

  it('sends files, and saves the files of the answer without overwriting anything', async () => {
    const dir = await tempDir('files')
    await Promise.all(['in', 'out1', 'out2', 'saved'].map(async d => { await mkdir(join(dir, d)) }))
    const data = randomBytes(3000)
    await writeFile(join(dir, 'in', 'brief.md'), '# Review\nPlease.\n')
    await writeFile(join(dir, 'in', 'data.bin'), data)
    await writeFile(join(dir, 'out1', 'report.txt'), 'first')
    await writeFile(join(dir, 'out2', 'report.txt'), 'second')
    // already there, and must stay as it is
    await writeFile(join(dir, 'saved', 'report.txt'), 'older')

    const sent = await cliJson<SendJson>(homeA, ['send', b.peerId, 'review these', '--file', join(dir, 'in', 'brief.md'), '--file', join(dir, 'in', 'data.bin')])
    expectExit(sent, 0)
    const taskId = sent.json?.taskId ?? ''
    expect(sent.json).toMatchObject({ taskId: expect.any(String), contextId: expect.any(String), state: expect.stringMatching(/^TASK_STATE_/) })

    // B got the files as parts, bytes, names and media types intact
    const remoteId = await inboxId(homeB, 'review these')
    const control = await ControlClient.connect(homeB)
    const got = await control.request('task', { taskId: remoteId }).finally(() => { control.close() })
    expect(got.task.history?.find(m => m.role === 'ROLE_USER')?.parts).toEqual([
      expect.objectContaining({ text: 'review these' }),
      { raw: Buffer.from('# Review\nPlease.\n').toString('base64'), mediaType: 'text/markdown', filename: 'brief.md' },
      { raw: data.toString('base64'), mediaType: 'application/octet-stream', filename: 'data.bin' }
    ])

    // the inbox names the files; show saves them where B says
    const inboxLine = (await starlingCli(homeB, ['inbox'])).stdout.split('\n').find(l => l.startsWith(`${remoteId}\t`))
    expect(inboxLine).toBe(`${remoteId}\t${a.peerId}\treview these [2 files: brief.md, data.bin]`)
    expect((await cliJson<Array<InboxJson & { files: unknown }>>(homeB, ['inbox'])).json?.find(t => t.taskId === remoteId)?.files).toEqual([
      { filename: 'brief.md', mediaType: 'text/markdown', size: 17 },
      { filename: 'data.bin', mediaType: 'application/octet-stream', size: 3000 }
    ])
    const atB = join(dir, 'at-b')
    const shown = await starlingCli(homeB, ['show', remoteId, '--out', atB])
    expectExit(shown, 0)
    expect(shown.stdout).toMatch(new RegExp(`^Task ${remoteId} from ${a.peerId}: (submitted|working), last change \\S+Z\nreview these\nSaved ${join(atB, 'brief.md')}\nSaved ${join(atB, 'data.bin')}\n$`))
    expect(await readFile(join(atB, 'data.bin'))).toEqual(data)
    const shownJson = await cliJson<{ taskId: string, direction: string, task: TaskJson }>(homeB, ['show', remoteId, '--out', atB])
    expect(shownJson.json).toMatchObject({ taskId: remoteId, direction: 'inbound' })
    expect(rawKeys(shownJson.json)).toBe(0)
    expect(shownJson.json?.task.history?.[0]?.parts[1]).toEqual({ savedTo: join(atB, 'brief.md'), mediaType: 'text/markdown', filename: 'brief.md', size: 17 })

    const responded = await cliJson<{ taskId: string, state: string }>(homeB, ['respond', remoteId, 'all good', '--file', join(dir, 'out1', 'report.txt'), '--file', join(dir, 'out2', 'report.txt')])
    expect(responded.json).toEqual({ taskId: remoteId, state: 'TASK_STATE_COMPLETED' })

    const saved = join(dir, 'saved')
    const waited = await starlingCli(homeA, ['wait', taskId, '--out', saved])
    expectExit(waited, 0)
    expect(waited.stdout).toBe(`all good\nSaved ${join(saved, 'report-1.txt')}\nSaved ${join(saved, 'report-2.txt')}\n`)
    expect(await readFile(join(saved, 'report.txt'), 'utf8')).toBe('older')
    expect(await readFile(join(saved, 'report-1.txt'), 'utf8')).toBe('first')
    expect(await readFile(join(saved, 'report-2.txt'), 'utf8')).toBe('second')

    // waiting again finds the same files instead of making copies; --json shows where they are
    const again = await cliJson<TaskJson>(homeA, ['wait', taskId, '--out', saved])
    expectExit(again, 0)
    expect(rawKeys(again.json)).toBe(0)
    expect(again.json?.artifacts?.[0]?.parts).toEqual([
      expect.objectContaining({ text: 'all good' }),
      { savedTo: join(saved, 'report-1.txt'), mediaType: 'text/plain', filename: 'report.txt', size: 5 },
      { savedTo: join(saved, 'report-2.txt'), mediaType: 'text/plain', filename: 'report.txt', size: 6 }
    ])
    // our own files in the history: named and sized, not repeated
    expect(again.json?.history?.find(m => m.role === 'ROLE_USER')?.parts.slice(1)).toEqual([
      { mediaType: 'text/markdown', filename: 'brief.md', size: 17 },
      { mediaType: 'application/octet-stream', filename: 'data.bin', size: 3000 }
    ])
    expect((await readdir(saved)).sort()).toEqual(['report-1.txt', 'report-2.txt', 'report.txt'])

    // by default, ./starling-files/<task-id>/ in the working directory, shown relative to it
    const cwd = await tempDir('cwd')
    const here = await starlingIn(cwd, homeA, ['wait', taskId])
    expectExit(here, 0)
    const defaultDir = join(DEFAULT_FILES_DIR, taskId)
    expect(here.stdout).toBe(`all good\nSaved ${join(defaultDir, 'report.txt')}\nSaved ${join(defaultDir, 'report-1.txt')}\n`)
    expect(await readFile(join(cwd, defaultDir, 'report-1.txt'), 'utf8')).toBe('second')

    // to the contract of the core: the agent was reachable, so the first attempt delivered it
    expect(sent.json?.delivery).toBe('delivered')
  })

  it('refuses a file over the limit, or missing, at once with exit 2, and sends nothing', async () => {
    const dir = await tempDir('big')
    const big = join(dir, 'big.bin')
    await writeFile(big, '')
    // sparse: nothing is read, the size alone refuses it
    await truncate(big, DEFAULT_MAX_FILE_BYTES + 1024 * 1024)
    const outboundBefore = (await cliJson<TaskViewJson[]>(homeA, ['tasks', '--direction', 'outbound', '--limit', '1000'])).json
    const inboxBefore = (await cliJson<InboxJson[]>(homeB, ['inbox'])).json

    const tooBig = await starlingCli(homeA, ['send', b.peerId, 'a big one', '--file', big])
    expectExit(tooBig, 2)
    expect(tooBig.stdout).toBe('')
    expect(tooBig.stderr).toBe(`starling send: ${big} is 33 MiB, over the limit of 32 MiB for one file; nothing was sent\n`)
    const missing = await starlingCli(homeA, ['send', b.peerId, 'a lost one', '--file', join(dir, 'nope.txt')])
    expectExit(missing, 2)
    expect(missing.stderr).toBe(`starling send: ${join(dir, 'nope.txt')}: no such file; nothing was sent\n`)
    expectExit(await starlingCli(homeA, ['send', b.peerId, 'a folder', '--file', dir]), 2)

    expect((await cliJson<TaskViewJson[]>(homeA, ['tasks', '--direction', 'outbound', '--limit', '1000'])).json).toEqual(outboundBefore)
    expect((await cliJson<InboxJson[]>(homeB, ['inbox'])).json).toEqual(inboxBefore)

    // the same for an answer: the task stays in the inbox
    const taskId = (await cliJson<SendJson>(homeA, ['send', b.peerId, 'send me something big'])).json?.taskId ?? ''
    const remoteId = await inboxId(homeB, 'send me something big')
    const bigAnswer = await starlingCli(homeB, ['respond', remoteId, 'here', '--file', big])
    expectExit(bigAnswer, 2)
    expect(bigAnswer.stderr).toMatch(/is 33 MiB, over the limit of 32 MiB for one file; nothing was sent/)
    expect((await cliJson<InboxJson[]>(homeB, ['inbox'])).json?.map(t => t.taskId)).toContain(remoteId)
    expectExit(await starlingCli(homeB, ['respond', remoteId, 'too big, sorry', '--reject']), 0)
    expectExit(await starlingCli(homeA, ['wait', taskId]), 1)
  })

  it('answers with a question, a failure or a rejection by flag; lists tasks by state with delivery and time', async () => {
    const ask = async (text: string): Promise<[string, string]> => {
      const sent = await cliJson<SendJson>(homeA, ['send', b.peerId, text])
      expectExit(sent, 0)
      return [sent.json?.taskId ?? '', await inboxId(homeB, text)]
    }

    const [question, questionRemote] = await ask('book a table for two')
    expectExit(await starlingCli(homeB, ['respond', questionRemote, '--input-required', '--fail', 'which day?']), 2)
    expectExit(await starlingCli(homeB, ['respond', questionRemote, '--input-required']), 2)
    expectExit(await starlingCli(homeB, ['respond', questionRemote, '--fail', 'no', '--file', join(REPO_ROOT, 'package.json')]), 2)
    expectExit(await starlingCli(homeB, ['respond', questionRemote, '--input-required', 'which day?']), 0)
    const asked = await starlingCli(homeA, ['wait', question])
    expectExit(asked, 3)
    expect(asked.stdout).toBe('which day?\n')
    expect(asked.stderr).toContain(`starling send ${b.peerId} --task ${question} TEXT`)
    // the answer continues the same task
    expectExit(await starlingCli(homeA, ['send', b.peerId, '--task', question, 'Friday']), 0)
    expect(await inboxId(homeB, 'Friday')).toBe(questionRemote)
    expectExit(await starlingCli(homeB, ['respond', questionRemote, 'booked for Friday']), 0)
    const booked = await starlingCli(homeA, ['wait', question])
    expectExit(booked, 0)
    expect(booked.stdout).toBe('booked for Friday\n')
    const late = await starlingCli(homeA, ['send', b.peerId, '--task', question, 'and Saturday?'])
    expectExit(late, 1)
    expect(late.stderr).toMatch(/is completed: only a task that waits for your input/)

    const [failing, failingRemote] = await ask('divide 1 by 0')
    expectExit(await starlingCli(homeB, ['respond', failingRemote, '--fail', 'division by zero']), 0)
    const failed = await starlingCli(homeA, ['wait', failing])
    expectExit(failed, 1)
    expect(failed.stdout).toBe('division by zero\n')
    expect(failed.stderr).toContain(`task ${failing} failed`)

    const [refused, refusedRemote] = await ask('write a sonnet')
    expectExit(await starlingCli(homeB, ['respond', refusedRemote, '--reject', 'out of scope']), 0)
    expectExit(await starlingCli(homeA, ['wait', refused]), 1)

    const listed = await cliJson<TaskViewJson[]>(homeA, ['tasks', '--state', 'failed,rejected', '--direction', 'outbound', '--limit', '1000'])
    expectExit(listed, 0)
    expect(listed.json?.map(t => t.taskId)).toEqual(expect.arrayContaining([failing, refused]))
    expect(listed.json?.every(t => t.direction === 'outbound' && ['TASK_STATE_FAILED', 'TASK_STATE_REJECTED'].includes(t.state))).toBe(true)
    expect(listed.json?.find(t => t.taskId === failing)).toMatchObject({ peerId: b.peerId, text: 'division by zero', pending: [] })
    const inbound = await cliJson<TaskViewJson[]>(homeB, ['tasks', '--state', 'input-required,completed', '--direction', 'inbound'])
    expect(inbound.json?.map(t => t.taskId)).toContain(questionRemote)
    expect(inbound.json?.every(t => t.direction === 'inbound' && ['TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_COMPLETED'].includes(t.state))).toBe(true)

    const lines = (await starlingCli(homeA, ['tasks', '--state', 'failed', '--direction', 'outbound', '--limit', '1'])).stdout.trim().split('\n')
    expect(lines).toHaveLength(1)
    const [id, direction, peer, state, delivery, changed, text] = lines[0]?.split('\t') ?? []
    expect({ id, direction, peer, state, text }).toEqual({ id: failing, direction: 'outbound', peer: b.peerId, state: 'failed', text: 'division by zero' })
    expect(changed).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(Math.abs(Date.parse(changed ?? '') - (listed.json?.find(t => t.taskId === failing)?.updatedAt ?? 0))).toBeLessThan(1000)

    const badState = await starlingCli(homeA, ['tasks', '--state', 'bored'])
    expectExit(badState, 2)
    expect(badState.stderr).toMatch(/unknown state "bored"/)
    // to the contract of the core: the agent took every message at once
    expect(delivery).toBe('delivered')
  })

  it('queues a task for an agent that is not serving and delivers it once it is; queues a cancel', async () => {
    const homeC = await tempDir('home-c')
    const initC = await cliJson<{ peerId: string }>(homeC, ['init', '--name', 'Carol', '--skills', 'later', '--relay', relay.url])
    expectExit(initC, 0)
    const carol = initC.json?.peerId ?? ''

    for (const ttl of ['10', 'soon', '0s', '8d']) {
      const bad = await starlingCli(homeA, ['send', carol, 'x', '--ttl', ttl])
      expectExit(bad, 2)
      expect(bad.stderr).toContain('--ttl')
    }

    const before = Date.now()
    const queued = await starlingCli(homeA, ['send', carol, 'are you there?', '--ttl', '10m'])
    expectExit(queued, 0)
    const taskId = queued.stdout.trim()
    expect(queued.stderr).toMatch(/cannot be reached now.*queued/)
    const listed = (await cliJson<TaskViewJson[]>(homeA, ['tasks', '--direction', 'outbound', '--limit', '1000'])).json?.find(t => t.taskId === taskId)
    expect(listed).toMatchObject({ delivery: 'queued', pending: ['message'] })
    const queuedJson = await cliJson<SendJson>(homeA, ['send', carol, 'and this one?', '--ttl', '1h'])
    expect(queuedJson.json).toMatchObject({ delivery: 'queued' })
    expect(queuedJson.json?.expiresAt).toBeGreaterThanOrEqual(before + 3_600_000)

    let c = await serve(homeC, 'peer C')
    await c.process.waitForLine(/^Task \S+ from \S+: "are you there\?"/, { timeoutMs: 120_000 })
    const remoteId = await inboxId(homeC, 'are you there?')
    expectExit(await starlingCli(homeC, ['respond', remoteId, 'here now']), 0)
    // the peer retries with back-off (up to 15 s between attempts): a bound, not a measure
    const answered = await starlingCli(homeA, ['wait', taskId, '--timeout', '120'], { timeoutMs: 130_000 })
    expectExit(answered, 0)
    expect(answered.stdout).toBe('here now\n')

    // a cancel for an agent that went away waits for it
    const job = (await cliJson<SendJson>(homeA, ['send', carol, 'a long job'])).json?.taskId ?? ''
    await inboxId(homeC, 'a long job')
    await c.stop()
    const canceling = await starlingCli(homeA, ['cancel', job])
    expectExit(canceling, 0)
    expect(canceling.stdout).toMatch(new RegExp(`^Task ${job}: (submitted|working), cancel queued\n$`))
    expect(canceling.stderr).toMatch(/queued/)
    const line = (await starlingCli(homeA, ['tasks', '--direction', 'outbound'])).stdout.split('\n').find(l => l.startsWith(job))
    expect(line?.split('\t')[4]).toBe('cancel queued')
    c = await serve(homeC, 'peer C (back)')
    const canceled = await starlingCli(homeA, ['wait', job, '--timeout', '120'], { timeoutMs: 130_000 })
    expectExit(canceled, 1)
    expect(canceled.stderr).toContain(`task ${job} canceled`)
    await c.stop()
  }, 400_000)
})

describe('the CLI\'s own parsing and file saving', () => {
  afterAll(async () => { await removeTempDirs() })

  it('reads durations with units, and refuses anything else', () => {
    expect(parseDuration('30s', 'ttl')).toBe(30_000)
    expect(parseDuration('10m', 'ttl')).toBe(600_000)
    expect(parseDuration('24h', 'ttl')).toBe(86_400_000)
    expect(parseDuration('1h30m', 'ttl')).toBe(5_400_000)
    expect(parseDuration('1.5s', 'ttl')).toBe(1_500)
    expect(parseDuration('250ms', 'ttl')).toBe(250)
    expect(parseDuration('2d', 'ttl')).toBe(172_800_000)
    for (const bad of ['', '30', 'soon', '0s', '-5m', '5 m', '10m junk', '400d']) {
      expect(() => parseDuration(bad, 'ttl'), bad).toThrow(UsageError)
    }
    expect(() => parseDuration('30', 'ttl')).toThrow(/needs a unit/)
    expect(parseDuration('7d', 'ttl', 7 * 86_400_000)).toBe(7 * 86_400_000)
    expect(() => parseDuration('8d', 'ttl', 7 * 86_400_000)).toThrow(/--ttl must be at most 7d/)
  })

  it('cleans the names agents give files', () => {
    expect(safeFilename('report.pdf')).toBe('report.pdf')
    expect(safeFilename('../../etc/passwd')).toBe('passwd')
    expect(safeFilename('..\\..\\boot.ini')).toBe('boot.ini')
    expect(safeFilename('..')).toBe('file')
    expect(safeFilename('.bashrc')).toBe('bashrc')
    expect(safeFilename('dir/')).toBe('file')
    expect(safeFilename('a\u0000b\nc<d>.txt')).toBe('a_b_c_d_.txt')
    expect(safeFilename(undefined, 'image/png')).toBe('file.png')
    expect(safeFilename('', 'application/x-unknown-thing')).toBe('file')
    const long = safeFilename(`${'é'.repeat(300)}.tar.gz`)
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(200)
    expect(long.endsWith('é.tar.gz')).toBe(true)
  })

  it('saves every file of an answer inside its directory, numbering names that are taken', async () => {
    const dir = join(await tempDir('save'), 'out')
    const file = (name: string | undefined, content: string, mediaType = 'text/plain'): PartJson =>
      ({ raw: Buffer.from(content).toString('base64'), mediaType, ...(name != null ? { filename: name } : {}) })
    const task: TaskJson = {
      id: 't1',
      contextId: 'c1',
      status: {
        state: 'TASK_STATE_INPUT_REQUIRED',
        message: { messageId: 'm3', role: 'ROLE_AGENT', parts: [{ text: 'and this?' }, file('../../../escape.txt', 'question file')] }
      },
      artifacts: [{ artifactId: 'a1', parts: [{ text: 'answer' }, file('notes.txt', 'one'), file('notes.txt', 'two'), file('archive.tar.gz', 'tgz', 'application/gzip')] }],
      history: [
        { messageId: 'm1', role: 'ROLE_USER', parts: [{ text: 'hi' }, file('mine.txt', 'my own')] },
        { messageId: 'm2', role: 'ROLE_AGENT', parts: [file(undefined, 'png bytes', 'image/png'), file('..', 'dots')] }
      ]
    }
    const { task: shown, saved } = await saveTaskFiles(task, dir)
    expect(saved.map(f => f.path)).toEqual(['notes.txt', 'notes-1.txt', 'archive.tar.gz', 'file.png', 'file.txt', 'escape.txt'].map(n => join(dir, n)))
    expect((await readdir(dir)).sort()).toEqual(['archive.tar.gz', 'escape.txt', 'file.png', 'file.txt', 'notes-1.txt', 'notes.txt'])
    expect(await readFile(join(dir, 'notes-1.txt'), 'utf8')).toBe('two')
    expect(await readFile(join(dir, 'escape.txt'), 'utf8')).toBe('question file')
    expect(rawKeys(shown)).toBe(0)
    expect(shown.history?.[0]?.parts[1]).toEqual({ mediaType: 'text/plain', filename: 'mine.txt', size: 6 })
    expect(shown.status.message?.parts[1]).toEqual({ savedTo: join(dir, 'escape.txt'), mediaType: 'text/plain', filename: '../../../escape.txt', size: 13 })

    // again: the same files are found, nothing is copied; a different file under a taken name is numbered
    await writeFile(join(dir, 'archive.tar.gz'), 'something else')
    const second = await saveTaskFiles(task, dir)
    expect(second.saved.map(f => f.path)).toEqual(['notes.txt', 'notes-1.txt', 'archive-1.tar.gz', 'file.png', 'file.txt', 'escape.txt'].map(n => join(dir, n)))
    expect((await readdir(dir)).length).toBe(7)
    expect(await readFile(join(dir, 'archive.tar.gz'), 'utf8')).toBe('something else')

    // a task sent to us: the sender's files are saved, our answer's are not written again
    const inbound = join(dir, 'inbound')
    const asReceiver = await saveTaskFiles(task, inbound, { theirs: 'ROLE_USER' })
    expect(asReceiver.saved.map(f => f.path)).toEqual([join(inbound, 'mine.txt')])
    expect(asReceiver.task.artifacts?.[0]?.parts[1]).toEqual({ mediaType: 'text/plain', filename: 'notes.txt', size: 3 })
    expect(rawKeys(asReceiver.task)).toBe(0)

    // no file, no directory
    const empty = join(dir, 'none')
    expect((await saveTaskFiles({ ...task, artifacts: [], history: [], status: { state: 'TASK_STATE_COMPLETED' } }, empty)).saved).toEqual([])
    await expect(stat(empty)).rejects.toThrow()
  })
})
