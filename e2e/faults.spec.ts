// Tasks that never get lost (issue 4), under injected faults: real relay processes killed with
// SIGKILL and restarted, a receiving agent killed and restarted on the same home, a browser page
// closed while its tasks are answered, and an agent that never comes back.
//
// The receiver is e2e/fixtures/counting-agent.mjs, a process of its own: before answering a task
// it appends a line to a log file synchronously, so the log is the ground truth of what it
// processed, whatever happens to the process. Native senders run inside this test process on the
// built SDK (dist/node/src/native/sdk.js).
//
// Needs the builds: npm run build
// Run:              sh e2e/netns.sh npx playwright test e2e/faults.spec.ts

import { setMaxListeners } from 'node:events'
import { join } from 'node:path'
import type { Page } from '@playwright/test'
import type { StarlingPeer, TaskRecord } from '../src/native/sdk.js'
import { test as base, expect } from './harness/fixtures.js'
import { forwardPageErrors, openPage } from './harness/browser.js'
import { startRelay } from './harness/starling.js'
import { tempDir } from './harness/tmp.js'
import {
  analyseLog, answerOf, CountingAgent, effectsByText, idMismatches, Load, loadSdk, percentile, questionOf, readAgentLog,
  startFixedRelay, summarise, untilPublished
} from './faults-harness.js'
import type { TaskOutcome } from './faults-harness.js'
import { expectOnMesh, openSection } from './harness/app.js'

/** Tasks in the two load tests. */
const TASKS = 500
/** Tasks unfinished at once at the sender (each worker sends, waits for the end, sends again). */
const WINDOW = 20
/** How long the counting agent works on a task before answering, in ms. */
const AGENT_DELAY_MS = 30
/** Completed tasks between one fault and the next. */
const TASKS_BETWEEN_FAULTS = 150
/** Bound on any wait for progress after a fault (a stuck test fails with a report, not a hang). */
const PROGRESS_BOUND_MS = 60_000

interface Senders {
  /** A native peer in this process, with its home in `home`, using the relay at `relayUrl`. */
  create: (home: string, relayUrl: string, name?: string) => Promise<StarlingPeer>
  /** Aborted when the test ends: ends every send and wait still running. */
  signal: AbortSignal
}

const test = base.extend<{ senders: Senders }>({
  senders: async ({}, use) => { // eslint-disable-line no-empty-pattern -- Playwright requires an object pattern here
    const peers: StarlingPeer[] = []
    const controller = new AbortController()
    // every send and wait of a load listens to it
    setMaxListeners(0, controller.signal)
    await use({
      signal: controller.signal,
      create: async (home, relayUrl, name = 'Sender') => {
        const { createNativePeer } = await loadSdk()
        const peer = await createNativePeer({
          home,
          relay: relayUrl,
          profile: { name, description: 'sends tasks for the fault tests', skills: [{ id: 'send' }] },
          // on the relay's circuit, like the agent (RELAYED_ONLY in ./faults-harness.ts)
          mdns: false,
          webrtc: false
        })
        peers.push(peer)
        await untilPublished(peer)
        return peer
      }
    })
    controller.abort()
    await Promise.all(peers.map(async (peer) => {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        peer.stop().catch((err: unknown) => { console.error(`[faults] stopping ${peer.peerId} failed:`, err) }),
        new Promise<void>((resolve) => { timer = setTimeout(() => { console.error(`[faults] ${peer.peerId} did not stop within 10 s`); resolve() }, 10_000) })
      ])
      clearTimeout(timer)
    }))
  }
})

function logLine (message: string): void {
  console.log(`[faults] ${message}`)
}

/** Waits until `load` has `n` completed tasks; fails with what the sender knows of the rest. */
async function expectProgress (load: Load, n: number, what: string): Promise<void> {
  if (await load.until(n, PROGRESS_BOUND_MS)) return
  const pending = await load.pending()
  const why = load.settled === load.options.count ? 'every task had ended' : `waited ${PROGRESS_BOUND_MS} ms`
  expect(load.completed, `${what}: ${load.completed} tasks completed, not ${n} (${why}); ` +
    `ended: ${JSON.stringify(summarise(load.outcomes))}; ${pending.length} not ended, e.g. ${JSON.stringify(pending.slice(0, 5))}`).toBeGreaterThanOrEqual(n)
}

