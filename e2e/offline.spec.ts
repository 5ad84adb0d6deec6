// The PWA as an installed app: its manifest and service worker, a reload with no network that
// still shows the stored tasks and the queued outbox, and the way back online step by step.
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/offline.spec.ts

import type { Page } from '@playwright/test'
import { test, expect } from './harness/fixtures.js'
import { openPage } from './harness/browser.js'
import { startNativeAgent, startPeer, startRelay } from './harness/starling.js'
import { expectOnMesh, openSection } from './harness/app.js'

/** Registry polling and a first reservation on a loaded 2-core machine take a few seconds. */
const MESH_TIMEOUT_MS = 20_000

/** A task the agent has not confirmed: still queued, or written to a connection that said nothing back. */
const UNDELIVERED = /^(queued|sent)$/

test('the manifest names an installable app, and the service worker controls the page', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const tab = await openPage(browser, 'A', { url: relay.url })
  await expectOnMesh(tab.page)

  const href = await tab.page.locator('link[rel="manifest"]').getAttribute('href')
  expect(href).not.toBeNull()
  const manifest = await (await fetch(new URL(href!, relay.url))).json() as {
    name: string, short_name: string, display: string, start_url: string, theme_color: string, background_color: string,
    icons: Array<{ src: string, sizes: string, type: string, purpose?: string }>
  }
  expect(manifest).toMatchObject({ name: 'Starling', short_name: 'Starling', display: 'standalone', start_url: '/' })
  expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/i)
  expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/i)
  // the sizes installers ask for: 192 and 512, and a maskable one for Android's adaptive icons
  const sizes = manifest.icons.filter(i => i.purpose !== 'maskable').map(i => i.sizes)
  expect(sizes).toEqual(expect.arrayContaining(['192x192', '512x512']))
  expect(manifest.icons.some(i => i.purpose === 'maskable')).toBe(true)
  for (const icon of manifest.icons) {
    const response = await fetch(new URL(icon.src, relay.url))
    expect(response.status, icon.src).toBe(200)
    expect(response.headers.get('content-type'), icon.src).toContain(icon.type)
  }

  // the worker installs (the app shell precached) and controls the page once it is reloaded
  const scope = await tab.page.evaluate(async () => (await navigator.serviceWorker.ready).scope)
  expect(scope).toBe(`${relay.url}/`)
  await tab.page.reload()
  expect(await tab.page.evaluate(() => navigator.serviceWorker.controller?.state)).toBe('activated')
  expect(tab.errors).toEqual([])
})

test('an offline reload shows the stored tasks and the outbox; back online, the relay, the card and the queued task follow', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  let agent = await startNativeAgent(relay, { name: 'Echo Eve', skills: 'echo', serveArgs: ['--echo'] })
  const { home, peerId: agentId } = agent

  const tab = await openPage(browser, 'A', { url: relay.url })
  const page = tab.page
  await expectOnMesh(page)
  await page.evaluate(async () => { await navigator.serviceWorker.ready })

  await test.step('one task is answered, a second is queued while the agent is away', async () => {
    await sendTask(page, agentId, 'first, answered')
    await expect(page.getByTestId('task-view').getByTestId('task-state')).toHaveText('completed', { timeout: MESH_TIMEOUT_MS })
    await agent.stop()
    await sendTask(page, agentId, 'second, queued')
    // not delivered: queued, or sent on a connection the agent left without a word (no answer yet)
    await expect(page.getByTestId('task-view').getByTestId('task-delivery')).toHaveAttribute('data-delivery', UNDELIVERED, { timeout: MESH_TIMEOUT_MS })
  })

  await test.step('offline, a reload opens the app from the service worker with both tasks', async () => {
    await tab.context.setOffline(true)
    await page.reload()
    await expect(page.getByTestId('relay-status')).toHaveAttribute('data-state', /^(offline|connecting)$/)
    await openSection(page, 'Tasks')
    const first = page.getByTestId('task-row').filter({ hasText: 'first, answered' })
    const second = page.getByTestId('task-row').filter({ hasText: 'second, queued' })
    await expect(first.getByTestId('task-answer')).toHaveText('first, answered')
    await expect(second.getByTestId('task-delivery')).toHaveAttribute('data-delivery', UNDELIVERED)
    // the page could not reach the relay: it says so instead of pretending
    await expect(page.getByTestId('relay-status')).toHaveAttribute('data-state', 'offline', { timeout: MESH_TIMEOUT_MS })
  })

  await test.step('back online: the indicator goes through each step to reserved and published', async () => {
    const states = await recordRelayStates(page)
    await tab.context.setOffline(false)
    await expectOnMesh(page)
    const seen = await states()
    expect(seen.at(-1)).toBe('reserved')
    expect(seen).toContain('connecting')
  })

  await test.step('the agent returns: the queued task is delivered and answered', async () => {
    agent = await startPeer(home, ['--echo'], { name: 'echo' })
    const second = page.getByTestId('task-row').filter({ hasText: 'second, queued' })
    await expect(second.getByTestId('task-answer')).toHaveText('second, queued', { timeout: MESH_TIMEOUT_MS })
  })
  // offline requests and sockets the page tried are reported by Chromium as console errors
  expect(tab.errors.filter(e => !/ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_REFUSED|WebSocket/.test(e))).toEqual([])
})

async function sendTask (page: Page, agentId: string, text: string): Promise<void> {
  await openSection(page, 'Agents')
  const card = page.locator(`[data-testid="agent-card"][data-peer-id="${agentId}"]`)
  await expect(card).toBeVisible({ timeout: MESH_TIMEOUT_MS })
  await card.getByRole('link', { name: /^Send a task to / }).click()
  await page.getByRole('textbox', { name: 'Message' }).fill(text)
  await page.getByRole('button', { name: 'Send task' }).click()
  await expect(page.getByTestId('task-view')).toBeVisible()
}

/** Starts recording every relay state the header shows; the returned function reads them. */
async function recordRelayStates (page: Page): Promise<() => Promise<string[]>> {
  await page.evaluate(() => {
    const seen: string[] = []
    ;(window as unknown as { relayStates: string[] }).relayStates = seen
    const element = document.querySelector('[data-testid="relay-status"]')!
    seen.push(element.getAttribute('data-state') ?? '')
    new MutationObserver(() => {
      const state = element.getAttribute('data-state') ?? ''
      if (seen.at(-1) !== state) seen.push(state)
    }).observe(element, { attributes: true, attributeFilter: ['data-state'] })
  })
  return async () => await page.evaluate(() => (window as unknown as { relayStates: string[] }).relayStates)
}
