// The PWA end to end: a real relay, two isolated Chromium pages (two browser peers, each with
// its own IndexedDB), real WebSockets, circuit relay and WebRTC inside the test namespace.
// Everything is done the way a person does it, through the UI; the one look under the hood is
// the read-only `window.starling` debug handle that the app exposes when its URL has `?debug`
// (src/app/node/debug.ts), used to check the kind of the A↔B connection independently of the UI.
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/pwa.spec.ts

import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from '@playwright/test'
import { build } from 'vite'
import type { Rolldown } from 'vite'
import type { PeerConnectionInfo } from '../src/core/peer.js'
import type {} from '../src/app/node/debug.js'
import type { openIdbStorage } from '../src/app/data/idb-storage.js'
import type { MemoryTaskRecordStore } from '../src/core/store/memory.js'
import type { TaskQuery, TaskRecord } from '../src/core/store/types.js'
import { test, expect } from './harness/fixtures.js'
import { openPages } from './harness/browser.js'
import { REPO_ROOT, startRelay } from './harness/starling.js'
import { tempDir } from './harness/tmp.js'
import { acceptSender, expectOnMesh, openSection, peerIdOf } from './harness/app.js'

/** Discovery asks the registry every 5 s: a card published just after an ask shows up on the next. */
const DISCOVERY_TIMEOUT_MS = 20_000

function agentCard (page: Page, peerId: string) {
  return page.locator(`[data-testid="agent-card"][data-peer-id="${peerId}"]`)
}

/** The page's open connections, through the debug handle. */
async function connectionsOf (page: Page): Promise<PeerConnectionInfo[]> {
  return await page.evaluate(() => {
    if (window.starling == null) throw new Error('no window.starling: was the page opened with ?debug?')
    return window.starling.connections()
  })
}

