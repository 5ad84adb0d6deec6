/**
 * The browser section's measurements, run INSIDE the private network namespace of e2e/netns.sh
 * (WebRTC needs a real interface; Chromium ignores loopback for ICE):
 *
 *   sh e2e/netns.sh node --import ./bin/polyfill.mjs dist/node/bench/browser/netns-main.js [--quick]
 *
 * bench/browser.ts starts it and parses the one line it prints on stdout that begins with
 * RESULT_PREFIX; progress goes to stderr. It
 *
 *   1. builds the app and the benchmark's peer page (bench/browser/page.html) with the project's
 *      vite.config.ts into a temporary directory;
 *   2. starts a relay serving that directory (--ice-servers none), a Node `ws` echo server and
 *      Debian's Chromium with the flags of playwright.config.ts;
 *   3. opens two peer pages A and B (each in its own context: own IndexedDB, own PeerID) and
 *      measures, from A to B, a task round trip and a bare length-prefixed echo over the relayed
 *      circuit, then upgrades A↔B to WebRTC and measures both again, then a WebSocket echo from A
 *      to the Node server (the floor). Which connection carried what is checked, not assumed;
 *   4. opens the real app in fresh contexts (first visits) and times page.goto → first render,
 *      → relay-status "reserved", → first agent-card (A and B are registered already).
 *
 * Every process and browser it starts is stopped on the way out, on failure and on SIGTERM too.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { build } from 'vite'
import { WebSocketServer } from 'ws'
import type { AddressInfo } from 'node:net'
import { A2A_PROTOCOL } from '../../src/core/a2a/binding.js'
import type { ConnectionKindName, LinkInfo, PageStatus, StarlingBenchHandle } from './protocol.js'
import { FULL_COUNTS, QUICK_COUNTS, RESULT_PREFIX } from './result.js'
import type { BrowserCounts, BrowserRunResult } from './result.js'

/** The Chromium flags of playwright.config.ts (keep them in step). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=WebRtcHideLocalIpsWithMdns'
]

const PAGE_PATH = 'bench/browser/page.html'
const STEP_TIMEOUT_MS = 30_000

interface Resources {
  dir?: string
  relay?: ChildProcess
  wss?: WebSocketServer
  browser?: Browser
}

function progress (line: string): void {
  process.stderr.write(`[browser] ${line}\n`)
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, root: { type: 'string' } } })
  const root = resolve(values.root ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..'))
  const counts = values.quick === true ? QUICK_COUNTS : FULL_COUNTS
  if (process.env.STARLING_NETNS !== '1') throw new Error('run me inside the network namespace: sh e2e/netns.sh node --import ./bin/polyfill.mjs dist/node/bench/browser/netns-main.js')

  const resources: Resources = {}
  let cleaning: Promise<void> | undefined
  const cleanup = async (): Promise<void> => { cleaning ??= release(resources); await cleaning }
  const onSignal = (signal: NodeJS.Signals): void => {
    progress(`${signal}: stopping everything`)
    void cleanup().finally(() => { process.exit(1) })
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  try {
    const result = await run(root, counts, resources)
    process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`)
  } finally {
    await cleanup()
  }
}

async function run (root: string, counts: BrowserCounts, resources: Resources): Promise<BrowserRunResult> {
  const phases: Record<string, number> = {}
  let mark = Date.now()
  const phase = (name: string): void => { const now = Date.now(); phases[name] = now - mark; mark = now }

  resources.dir = await mkdtemp(join(tmpdir(), 'starling-bench-browser-'))
  const site = join(resources.dir, 'site')
  progress('building the app and the peer page…')
  await build({
    root,
    configFile: join(root, 'vite.config.ts'),
    mode: 'production',
    logLevel: 'silent',
    build: {
      outDir: site,
      emptyOutDir: true,
      sourcemap: false,
      rolldownOptions: { input: { index: join(root, 'index.html'), bench: join(root, PAGE_PATH) } }
    }
  })
  phase('build')

  progress('starting the relay, the ws echo server and Chromium…')
  const relay = await startRelay(root, site, join(resources.dir, 'relay'), resources)
  const wsUrl = await startWsEcho(resources)
  resources.browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false
  })
  const browser = resources.browser
  phase('start')

  progress('opening the peer pages A and B…')
  const a = await openPeerPage(browser, relay, 'A')
  const b = await openPeerPage(browser, relay, 'B')
  const idA = (await waitForPeer(a.page, 'A')).peerId
  const idB = (await waitForPeer(b.page, 'B')).peerId
  phase('pages')

  // --- relayed circuit: neither page upgrades on its own ---
  progress(`relayed: ${counts.tasks} tasks and ${counts.echoes} echoes A → B…`)
  const relayedTask = await call(a.page, 'tasks', idB, counts.tasks, counts.taskWarmup)
  const relayedEcho = await call(a.page, 'echo', idB, 'relayed', counts.echoes, counts.echoWarmup)
  const relayedLinks = await call(a.page, 'links', idB)
  expectLinks(relayedLinks, 'relayed', 'relayed')
  phase('relayed')

  // --- direct WebRTC, signalled through the relay ---
  progress('upgrading A ↔ B to WebRTC…')
  const upgrade = await call(a.page, 'upgrade', idB)
  if (upgrade.kind !== 'webrtc') throw new Error(`the upgrade dial gave a ${upgrade.kind} connection`)
  await waitUntil(async () => (await call(b.page, 'links', idA)).some(l => l.kind === 'webrtc'), 'B to see the WebRTC connection')
  progress(`webrtc (connected in ${Math.round(upgrade.ms)} ms, ${upgrade.attempts} attempt(s)): ${counts.tasks} tasks and ${counts.echoes} echoes A → B…`)
  const webrtcTask = await call(a.page, 'tasks', idB, counts.tasks, counts.taskWarmup)
  const webrtcEcho = await call(a.page, 'echo', idB, 'webrtc', counts.echoes, counts.echoWarmup)
  const webrtcLinks = await call(a.page, 'links', idB)
  expectLinks(webrtcLinks, 'webrtc', 'webrtc')
  phase('webrtc')

  progress(`WebSocket echo floor: ${counts.echoes} echoes…`)
  const ws = await call(a.page, 'wsEcho', wsUrl, counts.echoes, counts.echoWarmup)
  phase('ws')

  progress(`navigation: ${counts.navigationWarmup} + ${counts.navigations} first visits of the app…`)
  const navigation: BrowserRunResult['navigation'] = { render: [], running: [], reserved: [], agents: [] }
  for (let i = 0; i < counts.navigationWarmup + counts.navigations; i++) {
    const visit = await firstVisit(browser, relay)
    if (i < counts.navigationWarmup) continue
    navigation.render.push(visit.render)
    navigation.running.push(visit.running)
    navigation.reserved.push(visit.reserved)
    navigation.agents.push(visit.agents)
  }
  phase('navigation')

  if (a.errors.length > 0 || b.errors.length > 0) throw new Error(`the peer pages reported errors: ${[...a.errors, ...b.errors].join(' | ')}`)
  return {
    counts,
    relayed: { task: relayedTask, echo: relayedEcho, links: relayedLinks },
    webrtc: { task: webrtcTask, echo: webrtcEcho, links: webrtcLinks, upgrade },
    ws,
    navigation,
    phases,
    chromium: browser.version()
  }
}

/**
 * The round trips must have used the connection they are named after: every A→B connection
 * open is checked for its kind, and the A2A stream must be on one of `kind`.
 */
