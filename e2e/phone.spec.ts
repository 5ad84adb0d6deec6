// The PWA as people keep it on a phone: joining from a desktop's link, moving an identity with a
// passphrase-protected key backup, and the main screens at a phone's and a desktop's size.
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/phone.spec.ts

import { readFile } from 'node:fs/promises'
import type { BrowserContextOptions, Page } from '@playwright/test'
import { test, expect } from './harness/fixtures.js'
import { openPage } from './harness/browser.js'
import { startRelay } from './harness/starling.js'
import { acceptSender, expectOnMesh, openSection } from './harness/app.js'
import type { Section } from './harness/app.js'

/** A phone as the issue names it: 390×844 CSS pixels, touch, a mobile user agent's layout. */
const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true }
const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 } }

test('a phone joins through the desktop\'s link and QR code, and tasks the desktop\'s agent', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const desktop = await openPage(browser, 'desktop', { url: relay.url, contextOptions: DESKTOP })
  const desktopId = await expectOnMesh(desktop.page)

  await openSection(desktop.page, 'Relay')
  const join = desktop.page.getByTestId('join-link')
  const link = await join.getByTestId('join-url').getAttribute('href')
  expect(link).toBe(`${relay.url}/#/agents/${desktopId}`)
  // the QR code is drawn, and says what it encodes to people who cannot see it
  await expect(join.getByTestId('join-qr')).toHaveAttribute('alt', `QR code of ${link}`)
  await expect(join.getByTestId('join-qr')).toHaveAttribute('src', /^data:image\/svg\+xml/)
  const qrBox = await join.getByTestId('join-qr').boundingBox()
  expect(qrBox?.width).toBeGreaterThanOrEqual(150)

  // the phone opens the link: it is on the same relay, on the desktop agent's send screen
  const phone = await openPage(browser, 'phone', { url: link!, contextOptions: PHONE })
  const phoneId = await expectOnMesh(phone.page)
  expect(phoneId).not.toBe(desktopId)
  await expect(phone.page.getByRole('heading', { name: /^Send a task to / })).toBeVisible()
  await phone.page.getByRole('textbox', { name: 'Message' }).fill('Sent from my phone')
  await phone.page.getByRole('button', { name: 'Send task' }).click()
  await expect(phone.page.getByTestId('task-view')).toHaveAttribute('data-remote-id', /.+/, { timeout: 20_000 })

  // the phone is a stranger to the desktop: its task waits under Requests until accepted
  await acceptSender(desktop.page, phoneId)
  await expect(desktop.page.getByTestId('inbox-item').filter({ hasText: 'Sent from my phone' })).toBeVisible()
  expect(desktop.errors).toEqual([])
  expect(phone.errors).toEqual([])
})

test('a key backup from one browser restores the same PeerID in a fresh one; a wrong passphrase changes nothing', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const first = await openPage(browser, 'first', { url: relay.url, contextOptions: PHONE })
  const peerId = await expectOnMesh(first.page)

  await openSection(first.page, 'Profile')
  const identity = first.page.getByRole('region', { name: 'Identity' })
  await expect(identity.getByTestId('identity-peer-id')).toHaveText(peerId)
  await expect(identity.getByTestId('identity-did')).toHaveText(/^did:key:z6Mk/)
  await identity.getByText('Back up the key').click()
  const form = identity.getByRole('form', { name: 'Back up the key' })
  await form.getByLabel('Passphrase', { exact: true }).fill('purple monkey dishwasher')
  await form.getByLabel('Passphrase again').fill('purple monkey dishwasher')
  const downloading = first.page.waitForEvent('download')
  await form.getByRole('button', { name: 'Download backup' }).click()
  const download = await downloading
  expect(download.suggestedFilename()).toMatch(/^starling-key-.+\.json$/)
  const path = test.info().outputPath('key-backup.json')
  await download.saveAs(path)
  const text = await readFile(path, 'utf8')
  expect(JSON.parse(text)).toMatchObject({ format: 'starling-key-backup', version: 1, peerId })
  await expect(form.getByRole('status')).toHaveText(/Backup saved/)

  // a fresh browser profile: a new peer with a new PeerID
  const fresh = await openPage(browser, 'fresh', { url: relay.url, contextOptions: DESKTOP })
  const freshId = await expectOnMesh(fresh.page)
  expect(freshId).not.toBe(peerId)
  await openSection(fresh.page, 'Profile')
  const restore = fresh.page.getByRole('region', { name: 'Identity' })
  await restore.getByText('Restore a key from a backup').click()
  const restoreForm = restore.getByRole('form', { name: 'Restore a key' })
  await restoreForm.getByLabel('Backup file').setInputFiles(path)
  await expect(restoreForm.getByTestId('backup-peer-id')).toHaveText(peerId)

  await restoreForm.getByLabel('Its passphrase').fill('not the passphrase')
  await restoreForm.getByRole('button', { name: 'Restore' }).click()
  await expect(restoreForm.getByRole('alert')).toHaveText(/passphrase does not open this backup/)
  await expect(fresh.page.getByTestId('peer-id')).toHaveAttribute('data-peer-id', freshId)

  // the first browser closes (one PeerID, one relay reservation); the fresh one becomes it
  await first.context.close()
  await restoreForm.getByLabel('Its passphrase').fill('purple monkey dishwasher')
  await restoreForm.getByRole('button', { name: 'Restore' }).click()
  const reloaded = fresh.page.waitForEvent('load')
  await restoreForm.getByRole('button', { name: 'Replace this identity' }).click()
  await reloaded
  expect(await expectOnMesh(fresh.page)).toBe(peerId)
  expect(fresh.errors).toEqual([])
})

