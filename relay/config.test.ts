import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { ConfigError, OPTIONS, loadConfig, usage } from './config.js'
import type { RelayConfig } from './config.js'
import { tempDir } from '../src/native/test-helpers.js'

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const MAIN = join(REPO_ROOT, 'dist/node/relay/main.js')

function load (argv: string[], env: NodeJS.ProcessEnv = {}): RelayConfig {
  const config = loadConfig(argv, env)
  if (config === 'help') throw new Error('unexpected --help')
  return config
}

/** The ConfigError loadConfig throws for these arguments. */
function refusal (argv: string[], env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig(argv, env)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('the configuration was accepted')
}

async function withDir<T> (fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await tempDir('starling-config-')
  try {
    return await fn(dir.path)
  } finally {
    await dir.remove()
  }
}

describe('relay configuration sources', () => {
  it('takes a flag over the environment over the data directory\'s relay.json over the default', async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, 'relay.json'), JSON.stringify({
        'max-reservations': 100,
        'max-circuits': 50,
        'max-connections-per-ip': 10,
        'log-level': 'debug',
        announce: ['/dns4/relay.example.com/tcp/443/wss']
      }))
      const env = { STARLING_MAX_RESERVATIONS: '200', STARLING_MAX_CIRCUITS: '60' }
      const config = load(['--data-dir', dir, '--max-reservations', '300'], env)
      expect(config).toMatchObject({
        maxReservations: 300, // flag over env and file
        maxCircuits: 60, // env over file
        maxConnectionsPerIp: 10, // file over default
        logLevel: 'debug',
        announce: ['/dns4/relay.example.com/tcp/443/wss'],
        maxCircuitsPerPeer: 256, // default
        configFile: join(dir, 'relay.json')
      })
      // without the flag the environment wins, without both the file does
      expect(load(['--data-dir', dir], env).maxReservations).toBe(200)
      expect(load([], { STARLING_DATA_DIR: dir }).maxReservations).toBe(100)
    })
  })

  it('reads the file --config or STARLING_CONFIG names instead, with its relative paths from its own directory', async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, 'relay.json'), JSON.stringify({ 'max-circuits': 50 }))
      const etc = join(dir, 'etc')
      await mkdir(etc)
      await writeFile(join(etc, 'starling.json'), JSON.stringify({ 'data-dir': '../data', 'max-agents': 7 }))
      const viaFlag = load(['--config', join(etc, 'starling.json'), '--data-dir', dir])
      // only one file is read: the data directory's relay.json is not
      expect(viaFlag).toMatchObject({ maxAgents: 7, maxCircuits: 4096, dataDir: dir, configFile: join(etc, 'starling.json') })
      const viaEnv = load([], { STARLING_CONFIG: join(etc, 'starling.json') })
      expect(viaEnv).toMatchObject({ maxAgents: 7, dataDir: join(dir, 'data') })
    })
  })

  it('defaults log-level to info and takes the six pino levels', () => {
    expect(load(['--data-dir', '/nonexistent-starling']).logLevel).toBe('info')
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace']) {
      expect(load(['--data-dir', '/nonexistent-starling'], { STARLING_LOG_LEVEL: level }).logLevel).toBe(level)
    }
  })

  it('lists every option in --help with its environment variable and default', () => {
    expect(loadConfig(['--help'], {})).toBe('help')
    const text = usage()
    const lines = text.split('\n')
    for (const option of Object.values(OPTIONS)) {
      const line = lines.find(l => l.trimStart().startsWith(`--${option.flag} `))
      expect(line, `--${option.flag}`).toBeDefined()
      expect(line).toContain(option.env)
      expect(line).toContain(option.defaultText ?? (option.default === '' ? '(none)' : option.default))
    }
    expect(text).toMatch(/--config\s+STARLING_CONFIG/)
    expect(text).toContain('relay.json')
  })
})

