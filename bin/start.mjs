// `npm start`: builds what is stale, starts a relay, and beside it a native demo agent that
// answers every task with the text it got (so a fresh PWA has someone to talk to).
//
//   npm start [-- RELAY-OPTIONS…] [--no-demo]
//
// Relay options and STARLING_* variables pass through to the relay (`npm start -- --help` lists
// them). The demo agent ("Echo (demo)", skill `echo`) keeps its home beside the relay's key:
// `.starling/demo-agent` by default, `<data dir>/demo-agent` with another --data-dir. When the
// relay is private and serves its own mesh (the default off loopback), the demo agent is made a
// member before it starts: the relay's key signs it a credential (relay/mesh/own-mesh.ts). A
// private relay serving other meshes (--mesh) cannot do that: the demo agent then runs outside
// them, and this says how to let it in. Both
// processes' output is forwarded line by line with a prefix. SIGINT or SIGTERM stops both; if
// either dies on its own, the other is stopped and this exits non-zero.
//
// Plain JavaScript, no dependencies: it runs before anything is built.

import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createInterface } from 'node:readline'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const POLYFILL = join(ROOT, 'bin', 'polyfill.mjs')
const RELAY_MAIN = join(ROOT, 'dist', 'node', 'relay', 'main.js')
const APP_INDEX = join(ROOT, 'dist', 'app', 'index.html')
const CLI_MAIN = join(ROOT, 'dist', 'node', 'src', 'native', 'cli.js')
const OWN_MESH = join(ROOT, 'dist', 'node', 'relay', 'mesh', 'own-mesh.js')

/** What the build reads: when any of it is newer than the build output, build again. */
const SOURCES = ['src', 'relay', 'index.html', 'vite.config.ts', 'tsconfig.node.json', 'tsconfig.app.json', 'tsconfig.base.json', 'public']

/** The relay's default data directory (relay/config.ts). */
const DEFAULT_DATA_DIR = '.starling/relay'

/** How long after a SIGINT children still running get a SIGTERM, in ms: a terminal's Ctrl-C reached them already. */
const SIGINT_GRACE_MS = 1_000

/** How long children may take to stop before they are killed, in ms. */
const STOP_TIMEOUT_MS = 15_000

const DEMO = { name: 'Echo (demo)', skills: 'echo', description: 'A demo agent: it answers every task with the text it was sent.' }

const argv = process.argv.slice(2)
const withDemo = !argv.includes('--no-demo')
const relayArgs = argv.filter(a => a !== '--no-demo')

/** Newest mtime (ms) of the files under `path` (a file or a directory), skipping tests. */
function newest (path) {
  let info
  try {
    info = statSync(path)
  } catch {
    return 0
  }
  if (!info.isDirectory()) return /\.test\.tsx?$/.test(path) ? 0 : info.mtimeMs
  let max = 0
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)))
  return max
}

function mtime (path) {
  try {
    return statSync(path).mtimeMs
  } catch {
    return 0
  }
}

function needsBuild () {
  const built = Math.min(mtime(RELAY_MAIN), mtime(APP_INDEX))
  if (built === 0) return true
  return SOURCES.some(source => newest(join(ROOT, source)) > built)
}

/** Runs `npm run build`, output straight through; resolves with its exit code. */
function build () {
  // under `npm start`, npm tells us where it is; otherwise use the one on PATH
  const npm = process.env.npm_execpath
  const [command, args] = npm != null && npm.endsWith('.js')
    ? [process.execPath, [npm, 'run', 'build']]
    : ['npm', ['run', 'build']]
  console.log('[start] sources changed since the last build: npm run build')
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit', env: process.env })
    child.on('error', (err) => {
      console.error(`[start] could not run npm: ${err.message}`)
      resolvePromise(1)
    })
    child.on('exit', (code, signal) => { resolvePromise(code ?? (signal != null ? 1 : 0)) })
  })
}

