// What a newcomer does first: `npm start` (here `node bin/start.mjs`, which is what it runs),
// open the printed URL, see the app on the relay with the demo agent listed, and talk to it.
//
// Needs the builds (start.mjs rebuilds when sources are newer): npm run build
// Run: sh e2e/netns.sh npx playwright test e2e/start.spec.ts

import { join } from 'node:path'
import { test, expect } from './harness/fixtures.js'
import { openPages } from './harness/browser.js'
import { spawnProcess } from './harness/processes.js'
import { REPO_ROOT } from './harness/starling.js'
import { tempDir } from './harness/tmp.js'

test('npm start serves the PWA with a relay and a demo agent that answers', async ({ browser }) => {
  const dataDir = await tempDir('start')
  const start = spawnProcess(process.execPath, [join(REPO_ROOT, 'bin', 'start.mjs'), '--port', '0', '--tcp-port', '0', '--data-dir', join(dataDir, 'relay'), '--ice-servers', 'none'], {
    cwd: REPO_ROOT,
    name: 'npm start'
  })
  const url = (await start.waitForLine(/Open (http:\/\/\S+)/, { timeoutMs: 120_000 }))[1]!
  await start.waitForLine(/Published card "Echo \(demo\)"/, { timeoutMs: 30_000 })

  const [tab] = await openPages(browser, 1, { url })
  const page = tab!.page
  await expect(page.getByTestId('relay-status')).toHaveAttribute('data-state', 'reserved')
  await expect(page.getByTestId('registry-status')).toHaveAttribute('data-state', 'published')

  const demo = page.locator('[data-testid="agent-card"]').filter({ has: page.getByRole('heading', { name: 'Echo (demo)' }) })
  await expect(demo).toBeVisible({ timeout: 20_000 })
  await expect(demo.getByTestId('agent-presence')).toHaveText('online')
  await demo.getByRole('link', { name: 'Send a task to Echo (demo)' }).click()
  await page.getByRole('textbox', { name: 'Message' }).fill('Hello, Starling!')
  await page.getByRole('button', { name: 'Send task' }).click()
  const view = page.getByTestId('task-view')
  await expect(view.getByTestId('task-state')).toHaveText('completed')
  await expect(view.getByTestId('task-answer')).toContainText('Hello, Starling!')
  expect(tab!.errors).toEqual([])
  // close the page before the relay goes, or it logs the refused reconnections
  await tab!.context.close()

  const stopped = await start.stop({ timeoutMs: 20_000 })
  expect(stopped.signal ?? 'exited').not.toBe('SIGKILL')
})
