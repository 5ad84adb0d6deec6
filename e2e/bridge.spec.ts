// A browser tab reached over plain HTTP: it turns on "Reachable over HTTP through the relay's A2A
// bridge" in its Profile screen, and this test process — an ordinary A2A client, @a2a-js/sdk's
// ClientFactory over HTTP, knowing nothing of libp2p — sends it tasks through the relay, which
// forwards them to the tab over libp2p. A person answers them in the tab's Inbox.
//
// Needs the builds: npx tsc -p tsconfig.node.json && npx vite build
// Run:              sh e2e/netns.sh npx playwright test e2e/bridge.spec.ts

import { SendMessageRequest } from '@a2a-js/sdk'
import type { Message, StreamResponse, Task } from '@a2a-js/sdk'
import { ClientFactory } from '@a2a-js/sdk/client'
import type { Page } from '@playwright/test'
import { test, expect } from './harness/fixtures.js'
import { openPages } from './harness/browser.js'
import { startRelay } from './harness/starling.js'
import { expectOnMesh, openSection } from './harness/app.js'

const TASK_STATE_COMPLETED = 3
const TASK_STATE_CANCELED = 5

function message (text: string): SendMessageRequest {
  return SendMessageRequest.fromJSON({ message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text }] } })
}

function answerOf (task: Task): unknown {
  return task.artifacts[0]?.parts[0]?.content?.value
}

/** Answers the inbox item holding `question` in the tab, as a person does. */
async function answerInInbox (page: Page, question: string, answer: string): Promise<void> {
  await openSection(page, 'Inbox')
  const item = page.getByTestId('inbox-item').filter({ hasText: question })
  await expect(item.getByTestId('inbox-question')).toHaveText(question)
  await item.getByRole('textbox', { name: 'Answer' }).fill(answer)
  await item.getByRole('button', { name: 'Send answer' }).click()
}

test('an ordinary A2A client tasks a browser tab over HTTP through the relay\'s bridge', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const [tab] = await openPages(browser, 1, { url: relay.url })
  const page = tab!.page
  const peerId = await expectOnMesh(page)
  const cardUrl = `${relay.url}/a2a/${peerId}/.well-known/agent-card.json`

  await test.step('off by default: the bridge does not know the tab', async () => {
    expect((await fetch(cardUrl)).status).toBe(404)
  })

  await test.step('the tab turns the setting on in its Profile screen and shows its bridge card URL', async () => {
    await openSection(page, 'Profile')
    const setting = page.getByRole('checkbox', { name: 'Reachable over HTTP through the relay\'s A2A bridge' })
    await expect(setting).not.toBeChecked()
    await setting.check()
    await page.getByRole('button', { name: 'Save' }).click()
    await expect(page.getByText('Saved and published.')).toBeVisible()
    await expect(page.getByTestId('bridge-card-url')).toHaveText(cardUrl)
    // the relay serves the card once the republished one has reached its registry
    await expect.poll(async () => (await fetch(cardUrl, { headers: { 'A2A-Version': '1.0' } })).status).toBe(200)
  })

  const client = await new ClientFactory().createFromUrl(relay.url, new URL(cardUrl).pathname)

  const sentId = await test.step('SendMessage waits for the answer a person gives in the tab; GetTask finds the task', async () => {
    const sending = client.sendMessage(message('What time is the meeting?'))
    await answerInInbox(page, 'What time is the meeting?', 'At three, in room 2.')
    const result = await sending
    expect('status' in result).toBe(true)
    const task = result as Task
    expect(task.status?.state).toBe(TASK_STATE_COMPLETED)
    expect(answerOf(task)).toBe('At three, in room 2.')
    const again = await client.getTask({ id: task.id, tenant: '' })
    expect(again.status?.state).toBe(TASK_STATE_COMPLETED)
    expect(answerOf(again)).toBe('At three, in room 2.')
    return task.id
  })

  await test.step('SendStreamingMessage streams the task as it goes, in order, and ends', async () => {
    const events: Array<StreamResponse['payload']> = []
    const streaming = (async () => {
      for await (const event of client.sendMessageStream(message('Can you bring the slides?'))) events.push(event.payload)
    })()
    await answerInInbox(page, 'Can you bring the slides?', 'Yes, on a USB stick.')
    await streaming
    expect(events.length).toBeGreaterThanOrEqual(2)
    expect(events[0]?.$case).toBe('task')
    const last = events.at(-1)
    const lastState = last?.$case === 'statusUpdate' ? last.value.status?.state : last?.$case === 'task' ? last.value.status?.state : undefined
    expect(lastState).toBe(TASK_STATE_COMPLETED)
    // the answer arrives in the stream: as an artifact update, or in the final task
    const texts = events.flatMap(p => p?.$case === 'artifactUpdate'
      ? [p.value.artifact?.parts[0]?.content?.value]
      : p?.$case === 'task' ? [answerOf(p.value)] : [])
    expect(texts).toContain('Yes, on a USB stick.')
    const id = events[0]?.$case === 'task' ? events[0].value.id : ''
    expect(id).not.toBe(sentId)
  })

  await test.step('CancelTask cancels a task still waiting in the tab\'s Inbox', async () => {
    // returnImmediately: the answer is the task as it stands, submitted and waiting for a person
    const submitted = await client.sendMessage(SendMessageRequest.fromJSON({
      message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text: 'Please book a table for ten.' }] },
      configuration: { returnImmediately: true }
    })) as Task | Message
    expect('status' in submitted).toBe(true)
    const id = (submitted as Task).id
    await openSection(page, 'Inbox')
    await expect(page.getByTestId('inbox-item').filter({ hasText: 'Please book a table for ten.' })).toHaveCount(1)
    const canceled = await client.cancelTask({ id, tenant: '', metadata: {} })
    expect(canceled.status?.state).toBe(TASK_STATE_CANCELED)
    expect((await client.getTask({ id, tenant: '' })).status?.state).toBe(TASK_STATE_CANCELED)
    await expect(page.getByTestId('inbox-item').filter({ hasText: 'Please book a table for ten.' })).toHaveCount(0)
  })

  expect(tab!.errors).toEqual([])
})
