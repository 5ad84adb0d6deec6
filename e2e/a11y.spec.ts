// Accessibility of the PWA's screens, checked by axe-core (WCAG 2.1 A and AA rules: names of
// controls, contrast, landmarks, …) at a phone's width and a desktop's, in the light and the dark
// theme; and the whole app used from the keyboard alone.
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/a11y.spec.ts

import { AxeBuilder } from '@axe-core/playwright'
import type { BrowserContextOptions, Page } from '@playwright/test'
import { test, expect } from './harness/fixtures.js'
import { openPage } from './harness/browser.js'
import { startNativeAgent, startRelay, starlingCli } from './harness/starling.js'
import { acceptSender, expectOnMesh, openSection } from './harness/app.js'
import type { Section } from './harness/app.js'

const SECTIONS: Section[] = ['Agents', 'Tasks', 'Inbox', 'Profile', 'Relay']
const SIZES: Array<[string, BrowserContextOptions]> = [
  ['360 wide, light', { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, colorScheme: 'light' }],
  ['1280 wide, dark', { viewport: { width: 1280, height: 800 }, colorScheme: 'dark' }]
]

test('every main screen passes axe\'s WCAG A and AA rules, on a small phone in light and on a desktop in dark', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  // an agent in the directory and a task in each list, so the screens are not empty
  const { home, peerId: nellId } = await startNativeAgent(relay, { name: 'Native Nell', skills: 'weather', serveArgs: ['--echo'] })

  for (const [label, options] of SIZES) {
    const tab = await openPage(browser, label, { url: relay.url, contextOptions: options })
    const browserId = await expectOnMesh(tab.page)
    expect((await starlingCli(home, ['send', browserId, 'A question for the person'])).code).toBe(0)
    await expect(tab.page.getByTestId('inbox-count')).toHaveText('1', { timeout: 20_000 })
    // Nell is a stranger to the tab: its task waits under Requests. The phone checks that card,
    // the desktop accepts Nell and checks the inbox's answer form
    if (label.startsWith('1280')) {
      await acceptSender(tab.page, nellId)
      await expect(tab.page.getByTestId('inbox-item')).toHaveCount(1)
    }
    for (const section of SECTIONS) {
      await openSection(tab.page, section)
      await expect(tab.page.getByRole('heading', { level: 2, name: section })).toBeVisible()
      await expect(tab.page.getByText('Loading…')).toHaveCount(0)
      await expectNoViolations(tab.page, `${label}, ${section}`)
    }
    expect(tab.errors).toEqual([])
    await tab.context.close()
  }
})

test('the app is usable from the keyboard alone: reach a section, write a task, send it', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  await startNativeAgent(relay, { name: 'Native Nell', skills: 'weather', serveArgs: ['--echo'] })
  const tab = await openPage(browser, 'keyboard', { url: relay.url })
  const page = tab.page
  await expectOnMesh(page)
  await expect(page.getByRole('link', { name: 'Send a task to Native Nell' })).toBeVisible({ timeout: 20_000 })

  // Tab until the agent's link has the focus; every stop on the way shows where the focus is
  await tabUntil(page, async () => await page.getByRole('link', { name: 'Send a task to Native Nell' }).evaluate(el => el === document.activeElement))
  await page.keyboard.press('Enter')
  await tabUntil(page, async () => await page.getByRole('textbox', { name: 'Message' }).evaluate(el => el === document.activeElement))
  await page.keyboard.type('Typed without a mouse')
  await tabUntil(page, async () => await page.getByRole('button', { name: 'Send task' }).evaluate(el => el === document.activeElement))
  await page.keyboard.press('Enter')
  await expect(page.getByTestId('task-view').getByTestId('task-answer')).toContainText('Typed without a mouse', { timeout: 20_000 })
  expect(tab.errors).toEqual([])
})

async function expectNoViolations (page: Page, where: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze()
  const found = results.violations.map(v => `${v.id} (${v.impact ?? 'unknown'}): ${v.help} — ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`)
  expect(found, where).toEqual([])
  // axe looked at the page (an empty or unloaded page passes every rule trivially)
  expect(results.passes.length, where).toBeGreaterThan(10)
}

/** Presses Tab until `focused()` holds (at most 40 times), checking each stop has a visible focus ring. */
async function tabUntil (page: Page, focused: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab')
    const ring = await page.evaluate(() => {
      const el = document.activeElement
      if (el == null || el === document.body) return true
      const style = getComputedStyle(el)
      return style.outlineStyle !== 'none' || style.boxShadow !== 'none'
    })
    expect(ring, 'the focused element shows a focus ring').toBe(true)
    if (await focused()) return
  }
  throw new Error('the element was not reached with Tab')
}
