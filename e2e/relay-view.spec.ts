// The PWA's read-only view of its relay: health and registry as the relay reports them, with a
// native agent and the page itself listed. The relay's own /health is the reference.
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/relay-view.spec.ts

import { test, expect } from './harness/fixtures.js'
import { openPages } from './harness/browser.js'
import { startPeer, startRelay, starlingCli } from './harness/starling.js'
import { tempDir } from './harness/tmp.js'
import { expectOnMesh, openSection } from './harness/app.js'

test('the relay view shows the relay\'s health and every agent in its registry', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const home = await tempDir('native')
  const init = await starlingCli<{ peerId: string }>(home, ['init', '--name', 'Native Nell', '--skills', 'weather', '--relay', relay.url], { json: true })
  expect(init.code).toBe(0)
  const native = await startPeer(home, [], { name: 'native' })
  await native.process.waitForLine(/^Published card "Native Nell"/, { timeoutMs: 20_000 })

  const [tab] = await openPages(browser, 1, { url: relay.url })
  const page = tab!.page
  const browserId = await expectOnMesh(page)
  const health = await (await fetch(new URL('/health', relay.url))).json() as { peerId: string }

  await openSection(page, 'Relay')
  const view = page.getByTestId('relay-screen')
  await expect(view.getByTestId('relay-health')).toHaveAttribute('data-status', 'ok')
  await expect(view.getByTestId('relay-peer-id')).toHaveText(health.peerId)
  // the native agent and this page are connected, hold reservations and are listed
  await expect(view.getByTestId('relay-peers')).toHaveText('2')
  await expect(view.getByTestId('relay-reservations')).toHaveText('2')
  await expect(view.getByTestId('relay-agents')).toHaveText('2')
  const native1 = view.locator(`[data-testid="relay-registry-entry"][data-peer-id="${init.json!.peerId}"]`)
  await expect(native1).toContainText('Native Nell')
  await expect(native1).toContainText('skills: weather')
  await expect(native1).toContainText('online')
  await expect(view.locator(`[data-testid="relay-registry-entry"][data-peer-id="${browserId}"]`)).toBeVisible()

  // the view follows the relay: the native agent leaves, and its entry says offline
  await native.stop()
  await expect(view.getByTestId('relay-peers')).toHaveText('1')
  await expect(native1).toContainText('offline')
  expect(tab!.errors).toEqual([])
})
