// What a newcomer does first: `npm start` (here `node bin/start.mjs`, which is what it runs),
// open the printed URL, see the app on the relay with the demo agent listed, and talk to it.
// On loopback the relay is open. On another address it is private: it prints the operator's
// join link; a browser that opens the plain URL is refused its reservation and sees nobody,
// while one that opens the link joins the relay's mesh and talks to the demo agent, which
// `npm start` made a member with no step from anyone.
//
// Needs the builds (start.mjs rebuilds when sources are newer): npm run build
// Run: sh e2e/netns.sh npx playwright test e2e/start.spec.ts

import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Browser, Page } from '@playwright/test'
import { test, expect } from './harness/fixtures.js'
import { openPage, openPages } from './harness/browser.js'
import { peerIdOf } from './harness/app.js'
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

/** Sends the demo agent a task from `page` and expects its echo. */
async function talkToDemo (page: Page, text: string): Promise<void> {
  const demo = page.locator('[data-testid="agent-card"]').filter({ has: page.getByRole('heading', { name: 'Echo (demo)' }) })
  await expect(demo).toBeVisible({ timeout: 20_000 })
  await expect(demo.getByTestId('agent-presence')).toHaveText('online')
  await demo.getByRole('link', { name: 'Send a task to Echo (demo)' }).click()
  await page.getByRole('textbox', { name: 'Message' }).fill(text)
  await page.getByRole('button', { name: 'Send task' }).click()
  const view = page.getByTestId('task-view')
  await expect(view.getByTestId('task-state')).toHaveText('completed')
  await expect(view.getByTestId('task-answer')).toContainText(text)
}

/** The relay's address inside the test namespace (e2e/netns.sh): not loopback. */
const NETNS_HOST = '10.77.0.1'
/**
 * Its HTTP port, fixed: plain http on an address other than loopback is not a secure context,
 * and the PWA needs one (crypto.randomUUID, service workers), so the browser is told to treat
 * this one origin as secure, as an https proxy in front of the relay would make it.
 */
const NETNS_PORT = 18080

test('npm start on another address than loopback is private: an operator join link, nothing for a stranger, the demo agent for who joins', async ({ browser: shared }) => {
  const launch = test.info().project.use.launchOptions ?? {}
  const browser = await shared.browserType().launch({ ...launch, args: [...(launch.args ?? []), `--unsafely-treat-insecure-origin-as-secure=http://${NETNS_HOST}:${NETNS_PORT}`] })
  try {
    await privateStart(browser, shared)
  } finally {
    await browser.close()
  }
})

