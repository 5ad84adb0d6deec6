/**
 * The relay under test as its own process, and what Linux says about it: resident memory from
 * /proc/<pid>/status, CPU time from /proc/<pid>/stat. Two relays can be started: Starling's
 * (`dist/node/relay/main.js`, exactly what `npm run relay` runs) and the stock js-libp2p relay of
 * ./stock-relay.ts, the baseline. Both run with `--inspect=127.0.0.1:0` so the section can force
 * a garbage collection before it reads their memory (./inspector.ts).
 */
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { collectGarbage, inspectorUrl } from './inspector.js'
import type { HeapFigures } from './inspector.js'

export interface RelayProcess {
  pid: number
  /** The relay's TCP multiaddr, ending in `/p2p/<relay>`. */
  tcpAddr: string
  /** Reservations the relay holds (from /health), when it tells. */
  reservations: () => Promise<number | undefined>
  /** VmRSS in bytes. */
  rssBytes: () => Promise<number>
  /** User + system CPU time in seconds. */
  cpuSeconds: () => Promise<number>
  /** Forces a full GC in the relay; its heap afterwards. */
  collectGarbage: () => Promise<HeapFigures>
  /** The last lines the relay printed (for error messages). */
  output: () => string
  stop: () => Promise<void>
}

const CLOCK_TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** Resident memory of `pid` in bytes. */
export async function rssOf (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
  if (match == null) throw new Error(`no VmRSS for process ${pid}`)
  return Number(match[1]) * 1024
}

/** User + system CPU time of `pid` in seconds. */
export async function cpuOf (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

interface SpawnInit {
  root: string
  script: string
  args: string[]
  /** Extra `node` flags, e.g. `--cpu-prof` while profiling. */
  nodeArgs?: string[]
  /** Finds the relay's TCP address (or the URL to ask for it) in a line it printed. */
  ready: (line: string) => string | undefined
  cleanup?: () => Promise<void>
}

async function spawnRelay (init: SpawnInit): Promise<{ pid: number, found: string, output: () => string, stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [
    ...(init.nodeArgs ?? []),
    '--inspect=127.0.0.1:0',
    '--import', join(init.root, 'bin', 'polyfill.mjs'),
    init.script,
    ...init.args
  ], { cwd: init.root, stdio: ['ignore', 'pipe', 'pipe'] })

  const lines: string[] = []
  const remember = (line: string): void => {
    lines.push(line)
    if (lines.length > 40) lines.shift()
  }
  createInterface({ input: child.stderr }).on('line', remember)
  const stdout = createInterface({ input: child.stdout })
  stdout.on('line', remember)

  // never outlive the benchmark, even when it dies of an uncaught error
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit)
    if (child.exitCode == null && child.signalCode == null) {
      const gone = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
      await gone
      clearTimeout(timer)
    }
    await init.cleanup?.()
  }

  try {
    const found = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`the relay did not start within 20 s: ${lines.join('\n')}`)) }, 20_000)
      stdout.on('line', (line) => {
        const value = init.ready(line)
        if (value != null) {
          clearTimeout(timer)
          resolve(value)
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`the relay exited with ${code}: ${lines.join('\n')}`))
      })
    })
    return { pid: child.pid!, found, output: () => lines.join('\n'), stop }
  } catch (err) {
    await stop()
    throw err
  }
}

function measures (pid: number, output: () => string): Pick<RelayProcess, 'rssBytes' | 'cpuSeconds' | 'collectGarbage'> {
  return {
    rssBytes: async () => await rssOf(pid),
    cpuSeconds: async () => await cpuOf(pid),
    collectGarbage: async () => {
      const url = inspectorUrl(output())
      if (url == null) throw new Error('the relay has no inspector')
      return await collectGarbage(url)
    }
  }
}

export interface StarlingRelayInit {
  root: string
  maxReservations: number
  maxConnections: number
  /** Extra relay flags. */
  args?: string[]
  nodeArgs?: string[]
}

/** Starling's relay, as `npm run relay` runs it. */
export async function startStarlingRelay (init: StarlingRelayInit): Promise<RelayProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'starling-bench-relay-'))
  const relay = await spawnRelay({
    root: init.root,
    script: join(init.root, 'dist', 'node', 'relay', 'main.js'),
    args: [
      '--host', '127.0.0.1', '--port', '0', '--tcp-port', '0',
      '--data-dir', dataDir, '--app-dir', join(init.root, 'dist', 'app'),
      '--ice-servers', 'none',
      '--max-reservations', String(init.maxReservations),
      '--max-connections', String(init.maxConnections),
      // thousands of clients on one loopback address: no per-IP cap here
      '--max-connections-per-ip', '0',
      ...(init.args ?? [])
    ],
    nodeArgs: init.nodeArgs,
    ready: (line) => /Open (http:\/\/\S+) in a browser/.exec(line)?.[1],
    cleanup: async () => { await rm(dataDir, { recursive: true, force: true }) }
  })
  try {
    const url = relay.found
    const info = await (await fetch(`${url}/api/v1/relay`)).json() as { multiaddrs: string[] }
    const tcpAddr = info.multiaddrs.find(a => a.includes('/tcp/') && !a.includes('/ws'))
    if (tcpAddr == null) throw new Error(`the relay announced no TCP address: ${info.multiaddrs.join(', ')}`)
    return {
      pid: relay.pid,
      tcpAddr,
      reservations: async () => (await (await fetch(`${url}/health`)).json() as { reservations: number }).reservations,
      ...measures(relay.pid, relay.output),
      output: relay.output,
      stop: relay.stop
    }
  } catch (err) {
    await relay.stop()
    throw err
  }
}

/** The stock js-libp2p relay of ./stock-relay.ts. */
export async function startStockRelay (init: StarlingRelayInit): Promise<RelayProcess> {
  const relay = await spawnRelay({
    root: init.root,
    script: join(init.root, 'dist', 'node', 'bench', 'relay-scale', 'stock-relay.js'),
    args: [String(init.maxReservations), String(init.maxConnections)],
    nodeArgs: init.nodeArgs,
    ready: (line) => /^listening (\S+)/.exec(line)?.[1]
  })
  return {
    pid: relay.pid,
    tcpAddr: relay.found,
    reservations: async () => undefined,
    ...measures(relay.pid, relay.output),
    output: relay.output,
    stop: relay.stop
  }
}