test('two browser peers meet through the relay, answer a task over direct WebRTC, and keep it across a reload', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const [a, b] = await openPages(browser, 2, { url: `${relay.url}/?debug` })
  const pageA = a!.page
  const pageB = b!.page
  const question = 'What is 6 x 7?'
  const answer = 'It is 42.'

  let idA = ''
  let idB = ''
  await test.step('both pages reach the relay, publish their cards and see each other', async () => {
    await expectOnMesh(pageA)
    await expectOnMesh(pageB)
    idA = await peerIdOf(pageA)
    idB = await peerIdOf(pageB)
    expect(idA).not.toBe(idB)

    for (const [page, other] of [[pageA, idB], [pageB, idA]] as const) {
      await openSection(page, 'Agents')
      const card = agentCard(page, other)
      await expect(card).toBeVisible({ timeout: DISCOVERY_TIMEOUT_MS })
      await expect(card.getByRole('heading')).toHaveText(`Browser agent ${other.slice(-6)}`)
      await expect(card.getByTestId('agent-presence')).toHaveText('online')
      await expect(card.getByRole('list', { name: 'Skills' })).toHaveText('chat')
    }
  })

  let taskId = ''
  // B knows the task by its own id: A's record names it once B has accepted the task
  let remoteId = ''
  await test.step('A sends a text task to B; B answers it from the inbox; A sees it completed', async () => {
    await agentCard(pageA, idB).getByRole('link', { name: `Send a task to Browser agent ${idB.slice(-6)}` }).click()
    await pageA.getByRole('textbox', { name: 'Message' }).fill(question)
    await pageA.getByRole('button', { name: 'Send task' }).click()

    const view = pageA.getByTestId('task-view')
    await expect(view).toBeVisible()
    await expect(view.getByTestId('task-state')).toHaveText(/^(submitted|working)$/)
    await expect(view.getByTestId('task-message').first()).toContainText(question)
    taskId = (await view.getAttribute('data-task-id'))!
    expect(taskId).not.toBe('')
    await expect(view).toHaveAttribute('data-remote-id', /.+/)
    remoteId = (await view.getAttribute('data-remote-id'))!

    // A is a stranger to B: its task waits under Requests until B's person accepts A
    await acceptSender(pageB, idA)
    await expect(pageB.getByTestId('inbox-count')).toHaveText('1')
    const item = pageB.locator(`[data-testid="inbox-item"][data-task-id="${remoteId}"]`)
    await expect(item.getByTestId('inbox-question')).toHaveText(question)
    await item.getByRole('textbox', { name: 'Answer' }).fill(answer)
    await item.getByRole('button', { name: 'Send answer' }).click()
    await expect(item).toHaveCount(0)
    await expect(pageB.getByText('Nothing waits for an answer.')).toBeVisible()

    await expect(view.getByTestId('task-state')).toHaveText('completed')
    await expect(view.getByTestId('task-answer')).toContainText(answer)
    await expect(view.getByRole('button', { name: 'Cancel task' })).toHaveCount(0)

    // B keeps the task too, completed, with the answer it gave
    await openSection(pageB, 'Tasks')
    const rowB = pageB.locator(`[data-testid="task-row"][data-task-id="${remoteId}"]`)
    await expect(rowB.getByTestId('task-state')).toHaveText('completed')
    await expect(rowB.getByTestId('task-answer')).toHaveText(answer)
  })

  await test.step('the A↔B connection is direct WebRTC, in the UI and in the peer', async () => {
    await expect(pageA.getByTestId('task-view').getByTestId('agent-link')).toHaveText('direct WebRTC')
    await openSection(pageA, 'Agents')
    await expect(agentCard(pageA, idB).getByTestId('agent-link')).toHaveAttribute('data-kind', 'webrtc')
    await openSection(pageB, 'Agents')
    await expect(agentCard(pageB, idA).getByTestId('agent-link')).toHaveText('direct WebRTC')

    for (const [page, other] of [[pageA, idB], [pageB, idA]] as const) {
      await expect.poll(async () => (await connectionsOf(page)).filter(c => c.peerId === other).map(c => c.kind))
        .toContain('webrtc')
      const webrtc = (await connectionsOf(page)).find(c => c.peerId === other && c.kind === 'webrtc')!
      expect(webrtc.relay).toBe(false)
      expect(webrtc.remoteAddr).toContain('/webrtc')
    }
  })

  await test.step('after a reload A has the same PeerID and still shows the completed task', async () => {
    await pageA.reload()
    await expectOnMesh(pageA)
    expect(await peerIdOf(pageA)).toBe(idA)
    expect(await pageA.evaluate(() => window.starling?.peerId)).toBe(idA)

    await openSection(pageA, 'Tasks')
    const row = pageA.locator(`[data-testid="task-row"][data-task-id="${taskId}"]`)
    await expect(row.getByTestId('task-state')).toHaveText('completed')
    await expect(row).toContainText(question)
    await expect(row.getByTestId('task-answer')).toHaveText(answer)

    await row.getByRole('link').click()
    const view = pageA.getByTestId('task-view')
    await expect(view).toHaveAttribute('data-task-id', taskId)
    await expect(view.getByTestId('task-state')).toHaveText('completed')
    await expect(view.getByTestId('task-message').first()).toContainText(question)
    await expect(view.getByTestId('task-answer')).toContainText(answer)
  })

  await test.step('B edits its profile; A sees the republished card', async () => {
    await openSection(pageB, 'Profile')
    await pageB.getByRole('textbox', { name: 'Display name' }).fill('Bea at the bird desk')
    await pageB.getByRole('textbox', { name: 'Description' }).fill('Answers questions about birds')
    await pageB.getByRole('textbox', { name: 'Skills' }).fill('chat, birds')
    await pageB.getByRole('button', { name: 'Save' }).click()
    await expect(pageB.getByText('Saved and published.')).toBeVisible()

    await openSection(pageA, 'Agents')
    const card = agentCard(pageA, idB)
    await expect(card.getByRole('heading')).toHaveText('Bea at the bird desk', { timeout: DISCOVERY_TIMEOUT_MS })
    await expect(card).toContainText('Answers questions about birds')
    await expect(card.getByRole('list', { name: 'Skills' }).getByRole('listitem')).toHaveText(['chat', 'birds'])
  })

  expect(a!.errors).toEqual([])
  expect(b!.errors).toEqual([])
})

