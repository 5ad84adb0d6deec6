// The PWA sends by skill and by agent card URL:
// (1) by skill to two native agents that have it: after the agent that took the first task is
//     stopped, the next task goes to the other one, and the page says which agent took each;
// (2) to a plain HTTP A2A agent (the @a2a-js/sdk express server, with CORS headers for the
//     PWA's origin) whose card URL is pasted on the Agents screen: the task completes and is
//     listed with the others. An agent without CORS headers is refused with a plain reason.
//
// Needs the builds: npm run build
// Run:              sh e2e/netns.sh npx playwright test e2e/send-by.spec.ts

import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { AgentCard, Message, Task } from '@a2a-js/sdk'
import { AgentEvent, DefaultRequestHandler, InMemoryTaskStore } from '@a2a-js/sdk/server'
import type { AgentExecutor } from '@a2a-js/sdk/server'
import { agentCardHandler, jsonRpcHandler, UserBuilder } from '@a2a-js/sdk/server/express'
import { buildAgentCard } from '../src/core/a2a/binding.js'
import { test, expect } from './harness/fixtures.js'
import { openPages } from './harness/browser.js'
import { startPeer, startRelay, starlingCli } from './harness/starling.js'
import type { PeerHandle } from './harness/starling.js'
import { tempDir } from './harness/tmp.js'
import { expectOnMesh, openSection } from './harness/app.js'

/** Discovery asks the registry every 5 s: a card published just after an ask shows up on the next. */
const DISCOVERY_TIMEOUT_MS = 20_000

/** `starling serve --echo` of a new home with the skill `translate`, once its card is published. */
async function nativeAgent (relayUrl: string, name: string): Promise<{ peerId: string, peer: PeerHandle }> {
  const home = await tempDir(name)
  const init = await starlingCli<{ peerId: string }>(home, ['init', '--name', name, '--skills', 'translate', '--relay', relayUrl], { json: true })
  expect(init.code).toBe(0)
  const peer = await startPeer(home, ['--echo'], { name })
  await peer.process.waitForLine(new RegExp(`^Published card "${name}"`), { timeoutMs: 20_000 })
  return { peerId: init.json!.peerId, peer }
}

