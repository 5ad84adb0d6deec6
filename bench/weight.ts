/**
 * Weight: the JavaScript a first visit of the PWA loads, beside a minimal libp2p browser node
 * built in the same run with the same bundler settings.
 *
 * Both are built here with Vite's JS API into a temporary directory (never dist/app): the app
 * with the project's vite.config.ts, the minimal node from bench/weight/minimal-node.ts
 * (websockets, webrtc, circuit relay, noise, yamux, identify; nothing else). "First-load" is what
 * index.html loads before anything is imported lazily: its module scripts and modulepreload
 * links and, transitively, their static imports. Every file is gzipped at level 9 and summed.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BenchContext, Figure, SectionResult } from './lib/types.js'
import { sum, viteBuild, weigh } from './weight/bundle.js'
import type { Weighed } from './weight/bundle.js'

/** First-load JS of the app at most this many times the minimal node's (the issue's target). */
export const FIRST_LOAD_TARGET_RATIO = 1.3

const KIB = 1024

export async function weightSection (context: BenchContext): Promise<SectionResult> {
  const dir = await mkdtemp(join(tmpdir(), 'starling-weight-'))
  try {
    context.progress('weight: building the app (vite.config.ts)…')
    const appDir = join(dir, 'app')
    const appChunks = await viteBuild({
      root: context.root,
      configFile: join(context.root, 'vite.config.ts'),
      mode: 'production',
      build: { outDir: appDir, emptyOutDir: true }
    })
    const app = await weigh(appDir, appChunks, context.root, PEER_MODULE)

    context.progress('weight: building the minimal libp2p node…')
    const minimalDir = join(dir, 'minimal')
    const minimalChunks = await viteBuild({
      root: context.root,
      configFile: false,
      publicDir: false,
      mode: 'production',
      build: {
        outDir: minimalDir,
        emptyOutDir: true,
        rolldownOptions: { input: join(context.root, 'bench', 'weight', 'minimal-node.ts') }
      }
    })
    const minimal = await weigh(minimalDir, minimalChunks, context.root)

    const distWasm = await wasmIn(join(context.root, 'dist', 'app'))
    return result(app, minimal, distWasm)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The module the app imports to run its peer, after the shell is on screen. */
const PEER_MODULE = 'src/app/node/create-peer.ts'

function result (app: Weighed, minimal: Weighed, distWasm: string[] | undefined): SectionResult {
  const kib = (bytes: number): number => bytes / KIB
  const figures: Figure[] = [
    {
      id: 'weight.minimal.firstload.gzip',
      label: 'minimal libp2p browser node, JS gzip',
      value: kib(sum(minimal.firstLoad, 'gzip')),
      unit: 'KiB',
      better: 'lower',
      note: `${minimal.files.length} file(s), ${round1(kib(sum(minimal.files, 'bytes')))} KiB minified: websockets, webrtc, circuit relay, noise, yamux, identify`
    },
    {
      id: 'weight.app.firstload.gzip',
      label: 'app first-load JS gzip',
      value: kib(sum(app.firstLoad, 'gzip')),
      unit: 'KiB',
      better: 'lower',
      baseline: 'weight.minimal.firstload.gzip',
      target: { ratio: FIRST_LOAD_TARGET_RATIO },
      note: `${app.firstLoad.length} files, ${round1(kib(sum(app.firstLoad, 'bytes')))} KiB minified: ${app.firstLoad.map(f => `${f.file} ${round1(kib(f.gzip))}`).join(', ')}`
    },
    {
      id: 'weight.app.untilPeer.gzip',
      label: 'app JS until its peer runs, gzip',
      value: kib(sum(app.untilPeer, 'gzip')),
      unit: 'KiB',
      better: 'lower',
      baseline: 'weight.minimal.firstload.gzip',
      note: `the first load plus the network stack it downloads while the shell renders (${PEER_MODULE} and its imports); the A2A client (sending) and the other screens come later`
    },
    {
      id: 'weight.app.total.gzip',
      label: 'app JS in all, gzip',
      value: kib(sum(app.files, 'gzip')),
      unit: 'KiB',
      better: 'lower',
      baseline: 'weight.minimal.firstload.gzip',
      note: `${app.files.length} files, ${round1(kib(sum(app.files, 'bytes')))} KiB minified; lazily loaded: ${app.files.filter(f => !app.firstLoad.includes(f)).map(f => `${f.file} ${round1(kib(f.gzip))}`).join(', ') || 'nothing'}; plus the service worker and workbox, ${round1(kib(app.serviceWorkerGzip))} KiB gzip, outside the page`
    },
    {
      id: 'weight.app.wasm',
      label: '.wasm files in the app build',
      value: app.wasm.length,
      unit: 'files',
      better: 'lower',
      target: { max: 0 },
      note: distWasm == null
        ? 'dist/app does not exist (not built), so only the fresh build was checked'
        : `dist/app holds ${distWasm.length === 0 ? 'no .wasm either' : `.wasm files too: ${distWasm.join(', ')}`}`
    }
  ]
  const breakdown = (by: Map<string, number>): string => [...by.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([group, bytes]) => `${group} ${round1(kib(bytes))}`)
    .join(' · ')
  const minimalGzip = sum(minimal.firstLoad, 'gzip')
  const ui = (app.firstLoadBy.get('react + react-dom') ?? 0) + (app.firstLoadBy.get('@tanstack/react-query') ?? 0)
  return {
    id: 'weight',
    title: 'Weight: first-load JavaScript of the PWA against a minimal libp2p browser node',
    figures,
    notes: [
      'KiB = 1024 bytes, each file gzipped at level 9; both built by Vite in this run with the same minifier and target.',
      `Where the app's first-load KiB go (gzip, split per chunk by rendered size): ${breakdown(app.firstLoadBy)}.`,
      `Where all of the app's KiB go: ${breakdown(app.totalBy)}.`,
      `React, react-dom and TanStack Query alone are ${round1(kib(ui))} KiB, ${round1(ui / minimalGzip * 100)} % of the minimal node: a first load that holds both the UI libraries and a libp2p node is at least ${Math.round((minimalGzip + ui) / minimalGzip * 100) / 100}× the minimal node before any Starling code.`,
      app.duplicates.size === 0
        ? 'No package is bundled twice (every dependency in the app comes from one directory).'
        : `Packages bundled more than once: ${[...app.duplicates].map(([name, dirs]) => `${name} (${dirs.join(', ')})`).join('; ')}.`
    ]
  }
}

async function wasmIn (dir: string): Promise<string[] | undefined> {
  if (!existsSync(dir)) return undefined
  const entries = await readdir(dir, { recursive: true })
  return entries.filter(name => name.endsWith('.wasm'))
}

function round1 (value: number): number {
  return Math.round(value * 10) / 10
}
