/**
 * `starling serve --on-task CMD` end to end: a relay and two native peers in processes of their
 * own; the agent's command is a shell script in a temp dir, and the sender only uses CLI verbs
 * (from the build in dist/node, refreshed first when a source file is newer).
 */
import { execFile } from 'node:child_process'
import { createReadStream, watch } from 'node:fs'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPeer, startRelay, starlingCli } from '../../e2e/harness/starling.js'
import type { CliResult, PeerHandle, RelayHandle } from '../../e2e/harness/starling.js'
import { testProcesses } from '../../e2e/harness/processes.js'
import { removeTempDirs, tempDir } from '../../e2e/harness/tmp.js'
import { stderrTail } from './on-task.js'
import { ensureBuilt } from '../../e2e/harness/build.js'


/**
 * The agent: what it does depends on the first word of the task's text. Every run appends its
 * environment to runs.log.
 */
const AGENT = `#!/bin/sh
dir=$(dirname "$0")
text=$(cat)
printf '%s|%s|%s|%s|%s\\n' "$STARLING_TASK_ID" "$STARLING_CONTEXT_ID" "$STARLING_FROM" "$STARLING_RESUMED" "$text" >> "$dir/runs.log"
case "$text" in
  fail*)
    i=0
    while [ $i -lt 50 ]; do echo "noise line $i" >&2; i=$((i + 1)); done
    echo "cannot do that: $text" >&2
    exit 1 ;;
  slow*)
    # deaf to SIGTERM, and with a child of its own: only SIGKILL to the group ends both
    trap '' TERM
    sleep 60 &
    echo "$$ $!" > "$dir/slow.pids"
    wait
    echo "finished anyway" ;;
  cancel*)
    # the test reads this FIFO: its end comes when both processes are gone
    exec 3> "$dir/cancel.fifo"
    sleep 60 &
    echo "$$ $!" > "$dir/cancel.pids"
    wait ;;
  question*)
    echo "Which branch?"
    exit 3 ;;
  restart*)
    if [ "$STARLING_RESUMED" = 1 ]; then echo "done after the restart"; exit 0; fi
    exec 3> "$dir/restart.fifo"
    sleep 60 &
    echo "$$ $!" > "$dir/restart.pids"
    wait ;;
  big*)
    head -c 1100000 /dev/zero | tr '\\0' a ;;
  *)
    printf 'You said: %s\\n' "$text" ;;
esac
`

/** Whether process `pid` still runs (a zombie does not). */
async function alive (pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  return !/^\d+ \(.*\) Z /.test(stat)
}

/** The two PIDs the agent writes to `file`, once it has. */
async function pidsIn (file: string, timeoutMs = 20_000): Promise<number[]> {
  return await new Promise((resolve, reject) => {
    const watcher = watch(dirname(file))
    const done = (): void => { clearTimeout(timer); watcher.close() }
    const timer = setTimeout(() => { done(); reject(new Error(`no PIDs in ${file} after ${timeoutMs} ms`)) }, timeoutMs)
    const check = (): void => {
      readFile(file, 'utf8').then((text) => {
        const pids = text.trim().split(' ').map(Number).filter(n => Number.isSafeInteger(n) && n > 0)
        if (pids.length === 2 && text.endsWith('\n')) { done(); resolve(pids) }
      }, () => {})
    }
    watcher.on('change', check)
    check()
  })
}

/**
 * Makes a FIFO at `path` and reads it: resolves once every process that opened it for writing
 * (the agent's command and its children) is gone. Opening blocks until the first writer comes.
 */
async function untilWritersGone (path: string): Promise<{ ended: Promise<void> }> {
  await promisify(execFile)('mkfifo', [path])
  const reader = createReadStream(path)
  // wrapped: an async function's returned promise would be awaited with it
  return {
    ended: new Promise<void>((resolve, reject) => {
      reader.on('error', reject)
      reader.on('close', () => { resolve() })
      reader.resume()
    })
  }
}

function expectExit (result: CliResult, code: number): void {
  // on failure, show what the command said
  expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toMatchObject({ code })
}

