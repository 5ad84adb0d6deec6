// What every spec does with the PWA the way a person does: wait until a page is on the mesh,
// read its PeerID, open a section through the navigation bar.

import { expect } from '@playwright/test'
import type { Page } from '@playwright/test'

/** Waits until the page holds a relay reservation and has published its card; returns its PeerID. */
export async function expectOnMesh (page: Page): Promise<string> {
  await expect(page.getByTestId('relay-status')).toHaveAttribute('data-state', 'reserved')
  await expect(page.getByTestId('relay-status')).toHaveText('relay: reserved')
  await expect(page.getByTestId('registry-status')).toHaveAttribute('data-state', 'published')
  return await peerIdOf(page)
}

/** The page's PeerID, from its header badge. */
export async function peerIdOf (page: Page): Promise<string> {
  const badge = page.getByTestId('peer-id')
  await expect(badge).toHaveAttribute('data-peer-id', /^12D3KooW/)
  return (await badge.getAttribute('data-peer-id'))!
}

export type Section = 'Agents' | 'Tasks' | 'Inbox' | 'Profile' | 'Relay'

/** Opens a section through the navigation bar, as a person does. */
export async function openSection (page: Page, name: Section): Promise<void> {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: new RegExp(`^${name}`) }).click()
}

/**
 * Accepts `peerId` as a sender under Requests in the Inbox, as a person does: a task from an
 * agent the page does not know waits there, unrun, until someone accepts (e2e/requests.spec.ts).
 * Leaves the page on the Inbox.
 */
export async function acceptSender (page: Page, peerId: string): Promise<void> {
  await openSection(page, 'Inbox')
  const request = page.locator(`[data-testid="request"][data-peer-id="${peerId}"]`)
  await request.getByRole('button', { name: /^Accept / }).click()
  await expect(request).toHaveCount(0)
}