function expectLinks (links: LinkInfo[], path: string, kind: ConnectionKindName): void {
  const a2a = links.filter(l => l.protocols.includes(A2A_PROTOCOL))
  if (a2a.length === 0 || a2a.some(l => l.kind !== kind)) {
    throw new Error(`${path}: the A2A stream is not (only) on a ${kind} connection: ${JSON.stringify(links)}`)
  }
  if (kind === 'relayed' && links.some(l => l.kind !== 'relayed')) {
    throw new Error(`relayed: A had a non-relayed connection to B: ${JSON.stringify(links)}`)
  }
}

interface PeerPage { page: Page, context: BrowserContext, errors: string[] }

async function openPeerPage (browser: Browser, relay: string, label: string): Promise<PeerPage> {
  const context = await browser.newContext()
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => { errors.push(`${label}: ${err.message}`) })
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`${label}: ${msg.text()} (${msg.location().url})`) })
  await page.goto(`${relay}/${PAGE_PATH}`)
  return { page, context, errors }
}

async function waitForPeer (page: Page, label: string): Promise<PageStatus> {
  let status: PageStatus | undefined
  await waitUntil(async () => {
    status = await page.evaluate(() => (globalThis as unknown as { starlingBench?: StarlingBenchHandle }).starlingBench?.status())
    return status?.relay === 'reserved' && status.published
  }, `peer page ${label} to reserve and publish`, () => JSON.stringify(status))
  return status!
}