test('a first visit says what this is and asks for a name, which is published; it is not asked again', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const tab = await openPage(browser, 'phone', { url: relay.url, contextOptions: PHONE })
  const peerId = await expectOnMesh(tab.page)
  const welcome = tab.page.getByTestId('welcome')
  await expect(welcome.getByRole('heading')).toHaveText('Welcome to Starling')
  await expect(welcome).toContainText('this browser tab is one of them')
  await welcome.getByLabel('Your name on the mesh').fill('Ada on her phone')
  await welcome.getByRole('button', { name: 'Use this name' }).click()
  await expect(welcome).toHaveCount(0)
  // the registry lists the new name
  await expect.poll(async () => {
    const agents = await (await fetch(new URL('/api/v1/agents', relay.url))).json() as Array<{ peerId: string, card: { name: string } }>
    return agents.find(a => a.peerId === peerId)?.card.name
  }).toBe('Ada on her phone')
  await tab.page.reload()
  await expectOnMesh(tab.page)
  await expect(welcome).toHaveCount(0)
  expect(tab.errors).toEqual([])
})

test('screenshots of the main screens at a phone\'s and a desktop\'s size', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const sections: Section[] = ['Agents', 'Tasks', 'Inbox', 'Profile', 'Relay']
  for (const [name, options] of [['390x844', PHONE], ['1280x800', DESKTOP]] as const) {
    const tab = await openPage(browser, name, { url: relay.url, contextOptions: options })
    await expectOnMesh(tab.page)
    for (const section of sections) {
      await openSection(tab.page, section)
      await expect(tab.page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: new RegExp(`^${section}`) })).toHaveAttribute('aria-current', 'page')
      // the screen itself, not its loading placeholder
      await expect(tab.page.getByRole('heading', { level: 2, name: section })).toBeVisible()
      await expect(tab.page.getByText('Loading…')).toHaveCount(0)
      await expectNoSidewaysScroll(tab.page)
      // kept in test-results/ (not committed) and attached to the report
      const path = test.info().outputPath(`screens/${name}-${section.toLowerCase()}.png`)
      await tab.page.screenshot({ path, fullPage: true })
      await test.info().attach(`${name}-${section.toLowerCase()}.png`, { path, contentType: 'image/png' })
      // the first visit's welcome is in the first screenshot only
      if (section === 'Agents') await tab.page.getByTestId('welcome').getByRole('button', { name: /^Keep / }).click()
    }
    expect(tab.errors).toEqual([])
    await tab.context.close()
  }
})

/** Nothing on the page is wider than the screen: a phone never scrolls sideways. */
async function expectNoSidewaysScroll (page: Page): Promise<void> {
  // against the screen, not the layout viewport: a mobile browser widens that to fit the content
  const { content, screen } = await page.evaluate(() => ({ content: document.documentElement.scrollWidth, screen: window.screen.width }))
  expect(content).toBeLessThanOrEqual(screen)
}

test('erasing the peer, confirmed, starts over with a new PeerID and nothing of the old one', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const tab = await openPage(browser, 'phone', { url: relay.url, contextOptions: PHONE })
  const page = tab.page
  const before = await expectOnMesh(page)
  await page.getByTestId('welcome').getByLabel('Your name on the mesh').fill('Soon gone')
  await page.getByTestId('welcome').getByRole('button', { name: 'Use this name' }).click()
  await openSection(page, 'Profile')
  const identity = page.getByRole('region', { name: 'Identity' })
  await identity.getByText('Erase this peer').click()
  await identity.getByRole('button', { name: 'Erase…' }).click()
  // a second, explicit step: "Keep it" leaves everything as it was
  await identity.getByRole('button', { name: 'Keep it' }).click()
  await expect(page.getByTestId('peer-id')).toHaveAttribute('data-peer-id', before)
  await identity.getByRole('button', { name: 'Erase…' }).click()
  const reloaded = page.waitForEvent('load')
  await identity.getByRole('button', { name: 'Yes, erase everything' }).click()
  await reloaded
  const after = await expectOnMesh(page)
  expect(after).not.toBe(before)
  // a first visit again: the welcome is back, the old name gone
  await expect(page.getByTestId('welcome')).toBeVisible()
  await openSection(page, 'Profile')
  await expect(page.getByLabel('Display name')).not.toHaveValue('Soon gone')
  expect(tab.errors).toEqual([])
})

test('the first screen does not jump about while the peer comes up: cumulative layout shift stays "good" (< 0.1)', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const context = await browser.newContext(PHONE)
  // every layout shift from the first paint on, as Web Vitals counts them (none after input)
  await context.addInitScript(() => {
    const shifts: number[] = []
    ;(window as unknown as { shifts: number[] }).shifts = shifts
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries() as Array<PerformanceEntry & { value: number, hadRecentInput: boolean }>) {
        if (!entry.hadRecentInput) shifts.push(entry.value)
      }
    }).observe({ type: 'layout-shift', buffered: true })
  })
  const page = await context.newPage()
  await page.goto(relay.url)
  await expectOnMesh(page)
  // a discover round and the registry's answer are part of the first screen's life
  await expect(page.getByTestId('send-by-skill')).toBeVisible()
  await page.getByRole('button', { name: 'Refresh' }).click()
  await expect(page.getByRole('button', { name: 'Refresh' })).toHaveAttribute('aria-busy', 'false')
  const cls = await page.evaluate(() => (window as unknown as { shifts: number[] }).shifts.reduce((a, b) => a + b, 0))
  expect(cls).toBeLessThan(0.1)
  await context.close()
})