/** Waits for every task of `load` to end; fails with what the sender knows of those that did not. */
async function expectFinished (load: Load): Promise<TaskOutcome[]> {
  const outcomes = await load.finished(PROGRESS_BOUND_MS)
  if (outcomes != null) return outcomes
  const pending = await load.pending()
  expect(pending, `${pending.length} tasks did not end within ${PROGRESS_BOUND_MS} ms of the last fault; ended: ${JSON.stringify(summarise(load.outcomes))}`).toEqual([])
  return await load.done
}

/** Every task completed with its own answer, and the sender keeps one record per task and nothing to deliver. */
async function expectAllCompleted (sender: StarlingPeer, outcomes: TaskOutcome[]): Promise<void> {
  expect(summarise(outcomes)).toEqual({ TASK_STATE_COMPLETED: TASKS })
  const wrong = outcomes.filter(o => answerOf(o.final) !== `answer to ${o.text}`)
    .map(o => `${o.text}: ${JSON.stringify(answerOf(o.final))} in artifacts ${JSON.stringify((o.final?.task.artifacts ?? []).map(a => a.artifactId))}`)
  expect(wrong).toEqual([])
  const outbound = await sender.tasks({ direction: 'outbound' })
  expect(outbound.length, 'outbound records at the sender (a retry must not make a second one)').toBe(TASKS)
  expect(new Set(outbound.map(questionOf)).size).toBe(TASKS)
  await expect.poll(async () => (await sender.tasks({ outbox: true })).map(r => `${r.id} ${r.state} ${JSON.stringify(r.outbox)}`)).toEqual([])
}

function timings (outcomes: TaskOutcome[]): string {
  const ms = outcomes.map(o => o.ms)
  return `per task (send → end) p50 ${percentile(ms, 0.5)} ms, p99 ${percentile(ms, 0.99)} ms, max ${Math.max(...ms)} ms`
}

test('500 tasks between two native peers all complete, each processed once, while the relay is killed and restarted twice', async ({ senders }) => {
  test.setTimeout(180_000)
  const relay = await startFixedRelay(await tempDir('faults-relay'))
  const logFile = join(await tempDir('faults-log'), 'processed.jsonl')
  const agent = new CountingAgent({ home: await tempDir('faults-agent'), relayUrl: relay.url, logFile, delayMs: AGENT_DELAY_MS })
  await agent.start()
  const sender = await senders.create(await tempDir('faults-sender'), relay.url)

  const texts = Array.from({ length: TASKS }, (_, i) => `relay-kill task ${i + 1} of ${TASKS}`)
  const startedAt = Date.now()
  const load = new Load(sender, agent.peerId, { count: TASKS, window: WINDOW, text: i => texts[i]! }, senders.signal)

  for (const kill of [1, 2]) {
    await test.step(`relay kill ${kill}: SIGKILL after ${TASKS_BETWEEN_FAULTS} more completed tasks, then a restart on the same ports and data dir`, async () => {
      const target = (kill === 1 ? 0 : load.completed) + TASKS_BETWEEN_FAULTS
      await expectProgress(load, target, `before relay kill ${kill}`)
      const completedAtKill = load.completed
      await relay.kill()
      const killedAt = Date.now()
      await relay.start()
      const restartedAt = Date.now()
      // a completion after the restart is the proof that both peers came back through the new relay
      await expectProgress(load, load.completed + 1, `after relay restart ${kill}`)
      logLine(`relay kill ${kill}: at ${completedAtKill} completed (${load.settled - load.completed} ended otherwise); ` +
        `down ${restartedAt - killedAt} ms; first completion ${Date.now() - restartedAt} ms after the restart; PeerID kept ${relay.peerId}`)
    })
  }

  const outcomes = await expectFinished(load)
  logLine(`relay kills: ${TASKS} tasks ended in ${Date.now() - startedAt} ms: ${JSON.stringify(summarise(outcomes))}; ${timings(outcomes)}`)
  await expectAllCompleted(sender, outcomes)

  const entries = readAgentLog(logFile)
  const report = analyseLog(entries, texts)
  logLine(`relay kills: the agent processed ${[...report.starts.values()].reduce((a, b) => a + b, 0)} times, ${report.starts.size} distinct tasks, ${report.duplicates.length} twice or more`)
  expect(report.missing).toEqual([])
  expect(report.unexpected).toEqual([])
  // the agent never died: any second processing is a retried message processed again
  expect(report.duplicates.map(t => `${t} ×${report.starts.get(t)}`)).toEqual([])
  // retries carry the id of the first attempt
  expect(idMismatches(outcomes, report)).toEqual([])
  const storedTasks = new Set(entries.flatMap(e => e.ev === 'stored' ? [e.taskId] : []))
  expect(storedTasks.size, 'inbound tasks the agent finished (one per message)').toBe(TASKS)
  expect(agent.runs).toHaveLength(1)
  expect(relay.runs).toHaveLength(3)
})

