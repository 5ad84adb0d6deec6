// Isolated browser pages for end-to-end tests.
//
// Each page gets a BrowserContext of its own, so its own IndexedDB, storage and cookies: one
// page is one independent Starling peer. Console errors and uncaught page errors are printed to
// the test output with the page's label (and kept on the returned object, so a test can assert
// that there were none). The fixtures in ./fixtures.ts close the contexts at the end of the test.

import type { Browser, BrowserContext, BrowserContextOptions, ConsoleMessage, Page } from '@playwright/test'

export interface LabeledPage {
  /** 'A', 'B', ... unless labels were given. */
  label: string
  context: BrowserContext
  page: Page
  /** Console errors and uncaught exceptions of this page, as printed. */
  errors: string[]
}

export interface OpenPagesOptions {
  /** One label per page; default 'A', 'B', 'C', ... */
  labels?: readonly string[]
  /** Options for every context (baseURL, viewport, ...). */
  contextOptions?: BrowserContextOptions
  /** Navigate every page there once it is open (relative to contextOptions.baseURL if any). */
  url?: string
  /**
   * Which console message types to print. Default: 'error' (and every type with
   * STARLING_E2E_VERBOSE=1). Only errors are recorded in `errors`.
   */
  consoleTypes?: readonly string[] | 'all'
}

const openContexts = new Set<BrowserContext>()
const verbose = process.env.STARLING_E2E_VERBOSE === '1'

function defaultLabel (i: number): string {
  return i < 26 ? String.fromCharCode(65 + i) : `P${i}`
}

function formatConsole (msg: ConsoleMessage): string {
  const loc = msg.location()
  const where = loc.url ? ` (${loc.url}:${loc.lineNumber}:${loc.columnNumber})` : ''
  return `${msg.text()}${where}`
}

/**
 * Prints a page's console errors and uncaught exceptions (and crashes) to the test output as
 * `[page <label>] ...`, and pushes them onto `sink` if given.
 */
export function forwardPageErrors (page: Page, label: string, sink?: string[], consoleTypes: OpenPagesOptions['consoleTypes'] = verbose ? 'all' : ['error']): void {
  page.on('console', (msg) => {
    const type = msg.type()
    if (type === 'error') sink?.push(`console.error: ${msg.text()}`)
    if (consoleTypes === 'all' || consoleTypes.includes(type)) {
      const line = `[page ${label}] console.${type}: ${formatConsole(msg)}`
      if (type === 'error') console.error(line)
      else console.log(line)
    }
  })
  page.on('pageerror', (err) => {
    const text = err.stack ?? `${err.name}: ${err.message}`
    sink?.push(`pageerror: ${text}`)
    console.error(`[page ${label}] uncaught ${text}`)
  })
  page.on('crash', () => {
    sink?.push('crash')
    console.error(`[page ${label}] the page crashed`)
  })
}

/** Opens one page in a new, isolated context. */
export async function openPage (browser: Browser, label: string, options: Omit<OpenPagesOptions, 'labels'> = {}): Promise<LabeledPage> {
  const context = await browser.newContext(options.contextOptions)
  openContexts.add(context)
  context.on('close', () => { openContexts.delete(context) })
  const page = await context.newPage()
  const errors: string[] = []
  forwardPageErrors(page, label, errors, options.consoleTypes)
  if (options.url !== undefined) await page.goto(options.url)
  return { label, context, page, errors }
}

/** Opens `count` pages, each in its own isolated context (own IndexedDB), labelled A, B, ... */
export async function openPages (browser: Browser, count: number, options: OpenPagesOptions = {}): Promise<LabeledPage[]> {
  if (options.labels && options.labels.length !== count) {
    throw new Error(`openPages: ${count} pages but ${options.labels.length} labels`)
  }
  const pages: LabeledPage[] = []
  // One after the other: contexts are cheap, and two cores gain nothing from opening them at once.
  for (let i = 0; i < count; i++) {
    pages.push(await openPage(browser, options.labels?.[i] ?? defaultLabel(i), options))
  }
  return pages
}

/** Closes every context opened by openPage(s) and not closed yet. */
export async function closeContexts (): Promise<void> {
  const contexts = [...openContexts]
  openContexts.clear()
  await Promise.all(contexts.map(async (c) => { await c.close().catch(() => { /* browser already gone */ }) }))
}
