// Private meshes in the PWA: one browser creates a mesh and invites with a link; a fresh browser
// opens the link, sees what the invite says and joins; both keep the mesh across a reload
// (IndexedDB); a tampered link says why it is refused; the owner revokes the invite (the open
// relay does not take revocations: the page says so); the member leaves. On a private relay, an
// admin lists the members the relay knows and revokes one, which loses its slot at once.
//
// Needs the builds: npm run build
// Run:              sh e2e/netns.sh npx playwright test e2e/meshes.spec.ts

import type { Locator, Page } from '@playwright/test'
import { test, expect } from './harness/fixtures.js'
import { openPage } from './harness/browser.js'
import { startRelay } from './harness/starling.js'
import { expectOnMesh, openSection } from './harness/app.js'

function meshesOf (page: Page): Locator {
  return page.getByRole('region', { name: 'Meshes' })
}

function meshItem (page: Page, name: string): Locator {
  return meshesOf(page).getByTestId('mesh-item').filter({ has: page.getByTestId('mesh-name').getByText(name, { exact: true }) })
}

/** The link with one character of the signed invite changed: its signature no longer holds. */
function tamper (link: string): string {
  const at = link.indexOf('#join=') + '#join='.length
  const token = JSON.parse(Buffer.from(link.slice(at), 'base64url').toString('utf8')) as { invite: string, proof: string[], key: string }
  const middle = Math.floor(token.invite.length / 2)
  const changed = token.invite[middle] === 'A' ? 'B' : 'A'
  token.invite = token.invite.slice(0, middle) + changed + token.invite.slice(middle + 1)
  return link.slice(0, at) + Buffer.from(JSON.stringify(token)).toString('base64url')
}

test('a mesh made in one browser is joined from its invite link in another, kept across reloads, refused when tampered with, and left', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const a = await openPage(browser, 'A', { url: relay.url })
  const aId = await expectOnMesh(a.page)

  // A creates a mesh: it owns it
  await openSection(a.page, 'Profile')
  await expect(meshesOf(a.page).getByTestId('no-meshes')).toBeVisible()
  await meshesOf(a.page).getByLabel('New mesh\'s name').fill('Build farm')
  await meshesOf(a.page).getByRole('button', { name: 'Create mesh' }).click()
  const aItem = meshItem(a.page, 'Build farm')
  await expect(aItem).toHaveAttribute('data-role', 'owner')
  await expect(aItem.getByTestId('mesh-role')).toHaveText('owner')
  expect(await aItem.getAttribute('data-mesh-id')).toMatch(new RegExp(`^${aId}/[a-z2-7]+$`))

  // and makes an invite for at most 2 peers, valid for a day: a link on this relay and its QR code
  await aItem.getByText('Invite to Build farm').click()
  const form = aItem.getByRole('form', { name: 'Invite to Build farm' })
  await form.getByLabel('Valid for').selectOption({ label: '1 day' })
  await form.getByLabel('Peers who may join with it').fill('2')
  await form.getByRole('button', { name: 'Make invite link' }).click()
  const invite = aItem.getByTestId('invite-link')
  const link = (await invite.getByTestId('invite-url').getAttribute('href'))!
  expect(link).toMatch(new RegExp(`^${relay.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/#join=[A-Za-z0-9_-]+$`))
  await expect(invite.getByTestId('invite-qr')).toHaveAttribute('src', /^data:image\/svg\+xml/)
  await expect(aItem.getByTestId('issued-invite')).toHaveCount(1)

  // B, a fresh browser, opens the link: it reads what the invite says before joining
  const b = await openPage(browser, 'B', { url: link })
  const bId = await expectOnMesh(b.page)
  expect(bId).not.toBe(aId)
  await expect(b.page.getByRole('heading', { name: 'Join a private mesh' })).toBeVisible()
  await expect(b.page.getByTestId('invite-mesh-name')).toHaveText('Build farm')
  await expect(b.page.getByTestId('invite-role')).toHaveText('member')
  await expect(b.page.getByTestId('invite-issuer')).toHaveText(aId)
  await expect(b.page.getByTestId('invite-summary')).toContainText('2 peer(s) at most')
  await b.page.getByRole('button', { name: 'Join Build farm' }).click()

  // joining lands on the Profile screen, which lists the mesh with B as a member
  await expect(b.page.getByRole('heading', { name: 'Profile', level: 2 })).toBeVisible()
  expect(new URL(b.page.url()).hash).toBe('#/profile')
  const bItem = meshItem(b.page, 'Build farm')
  await expect(bItem).toHaveAttribute('data-role', 'member')
  await expect(bItem).toHaveAttribute('data-mesh-id', (await aItem.getAttribute('data-mesh-id'))!)
  // a member may not invite
  await expect(bItem.getByText('Invite to Build farm')).toHaveCount(0)

  // both keep it across a reload: the meshes are in IndexedDB, not only in the page's memory
  await a.page.reload()
  await expectOnMesh(a.page)
  await expect(meshItem(a.page, 'Build farm')).toHaveAttribute('data-role', 'owner')
  await expect(meshItem(a.page, 'Build farm').getByTestId('issued-invite')).toHaveCount(1)
  await b.page.reload()
  await expectOnMesh(b.page)
  await expect(meshItem(b.page, 'Build farm')).toHaveAttribute('data-role', 'member')

  // a tampered link is refused with the reason, not a stack, and nothing is offered to join
  await b.page.goto(tamper(link))
  const refusal = b.page.getByTestId('invite-error')
  await expect(refusal).toHaveText(/^This invite cannot be used: .+ \((bad-signature|malformed)\)$/)
  await expect(refusal).not.toContainText('.js')
  await expect(b.page.getByRole('button', { name: /^Join / })).toHaveCount(0)

  // A revokes its invite: kept and enforced here; the open relay does not take it, and A is told
  await aItem.getByRole('button', { name: /^Revoke invite / }).click()
  await expect(aItem.getByTestId('revoke-result')).toHaveText(/relay does not take mesh revocations/)
  await expect(aItem.getByTestId('invite-revoked')).toHaveText('revoked')

  // B leaves, after saying yes: the mesh is gone from its list, and stays gone after a reload
  await openSection(b.page, 'Profile')
  await meshItem(b.page, 'Build farm').getByRole('button', { name: 'Leave Build farm…' }).click()
  const confirm = meshItem(b.page, 'Build farm').getByRole('group', { name: 'Leave Build farm?' })
  await expect(confirm).toContainText('you need a new invite to come back')
  await confirm.getByRole('button', { name: 'Yes, leave Build farm' }).click()
  await expect(meshesOf(b.page).getByTestId('mesh-item')).toHaveCount(0)
  await expect(meshesOf(b.page).getByTestId('no-meshes')).toBeVisible()
  await b.page.reload()
  await expectOnMesh(b.page)
  await expect(meshesOf(b.page).getByTestId('no-meshes')).toBeVisible()
  // A still owns it
  await expect(meshItem(a.page, 'Build farm')).toHaveAttribute('data-role', 'owner')

  expect(a.errors).toEqual([])
  expect(b.errors).toEqual([])
})