test('500 tasks all complete when the receiving agent is killed and restarted in the middle, and none is processed twice', async ({ senders }) => {
  test.setTimeout(180_000)
  const relay = await startFixedRelay(await tempDir('faults-relay'))
  const logFile = join(await tempDir('faults-log'), 'processed.jsonl')
  const agent = new CountingAgent({ home: await tempDir('faults-agent'), relayUrl: relay.url, logFile, delayMs: AGENT_DELAY_MS })
  await agent.start()
  const sender = await senders.create(await tempDir('faults-sender'), relay.url)

  const texts = Array.from({ length: TASKS }, (_, i) => `agent-kill task ${i + 1} of ${TASKS}`)
  const startedAt = Date.now()
  const load = new Load(sender, agent.peerId, { count: TASKS, window: WINDOW, text: i => texts[i]! }, senders.signal)

  await test.step('SIGKILL the agent in the middle, restart it on the same home', async () => {
    await expectProgress(load, Math.floor(TASKS * 0.4), 'before the agent kill')
    const completedAtKill = load.completed
    await agent.kill()
    const killedAt = Date.now()
    await agent.start()
    const restartedAt = Date.now()
    await expectProgress(load, load.completed + 1, 'after the agent restart')
    logLine(`agent kill: at ${completedAtKill} completed; down ${restartedAt - killedAt} ms (restart and reservation); ` +
      `first completion ${Date.now() - restartedAt} ms after it was ready again; PeerID kept ${agent.peerId}`)
  })

  const outcomes = await expectFinished(load)
  logLine(`agent kill: ${TASKS} tasks ended in ${Date.now() - startedAt} ms: ${JSON.stringify(summarise(outcomes))}; ${timings(outcomes)}`)

  const entries = readAgentLog(logFile)
  const report = analyseLog(entries, texts)
  const effects = effectsByText(entries)
  logLine(`agent kill: ${report.inFlightAtKills[0]} handlers were running at the kill; ${report.duplicates.length} handlers called twice: ` +
    `${report.interrupted.length} resumed after the restart because the kill cut their first run, ${report.unexplained.length} otherwise; ` +
    `work done ${[...effects.values()].reduce((a, b) => a + b, 0)} times for ${effects.size} messages` +
    (report.duplicates.length > 0 ? ` (${report.duplicates.slice(0, 5).join('; ')}${report.duplicates.length > 5 ? '; …' : ''})` : ''))
  await expectAllCompleted(sender, outcomes)
  expect(report.missing).toEqual([])
  expect(report.unexpected).toEqual([])
  // A message whose processing the kill cut short (started, its answer not yet stored) can only
  // be answered by processing it again after the restart; that is counted and reported above.
  // Any other second processing is a retried or redelivered message processed twice.
  expect(report.unexplained.map(t => `${t} ×${report.starts.get(t)}`)).toEqual([])
  // and the work itself: done exactly once per message, resumed runs included (they are told so)
  expect(texts.filter(t => effects.get(t) !== 1).map(t => `${t} ×${effects.get(t) ?? 0}`)).toEqual([])
  expect(idMismatches(outcomes, report)).toEqual([])
  expect(report.inFlightAtKills).toHaveLength(1)
  expect(agent.runs).toHaveLength(2)
})

// --- the browser sender ----------------------------------------------------------------------

/** Sends `text` to `peerId` through the UI, as a person does; returns the task's id in the page. */
async function sendFromPage (page: Page, peerId: string, text: string): Promise<string> {
  await page.evaluate((hash) => { window.location.hash = hash }, `#/agents/${peerId}`)
  await page.getByRole('textbox', { name: 'Message' }).fill(text)
  await page.getByRole('button', { name: 'Send task' }).click()
  const view = page.getByTestId('task-view')
  await expect(view.getByTestId('task-message').first()).toContainText(text)
  await expect(view).toHaveAttribute('data-task-id', /./)
  const id = await view.getAttribute('data-task-id')
  expect(id).toBeTruthy()
  return id!
}

