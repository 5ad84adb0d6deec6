// Requests: a browser tab that receives a task from an agent it does not know shows it under
// Requests in the Inbox, runs nothing and shows nothing in the inbox until the person accepts
// the sender; blocking rejects the sender's tasks with the reason, now and later; both are rules
// the person sees and edits under Profile. The senders are `starling serve` processes driven
// through CLI verbs, as a person (or an LLM agent) drives them.
//
// Needs the builds: npm run build
// Run:              sh e2e/netns.sh npx playwright test e2e/requests.spec.ts

import type { TaskJson } from '../src/core/a2a/json.js'
import { test, expect } from './harness/fixtures.js'
import { openPages } from './harness/browser.js'
import { startNativeAgent, startRelay, starlingCli } from './harness/starling.js'
import type { PeerHandle } from './harness/starling.js'
import { expectOnMesh, openSection } from './harness/app.js'

interface ShownTask { state: string, task: TaskJson }

/** What the sender's own peer says of its task (`starling show --json`). */
async function senderSees (sender: PeerHandle, taskId: string): Promise<ShownTask> {
  const shown = await starlingCli<ShownTask>(sender.home, ['show', taskId], { json: true })
  expect(shown.code, shown.stderr).toBe(0)
  return shown.json!
}

async function send (sender: PeerHandle, to: string, text: string): Promise<string> {
  const sent = await starlingCli<{ taskId: string }>(sender.home, ['send', to, text], { json: true })
  expect(sent.code, sent.stderr).toBe(0)
  return sent.json!.taskId
}

const statusText = (task: TaskJson): string => task.status.message?.parts.map(p => p.text ?? '').join('') ?? ''

test('a task from an unknown agent waits under Requests, unrun and out of the inbox, across a reload, until the person accepts the sender', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const sam = await startNativeAgent(relay, { name: 'Stranger Sam', skills: 'chat' })
  const [tab] = await openPages(browser, 1, { url: relay.url })
  const page = tab!.page
  const browserId = await expectOnMesh(page)

  const first = await send(sam, browserId, 'Can you review my pull request?')
  await openSection(page, 'Inbox')
  const request = page.locator(`[data-testid="request"][data-peer-id="${sam.peerId}"]`)
  await expect(request.getByTestId('request-message')).toHaveText([/Can you review my pull request\?/])
  await expect(page.getByTestId('inbox-count')).toHaveText('1')
  await expect(page.getByTestId('inbox-item')).toHaveCount(0)

  // the sender's task is with the browser and waits: nothing ran, and it is told why
  await expect.poll(async () => (await senderSees(sam, first)).task.status.state, { timeout: 10_000 }).toBe('TASK_STATE_SUBMITTED')
  expect(statusText((await senderSees(sam, first)).task)).toBe('waiting for the person to accept you as a sender')

  await test.step('the request is kept across a reload', async () => {
    await page.reload()
    await expectOnMesh(page)
    await openSection(page, 'Inbox')
    await expect(request.getByTestId('request-message')).toHaveCount(1)
    await expect(page.getByTestId('inbox-item')).toHaveCount(0)
  })

  await test.step('accepted, the task moves to the inbox; the answer reaches the sender', async () => {
    await request.getByRole('button', { name: /^Accept / }).click()
    await expect(page.getByTestId('requests')).toHaveCount(0)
    // (the browser knows the task by its own id: the sender's is not in the page)
    const item = page.getByTestId('inbox-item').filter({ hasText: 'Can you review my pull request?' })
    await expect(item.getByTestId('inbox-question')).toHaveText('Can you review my pull request?')
    await expect.poll(async () => (await senderSees(sam, first)).task.status.state, { timeout: 10_000 }).toBe('TASK_STATE_WORKING')
    const waiting = starlingCli(sam.home, ['wait', first, '--timeout', '30'])
    await item.getByRole('textbox', { name: 'Answer' }).fill('Looks good, merge it.')
    await item.getByRole('button', { name: 'Send answer' }).click()
    const done = await waiting
    expect(done.code, done.stderr).toBe(0)
    expect(done.stdout.trim()).toBe('Looks good, merge it.')
  })

  await test.step('the accepted sender\'s next task goes straight to the inbox; the rule shows under Profile', async () => {
    await send(sam, browserId, 'One more thing?')
    await expect(page.getByTestId('inbox-item').filter({ hasText: 'One more thing?' })).toHaveCount(1)
    await expect(page.getByTestId('requests')).toHaveCount(0)
    await openSection(page, 'Profile')
    await expect(page.getByTestId('policy-rule')).toHaveCount(1)
    await expect(page.getByTestId('policy-rule').first()).toHaveAttribute('data-effect', 'allow')
    await expect(page.getByTestId('policy-rule').first()).toContainText(`Allow ${sam.peerId.slice(0, 6)}`)
  })
  expect(tab!.errors).toEqual([])
})

