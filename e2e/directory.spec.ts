// The agent directory on the PWA: search by name and skill, read an agent's whole card, pin a
// favourite to the top (kept across a reload).
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/directory.spec.ts

import { test, expect } from './harness/fixtures.js'
import { openPage } from './harness/browser.js'
import { startNativeAgent, startRelay } from './harness/starling.js'
import { expectOnMesh, openSection } from './harness/app.js'

const MESH_TIMEOUT_MS = 20_000

test('agents are found by name and skill, their cards read, and a pinned one stays first across a reload', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const agents: Array<{ name: string, skills: string }> = [
    { name: 'Weather Wendy', skills: 'forecast,tides' },
    { name: 'Translator Tom', skills: 'translate' }
  ]
  for (const { name, skills } of agents) await startNativeAgent(relay, { name, skills, serveArgs: ['--echo'] })

  const tab = await openPage(browser, 'A', { url: relay.url })
  const page = tab.page
  await expectOnMesh(page)
  await openSection(page, 'Agents')
  const cards = page.getByTestId('agent-card')
  await expect(cards).toHaveCount(2, { timeout: MESH_TIMEOUT_MS })
  const names = async (): Promise<string[]> => await cards.getByRole('heading', { level: 3 }).allTextContents()

  await test.step('search by skill, by name, and for nothing', async () => {
    const search = page.getByRole('searchbox', { name: 'Search agents' })
    await search.fill('tides')
    await expect(cards).toHaveCount(1)
    expect(await names()).toEqual(['Weather Wendy'])
    await search.fill('tom')
    expect(await names()).toEqual(['Translator Tom'])
    await search.fill('nobody here')
    await expect(page.getByTestId('agent-search-empty')).toBeVisible()
    await search.fill('')
    await expect(cards).toHaveCount(2)
  })

  await test.step('the whole card can be read', async () => {
    const wendy = cards.filter({ hasText: 'Weather Wendy' })
    await wendy.getByText('Read the card').click()
    const details = wendy.getByTestId('agent-card-details')
    await expect(details).toContainText('forecast')
    await expect(details).toContainText('tides')
    await expect(details).toContainText('starling')
  })

  await test.step('a pinned agent goes first, and stays first after a reload', async () => {
    const last = (await names())[1]!
    const pin = cards.filter({ hasText: last }).getByTestId('agent-pin')
    await expect(pin).toHaveAttribute('aria-pressed', 'false')
    await pin.click()
    await expect(cards.first().getByRole('heading', { level: 3 })).toHaveText(last)
    await expect(cards.first().getByTestId('agent-pin')).toHaveAttribute('aria-pressed', 'true')
    await page.reload()
    await expectOnMesh(page)
    await openSection(page, 'Agents')
    await expect(cards).toHaveCount(2, { timeout: MESH_TIMEOUT_MS })
    await expect(cards.first().getByRole('heading', { level: 3 })).toHaveText(last)
    await expect(cards.first().getByTestId('agent-pin')).toHaveAttribute('aria-pressed', 'true')
  })
  expect(tab.errors).toEqual([])
})