/** Outbound records straight from the page's IndexedDB ('starling' / 'tasks'), read-only. */
async function outboundInIndexedDb (page: Page): Promise<TaskRecord[]> {
  return await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open('starling')
      req.onsuccess = () => { resolve(req.result) }
      req.onerror = () => { reject(req.error ?? new Error('indexedDB.open failed')) }
    })
    try {
      const all = await new Promise<TaskRecord[]>((resolve, reject) => {
        const req = db.transaction('tasks', 'readonly').objectStore('tasks').getAll()
        req.onsuccess = () => { resolve(req.result as TaskRecord[]) }
        req.onerror = () => { reject(req.error ?? new Error('getAll failed')) }
      })
      return all.filter(r => r.direction === 'outbound')
    } finally {
      db.close()
    }
  })
}

const PAGE_TASKS = 20
/** Answers stored at the agent while the page was closed reach the reopened page within this bound. */
const ANSWERS_BOUND_MS = 60_000

test('a page closed while 20 tasks are in flight shows all their answers when it is opened again', async ({ browser }) => {
  test.setTimeout(150_000)
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const logFile = join(await tempDir('faults-log'), 'processed.jsonl')
  // the agent answers only once told to (SIGUSR2): after the page is closed
  const agent = new CountingAgent({ home: await tempDir('faults-agent'), relayUrl: relay.url, logFile, delayMs: 200, hold: true })
  await agent.start()

  const tab = await openPage(browser, 'A', { url: relay.url })
  const pageId = await expectOnMesh(tab.page)
  const texts = Array.from({ length: PAGE_TASKS }, (_, i) => `page task ${String(i + 1).padStart(2, '0')} of ${PAGE_TASKS}`)
  const ids: string[] = []

  await test.step('the page sends 20 tasks through the UI; the agent has them all and holds its answers', async () => {
    for (const text of texts) ids.push(await sendFromPage(tab.page, agent.peerId, text))
    expect(new Set(ids).size).toBe(PAGE_TASKS)
    for (const text of texts) await agent.process!.waitForLine(new RegExp(`^processing ${text}$`), { timeoutMs: 30_000 })
    await openSection(tab.page, 'Tasks')
    for (const id of ids) {
      await expect(tab.page.locator(`[data-testid="task-row"][data-task-id="${id}"]`).getByTestId('task-state')).toHaveText(/^(submitted|working)$/)
    }
  })

  await test.step('the page is closed; the agent answers all 20 meanwhile', async () => {
    await tab.page.close()
    await agent.release()
    for (const text of texts) await agent.process!.waitForLine(new RegExp(`^answered ${text}$`), { timeoutMs: 30_000 })
    // the answers are stored at the agent: they exist, and no page is there to receive them
    const stored = () => readAgentLog(logFile).filter(e => e.ev === 'stored' && e.state === 'TASK_STATE_COMPLETED').length
    await expect.poll(stored).toBe(PAGE_TASKS)
  })

  await test.step('a new page in the same browser context (same IndexedDB) shows every answer', async () => {
    const page = await tab.context.newPage()
    forwardPageErrors(page, 'A (reopened)', tab.errors)
    const reopenedAt = Date.now()
    await page.goto(relay.url)
    expect(await expectOnMesh(page)).toBe(pageId)
    await openSection(page, 'Tasks')
    for (const [i, id] of ids.entries()) {
      const row = page.locator(`[data-testid="task-row"][data-task-id="${id}"]`)
      await expect(row.getByTestId('task-state')).toHaveText('completed', { timeout: ANSWERS_BOUND_MS })
      await expect(row.getByTestId('task-answer')).toHaveText(`answer to ${texts[i]!}`)
    }
    logLine(`page: all ${PAGE_TASKS} answers shown ${Date.now() - reopenedAt} ms after the page was opened again`)
    const stored = await outboundInIndexedDb(page)
    const mine = new Map(stored.map(r => [r.id, r]))
    expect(ids.map(id => [id, mine.get(id)?.state, answerOf(mine.get(id))]))
      .toEqual(ids.map((id, i) => [id, 'TASK_STATE_COMPLETED', `answer to ${texts[i]!}`]))
    expect(stored).toHaveLength(PAGE_TASKS)
  })

  const report = analyseLog(readAgentLog(logFile), texts)
  expect(report.missing).toEqual([])
  expect(report.unexpected).toEqual([])
  expect(report.duplicates).toEqual([])
  expect(tab.errors).toEqual([])
})

