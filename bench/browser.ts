/**
 * Browser: the same task round trip between two Chromium pages over the relay's circuit and
 * over direct WebRTC, beside a bare length-prefixed echo over the same libp2p connection and a
 * raw WebSocket echo (the floor); and how long a first visit of the app takes to hold a relay
 * reservation and to list agents.
 *
 * WebRTC needs a real interface, so the measuring runs inside the private network namespace the
 * end-to-end tests use: this section starts bench/browser/netns-main.ts (compiled) under
 * e2e/netns.sh and reads the JSON line it prints. See that file for what is measured and how.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserRunResult } from './browser/result.js'
import { RESULT_PREFIX } from './browser/result.js'
import { quantile } from './lib/stats.js'
import type { BenchContext, Figure, SectionResult } from './lib/types.js'

const SCRIPT = 'dist/node/bench/browser/netns-main.js'

/** The whole run may take this long before it is stopped (builds and browsers included). */
const TIMEOUT_MS = { full: 120_000, quick: 45_000 }

export async function browserSection (context: BenchContext): Promise<SectionResult> {
  if (!existsSync(join(context.root, SCRIPT))) throw new Error(`${SCRIPT} does not exist: build first (npx tsc -p tsconfig.node.json)`)
  if (!existsSync(join(context.root, 'dist/node/relay/main.js'))) throw new Error('dist/node/relay/main.js does not exist: build first (npx tsc -p tsconfig.node.json)')
  const run = await runInNamespace(context)
  return result(run, context)
}

async function runInNamespace (context: BenchContext): Promise<BrowserRunResult> {
  const args = ['e2e/netns.sh', process.execPath, '--import', './bin/polyfill.mjs', SCRIPT, ...(context.quick ? ['--quick'] : [])]
  // a process group of its own: on a timeout the whole group (script, relay) is stopped
  const child = spawn('sh', args, { cwd: context.root, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let stdout = ''
  let stderrTail = ''
  let partial = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000)
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) if (line.startsWith('[browser]')) context.progress(line.slice('[browser] '.length))
  })
  const timeoutMs = context.quick ? TIMEOUT_MS.quick : TIMEOUT_MS.full
  let timedOut = false
  const killGroup = (signal: NodeJS.Signals): void => {
    try { process.kill(-child.pid!, signal) } catch { /* already gone */ }
  }
  const timer = setTimeout(() => {
    timedOut = true
    killGroup('SIGTERM')
    setTimeout(() => { killGroup('SIGKILL') }, 5_000).unref()
  }, timeoutMs)
  // the bench runner being stopped stops the namespace's processes too
  const onExit = (): void => { killGroup('SIGKILL') }
  process.once('exit', onExit)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (exitCode) => { resolve(exitCode) })
  }).finally(() => {
    clearTimeout(timer)
    process.removeListener('exit', onExit)
  })
  const line = stdout.split('\n').find(l => l.startsWith(RESULT_PREFIX))
  if (timedOut) throw new Error(`the browser run took more than ${timeoutMs / 1000} s and was stopped; its last output:\n${stderrTail}`)
  if (code !== 0 || line == null) throw new Error(`the browser run failed (exit ${code}):\n${stderrTail}`)
  return JSON.parse(line.slice(RESULT_PREFIX.length)) as BrowserRunResult
}