describe('relay configuration refusals', () => {
  it('refuses a value of the wrong type, naming the option and the flag, variable or file', async () => {
    expect(refusal(['--max-circuits', 'many', '--data-dir', '/nonexistent-starling'])).toMatchObject({
      option: 'max-circuits', source: '--max-circuits', message: '--max-circuits: max-circuits must be a positive whole number, got "many"'
    })
    expect(refusal(['--data-dir', '/nonexistent-starling'], { STARLING_LOG_LEVEL: 'loud' })).toMatchObject({
      option: 'log-level', source: 'STARLING_LOG_LEVEL', message: 'STARLING_LOG_LEVEL: log-level must be one of fatal|error|warn|info|debug|trace, got "loud"'
    })
    await withDir(async (dir) => {
      const file = join(dir, 'relay.json')
      await writeFile(file, JSON.stringify({ 'max-circuits': '50' }))
      expect(refusal(['--data-dir', dir])).toMatchObject({
        option: 'max-circuits', source: `config file ${file}`, message: `config file ${file}: max-circuits must be a number, got "50"`
      })
      await writeFile(file, '{"max-circuits": 1e400}')
      expect(refusal(['--data-dir', dir]).message).toBe(`config file ${file}: max-circuits must be a positive whole number, got Infinity`)
      await writeFile(file, JSON.stringify({ announce: [443] }))
      expect(refusal(['--data-dir', dir]).message).toBe(`config file ${file}: announce must be a list of strings, got [443]`)
      // a flag for the same option does not excuse a bad file
      await writeFile(file, JSON.stringify({ host: 7 }))
      expect(refusal(['--data-dir', dir, '--host', '0.0.0.0'])).toMatchObject({ option: 'host', source: `config file ${file}` })
    })
  })

  it('refuses a value out of range', () => {
    const env = { STARLING_DATA_DIR: '/nonexistent-starling' }
    expect(refusal(['--port', '70000'], env)).toMatchObject({ option: 'port', source: '--port' })
    expect(refusal([], { ...env, STARLING_TCP_PORT: '-1' })).toMatchObject({ option: 'tcp-port', source: 'STARLING_TCP_PORT' })
    expect(refusal(['--max-reservations', '0'], env).message).toBe('--max-reservations: max-reservations must be a positive whole number, got "0"')
    expect(refusal(['--max-connections-per-ip=-1'], env).message).toBe('--max-connections-per-ip: max-connections-per-ip must be a whole number, at least 0, got "-1"')
    // a longer time limit would overflow Node's timers and fire at once
    expect(refusal(['--relay-duration-limit', '2147484'], env).message).toBe('--relay-duration-limit: relay-duration-limit must be at most 2147483, got "2147484"')
    expect(refusal(['--idle-timeout', '1.5'], env)).toMatchObject({ option: 'idle-timeout', source: '--idle-timeout' })
    // 0 turns the per-IP cap off
    expect(load(['--max-connections-per-ip', '0'], env).maxConnectionsPerIp).toBe(0)
  })

  it('refuses an unknown key, a file that is not a JSON object, and a key the data directory\'s file may not set', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'relay.json')
      await writeFile(file, JSON.stringify({ 'max-reservation': 10 }))
      expect(refusal(['--data-dir', dir])).toMatchObject({
        option: 'max-reservation', source: `config file ${file}`, message: `config file ${file}: unknown option "max-reservation" (the keys are the flag names --help lists)`
      })
      await writeFile(file, JSON.stringify({ maxReservations: 10 }))
      expect(refusal(['--data-dir', dir]).message).toMatch(/unknown option "maxReservations"/)
      await writeFile(file, '{"port": 80,}')
      expect(refusal(['--data-dir', dir]).message).toMatch(new RegExp(`^config file ${file}: not valid JSON`))
      await writeFile(file, '[1, 2]')
      expect(refusal(['--data-dir', dir]).message).toMatch(/must be a JSON object of options/)
      await writeFile(file, JSON.stringify({ 'data-dir': '/elsewhere' }))
      expect(refusal(['--data-dir', dir])).toMatchObject({ option: 'data-dir', source: `config file ${file}` })
    })
  })

  it('refuses a config file it cannot read, naming what named it', async () => {
    await withDir(async (dir) => {
      const missing = join(dir, 'missing.json')
      expect(refusal(['--config', missing])).toMatchObject({ option: 'config', source: '--config', message: `--config: cannot read ${missing} (ENOENT)` })
      expect(refusal([], { STARLING_CONFIG: dir })).toMatchObject({ option: 'config', source: 'STARLING_CONFIG', message: `STARLING_CONFIG: cannot read ${dir} (EISDIR)` })
      // the data directory's relay.json is optional, but one that exists must be readable
      await mkdir(join(dir, 'relay.json'))
      expect(refusal(['--data-dir', dir])).toMatchObject({ option: 'config', source: 'data directory' })
    })
  })

  it('refuses an unknown flag', () => {
    expect(refusal(['--no-such-flag']).message).toMatch(/--no-such-flag.*--help lists the options/)
  })
})

/** Builds dist/node when the configuration's build is older than its sources, so the process runs this code. */
async function ensureBuilt (): Promise<void> {
  const mtime = async (path: string): Promise<number> => await stat(path).then(s => s.mtimeMs, () => 0)
  const built = Math.min(await mtime(MAIN), await mtime(join(REPO_ROOT, 'dist/node/relay/config.js')), await mtime(join(REPO_ROOT, 'dist/node/relay/config-file.js')))
  const sources = Math.max(...await Promise.all(['relay/config.ts', 'relay/config-file.ts', 'relay/main.ts'].map(async f => await mtime(join(REPO_ROOT, f)))))
  if (built >= sources) return
  // tsc emits even when some other file of the project does not typecheck; what matters here is the relay's build
  await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.node.json'], { cwd: REPO_ROOT }).catch(() => undefined)
  expect(await mtime(join(REPO_ROOT, 'dist/node/relay/config.js'))).toBeGreaterThanOrEqual(await mtime(join(REPO_ROOT, 'relay/config.ts')))
}

describe('the relay process', () => {
  it('refuses to start on a bad value, exit code 2, naming the option and where it came from', async () => {
    await ensureBuilt()
    await withDir(async (dir) => {
      await writeFile(join(dir, 'relay.json'), JSON.stringify({ 'max-circuits-per-peer': -5 }))
      const run = async (args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number, stderr: string }> => {
        const child = promisify(execFile)(process.execPath, ['--import', pathToFileURL(join(REPO_ROOT, 'bin/polyfill.mjs')).href, MAIN, ...args], {
          cwd: dir,
          env: { PATH: process.env.PATH, ...env },
          timeout: 30_000
        })
        return await child.then(() => ({ code: 0, stderr: '' }), (err: { code: number, stderr: string }) => ({ code: err.code, stderr: err.stderr }))
      }
      const fromFile = await run(['--data-dir', dir, '--port', '0', '--tcp-port', '0'], {})
      expect(fromFile.code).toBe(2)
      expect(fromFile.stderr).toContain(`config file ${join(dir, 'relay.json')}: max-circuits-per-peer must be a positive whole number, got -5`)
      const fromEnv = await run(['--data-dir', join(dir, 'none'), '--port', '0'], { STARLING_IDLE_TIMEOUT: 'soon' })
      expect(fromEnv.code).toBe(2)
      expect(fromEnv.stderr).toContain('STARLING_IDLE_TIMEOUT: idle-timeout must be a positive whole number, got "soon"')
    })
  }, 120_000)
})