async function privateStart (browser: Browser, plainBrowser: Browser): Promise<void> {
  const dataDir = await tempDir('start-private')
  const relayDir = join(dataDir, 'relay')
  const start = spawnProcess(process.execPath, [join(REPO_ROOT, 'bin', 'start.mjs'), '--host', NETNS_HOST, '--port', String(NETNS_PORT), '--tcp-port', '0', '--data-dir', relayDir, '--ice-servers', 'none'], {
    cwd: REPO_ROOT,
    name: 'npm start'
  })
  const url = (await start.waitForLine(/Open (http:\/\/\S+)/, { timeoutMs: 120_000 }))[1]!
  expect(url).toBe(`http://${NETNS_HOST}:${NETNS_PORT}`)
  const meshId = (await start.waitForLine(/Mode private: only members of the relay's own mesh (12D3KooW\w+\/relay) may use it/))[1]!
  await start.waitForLine(/Operator join link \(admin, 1 use, until \S+; kept in \S+join-link\.txt\):/)
  const link = (await start.waitForLine(/^\[relay\]\s+(http:\/\/\S+\/#join=[A-Za-z0-9_-]+)$/))[1]!
  expect(link.startsWith(`${url}/#join=`)).toBe(true)
  // kept for the operator to find later, readable by the relay's user only
  const linkFile = join(relayDir, 'join-link.txt')
  expect(await readFile(linkFile, 'utf8')).toBe(`${link}\n`)
  expect((await stat(linkFile)).mode & 0o777).toBe(0o600)
  // the demo agent was let in before it started, and publishes
  await start.waitForLine(new RegExp(`the demo agent 12D3KooW\\w+ is a member of the relay's mesh ${meshId.replace('/', '\\/')}`))
  await start.waitForLine(/Published card "Echo \(demo\)"/, { timeoutMs: 30_000 })

  // a stranger opens the plain URL: the relay asks for its credentials, it has none, and its
  // reservation is refused; it stays connected without a slot, publishes nothing, sees nobody
  const stranger = await openPage(browser, 'stranger', { url })
  const strangerId = await peerIdOf(stranger.page)
  await start.waitForLine(new RegExp(`"event":"mesh\\.refused".*"peer":"${strangerId}"`), { timeoutMs: 30_000 })
  const strangerStatus = stranger.page.getByTestId('relay-status')
  await expect(strangerStatus).toHaveAttribute('data-state', 'connected')
  // and the page says why, on the indicator and the Relay screen (no error: the registry is private)
  await expect(strangerStatus).toContainText('a private relay: only members of its meshes get a slot')
  await stranger.page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: /^Relay/ }).click()
  await expect(stranger.page.getByTestId('relay-mode')).toHaveText('members of its private meshes')
  await expect(stranger.page.getByTestId('relay-registry-private')).toBeVisible()
  await expect(stranger.page.getByRole('alert')).toHaveCount(0)
  await stranger.page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: /^Agents/ }).click()
  await expect(stranger.page.getByTestId('registry-status')).toHaveAttribute('data-state', 'pending')
  await expect(stranger.page.locator('[data-testid="agent-card"]').filter({ has: stranger.page.getByRole('heading', { name: 'Echo (demo)' }) })).toHaveCount(0)
  // the relay has no reservation of it (its health counts one: the demo agent's)
  const health = await (await fetch(`${url}/health`)).json() as { reservations: number }
  expect(health.reservations).toBe(1)
  expect(await strangerStatus.getAttribute('data-state')).not.toBe('reserved')

  // the operator opens the join link: an admin invite of the relay's mesh; joining gets it a slot
  const operator = await openPage(browser, 'operator', { url: link })
  await expect(operator.page.getByRole('heading', { name: 'Join a private mesh' })).toBeVisible()
  await expect(operator.page.getByTestId('invite-role')).toHaveText('admin')
  await operator.page.getByRole('button', { name: /^Join Starling relay / }).click()
  await expect(operator.page.getByTestId('mesh-item').filter({ has: operator.page.getByTestId('mesh-role').getByText('admin', { exact: true }) })).toHaveAttribute('data-mesh-id', meshId)
  // no reload: its first request for a slot, made before it held a credential, was refused, and
  // joining makes the peer redial the relay and ask again, showing its credential now
  await expect(operator.page.getByTestId('relay-status')).toHaveAttribute('data-state', 'reserved', { timeout: 20_000 })
  await expect(operator.page.getByTestId('registry-status')).toHaveAttribute('data-state', 'published')
  await operator.page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: /^Agents/ }).click()
  await talkToDemo(operator.page, 'Hello, private Starling!')

  // a browser told nothing of the origin sees plain http off loopback as it is: no secure
  // context; the page says what that turns off instead of failing later
  const plain = await openPage(plainBrowser, 'plain http', { url })
  expect(await plain.page.evaluate(() => window.isSecureContext)).toBe(false)
  await expect(plain.page.getByTestId('insecure-notice')).toContainText('offline use, installing, notifications, copying and key backup are off')
  await plain.context.close()

  // still refused: joining was the operator's, not the stranger's
  expect(await strangerStatus.getAttribute('data-state')).not.toBe('reserved')
  expect(stranger.errors).toEqual([])
  expect(operator.errors).toEqual([])
  await stranger.context.close()
  await operator.context.close()

  const stopped = await start.stop({ timeoutMs: 20_000 })
  expect(stopped.signal ?? 'exited').not.toBe('SIGKILL')
}