/** An @a2a-js/sdk express agent on 127.0.0.1; with `allowOrigin`, it answers browsers of that origin (CORS). */
async function httpAgent (name: string, allowOrigin?: string): Promise<{ cardUrl: string, stop: () => Promise<void> }> {
  const app = express()
  const server: Server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  if (allowOrigin != null) {
    app.use((req, res, next) => {
      res.setHeader('Access-Control-Allow-Origin', allowOrigin)
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS')
      res.setHeader('Access-Control-Allow-Headers', '*')
      if (req.method === 'OPTIONS') { res.sendStatus(204); return }
      next()
    })
  }
  const card = AgentCard.fromJSON({
    ...buildAgentCard('http-agent', { name, description: 'an A2A agent over plain HTTP', skills: [{ id: 'summarise', name: 'Summarise' }] }),
    supportedInterfaces: [{ url: `${base}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }]
  })
  // a stock SDK executor: the task completes at once with an artifact (the Playwright runner has
  // no Promise.withResolvers polyfill, which Starling's own executor needs on Node 20)
  const executor: AgentExecutor = {
    execute: async (context, bus) => {
      const parts = (Message.toJSON(context.userMessage) as { parts?: Array<{ text?: string }> }).parts ?? []
      const text = parts.map(p => p.text ?? '').join('')
      bus.publish(AgentEvent.task(Task.fromJSON({
        id: context.taskId,
        contextId: context.contextId,
        status: { state: 'TASK_STATE_COMPLETED', timestamp: new Date().toISOString() },
        artifacts: [{ artifactId: 'summary', name: 'summary', parts: [{ text: `summary: ${text}` }] }],
        history: []
      })))
    },
    cancelTask: async () => {}
  }
  const requestHandler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor)
  app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: requestHandler }))
  app.use('/a2a/jsonrpc', jsonRpcHandler({ requestHandler, userBuilder: UserBuilder.noAuthentication }))
  return {
    cardUrl: `${base}/.well-known/agent-card.json`,
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}

test('the PWA sends by skill, and the next agent takes the task when the first is stopped', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const agents = await Promise.all([nativeAgent(relay.url, 'Tess'), nativeAgent(relay.url, 'Uma')])
  const names = new Map(agents.map((a, i) => [a.peerId, i === 0 ? 'Tess' : 'Uma']))

  const [tab] = await openPages(browser, 1, { url: relay.url })
  const page = tab!.page
  await expectOnMesh(page)
  await openSection(page, 'Agents')
  for (const { peerId } of agents) {
    await expect(page.locator(`[data-testid="agent-card"][data-peer-id="${peerId}"]`)).toBeVisible({ timeout: DISCOVERY_TIMEOUT_MS })
  }

  const form = page.getByTestId('send-by-skill')
  const takenBy = form.getByTestId('skill-taken-by')

  const firstId = await test.step('a task by skill goes to one of the agents, and the page says which', async () => {
    // the skill chip of an agent's card fills the form
    await page.locator(`[data-testid="agent-card"][data-peer-id="${agents[0]!.peerId}"]`).getByRole('button', { name: 'Send to any agent with the skill translate' }).click()
    await expect(form.getByRole('combobox', { name: 'Skill' })).toHaveValue('translate')
    await form.getByRole('textbox', { name: 'Message' }).fill('bonjour')
    await form.getByRole('button', { name: 'Send to any agent with this skill' }).click()
    await expect(takenBy).toHaveAttribute('data-peer-id', /^12D3KooW/)
    const peerId = (await takenBy.getAttribute('data-peer-id'))!
    expect(names.has(peerId)).toBe(true)
    await expect(takenBy).toContainText(`Taken by ${names.get(peerId)!}`)
    return peerId
  })

  await test.step('with that agent stopped, the next task goes to the other one', async () => {
    const first = agents.find(a => a.peerId === firstId)!
    const second = agents.find(a => a.peerId !== firstId)!
    await first.peer.process.stop()
    await form.getByRole('textbox', { name: 'Message' }).fill('merci')
    await form.getByRole('button', { name: 'Send to any agent with this skill' }).click()
    await expect(takenBy).toHaveAttribute('data-peer-id', second.peerId, { timeout: 30_000 })
    await expect(takenBy).toContainText(`Taken by ${names.get(second.peerId)!}`)

    await takenBy.getByRole('link', { name: 'Open the task' }).click()
    const view = page.getByTestId('task-view')
    await expect(view.getByTestId('task-state')).toHaveText('completed')
    await expect(view.getByRole('heading', { name: `Task to ${names.get(second.peerId)!}` })).toBeVisible()
  })

  expect(tab!.errors).toEqual([])
})

test('the PWA adds an HTTP agent by its card URL and sends it a task; one without CORS is refused plainly', async ({ browser }) => {
  const relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
  const origin = new URL(relay.url).origin
  const open = await httpAgent('Plain Pat', origin)
  const closed = await httpAgent('Closed Cleo')

  const [tab] = await openPages(browser, 1, { url: relay.url })
  const page = tab!.page
  await expectOnMesh(page)
  await openSection(page, 'Agents')
  const form = page.getByTestId('add-http-agent')

  try {
    await test.step('an agent that does not allow browsers is refused with the reason', async () => {
      await form.getByRole('textbox', { name: 'Agent card URL' }).fill(closed.cardUrl)
      await form.getByRole('button', { name: 'Fetch the card' }).click()
      await expect(form.getByRole('alert')).toContainText('this agent does not accept requests from browsers (CORS)')
    })

    await test.step('the card is fetched and shown, and a task to the agent completes', async () => {
      await form.getByRole('textbox', { name: 'Agent card URL' }).fill(open.cardUrl)
      await form.getByRole('button', { name: 'Fetch the card' }).click()
      const fetched = form.getByTestId('fetched-card')
      await expect(fetched.getByRole('heading')).toHaveText('Plain Pat')
      await expect(fetched.getByRole('list', { name: 'Skills' })).toHaveText('Summarise')
      await expect(fetched).toHaveAttribute('data-peer-id', open.cardUrl)
      // the agent joins the list, reached over HTTP
      const card = page.locator('[data-testid="agent-card"]').filter({ has: page.getByRole('heading', { name: 'Plain Pat' }) })
      await expect(card.getByTestId('agent-link')).toHaveText('over HTTP')

      await fetched.getByRole('link', { name: 'Send a task to Plain Pat' }).click()
      await expect(page.getByTestId('http-agent-note')).toBeVisible()
      await page.getByRole('textbox', { name: 'Message' }).fill('a long story about starlings')
      await page.getByRole('button', { name: 'Send task' }).click()
      const view = page.getByTestId('task-view')
      await expect(view.getByTestId('task-state')).toHaveText('completed')
      await expect(view.getByTestId('task-answer')).toContainText('summary: a long story about starlings')

      await openSection(page, 'Tasks')
      const row = page.getByTestId('task-row').filter({ hasText: 'a long story about starlings' })
      await expect(row).toContainText('Plain Pat')
      await expect(row.getByTestId('task-state')).toHaveText('completed')
    })
  } finally {
    await Promise.all([open.stop(), closed.stop()])
  }

  // Chromium itself logs the request the agent without CORS refused (and its failed load); nothing else
  const closedOrigin = new URL(closed.cardUrl).origin
  expect(tab!.errors.filter(e => !(e.includes(`Access to fetch at '${closedOrigin}/`) && e.includes('CORS policy')) &&
    e !== 'console.error: Failed to load resource: net::ERR_FAILED')).toEqual([])
})