test('a person declines a task, and a sender cancels one that waits', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const [a, b] = await openPages(browser, 2, { url: relay.url })
  const pageA = a!.page
  const pageB = b!.page
  const idA = await expectOnMesh(pageA)
  await expectOnMesh(pageB)
  const idB = await peerIdOf(pageB)

  /** A follows a link to B (as one pasted from a chat) and sends `text`; returns the task view. */
  const send = async (text: string) => {
    await pageA.evaluate((hash) => { window.location.hash = hash }, `#/agents/${idB}`)
    await pageA.getByRole('textbox', { name: 'Message' }).fill(text)
    await pageA.getByRole('button', { name: 'Send task' }).click()
    const view = pageA.getByTestId('task-view')
    await expect(view.getByTestId('task-message').first()).toHaveText(new RegExp(text))
    // B's id of the task, known to A once B accepted it
    await expect(view).toHaveAttribute('data-remote-id', /.+/)
    return { view, id: (await view.getAttribute('data-task-id'))!, remote: (await view.getAttribute('data-remote-id'))! }
  }

  await test.step('B declines with a reason; A sees the task rejected, with the reason', async () => {
    const { view, id, remote } = await send('Please book me a flight')
    await acceptSender(pageB, idA)
    const item = pageB.locator(`[data-testid="inbox-item"][data-task-id="${remote}"]`)
    await item.getByRole('textbox', { name: 'Answer' }).fill('I cannot book flights.')
    await item.getByRole('button', { name: 'Decline' }).click()
    await expect(item).toHaveCount(0)

    await expect(view.getByTestId('task-state')).toHaveText('rejected')
    await expect(view.getByTestId('task-message').last()).toContainText('I cannot book flights.')
    await openSection(pageA, 'Tasks')
    const row = pageA.locator(`[data-testid="task-row"][data-task-id="${id}"]`)
    await expect(row.getByTestId('task-state')).toHaveText('rejected')
    await expect(row.getByTestId('task-answer')).toHaveText('I cannot book flights.')
  })

  await test.step('A cancels a task B has not answered; it leaves B\'s inbox', async () => {
    const { view, remote } = await send('Never mind this one')
    await openSection(pageB, 'Inbox')
    const item = pageB.locator(`[data-testid="inbox-item"][data-task-id="${remote}"]`)
    await expect(item).toBeVisible()

    await view.getByRole('button', { name: 'Cancel task' }).click()
    await expect(view.getByTestId('task-state')).toHaveText('canceled')
    await expect(view.getByRole('button', { name: 'Cancel task' })).toHaveCount(0)
    await expect(item).toHaveCount(0)
    await expect(pageB.getByTestId('inbox-count')).toHaveCount(0)

    await openSection(pageB, 'Tasks')
    await expect(pageB.locator(`[data-testid="task-row"][data-task-id="${remote}"]`).getByTestId('task-state')).toHaveText('canceled')
  })

  expect(a!.errors).toEqual([])
  expect(b!.errors).toEqual([])
})

// --- the IndexedDB storage, in Chromium ---------------------------------------------------------

declare global {
  interface Window {
    /** Set by the bundle the store test injects (see bundleStoreCheck). */
    StoreCheck?: {
      openIdbStorage: typeof openIdbStorage
      MemoryTaskRecordStore: typeof MemoryTaskRecordStore
    }
  }
}

/** Bundles the PWA's IndexedDB storage and core's reference in-memory store for a page. */
async function bundleStoreCheck (): Promise<string> {
  const dir = await tempDir('store-check')
  const entry = join(dir, 'entry.ts')
  await writeFile(entry, [
    `export { openIdbStorage } from ${JSON.stringify(join(REPO_ROOT, 'src/app/data/idb-storage.ts'))}`,
    `export { MemoryTaskRecordStore } from ${JSON.stringify(join(REPO_ROOT, 'src/core/store/memory.ts'))}`
  ].join('\n'))
  const output = await build({
    configFile: false,
    logLevel: 'warn',
    root: dir,
    build: { write: false, minify: false, lib: { entry, formats: ['iife'], name: 'StoreCheck' } }
  }) as Rolldown.RolldownOutput[]
  const chunk = output[0]!.output.find(o => o.type === 'chunk')
  if (chunk?.type !== 'chunk') throw new Error('the store bundle has no chunk')
  return chunk.code
}

