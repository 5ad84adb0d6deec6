// What needs the person while the app is in the background: the count in the title, and a
// system notification for each new task and each answer (with the person's permission).
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/notify.spec.ts

import type { Page } from '@playwright/test'
import { test, expect } from './harness/fixtures.js'
import { openPage } from './harness/browser.js'
import { startNativeAgent, startRelay, starlingCli } from './harness/starling.js'
import { expectOnMesh, openSection } from './harness/app.js'

const MESH_TIMEOUT_MS = 20_000

test('in the background, a new task and an answer are notified and counted in the title; looking at them clears the count', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const native = await startNativeAgent(relay, { name: 'Native Nell', skills: 'weather' })
  const { home, peerId: nativeId } = native

  const tab = await openPage(browser, 'A', { url: relay.url })
  const page = tab.page
  const browserId = await expectOnMesh(page)
  await page.evaluate(async () => { await navigator.serviceWorker.ready })
  await expect(page).toHaveTitle('Starling')

  await test.step('notifications are asked for from the profile, not on load', async () => {
    await openSection(page, 'Profile')
    const setting = page.getByTestId('notification-setting')
    await expect(setting).toHaveAttribute('data-permission', 'default')
    await tab.context.grantPermissions(['notifications'], { origin: relay.url })
    await setting.getByRole('button', { name: 'Turn on notifications' }).click()
    await expect(setting).toHaveAttribute('data-permission', 'granted')
  })

  // the browser asks Native Nell something while in front, and the agent answers later
  await openSection(page, 'Agents')
  await page.locator(`[data-testid="agent-card"][data-peer-id="${nativeId}"]`).getByRole('link', { name: 'Send a task to Native Nell' }).click()
  await page.getByRole('textbox', { name: 'Message' }).fill('Rain tomorrow?')
  await page.getByRole('button', { name: 'Send task' }).click()
  await expect(page.getByTestId('task-view')).toHaveAttribute('data-remote-id', /.+/, { timeout: MESH_TIMEOUT_MS })
  const ourTaskId = (await page.getByTestId('task-view').getAttribute('data-task-id'))!
  const theirTaskId = (await page.getByTestId('task-view').getAttribute('data-remote-id'))!
  await openSection(page, 'Agents')

  await test.step('in the background: a new task is notified, and counted', async () => {
    await setVisibility(page, 'hidden')
    const sent = await starlingCli<{ taskId: string }>(home, ['send', browserId, 'Please water the plants'], { json: true })
    expect(sent.code).toBe(0)
    await expect(page).toHaveTitle('(1) Starling', { timeout: MESH_TIMEOUT_MS })
    await expect.poll(async () => await notificationTitles(page), { timeout: MESH_TIMEOUT_MS }).toContain('New task from Native Nell')
    expect((await notifications(page)).find(n => n.title === 'New task from Native Nell')?.body).toBe('Please water the plants')
  })

  await test.step('in the background: the answer to our task is notified, and counted', async () => {
    expect((await starlingCli(home, ['respond', theirTaskId, 'Light rain after noon.'])).code).toBe(0)
    await expect(page).toHaveTitle('(2) Starling', { timeout: MESH_TIMEOUT_MS })
    await expect(page.getByTestId('tasks-count')).toHaveText('1')
    await expect.poll(async () => await notificationTitles(page), { timeout: MESH_TIMEOUT_MS }).toContain('Native Nell answered')
    const answer = (await notifications(page)).find(n => n.title === 'Native Nell answered')
    expect(answer?.body).toBe('Light rain after noon.')
    // a click on it opens the task
    expect(answer?.url).toBe(`#/tasks/outbound/${ourTaskId}`)
  })

  await test.step('back in front: opening the answer and answering the task clear the count', async () => {
    await setVisibility(page, 'visible')
    await openSection(page, 'Tasks')
    await page.getByTestId('task-row').filter({ hasText: 'Rain tomorrow?' }).getByRole('link').first().click()
    await expect(page.getByTestId('task-view').getByTestId('task-state')).toHaveText('completed')
    await expect(page).toHaveTitle('(1) Starling')
    await expect(page.getByTestId('tasks-count')).toHaveCount(0)
    await openSection(page, 'Inbox')
    const item = page.getByTestId('inbox-item').filter({ hasText: 'Please water the plants' })
    await item.getByRole('textbox', { name: 'Answer' }).fill('Done.')
    await item.getByRole('button', { name: 'Send answer' }).click()
    await expect(page).toHaveTitle('Starling')
  })

  await test.step('in the background: a stranger\'s request is notified, counted, and opens the inbox', async () => {
    const stranger = await startNativeAgent(relay, { name: 'Stranger Sam', skills: 'chat' })
    // seen in the directory, so the notice can name it (a stranger is still no one the person accepted)
    await openSection(page, 'Agents')
    await expect(page.locator(`[data-testid="agent-card"][data-peer-id="${stranger.peerId}"]`)).toBeVisible({ timeout: MESH_TIMEOUT_MS })
    await setVisibility(page, 'hidden')
    const sent = await starlingCli<{ taskId: string }>(stranger.home, ['send', browserId, 'May I ask you things?'], { json: true })
    expect(sent.code).toBe(0)
    await expect(page).toHaveTitle('(1) Starling', { timeout: MESH_TIMEOUT_MS })
    await expect.poll(async () => await notificationTitles(page), { timeout: MESH_TIMEOUT_MS }).toContain('Stranger Sam asks to send you tasks')
    const request = (await notifications(page)).find(n => n.title === 'Stranger Sam asks to send you tasks')
    expect(request?.body).toBe('May I ask you things?')
    expect(request?.url).toBe('#/inbox')
    await setVisibility(page, 'visible')
    await openSection(page, 'Inbox')
    await page.locator(`[data-testid="request"][data-peer-id="${stranger.peerId}"]`).getByRole('button', { name: /^Block / }).click()
    await expect(page).toHaveTitle('Starling')
  })

  await test.step('in front, nothing is notified: the page shows it', async () => {
    const before = (await notifications(page)).length
    const sent = await starlingCli<{ taskId: string }>(home, ['send', browserId, 'One more thing'], { json: true })
    expect(sent.code).toBe(0)
    await expect(page).toHaveTitle('(1) Starling', { timeout: MESH_TIMEOUT_MS })
    expect((await notifications(page)).length).toBe(before)
  })
  expect(tab.errors).toEqual([])
})

/** Makes the page believe it went to the background (or came back), as a phone's app switcher does. */
async function setVisibility (page: Page, state: 'hidden' | 'visible'): Promise<void> {
  await page.evaluate((value) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => value })
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => value === 'hidden' })
    document.dispatchEvent(new Event('visibilitychange'))
  }, state)
}

interface ShownNotification { title: string, body: string, url?: string }

/** The notifications the service worker shows now. */
async function notifications (page: Page): Promise<ShownNotification[]> {
  return await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready
    return (await registration.getNotifications()).map(n => ({ title: n.title, body: n.body, url: (n.data as { url?: string } | null)?.url }))
  })
}

async function notificationTitles (page: Page): Promise<string[]> {
  return (await notifications(page)).map(n => n.title)
}
