// A new version of the PWA deployed while it is open: the service worker finds it, the page offers
// a reload and never reloads by itself, and the reload runs the new version.
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/update.spec.ts

import { appendFile, cp } from 'node:fs/promises'
import { join } from 'node:path'
import { test, expect } from './harness/fixtures.js'
import { openPage } from './harness/browser.js'
import { REPO_ROOT, startRelay } from './harness/starling.js'
import { tempDir } from './harness/tmp.js'
import { expectOnMesh } from './harness/app.js'

test('a new version is offered as a reload, not forced; the reload runs it', async ({ browser }) => {
  // the relay serves a copy of the build, which the test then "deploys" anew
  const appDir = await tempDir('app')
  await cp(join(REPO_ROOT, 'dist/app'), appDir, { recursive: true })
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none', '--app-dir', appDir] })
  const tab = await openPage(browser, 'A', { url: relay.url })
  const page = tab.page
  await page.evaluate(async () => { await navigator.serviceWorker.ready })
  // a returning visit, as an installed app's are: the worker controls the page
  await page.reload()
  const peerId = await expectOnMesh(page)
  expect(await page.evaluate(() => navigator.serviceWorker.controller != null)).toBe(true)
  // something of this page's life that a reload would lose
  await page.evaluate(() => { (window as unknown as { lived: boolean }).lived = true })

  // a new build changes the worker (its precache list): here, one line more
  await appendFile(join(appDir, 'sw.js'), '\n// the next version\n')
  await page.evaluate(async () => { await (await navigator.serviceWorker.getRegistration())?.update() })
  const prompt = page.getByRole('status').filter({ hasText: 'A new version of Starling is ready' })
  await expect(prompt).toBeVisible({ timeout: 20_000 })
  // the new worker waits for the person: the page is the same one, still on the mesh
  expect(await page.evaluate(() => (window as unknown as { lived?: boolean }).lived)).toBe(true)
  expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting != null)).toBe(true)

  const reloaded = page.waitForEvent('load')
  await prompt.getByRole('button', { name: 'Reload' }).click()
  await reloaded
  expect(await page.evaluate(() => (window as unknown as { lived?: boolean }).lived)).toBeUndefined()
  expect(await expectOnMesh(page)).toBe(peerId)
  // the new worker is the one in charge, and none waits any more
  expect(await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.getRegistration()
    return { waiting: registration?.waiting != null, active: registration?.active?.state }
  })).toEqual({ waiting: false, active: 'activated' })
  await expect(prompt).toHaveCount(0)
  expect(tab.errors).toEqual([])
})