type Handle = StarlingBenchHandle
type Method = Exclude<keyof Handle, 'status'>

/** Calls `window.starlingBench[method](...args)` in the page, within STEP_TIMEOUT_MS. */
async function call<M extends Method> (page: Page, method: M, ...args: Parameters<Handle[M]>): Promise<Awaited<ReturnType<Handle[M]>>> {
  const evaluation = page.evaluate(async ({ method, args }) => {
    const handle = (globalThis as unknown as { starlingBench: Record<string, (...a: unknown[]) => unknown> }).starlingBench
    return await handle[method]!(...args)
  }, { method, args: args as unknown[] })
  return await withTimeout(evaluation as Promise<Awaited<ReturnType<Handle[M]>>>, STEP_TIMEOUT_MS * 2, `${method}()`)
}

/**
 * Marks set by an init script in the app's page, in epoch ms: first render (the startup
 * screen), peer running (the header with relay-status appears), reservation, first agent card.
 */
const MARKS_SCRIPT = `(() => {
  const marks = { render: 0, running: 0, reserved: 0, agents: 0 }
  window.__starlingBenchMarks = marks
  const stamp = () => performance.timeOrigin + performance.now()
  const check = () => {
    if (!marks.render && document.querySelector('#root > *')) marks.render = stamp()
    if (!marks.running && document.querySelector('[data-testid="relay-status"]')) marks.running = stamp()
    if (!marks.reserved && document.querySelector('[data-testid="relay-status"][data-state="reserved"]')) marks.reserved = stamp()
    if (!marks.agents && document.querySelector('[data-testid="agent-card"]')) marks.agents = stamp()
  }
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true })
})()`

interface Visit { render: number, running: number, reserved: number, agents: number }

/** One first visit of the app in a fresh context (empty cache, no service worker, new identity). */
async function firstVisit (browser: Browser, relay: string): Promise<Visit> {
  const context = await browser.newContext()
  try {
    await context.addInitScript({ content: MARKS_SCRIPT })
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (err) => { errors.push(err.message) })
    const start = Date.now()
    await page.goto(relay)
    await page.waitForFunction('window.__starlingBenchMarks.agents > 0', undefined, { timeout: STEP_TIMEOUT_MS })
    const marks = await page.evaluate('window.__starlingBenchMarks') as Visit
    if (errors.length > 0) throw new Error(`the app reported errors: ${errors.join(' | ')}`)
    return { render: marks.render - start, running: marks.running - start, reserved: marks.reserved - start, agents: marks.agents - start }
  } finally {
    await context.close().catch(() => {})
  }
}

async function startRelay (root: string, appDir: string, dataDir: string, resources: Resources): Promise<string> {
  const child = spawn(process.execPath, [
    '--import', './bin/polyfill.mjs', 'dist/node/relay/main.js',
    '--host', '127.0.0.1', '--port', '0', '--tcp-port', '0',
    '--data-dir', dataDir, '--app-dir', appDir, '--ice-servers', 'none'
  ], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
  resources.relay = child
  let output = ''
  return await withTimeout(new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const url = /Open (http:\/\/\S+)/.exec(output)?.[1]
      if (url != null) resolve(url)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.once('exit', (code, signal) => { reject(new Error(`the relay exited (${code ?? signal}) before it was ready:\n${output}`)) })
    child.once('error', reject)
  }), 20_000, 'the relay to start')
}

async function startWsEcho (resources: Resources): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  resources.wss = wss
  wss.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => { socket.send(data, { binary: isBinary }) })
  })
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve)
    wss.once('error', reject)
  })
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`
}

async function release (resources: Resources): Promise<void> {
  await resources.browser?.close().catch(() => {})
  if (resources.wss != null) await new Promise<void>((resolve) => { resources.wss!.close(() => { resolve() }) })
  const relay = resources.relay
  if (relay != null && relay.exitCode == null && relay.signalCode == null) {
    const exited = new Promise<void>((resolve) => { relay.once('exit', () => { resolve() }) })
    relay.kill('SIGTERM')
    const timer = setTimeout(() => { relay.kill('SIGKILL') }, 5_000)
    await exited
    clearTimeout(timer)
  }
  if (resources.dir != null) await rm(resources.dir, { recursive: true, force: true }).catch(() => {})
}

async function waitUntil (check: () => Promise<boolean>, what: string, detail?: () => string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail != null ? `: ${detail()}` : ''}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms) })
    ])
  } finally {
    clearTimeout(timer)
  }
}

if (process.argv[1] != null && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`[browser] failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