/** The relay's data directory, as relay/config.ts works it out (flag, then variable, then default). */
function relayDataDir () {
  let dir
  for (let i = 0; i < relayArgs.length; i++) {
    const arg = relayArgs[i]
    if (arg === '--data-dir') dir = relayArgs[i + 1]
    else if (arg.startsWith('--data-dir=')) dir = arg.slice('--data-dir='.length)
  }
  return resolve(ROOT, dir ?? process.env.STARLING_DATA_DIR ?? DEFAULT_DATA_DIR)
}

/** In the default layout (.starling/relay) the demo sits beside the relay; else inside its data dir. */
function demoHome () {
  const dataDir = relayDataDir()
  return basename(dataDir) === 'relay' ? join(dirname(dataDir), 'demo-agent') : join(dataDir, 'demo-agent')
}

/** Running children: { name, child, exited } with `exited` resolving to { code, signal }. */
const children = new Set()
let stopping = false
let relayStarted = false

/** Starts `node --import polyfill <args>` with its output forwarded under `[name]`. */
function start (name, args, onLine) {
  const child = spawn(process.execPath, ['--import', POLYFILL, ...args], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  const forward = (stream, out) => {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      out.write(`[${name}] ${line}\n`)
      onLine?.(line)
    })
  }
  forward(child.stdout, process.stdout)
  forward(child.stderr, process.stderr)
  const exited = new Promise((resolvePromise) => {
    child.on('error', (err) => {
      console.error(`[start] could not start the ${name}: ${err.message}`)
      resolvePromise({ code: 1, signal: null })
    })
    // 'close', not 'exit': by then its last lines have been read and forwarded
    child.on('close', (code, signal) => { resolvePromise({ code, signal }) })
  })
  const proc = { name, child, exited }
  children.add(proc)
  void exited.then(({ code, signal }) => {
    children.delete(proc)
    if (stopping) return
    // `--help`, or a bad option: the relay said why and is done before it started
    if (name === 'relay' && !relayStarted) {
      void stopAll('SIGTERM', code ?? 1)
      return
    }
    // one of the pair died on its own: the other is no use alone
    console.error(`[start] the ${name} exited (${signal != null ? `signal ${signal}` : `code ${code}`}); stopping`)
    void stopAll('SIGTERM', code === 0 || code == null ? 1 : code)
  })
  return proc
}

/** Runs the CLI to completion (no output unless it fails); resolves with its exit code. */
function runCli (args) {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--import', POLYFILL, CLI_MAIN, ...args], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    child.on('error', () => { resolvePromise(1) })
    child.on('exit', (code) => {
      if (code !== 0) process.stderr.write(output.replace(/^/gm, '[demo] '))
      resolvePromise(code ?? 1)
    })
  })
}

/** Sets up the demo agent's home for the relay at `url`: run `init` when it is missing or points elsewhere. */
async function prepareDemo (home, url) {
  let relay
  try {
    relay = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')).relay
  } catch {
    relay = undefined
  }
  if (relay === url) return 0
  return await runCli(['init', '--home', home, '--name', DEMO.name, '--skills', DEMO.skills, '--description', DEMO.description, '--relay', url])
}

let exitCode = 0
async function stopAll (signal, code) {
  if (stopping) return
  stopping = true
  exitCode = code
  const pending = [...children]
  const running = (proc) => proc.child.exitCode == null && proc.child.signalCode == null
  for (const proc of pending) {
    if (signal === 'SIGINT') {
      // Ctrl-C in a terminal went to the whole process group: give the children a moment first
      setTimeout(() => { if (running(proc)) proc.child.kill('SIGTERM') }, SIGINT_GRACE_MS).unref()
    } else {
      proc.child.kill('SIGTERM')
    }
  }
  const timer = setTimeout(() => {
    for (const proc of children) {
      console.error(`[start] the ${proc.name} did not stop in time: killing it`)
      proc.child.kill('SIGKILL')
    }
  }, STOP_TIMEOUT_MS)
  timer.unref()
  await Promise.all(pending.map(c => c.exited))
  process.exit(exitCode)
}