function result (run: BrowserRunResult, context: BenchContext): SectionResult {
  const { counts } = run
  const p50 = (s: number[]): number => quantile(s, 0.5)
  const p99 = (s: number[]): number => quantile(s, 0.99)
  const latency = (id: string, label: string, samples: number[], baseline?: string, note?: string): Figure[] => [
    { id: `${id}.p50`, label: `${label} p50`, value: p50(samples), unit: 'ms', better: 'lower', ...(baseline != null ? { baseline: `${baseline}.p50` } : {}), ...(note != null ? { note } : {}) },
    { id: `${id}.p99`, label: `${label} p99`, value: p99(samples), unit: 'ms', better: 'lower', ...(baseline != null ? { baseline: `${baseline}.p99` } : {}) }
  ]
  const links = (path: BrowserRunResult['relayed']): string => path.links.map(l => `${l.kind} [${l.protocols.filter(p => p !== '').join(', ') || 'no streams'}]`).join('; ')
  const taskNote = `${counts.tasks} sequential tasks after ${counts.taskWarmup} untimed, timed in the page: peer.send() (SendMessage) until peer.waitFor() reports the echo agent's completed answer; both peers store every task in IndexedDB`
  const echoNote = `${counts.echoes} round trips of 64 bytes on one stream after ${counts.echoWarmup} untimed`
  const nav = run.navigation
  const figures: Figure[] = [
    ...latency('browser.ws', 'WebSocket echo, page → Node ws server (floor)', run.ws, undefined, echoNote),
    ...latency('browser.relayed.echo', 'relayed circuit: bare echo', run.relayed.echo, 'browser.ws', `${echoNote}; A's connections to B afterwards: ${links(run.relayed)}`),
    ...latency('browser.relayed.task', 'relayed circuit: task round trip', run.relayed.task, 'browser.relayed.echo', taskNote),
    ...latency('browser.webrtc.echo', 'direct WebRTC: bare echo', run.webrtc.echo, 'browser.ws', `${echoNote}; A's connections to B afterwards: ${links(run.webrtc)}`),
    ...latency('browser.webrtc.task', 'direct WebRTC: task round trip', run.webrtc.task, 'browser.webrtc.echo', `same as relayed; the WebRTC connection (dialled by A through the relay) took ${Math.round(run.webrtc.upgrade.ms)} ms to set up, ${run.webrtc.upgrade.attempts} attempt(s)`),
    { id: 'browser.webrtc.task.vs.relayed', label: 'direct WebRTC task round trip p50, against relayed', value: p50(run.webrtc.task), unit: 'ms', better: 'lower', baseline: 'browser.relayed.task.p50' },
    {
      id: 'browser.nav.render',
      label: 'first visit: page.goto → first render',
      value: p50(nav.render),
      unit: 'ms',
      better: 'lower',
      note: `median of ${counts.navigations} first visits (fresh context: empty cache, no service worker, new identity) after ${counts.navigationWarmup} untimed; times from page.goto() in Node to a MutationObserver mark in the page`
    },
    { id: 'browser.nav.running', label: 'first visit: page.goto → peer running (header shown)', value: p50(nav.running), unit: 'ms', better: 'lower', note: 'the peer has its identity, its IndexedDB and a started libp2p node; the relay is dialled next' },
    { id: 'browser.nav.reserved', label: 'first visit: page.goto → relay-status "reserved"', value: p50(nav.reserved), unit: 'ms', better: 'lower', note: `p99 ${round(p99(nav.reserved))} ms` },
    { id: 'browser.nav.agents', label: 'first visit: page.goto → first agent-card', value: p50(nav.agents), unit: 'ms', better: 'lower', note: `p99 ${round(p99(nav.agents))} ms; two agents (the peer pages) are registered before the visit` }
  ]
  return {
    id: 'browser',
    title: `Browser: round trips between two Chromium pages (${run.chromium}) inside the test namespace, and a first visit of the app`,
    figures,
    notes: [
      'Two benchmark peer pages (bench/browser/page.html: the PWA\'s browser peer with an echo handler, no automatic WebRTC upgrade) in one headless Chromium, with the relay, all on this machine.',
      'Relayed figures come first, with no WebRTC connection between the pages (checked: every A→B connection is relayed and the A2A stream is on it); then A dials B over WebRTC and the same figures are measured again (checked: the A2A stream is on the WebRTC connection).',
      `Phases (ms): ${Object.entries(run.phases).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
      ...(context.quick ? ['Quick run: tiny counts, the figures mean nothing.'] : [])
    ]
  }
}

function round (value: number): number {
  return Math.round(value * 10) / 10
}