interface TaskViewJson { taskId: string, direction: string, peerId: string, state: string }

describe('starling serve --on-task, with a relay and two peers in processes of their own', () => {
  let relay: RelayHandle
  let homeA: string
  let homeB: string
  let agentDir: string
  let a: PeerHandle
  let b: PeerHandle

  async function serve (home: string, name: string, args: string[] = []): Promise<PeerHandle> {
    const peer = await startPeer(home, args, { name })
    await peer.process.waitForLine(/^Published card "/, { timeoutMs: 20_000 })
    return peer
  }

  /** Sends `text` from A to B and waits for the end of the turn. */
  async function ask (text: string, args: string[] = []): Promise<{ taskId: string, waited: CliResult }> {
    const sent = await starlingCli(homeA, ['send', b.peerId, text, ...args])
    expectExit(sent, 0)
    const taskId = sent.stdout.trim()
    return { taskId, waited: await starlingCli(homeA, ['wait', taskId, '--timeout', '25']) }
  }

  async function runs (): Promise<string[][]> {
    const log = await readFile(join(agentDir, 'runs.log'), 'utf8').catch(() => '')
    return log.split('\n').filter(l => l !== '').map(l => l.split('|'))
  }

  beforeAll(async () => {
    await ensureBuilt()
    relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
    homeA = await tempDir('home-a')
    homeB = await tempDir('home-b')
    agentDir = await tempDir('agent')
    const script = join(agentDir, 'agent.sh')
    await writeFile(script, AGENT)
    await chmod(script, 0o755)

    const [initA, initB] = await Promise.all([
      starlingCli(homeA, ['init', '--name', 'Alice', '--relay', relay.url]),
      starlingCli(homeB, ['init', '--name', 'Scripted', '--skills', 'script', '--relay', relay.url])
    ])
    expectExit(initA, 0)
    expectExit(initB, 0)
    ;[a, b] = await Promise.all([
      serve(homeA, 'peer A'),
      serve(homeB, 'peer B (on-task)', ['--on-task', `'${script}'`, '--on-task-timeout', '4'])
    ])
    expect(b.process.stdout).toContain('Mode:   on-task')
  }, 60_000)

  afterAll(async () => {
    await testProcesses.stopAll()
    testProcesses.clear()
    await removeTempDirs()
  })

  it('answers with the command\'s stdout; the command gets the text on stdin and the task in its environment', async () => {
    const { taskId, waited } = await ask('hello there, script')
    expectExit(waited, 0)
    expect(waited.stdout).toBe('You said: hello there, script\n')

    const run = (await runs()).find(r => r[4] === 'hello there, script')
    const [remoteId, contextId, from, resumed] = run ?? []
    expect(from).toBe(a.peerId)
    expect(resumed).toBe('0')
    expect(contextId).toMatch(/^[\w-]{8,}$/)
    // the agent's own id of the task
    const atB = await starlingCli<TaskViewJson[]>(homeB, ['tasks'], { json: true })
    expect(atB.json?.find(t => t.taskId === remoteId)).toMatchObject({ direction: 'inbound', peerId: a.peerId, state: 'TASK_STATE_COMPLETED' })
    const atA = await starlingCli<{ contextId: string }>(homeA, ['wait', taskId], { json: true })
    expect(atA.json?.contextId).toBe(contextId)
  })

  it('fails the task with the last lines of stderr when the command exits non-zero', async () => {
    const { waited } = await ask('fail this one')
    expectExit(waited, 1)
    expect(waited.stdout).toContain('cannot do that: fail this one')
    expect(waited.stdout).toContain('noise line 49')
    // bounded: the first lines are left out
    expect(waited.stdout).toContain('noise line 31')
    expect(waited.stdout).not.toContain('noise line 30')
    expect(waited.stderr).toContain('failed')
  })

  it('stops a command that outlives --on-task-timeout (SIGTERM, then SIGKILL to its group) and fails the task', async () => {
    const { waited } = await ask('slow job')
    expectExit(waited, 1)
    expect(waited.stdout).toContain('did not finish within 4 s')
    const pids = (await readFile(join(agentDir, 'slow.pids'), 'utf8')).trim().split(' ').map(Number)
    expect(pids).toHaveLength(2)
    for (const pid of pids) expect(await alive(pid), `process ${pid}`).toBe(false)
  }, 30_000)

  it('stops the command when the sender cancels the task', async () => {
    const { ended } = await untilWritersGone(join(agentDir, 'cancel.fifo'))
    const sent = await starlingCli(homeA, ['send', b.peerId, 'cancel me while I run'])
    expectExit(sent, 0)
    const taskId = sent.stdout.trim()
    const pids = await pidsIn(join(agentDir, 'cancel.pids'))

    expectExit(await starlingCli(homeA, ['cancel', taskId]), 0)
    await ended
    for (const pid of pids) expect(await alive(pid), `process ${pid}`).toBe(false)
    const waited = await starlingCli(homeA, ['wait', taskId, '--timeout', '25'])
    expectExit(waited, 1)
    expect(waited.stderr).toContain('canceled')
  })

  it('asks back with exit 3 and takes the reply in the same task', async () => {
    const { taskId, waited } = await ask('question about the deploy')
    expectExit(waited, 3)
    expect(waited.stdout).toBe('Which branch?\n')

    expectExit(await starlingCli(homeA, ['send', b.peerId, '--task', taskId, 'main please']), 0)
    const answered = await starlingCli(homeA, ['wait', taskId, '--timeout', '25'])
    expectExit(answered, 0)
    expect(answered.stdout).toBe('You said: main please\n')
    const [first, second] = (await runs()).filter(r => r[4] === 'question about the deploy' || r[4] === 'main please')
    expect(second?.[0]).toBe(first?.[0])
    expect(second?.[1]).toBe(first?.[1])
  })

  it('fails the task when the answer is larger than 1 MiB', async () => {
    const { waited } = await ask('big answer')
    expectExit(waited, 1)
    expect(waited.stdout).toContain('larger than 1048576 bytes')
  })

  it('stops running commands when the daemon stops, and runs them again (STARLING_RESUMED=1) after its restart', async () => {
    const { ended } = await untilWritersGone(join(agentDir, 'restart.fifo'))
    const sent = await starlingCli(homeA, ['send', b.peerId, 'restart in the middle'])
    expectExit(sent, 0)
    const taskId = sent.stdout.trim()
    const pids = await pidsIn(join(agentDir, 'restart.pids'))

    await b.stop()
    expect(b.process.exitInfo?.code).toBe(0)
    await ended
    for (const pid of pids) expect(await alive(pid), `process ${pid}`).toBe(false)

    b = await serve(homeB, 'peer B (on-task, restarted)', ['--on-task', `'${join(agentDir, 'agent.sh')}'`, '--on-task-timeout', '4'])
    const waited = await starlingCli(homeA, ['wait', taskId, '--timeout', '25'])
    expectExit(waited, 0)
    expect(waited.stdout).toBe('done after the restart\n')
    const resumes = (await runs()).filter(r => r[4] === 'restart in the middle').map(r => r[3])
    expect(resumes).toEqual(['0', '1'])
  }, 60_000)

  it('refuses --on-task-timeout without --on-task, and a bad timeout', async () => {
    const empty = await tempDir('home-flags')
    expectExit(await starlingCli(empty, ['serve', '--on-task-timeout', '5']), 2)
    expectExit(await starlingCli(empty, ['serve', '--on-task', 'true', '--on-task-timeout', 'soon']), 2)
  })
})

describe('stderrTail', () => {
  it('keeps the last 20 non-empty lines, at most 2000 characters', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`)
    expect(stderrTail(lines.join('\n') + '\n\n')).toBe(lines.slice(10).join('\n'))
    const long = stderrTail('x'.repeat(5000))
    expect(long).toHaveLength(2000)
    expect(long.startsWith('…')).toBe(true)
  })
})