test('on a private relay, an admin lists the members the relay knows and revokes one: it loses its slot at once and leaves the list', async ({ browser }) => {
  // private on loopback too when asked: the relay serves a mesh of its own and prints an admin link
  const relay = await startRelay({ extraArgs: ['--mode', 'private', '--ice-servers', 'none'] })
  const adminLink = (await relay.process.waitForLine(/(http:\/\/\S+\/#join=[A-Za-z0-9_-]+)/))[1]!

  const admin = await openPage(browser, 'admin', { url: adminLink })
  await expect(admin.page.getByTestId('invite-role')).toHaveText('admin')
  await admin.page.getByRole('button', { name: /^Join / }).click()
  const adminId = await expectOnMesh(admin.page)
  const item = meshesOf(admin.page).getByTestId('mesh-item').filter({ has: admin.page.getByTestId('mesh-role').getByText('admin', { exact: true }) })
  const meshName = (await item.getByTestId('mesh-name').textContent())!

  // the admin invites a member, who joins from the link and gets a slot
  await item.getByText(`Invite to ${meshName}`).click()
  await item.getByRole('form', { name: `Invite to ${meshName}` }).getByRole('button', { name: 'Make invite link' }).click()
  const memberLink = (await item.getByTestId('invite-url').getAttribute('href'))!
  const member = await openPage(browser, 'member', { url: memberLink })
  await member.page.getByRole('button', { name: /^Join / }).click()
  const memberId = await expectOnMesh(member.page)

  // the relay's list: the admin (this browser) and the member, both online
  await item.getByText(`Members of ${meshName}`).click()
  const members = item.getByTestId('mesh-members')
  await expect(members.getByTestId('mesh-member')).toHaveCount(2)
  await expect(members.locator(`[data-testid="mesh-member"][data-peer-id="${adminId}"]`)).toHaveAttribute('data-role', 'admin')
  const row = members.locator(`[data-testid="mesh-member"][data-peer-id="${memberId}"]`)
  await expect(row).toHaveAttribute('data-role', 'member')
  await expect(row).toContainText('online')
  await expect(members.locator(`[data-testid="mesh-member"][data-peer-id="${adminId}"]`).getByRole('button')).toHaveCount(0)

  await row.getByRole('button', { name: `Revoke member ${memberId}` }).click()
  await expect(members.getByTestId('revoke-member-result')).toHaveText('Revoked: the relay has dropped them, and your mesh\'s peers refuse their tasks.')
  // the relay took the revocation: the member's slot goes, and the list no longer has it
  await expect(member.page.getByTestId('relay-status')).not.toHaveAttribute('data-state', 'reserved')
  await expect(row).toHaveCount(0)
  await expect(members.getByTestId('mesh-member')).toHaveCount(1)
  expect(admin.errors).toEqual([])
})
