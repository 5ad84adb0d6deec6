/**
 * What bench/browser/netns-main.ts prints for bench/browser.ts: the counts it ran with and the
 * raw samples. Types and constants only, so the section can read them without loading
 * Playwright or Vite.
 */
import type { LinkInfo, UpgradeResult } from './protocol.js'

/** The marker of the result line on stdout. */
export const RESULT_PREFIX = 'STARLING_BROWSER_BENCH '

export interface BrowserCounts {
  tasks: number
  taskWarmup: number
  echoes: number
  echoWarmup: number
  navigations: number
  navigationWarmup: number
}

export const FULL_COUNTS: BrowserCounts = { tasks: 200, taskWarmup: 20, echoes: 500, echoWarmup: 50, navigations: 20, navigationWarmup: 1 }
export const QUICK_COUNTS: BrowserCounts = { tasks: 5, taskWarmup: 2, echoes: 10, echoWarmup: 2, navigations: 1, navigationWarmup: 0 }

export interface PathSamples {
  /** SendMessage → completed echo answer, ms. */
  task: number[]
  /** Bare length-prefixed echo over the same connection, ms. */
  echo: number[]
  /** A's connections to B after the measurements. */
  links: LinkInfo[]
}

export interface BrowserRunResult {
  counts: BrowserCounts
  relayed: PathSamples
  webrtc: PathSamples & { upgrade: UpgradeResult }
  /** WebSocket echo page → Node `ws` server, ms. */
  ws: number[]
  /** Fresh first visits of the app: ms from page.goto to each point. */
  navigation: { render: number[], running: number[], reserved: number[], agents: number[] }
  /** How long each phase took, ms. */
  phases: Record<string, number>
  chromium: string
}