test('the IndexedDB storage lists tasks exactly like the reference store, and keeps everything across a reopen', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const [p] = await openPages(browser, 1, { url: relay.url })
  const page = p!.page
  await page.addScriptTag({ content: await bundleStoreCheck() })

  const open: TaskRecord['state'][] = ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING', 'TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_AUTH_REQUIRED']
  const queries: TaskQuery[] = [
    {}, { limit: 7 }, { limit: 0 },
    { direction: 'inbound' }, { direction: 'outbound', limit: 5 },
    { states: open }, { direction: 'inbound', states: open }, { direction: 'outbound', states: ['TASK_STATE_COMPLETED'], limit: 3 },
    { states: [] }, { states: ['TASK_STATE_FAILED', 'TASK_STATE_FAILED'] },
    { peerId: 'peer-1' }, { peerId: 'peer-2', direction: 'outbound' }, { contextId: 'ctx-3' },
    { contextId: 'ctx-1', states: ['TASK_STATE_COMPLETED', 'TASK_STATE_WORKING'], direction: 'inbound' },
    { peerId: 'peer-0', contextId: 'ctx-2' }
  ]

  const mismatches = await page.evaluate(async ({ queries }) => {
    const { openIdbStorage, MemoryTaskRecordStore } = window.StoreCheck!
    const states = ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING', 'TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_AUTH_REQUIRED',
      'TASK_STATE_COMPLETED', 'TASK_STATE_FAILED', 'TASK_STATE_CANCELED', 'TASK_STATE_REJECTED'] as const
    // a fixed pseudo-random sequence: the same records on every run
    let seed = 42
    const rnd = (n: number): number => { // mulberry32
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
    }
    const pick = <T,>(list: readonly T[]): T => list[rnd(list.length)]!
    const record = (i: number): TaskRecord => {
      const state = pick(states)
      // few distinct times, so many records tie on updatedAt and order by id
      const updatedAt = 1_700_000_000_000 + rnd(25) * 1000
      const id = `${rnd(1_000_000).toString(36)}-${i}`
      const contextId = `ctx-${rnd(5)}`
      return {
        direction: rnd(2) === 0 ? 'inbound' : 'outbound',
        id,
        peerId: `peer-${rnd(4)}`,
        contextId,
        state,
        task: { id, contextId, status: { state }, history: [] },
        createdAt: updatedAt - 500,
        updatedAt
      }
    }

    const out: string[] = []
    const ids = (list: TaskRecord[]): string => list.map(r => `${r.direction}/${r.id}`).join(' ')
    const difference = (want: string, got: string): string => {
      const [w, g] = [want.split(' '), got.split(' ')]
      const at = w.findIndex((id, i) => g[i] !== id)
      return `${w.length} records expected, ${g.length} listed; first difference at ${at === -1 ? w.length : at}: ${w[at] ?? '(end)'} expected, ${g[at === -1 ? w.length : at] ?? '(end)'} listed`
    }
    const reference = new MemoryTaskRecordStore()
    let storage = await openIdbStorage('starling-store-check')
    const compare = async (label: string): Promise<void> => {
      for (const query of queries) {
        const want = ids(await reference.list(query))
        const got = ids(await storage.tasks.list(query))
        if (want !== got) out.push(`${label} ${JSON.stringify(query)}: ${difference(want, got)}`)
        // page through the same query, 4 at a time, with `before`
        if (query.limit != null) continue
        const pages: TaskRecord[] = []
        for (let before: TaskQuery['before']; ;) {
          const page = await storage.tasks.list({ ...query, limit: 4, before })
          pages.push(...page)
          const last = page.at(-1)
          if (page.length < 4 || last == null) break
          before = { updatedAt: last.updatedAt, id: last.id }
        }
        if (ids(pages) !== want) out.push(`${label} paged ${JSON.stringify(query)}: ${difference(want, ids(pages))}`)
      }
    }

    const records = Array.from({ length: 240 }, (_, i) => record(i))
    const spread = (f: (r: TaskRecord) => string): number => new Set(records.map(f)).size
    if (spread(r => r.direction) !== 2 || spread(r => r.state) !== 8 || spread(r => String(r.updatedAt)) < 20) out.push('the test records do not cover every direction, state and many times')
    for (const r of records) { await reference.put(r); await storage.tasks.put(r) }
    await compare('fresh')

    // tasks change state and move up the order: the indexes follow
    for (const r of records.filter((_, i) => i % 3 === 0)) {
      const changed: TaskRecord = { ...r, state: 'TASK_STATE_COMPLETED', updatedAt: r.updatedAt + 30_000, task: { ...r.task, status: { state: 'TASK_STATE_COMPLETED' } } }
      await reference.put(changed)
      await storage.tasks.put(changed)
    }
    await compare('updated')
    const sample = records[1]!
    if (JSON.stringify(await storage.tasks.get(sample.direction, sample.id)) !== JSON.stringify(await reference.get(sample.direction, sample.id))) out.push('get differs')
    if (await storage.tasks.get(sample.direction === 'inbound' ? 'outbound' : 'inbound', sample.id) != null && !records.some(r => r.id === sample.id && r.direction !== sample.direction)) out.push('get found the other direction')

    const key = new Uint8Array([8, 1, 18, 64, ...Array.from({ length: 64 }, (_, i) => i)])
    await storage.identity.save(key.subarray(0, 20))
    await storage.profile.save({ name: 'n', description: 'd', skills: [{ id: 'chat', tags: ['x'] }] })
    await storage.agents.put({ peerId: 'peer-1', card: { name: 'one' } as never, seenAt: 1 })
    await storage.agents.put({ peerId: 'peer-2', card: { name: 'two' } as never, seenAt: 2 })
    await storage.agents.remove('peer-1')

    // close and open again: everything is still there
    await storage.close()
    storage = await openIdbStorage('starling-store-check')
    await compare('reopened')
    const identity = await storage.identity.load()
    if (!(identity instanceof Uint8Array) || identity.join() !== key.subarray(0, 20).join()) out.push(`identity came back as ${String(identity)}`)
    if (JSON.stringify(await storage.profile.load()) !== JSON.stringify({ name: 'n', description: 'd', skills: [{ id: 'chat', tags: ['x'] }] })) out.push('profile differs')
    const agents = await storage.agents.list()
    if (agents.map(a => a.peerId).join() !== 'peer-2') out.push(`agents: ${agents.map(a => a.peerId).join()}`)
    await storage.close()
    return out
  }, { queries })

  expect(mismatches).toEqual([])
  expect(p!.errors).toEqual([])
})
