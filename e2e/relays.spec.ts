// The relays a PWA may use: the one that served it, and others the person adds. When its relay
// goes away, the page moves its reservation to the next one that answers.
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/relays.spec.ts

import { test, expect } from './harness/fixtures.js'
import { openPage } from './harness/browser.js'
import { startRelay } from './harness/starling.js'
import { expectOnMesh, openSection } from './harness/app.js'

test('a person adds a second relay, sees both reachable, and the page moves to it when its own relay stops', async ({ browser }) => {
  const own = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const second = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const tab = await openPage(browser, 'A', { url: own.url })
  const page = tab.page
  const peerId = await expectOnMesh(page)
  await openSection(page, 'Relay')
  const list = page.getByTestId('relay-list')
  const row = (url: string) => list.locator(`[data-testid="relay-row"][data-origin="${url}"]`)
  await expect(row(own.url)).toHaveAttribute('data-reachable', 'true')
  await expect(row(own.url)).toHaveAttribute('data-in-use', 'true')

  await test.step('addresses that cannot be relays are refused with the reason', async () => {
    const field = list.getByLabel('Add a relay')
    await field.fill('ftp://relay.example')
    await list.getByRole('button', { name: 'Add relay' }).click()
    await expect(list.getByRole('alert')).toHaveText(/not ftp:/)
    await field.fill(own.url)
    await list.getByRole('button', { name: 'Add relay' }).click()
    await expect(list.getByRole('alert')).toHaveText(/already listed/)
  })

  await test.step('the second relay is added, answers, and is not in use yet', async () => {
    await list.getByLabel('Add a relay').fill(`${second.url}/some/path`)
    await list.getByRole('button', { name: 'Add relay' }).click()
    await expect(row(second.url)).toHaveAttribute('data-reachable', 'true')
    await expect(row(second.url)).toHaveAttribute('data-in-use', 'false')
  })

  await test.step('the page\'s own relay stops: the reservation moves to the second one', async () => {
    await own.stop()
    await expect(row(own.url)).toHaveAttribute('data-reachable', 'false', { timeout: 30_000 })
    expect(await expectOnMesh(page)).toBe(peerId)
    await expect(row(second.url)).toHaveAttribute('data-in-use', 'true', { timeout: 30_000 })
    const health = await (await fetch(new URL('/health', second.url))).json() as { reservations: number, agents: number }
    expect(health.reservations).toBe(1)
    expect(health.agents).toBe(1)
  })

  await test.step('a removed relay is gone, also after a reload', async () => {
    await row(second.url).getByRole('button', { name: /^Remove the relay / }).click()
    await expect(row(second.url)).toHaveCount(0)
    const stored = await page.evaluate(() => localStorage.getItem('starling:relays'))
    expect(JSON.parse(stored ?? '[]')).toEqual([])
  })
  // the stopped relay's requests and sockets fail in the console: that is the point of the test
  expect(tab.errors.filter(e => !/ERR_CONNECTION_REFUSED|WebSocket|Failed to fetch/.test(e))).toEqual([])
})