async function main () {
  process.once('SIGINT', () => { void stopAll('SIGINT', 0) })
  process.once('SIGTERM', () => { void stopAll('SIGTERM', 0) })

  if (!relayArgs.includes('--help') && needsBuild()) {
    const code = await build()
    if (code !== 0) {
      console.error(`[start] the build failed (exit ${code})`)
      process.exit(code)
    }
  }
  if (!existsSync(RELAY_MAIN)) {
    console.error(`[start] ${RELAY_MAIN} is missing: run npm run build`)
    process.exit(1)
  }
  if (relayArgs.includes('--help')) {
    console.log([
      'npm start [-- RELAY-OPTIONS…] [--no-demo]: a relay and a demo echo agent (--no-demo: the relay alone)',
      '',
      'On loopback (the default --host 127.0.0.1) the relay is open. On any other address it is',
      'private unless --mode open says otherwise: it serves a mesh of its own and prints an admin',
      'join link for you; the demo agent is made a member of that mesh.',
      ''
    ].join('\n'))
  }

  // what the relay's banner says before its "Open" line: its mode, and where its data is
  const relay = { ownMesh: undefined, dataDir: undefined, privateMeshes: undefined }
  start('relay', [RELAY_MAIN, ...relayArgs], (line) => {
    const own = /^\s*Mode private: only members of the relay's own mesh (\S+)/.exec(line)
    if (own != null) relay.ownMesh = own[1]
    const others = /^\s*Mode private: only members of (.+) may use it$/.exec(line)
    if (others != null && own == null) relay.privateMeshes = others[1]
    const kept = /^\s*Operator join link .*; kept in (.+)\):$/.exec(line)
    if (kept != null) relay.dataDir = dirname(kept[1])
    const match = /^\s*Open (https?:\/\/\S+)/.exec(line)
    if (match == null || relayStarted) return
    relayStarted = true
    if (withDemo) void startDemo(match[1], relay)
  })
}

/** Makes the demo agent a member of the relay's own mesh (signed with the relay's key, in its data dir). */
async function admitDemo (home, url, dataDir) {
  try {
    // the built modules use libp2p, which needs the polyfill on Node 20: load it first
    await import(pathToFileURL(POLYFILL).href)
    const { admitLocalAgent } = await import(pathToFileURL(OWN_MESH).href)
    const admitted = await admitLocalAgent({ dataDir, home, relayUrl: url })
    console.log(`[start] the demo agent ${admitted.member} is a member of the relay's mesh ${admitted.meshId}`)
    return 0
  } catch (err) {
    console.error(`[start] could not make the demo agent a member of the relay's mesh: ${err instanceof Error ? err.message : String(err)}`)
    return 1
  }
}

async function startDemo (url, relay) {
  const home = demoHome()
  let code = await prepareDemo(home, url)
  if (code === 0 && relay.ownMesh != null) code = await admitDemo(home, url, relay.dataDir ?? relayDataDir())
  if (stopping) return
  if (code !== 0) {
    console.error('[start] could not set up the demo agent')
    void stopAll('SIGTERM', code)
    return
  }
  if (relay.privateMeshes != null) {
    console.error(`[start] the relay serves ${relay.privateMeshes} only: the demo agent is no member and cannot reserve or publish.`)
    console.error(`[start] To let it in: an admin of that mesh makes an invite (\`starling mesh invite MESH\`); with this running, \`starling mesh join LINK --home ${home}\`; then restart npm start.`)
  }
  start('demo', [CLI_MAIN, 'serve', '--echo', '--home', home])
}

main().catch((err) => {
  console.error(`[start] ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  void stopAll('SIGTERM', 1)
})