test('a blocked sender\'s tasks are rejected with the reason, now and later; removing the rule under Profile asks again', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const spam = await startNativeAgent(relay, { name: 'Spammy', skills: 'ads' })
  const [tab] = await openPages(browser, 1, { url: relay.url })
  const page = tab!.page
  const browserId = await expectOnMesh(page)

  const first = await send(spam, browserId, 'Buy cheap watches!')
  await openSection(page, 'Inbox')
  const request = page.locator(`[data-testid="request"][data-peer-id="${spam.peerId}"]`)
  await expect(request).toHaveCount(1)
  await request.getByRole('button', { name: /^Block / }).click()
  await expect(page.getByTestId('requests')).toHaveCount(0)

  const blocked = await starlingCli(spam.home, ['wait', first, '--timeout', '30'])
  expect(blocked.code).toBe(1)
  expect(blocked.stdout.trim()).toBe(`denied by rule 1: tasks are not allowed to peer ${spam.peerId}`)

  // a later task is rejected at once, and the person sees nothing of it
  const later = await send(spam, browserId, 'Last chance: cheap watches!')
  const again = await starlingCli(spam.home, ['wait', later, '--timeout', '30'])
  expect(again.code).toBe(1)
  expect(again.stdout.trim()).toMatch(/^denied by rule 1/)
  await expect(page.getByTestId('inbox-item')).toHaveCount(0)
  await expect(page.getByTestId('requests')).toHaveCount(0)

  await test.step('the person removes the block under Profile: the sender is asked about again', async () => {
    await openSection(page, 'Profile')
    const rule = page.getByTestId('policy-rule')
    await expect(rule).toHaveCount(1)
    await expect(rule).toHaveAttribute('data-effect', 'deny')
    await rule.getByRole('button', { name: /^Remove: / }).click()
    await expect(page.getByTestId('no-rules')).toBeVisible()
    await send(spam, browserId, 'Sorry, a real question now.')
    await openSection(page, 'Inbox')
    await expect(request.getByTestId('request-message')).toHaveText([/Sorry, a real question now\./])
  })

  await test.step('a rule the person adds lets a sender through without a request', async () => {
    await openSection(page, 'Profile')
    const form = page.getByRole('form', { name: 'Add a rule' })
    await page.getByText('Add a rule', { exact: true }).click()
    await form.getByLabel('From').selectOption('peer')
    await form.getByLabel('PeerID').fill(spam.peerId)
    await form.getByRole('button', { name: 'Add rule' }).click()
    await expect(page.getByTestId('policy-rule')).toHaveCount(1)
    // the rule settles the request that waited: it is in the inbox now
    await openSection(page, 'Inbox')
    await expect(page.getByTestId('requests')).toHaveCount(0)
    await expect(page.getByTestId('inbox-item').filter({ hasText: 'Sorry, a real question now.' })).toHaveCount(1)
  })
  expect(tab!.errors).toEqual([])
})
