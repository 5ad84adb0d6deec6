/**
 * Builds for the weight section and what their JavaScript weighs: which files a page loads
 * before anything is imported lazily, each gzipped at level 9, and where those bytes come from.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build } from 'vite'
import type { InlineConfig, Rolldown } from 'vite'

export interface JsFile {
  /** Path in the output directory, e.g. `assets/index-abc.js`. */
  file: string
  bytes: number
  gzip: number
}

export interface Weighed {
  /** Every JS file of the page (not the service worker), heaviest first. */
  files: JsFile[]
  /** The files loaded before any dynamic import: entries, their static imports, modulepreloads. */
  firstLoad: JsFile[]
  /** firstLoad plus what the page loads to run its peer (the chunk of `peerModule` and its imports). */
  untilPeer: JsFile[]
  /** gzip bytes of firstLoad by origin (package group), estimated per chunk by rendered size. */
  firstLoadBy: Map<string, number>
  /** Same for every file. */
  totalBy: Map<string, number>
  /** .wasm files anywhere in the output. */
  wasm: string[]
  /** JS outside the page's module graph (service worker, workbox runtime), gzip bytes. */
  serviceWorkerGzip: number
  /** Packages bundled from more than one directory (two copies of one dependency), with those directories. */
  duplicates: Map<string, string[]>
}

export function sum (files: JsFile[], key: 'bytes' | 'gzip'): number {
  return files.reduce((total, f) => total + f[key], 0)
}

/** Runs a Vite build and returns its chunks (the files are written to the config's outDir too). */
export async function viteBuild (config: InlineConfig): Promise<Rolldown.OutputChunk[]> {
  const result = await build({ logLevel: 'silent', ...config })
  const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[]
  const chunks: Rolldown.OutputChunk[] = []
  for (const output of outputs) {
    if (!('output' in output)) throw new Error('vite build did not return its output')
    for (const item of output.output) if (item.type === 'chunk') chunks.push(item)
  }
  return chunks
}

/**
 * Weighs a build in `outDir`. First-load files are those `index.html` names (module scripts and
 * modulepreload links) plus, transitively, their static imports; without an `index.html`, the
 * entry chunks and their static imports.
 */
export async function weigh (outDir: string, chunks: Rolldown.OutputChunk[], root: string, peerModule?: string): Promise<Weighed> {
  const byName = new Map(chunks.map(c => [c.fileName, c]))
  const all = await listFiles(outDir)
  const js = all.filter(f => f.endsWith('.js'))
  const pageJs = js.filter(f => byName.has(f))
  const files = await Promise.all(pageJs.map(async f => await measure(outDir, f)))
  files.sort((a, b) => b.gzip - a.gzip)

  let roots: string[]
  if (all.includes('index.html')) {
    const html = await readFile(join(outDir, 'index.html'), 'utf8')
    roots = htmlScripts(html)
    for (const file of roots) {
      if (!byName.has(file)) throw new Error(`index.html loads ${file}, which is not a chunk of the build`)
    }
  } else {
    roots = chunks.filter(c => c.isEntry).map(c => c.fileName)
  }
  const closure = (starts: string[]): Set<string> => {
    const seen = new Set<string>()
    const visit = (name: string): void => {
      if (seen.has(name)) return
      seen.add(name)
      for (const imported of byName.get(name)?.imports ?? []) visit(imported)
    }
    for (const name of starts) visit(name)
    return seen
  }
  const first = closure(roots)
  const firstLoad = files.filter(f => first.has(f.file))
  const peerChunk = peerModule == null ? undefined : chunks.find(c => c.facadeModuleId?.endsWith(peerModule) === true)
  const untilPeerNames = closure(peerChunk == null ? roots : [...roots, peerChunk.fileName])
  const untilPeer = files.filter(f => untilPeerNames.has(f.file))

  const gzipOf = new Map(files.map(f => [f.file, f.gzip]))
  const attribute = (names: Iterable<string>): Map<string, number> => {
    const out = new Map<string, number>()
    for (const name of names) {
      const chunk = byName.get(name)
      const gzip = gzipOf.get(name)
      if (chunk == null || gzip == null) continue
      const parts = new Map<string, number>()
      let total = 0
      for (const [id, info] of Object.entries(chunk.modules)) {
        const group = groupOf(id, root)
        parts.set(group, (parts.get(group) ?? 0) + info.renderedLength)
        total += info.renderedLength
      }
      for (const [group, length] of parts) {
        if (total > 0) out.set(group, (out.get(group) ?? 0) + gzip * length / total)
      }
    }
    return out
  }

  const other = js.filter(f => !byName.has(f))
  const serviceWorker = await Promise.all(other.map(async f => await measure(outDir, f)))
  return {
    files,
    firstLoad,
    untilPeer,
    firstLoadBy: attribute(first),
    totalBy: attribute(files.map(f => f.file)),
    wasm: all.filter(f => f.endsWith('.wasm')),
    serviceWorkerGzip: sum(serviceWorker, 'gzip'),
    duplicates: duplicatePackages(chunks.flatMap(c => Object.keys(c.modules)), root)
  }
}