// --- TTL -----------------------------------------------------------------------------------------

const TTL_MS = 3_000
const TTL_TASKS = 5

test('tasks to an agent that never comes back fail at their TTL with a reason, and leave the outbox empty', async ({ senders }) => {
  test.setTimeout(90_000)
  const relay = await startRelay()
  const logFile = join(await tempDir('faults-log'), 'processed.jsonl')
  const agent = new CountingAgent({ home: await tempDir('faults-agent'), relayUrl: relay.url, logFile })
  await agent.start()
  const sender = await senders.create(await tempDir('faults-sender'), relay.url)

  await test.step('control: with the same TTL, a task to the agent while it runs completes', async () => {
    const sent = await sender.send(agent.peerId, 'ttl control task', { ttlMs: TTL_MS })
    const done = await sender.waitFor(sent.id, { signal: AbortSignal.any([senders.signal, AbortSignal.timeout(30_000)]) })
    expect(done.state).toBe('TASK_STATE_COMPLETED')
    expect(answerOf(done)).toBe('answer to ttl control task')
  })

  await agent.kill()

  const texts = Array.from({ length: TTL_TASKS }, (_, i) => `ttl task ${i + 1} of ${TTL_TASKS}`)
  const results: TaskRecord[] = []
  await test.step(`${TTL_TASKS} tasks with a ${TTL_MS} ms TTL to the dead agent fail at their TTL`, async () => {
    const sent: TaskRecord[] = []
    for (const text of texts) {
      const record = await sender.send(agent.peerId, text, { ttlMs: TTL_MS })
      expect(record.state, `${text}: send() resolves with the task kept for retries`).not.toBe('TASK_STATE_COMPLETED')
      expect(record.delivery).not.toBe('delivered')
      sent.push(record)
    }
    const bound = AbortSignal.any([senders.signal, AbortSignal.timeout(TTL_MS + 30_000)])
    results.push(...await Promise.all(sent.map(async r => await sender.waitFor(r.id, { signal: bound }))))
    const reasons = new Map<string, number>()
    for (const r of results) reasons.set(`${r.state}: ${r.localError ?? '-'}`, (reasons.get(`${r.state}: ${r.localError ?? '-'}`) ?? 0) + 1)
    logLine(`ttl: ${[...reasons].map(([reason, n]) => `${n} × ${reason}`).join('; ')}; the last ended ${Date.now() - Math.min(...sent.map(r => r.createdAt))} ms after the first send`)
  })

  for (const [i, record] of results.entries()) {
    expect(record.state, texts[i]).toBe('TASK_STATE_FAILED')
    expect(questionOf(record)).toBe(texts[i])
    // a reason a person can read: on the record, and as the failed status's message
    expect(record.localError, `${texts[i]}: localError`).toMatch(/\bTTL\b|expire/i)
    expect(answerOf(record), `${texts[i]}: the failed status message`).toMatch(/\bTTL\b|expire/i)
    // the TTL is the one asked for, and the task failed no earlier than it
    expect(record.expiresAt).toBeDefined()
    expect(Math.abs(record.expiresAt! - record.createdAt - TTL_MS), 'expiresAt - createdAt - ttlMs').toBeLessThan(1_000)
    const failedAt = record.timeline?.find(t => t.state === 'TASK_STATE_FAILED')?.at
    expect(failedAt, `${texts[i]}: the failed state in the timeline`).toBeDefined()
    // (a timer may fire a few ms before the wall clock says so)
    expect(failedAt!).toBeGreaterThanOrEqual(record.expiresAt! - 50)
  }
  // nothing is left to deliver, and the tasks stay failed
  expect(await sender.tasks({ outbox: true })).toEqual([])
  const stored = await Promise.all(results.map(async r => (await sender.task('outbound', r.id))?.state))
  expect(stored).toEqual(results.map(() => 'TASK_STATE_FAILED'))
  // the dead agent processed nothing of them (it processed the control task only)
  expect([...analyseLog(readAgentLog(logFile), texts).starts.keys()]).toEqual(['ttl control task'])
})
