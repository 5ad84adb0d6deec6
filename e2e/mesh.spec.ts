// A browser tab and a native peer on one mesh: the browser sends a task that a person answers
// with the CLI, and the native peer sends a task that a person answers in the browser. The
// native peer is `starling serve` in a process of its own, driven only through CLI verbs.
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/mesh.spec.ts

import type { TaskJson } from '../src/core/a2a/json.js'
import { test, expect } from './harness/fixtures.js'
import { openPages } from './harness/browser.js'
import { startPeer, startRelay, starlingCli } from './harness/starling.js'
import { tempDir } from './harness/tmp.js'
import { expectOnMesh, openSection } from './harness/app.js'

/** Discovery asks the registry every 5 s: a card published just after an ask shows up on the next. */
const DISCOVERY_TIMEOUT_MS = 20_000

test('a browser and a native peer send each other tasks and answer them', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const home = await tempDir('native')
  const init = await starlingCli<{ peerId: string }>(home, ['init', '--name', 'Native Nell', '--skills', 'weather', '--relay', relay.url], { json: true })
  expect(init.code).toBe(0)
  const nativeId = init.json!.peerId
  const native = await startPeer(home, [], { name: 'native' })
  await native.process.waitForLine(/^Published card "Native Nell"/, { timeoutMs: 20_000 })

  const [tab] = await openPages(browser, 1, { url: relay.url })
  const page = tab!.page
  const browserId = await expectOnMesh(page)

  await test.step('the browser sends a task to the native peer, which answers it from the CLI', async () => {
    await openSection(page, 'Agents')
    const card = page.locator(`[data-testid="agent-card"][data-peer-id="${nativeId}"]`)
    await expect(card.getByRole('heading')).toHaveText('Native Nell', { timeout: DISCOVERY_TIMEOUT_MS })
    await card.getByRole('link', { name: 'Send a task to Native Nell' }).click()
    await page.getByRole('textbox', { name: 'Message' }).fill('Will it rain in Lyon tomorrow?')
    await page.getByRole('button', { name: 'Send task' }).click()
    const view = page.getByTestId('task-view')
    await expect(view.getByTestId('task-state')).toHaveText(/^(submitted|working)$/)
    // the native peer knows the task by its own id, which the browser learns when it is accepted
    await expect(view).toHaveAttribute('data-remote-id', /.+/)
    const taskId = (await view.getAttribute('data-remote-id'))!

    const inbox = await starlingCli<Array<{ taskId: string, from: string, text: string }>>(home, ['inbox'], { json: true })
    expect(inbox.json).toEqual([expect.objectContaining({ taskId, from: browserId, text: 'Will it rain in Lyon tomorrow?' })])
    const respond = await starlingCli(home, ['respond', taskId, 'Light rain after noon.'])
    expect(respond.code).toBe(0)

    await expect(view.getByTestId('task-state')).toHaveText('completed')
    await expect(view.getByTestId('task-answer')).toContainText('Light rain after noon.')
    // the browser opened the circuit, so it upgrades it: native peers answer WebRTC too
    await expect(view.getByTestId('agent-link')).toHaveText('direct WebRTC', { timeout: 20_000 })
  })

  await test.step('the native peer sends a task to the browser, where a person answers it', async () => {
    const sent = await starlingCli<{ taskId: string }>(home, ['send', browserId, 'Please confirm the picnic for Sunday.'], { json: true })
    expect(sent.code).toBe(0)
    const taskId = sent.json!.taskId
    const waiting = starlingCli<TaskJson>(home, ['wait', taskId, '--timeout', '30'], { json: true })

    await openSection(page, 'Inbox')
    const item = page.getByTestId('inbox-item').filter({ hasText: 'Please confirm the picnic for Sunday.' })
    await expect(item.getByTestId('inbox-question')).toHaveText('Please confirm the picnic for Sunday.')
    await item.getByRole('textbox', { name: 'Answer' }).fill('Confirmed, I bring the bread.')
    await item.getByRole('button', { name: 'Send answer' }).click()

    const done = await waiting
    expect(done.code).toBe(0)
    expect(done.json?.id).toBe(taskId)
    expect(done.json?.status.state).toBe('TASK_STATE_COMPLETED')
    expect(done.json?.artifacts?.[0]?.parts[0]?.text).toBe('Confirmed, I bring the bread.')
    const plain = await starlingCli(home, ['wait', taskId])
    expect(plain.stdout.trim()).toBe('Confirmed, I bring the bread.')
  })

  expect(tab!.errors).toEqual([])
})