/** The JS files an HTML page loads up front: `<script type="module" src>` and modulepreload links. */
export function htmlScripts (html: string): string[] {
  const out: string[] = []
  for (const tag of html.match(/<(script|link)\b[^>]*>/g) ?? []) {
    const attr = (name: string): string | undefined => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1]
    const url = tag.startsWith('<script') ? attr('src') : attr('rel') === 'modulepreload' ? attr('href') : undefined
    if (url == null || /^[a-z]+:\/\//i.test(url)) continue
    out.push(url.replace(/^\.?\//, ''))
  }
  return out
}

/** Which part of the code a module belongs to, for "where the bytes go". */
export function groupOf (id: string, root: string): string {
  const pkg = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(id)?.[1]?.replace('\\', '/')
  if (pkg != null) {
    if (['react', 'react-dom', 'scheduler'].includes(pkg)) return 'react + react-dom'
    if (pkg.startsWith('@tanstack/')) return '@tanstack/react-query'
    if (pkg === '@a2a-js/sdk') return '@a2a-js/sdk'
    if (pkg.startsWith('workbox-')) return 'workbox (service worker registration)'
    if (pkg === 'idb') return 'idb'
    return 'libp2p and its dependencies'
  }
  const path = relative(root, id.replace(/^\0/, '')).split(sep).join('/')
  if (path.startsWith('src/core/')) return 'src/core'
  if (path.startsWith('src/app/')) return 'src/app'
  if (path.startsWith('bench/')) return 'bench entry'
  return 'bundler runtime and virtual modules'
}

/** Packages whose modules come from more than one package directory. */
export function duplicatePackages (ids: string[], root: string): Map<string, string[]> {
  const dirs = new Map<string, Set<string>>()
  for (const id of ids) {
    const normal = id.replace(/^\0/, '').split(sep).join('/')
    const at = normal.lastIndexOf('node_modules/')
    if (at === -1) continue
    const name = /^((?:@[^/]+\/)?[^/]+)/.exec(normal.slice(at + 'node_modules/'.length))?.[1]
    if (name == null) continue
    const dir = relative(root, normal.slice(0, at + 'node_modules/'.length + name.length)).split(sep).join('/')
    let set = dirs.get(name)
    if (set == null) dirs.set(name, set = new Set())
    set.add(dir)
  }
  return new Map([...dirs].filter(([, set]) => set.size > 1).map(([name, set]) => [name, [...set].sort()]))
}

async function measure (dir: string, file: string): Promise<JsFile> {
  const content = await readFile(join(dir, file))
  return { file, bytes: content.length, gzip: gzipSync(content, { level: 9 }).length }
}

async function listFiles (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter(e => e.isFile()).map(e => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
}
