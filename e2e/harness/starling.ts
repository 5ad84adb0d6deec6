// Starling's own programs, for end-to-end tests: the relay and the native peer's CLI.
//
// They run from the build output (npm run build:node → dist/node), with the polyfill every Node
// entry point needs (bin/polyfill.mjs), from the repository root, under the Node running the tests.
// Processes started here belong to the default registry (stopped at the end of each test) unless
// a registry is given; directories made here are removed at the end of the test.

import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { spawnProcess, runProcess } from './processes.js'
import type { ManagedProcess, ProcessRegistry } from './processes.js'
import { tempDir } from './tmp.js'

/**
 * The repository root (where package.json and bin/ are): the nearest directory above this file
 * with bin/polyfill.mjs, so it holds from e2e/harness and from its compiled copy in dist/node.
 */
export const REPO_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)))

function findRoot (from: string): string {
  let dir = from
  while (!existsSync(join(dir, 'bin', 'polyfill.mjs'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`no Starling checkout above ${from}`)
    dir = parent
  }
  return dir
}

const POLYFILL = './bin/polyfill.mjs'
const RELAY_MAIN = 'dist/node/relay/main.js'
const CLI_MAIN = 'dist/node/src/native/cli.js'

function requireBuilt (file: string): void {
  if (!existsSync(join(REPO_ROOT, file))) {
    throw new Error(`${file} does not exist: build first (npm run build:node)`)
  }
}

/** Environment for Starling's processes: no colours, so output lines are easy to match. */
function baseEnv (env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  return { NO_COLOR: '1', FORCE_COLOR: '0', ...env }
}

export interface StartRelayOptions {
  /** Default: a new temporary directory. */
  dataDir?: string
  /** Appended after the default arguments. */
  extraArgs?: readonly string[]
  env?: NodeJS.ProcessEnv
  /** How long to wait for the "Open http://..." line; default 20 s. */
  timeoutMs?: number
  /** Label in reports; default 'relay'. */
  name?: string
  registry?: ProcessRegistry
}

export interface RelayHandle {
  /** http://127.0.0.1:<port>, as printed by the relay. */
  url: string
  dataDir: string
  process: ManagedProcess
  /** SIGTERM, then SIGKILL after 5 s. */
  stop: () => Promise<void>
}

/**
 * Starts the relay on 127.0.0.1 with ephemeral ports and waits until it prints
 * `Open http://127.0.0.1:<port> in a browser`.
 */
export async function startRelay (options: StartRelayOptions = {}): Promise<RelayHandle> {
  requireBuilt(RELAY_MAIN)
  const dataDir = options.dataDir ?? await tempDir('relay')
  const proc = spawnProcess(process.execPath, [
    '--import', POLYFILL, RELAY_MAIN,
    '--host', '127.0.0.1', '--port', '0', '--tcp-port', '0',
    '--data-dir', dataDir,
    ...(options.extraArgs ?? [])
  ], {
    cwd: REPO_ROOT,
    env: baseEnv(options.env),
    name: options.name ?? 'relay',
    ...(options.registry ? { registry: options.registry } : {})
  })
  const match = await proc.waitForLine(/Open (http:\/\/\S+)/, { timeoutMs: options.timeoutMs ?? 20_000 })
  return {
    url: match[1]!,
    dataDir,
    process: proc,
    stop: async () => { await proc.stop() }
  }
}

export interface CliOptions {
  /** Pass --json (unless already in args) and parse stdout as JSON into `json`. */
  json?: boolean
  env?: NodeJS.ProcessEnv
  /** Default 30 s; then the process is stopped and the call rejects. */
  timeoutMs?: number
  name?: string
}

export interface CliResult<T = unknown> {
  /** Exit code (null if ended by a signal). */
  code: number | null
  stdout: string
  stderr: string
  /** stdout parsed as JSON when options.json was true, else undefined. */
  json: T | undefined
}

/**
 * Runs one verb of the native peer's CLI to completion with STARLING_HOME=<home>:
 * `node --import ./bin/polyfill.mjs dist/node/src/native/cli.js <args...>`.
 * A non-zero exit does not throw (check `code`); output that is not JSON when json was asked does.
 */
export async function starlingCli<T = unknown> (home: string, args: readonly string[], options: CliOptions = {}): Promise<CliResult<T>> {
  requireBuilt(CLI_MAIN)
  const fullArgs = [...args]
  if (options.json && !fullArgs.includes('--json')) fullArgs.push('--json')
  const result = await runProcess(process.execPath, ['--import', POLYFILL, CLI_MAIN, ...fullArgs], {
    cwd: REPO_ROOT,
    env: baseEnv({ ...options.env, STARLING_HOME: home }),
    name: options.name ?? `starling ${args[0] ?? ''}`.trim(),
    timeoutMs: options.timeoutMs ?? 30_000
  })
  let json: T | undefined
  if (options.json) {
    try {
      json = JSON.parse(result.stdout) as T
    } catch (err) {
      throw new Error(
        `starling ${fullArgs.join(' ')} (exit ${result.code ?? result.signal}) did not print JSON on stdout: ${(err as Error).message}\n` +
        `--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`,
        { cause: err }
      )
    }
  }
  return { code: result.code, stdout: result.stdout, stderr: result.stderr, json }
}

export interface StartPeerOptions {
  env?: NodeJS.ProcessEnv
  /** How long to wait for the "is serving" line; default 20 s. */
  timeoutMs?: number
  name?: string
  registry?: ProcessRegistry
}

export interface PeerHandle {
  /** The PeerID printed in `Starling peer <id> is serving`. */
  peerId: string
  home: string
  process: ManagedProcess
  /** SIGTERM, then SIGKILL after 5 s. */
  stop: () => Promise<void>
}

/**
 * Starts `starling serve <extraArgs...>` in the background with STARLING_HOME=<home> and waits
 * for the line `Starling peer <id> is serving`.
 */
export async function startPeer (home: string, extraArgs: readonly string[] = [], options: StartPeerOptions = {}): Promise<PeerHandle> {
  requireBuilt(CLI_MAIN)
  const proc = spawnProcess(process.execPath, ['--import', POLYFILL, CLI_MAIN, 'serve', ...extraArgs], {
    cwd: REPO_ROOT,
    env: baseEnv({ ...options.env, STARLING_HOME: home }),
    name: options.name ?? 'peer',
    ...(options.registry ? { registry: options.registry } : {})
  })
  const match = await proc.waitForLine(/^Starling peer (\S+) is serving/, { timeoutMs: options.timeoutMs ?? 20_000 })
  return {
    peerId: match[1]!,
    home,
    process: proc,
    stop: async () => { await proc.stop() }
  }
}

export interface NativeAgentOptions {
  name: string
  /** Comma-separated skill ids. */
  skills: string
  /** Extra `serve` arguments, e.g. `['--echo']`. */
  serveArgs?: readonly string[]
  env?: NodeJS.ProcessEnv
}

/**
 * A native agent on `relay`, the way a person makes one: `starling init` in a fresh home, then
 * `starling serve`; resolves once its card is published.
 */
export async function startNativeAgent (relay: Pick<RelayHandle, 'url'>, options: NativeAgentOptions): Promise<PeerHandle> {
  const home = await tempDir('native')
  const init = await starlingCli<{ peerId: string }>(home, ['init', '--name', options.name, '--skills', options.skills, '--relay', relay.url], { json: true })
  if (init.code !== 0 || init.json == null) throw new Error(`starling init failed (exit ${init.code}): ${init.stderr}`)
  const peer = await startPeer(home, options.serveArgs ?? [], { name: options.name, env: options.env })
  await peer.process.waitForLine(new RegExp(`^Published card "${options.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`), { timeoutMs: 20_000 })
  return peer
}
