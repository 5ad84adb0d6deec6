/**
 * Static checks that keep the deployment files honest against the relay itself: the Dockerfile,
 * .dockerignore, deploy/ (compose.yaml, starling-relay.service, Caddyfile, nginx.conf) and
 * docs/deploy.md. Nothing is built or started: the files are read and compared with the relay's
 * option table (./config.ts), its defaults, and how package.json runs the built relay.
 *
 * It lives in relay/ because vitest.config.ts collects src/ and relay/ tests only.
 */
import { describe, expect, it } from 'vitest'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, posix, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { OPTIONS, RELAY_KEY_FILE, loadConfig } from './config.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

const FILES = {
  dockerfile: 'Dockerfile',
  dockerignore: '.dockerignore',
  compose: 'deploy/compose.yaml',
  unit: 'deploy/starling-relay.service',
  caddyfile: 'deploy/Caddyfile',
  nginx: 'deploy/nginx.conf',
  guide: 'docs/deploy.md'
} as const

function read (path: string): string {
  return readFileSync(join(ROOT, path), 'utf8')
}

const text = Object.fromEntries(Object.entries(FILES).map(([key, path]) => [key, read(path)])) as Record<keyof typeof FILES, string>

const options = Object.values(OPTIONS)

/**
 * Every `{ flag: '…', env: 'STARLING_…' }` pair in relay/config.ts: the option table, and any
 * option declared beside it (such as the one naming a config file).
 */
function declaredOptions (): Array<{ flag: string, env: string }> {
  const source = read('relay/config.ts')
  const pairs = [...source.matchAll(/\bflag:\s*'([a-z][a-z0-9-]*)',\s*env:\s*'(STARLING_[A-Z0-9_]+)'/g)].map(m => ({ flag: m[1]!, env: m[2]! }))
  // the parse must see at least the table itself
  for (const option of options) {
    if (!pairs.some(p => p.flag === option.flag && p.env === option.env)) throw new Error(`relay/config.ts: --${option.flag} not found by the parse of the option table`)
  }
  return pairs
}

const declared = declaredOptions()
const ENV_VARS = new Set(declared.map(o => o.env))
const RELAY_FLAGS = new Set([...declared.map(o => o.flag), 'help'])
const DEFAULT_PORT = Number(OPTIONS.port.default)
const DEFAULT_TCP_PORT = Number(OPTIONS.tcpPort.default)
const DEFAULT_IDLE_TIMEOUT = Number(OPTIONS.idleTimeout.default)

/**
 * Long flags of other programs that the files use. A `--flag` in them is either one of the
 * relay's options or one of these; a misspelt relay option is neither.
 */
const OTHER_TOOLS_FLAGS: Record<string, string> = {
  import: 'node --import (the polyfill)',
  'no-audit': 'npm',
  'no-fund': 'npm',
  'ignore-scripts': 'npm',
  omit: 'npm prune --omit=dev',
  from: 'Dockerfile COPY --from',
  interval: 'Dockerfile HEALTHCHECK',
  timeout: 'Dockerfile HEALTHCHECK',
  'start-period': 'Dockerfile HEALTHCHECK',
  retries: 'Dockerfile HEALTHCHECK',
  build: 'docker compose up --build',
  rm: 'docker run --rm',
  restart: 'docker run --restart',
  name: 'docker run --name, starling init --name',
  relay: 'starling init --relay',
  now: 'systemctl enable --now',
  standalone: 'certbot',
  webroot: 'certbot'
}

/** The way package.json runs the built relay: `node --import ./bin/polyfill.mjs dist/node/relay/main.js`. */
function relayScript (): { importFlag: string, polyfill: string, entry: string } {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts
  const words = (scripts.relay ?? '').split(/\s+/)
  expect(words.slice(0, 2), 'package.json scripts.relay starts `node --import`').toEqual(['node', '--import'])
  const [, importFlag, polyfill, entry] = words as [string, string, string, string]
  return { importFlag, polyfill: posix.normalize(polyfill), entry: posix.normalize(entry) }
}

/** `KEY=value` assignments of STARLING_* variables, in shell, env-file, unit and Dockerfile syntax. */
function assignments (source: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const match of source.matchAll(/\b(STARLING_[A-Z0-9_]+)=([^\s`'"\\]*)/g)) out.push([match[1]!, match[2]!])
  // YAML: `STARLING_X: value`
  for (const match of source.matchAll(/^\s*(STARLING_[A-Z0-9_]+):\s*(\S.*?)\s*$/gm)) out.push([match[1]!, match[2]!.replace(/^(["'])(.*)\1$/, '$2')])
  return out
}

/** Compose's `${NAME…}` interpolation, with the example domain. */
function interpolate (value: string): string {
  return value.replace(/\$\{[A-Z_]+[^}]*\}/g, 'relay.example.com')
}

function withoutHashComments (source: string): string {
  return source.split('\n').filter(line => !/^\s*#/.test(line)).map(line => line.replace(/\s+#.*$/, '')).join('\n')
}

/** The text between `open` (ending in `{`) and its matching `}`. */
function block (source: string, open: RegExp): string | undefined {
  const match = open.exec(source)
  if (match == null) return undefined
  let depth = 1
  const start = match.index + match[0].length
  for (let i = start; i < source.length; i++) {
    if (source[i] === '{') depth++
    else if (source[i] === '}' && --depth === 0) return source.slice(start, i)
  }
  return undefined
}

/** nginx time: `3600s`, `60m`, `1h`, `90` (seconds). */
function nginxSeconds (value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value)
  if (match == null) throw new Error(`not an nginx time: ${value}`)
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd' ?? 's']
  return Number(match[1]) * unit
}

interface Instruction { op: string, args: string }

/** A Dockerfile's instructions, comments dropped and continuation lines joined, split by stage. */
function dockerStages (source: string): Instruction[][] {
  const logical: string[] = []
  let current = ''
  for (const line of source.split('\n')) {
    if (/^\s*#/.test(line)) continue
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' '
      continue
    }
    current += line
    if (current.trim() !== '') logical.push(current.trim())
    current = ''
  }
  const stages: Instruction[][] = []
  for (const line of logical) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!
    if (op!.toUpperCase() === 'ARG' && stages.length === 0) continue
    if (op!.toUpperCase() === 'FROM') stages.push([])
    stages.at(-1)?.push({ op: op!.toUpperCase(), args: args! })
  }
  return stages
}

function dockerEnv (stage: Instruction[]): Map<string, string> {
  const env = new Map<string, string>()
  for (const { args } of stage.filter(i => i.op === 'ENV')) {
    for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g)) env.set(match[1]!, match[2]!)
  }
  return env
}

/** A systemd unit: section → key → values, in order. */
function unitFile (source: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let section: Map<string, string[]> | undefined
  for (const raw of source.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header != null) {
      section = new Map()
      sections.set(header[1]!, section)
      continue
    }
    const [, key, value] = /^([A-Za-z]+)=(.*)$/.exec(line) ?? []
    if (key == null || section == null) throw new Error(`not a unit file line: ${raw}`)
    section.set(key, [...section.get(key) ?? [], value!])
  }
  return sections
}

describe('deployment files name only what the relay has', () => {
  it('every STARLING_* variable exists in relay/config.ts', () => {
    for (const [key, path] of Object.entries(FILES)) {
      const unknown = [...new Set(text[key as keyof typeof FILES].match(/\bSTARLING_[A-Z0-9_]+\b/g) ?? [])].filter(v => !ENV_VARS.has(v))
      expect(unknown, `${path} names variables relay/config.ts does not have`).toEqual([])
    }
  })

  it('every --flag is a relay option or a known flag of another tool', () => {
    for (const [key, path] of Object.entries(FILES)) {
      const flags = [...text[key as keyof typeof FILES].matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map(m => m[1]!)
      const unknown = [...new Set(flags)].filter(f => !RELAY_FLAGS.has(f) && OTHER_TOOLS_FLAGS[f] == null)
      expect(unknown, `${path} uses flags that are not relay options (another tool's? add it to OTHER_TOOLS_FLAGS)`).toEqual([])
    }
  })

  it('every STARLING_* value they set is one the relay accepts', () => {
    for (const [key, path] of Object.entries(FILES)) {
      for (const [name, raw] of assignments(text[key as keyof typeof FILES])) {
        const value = interpolate(raw)
        if (value === '' || value.startsWith('<')) continue
        expect(() => loadConfig([], { [name]: value }), `${path}: ${name}=${raw}`).not.toThrow()
        if (name === OPTIONS.announce.env) {
          for (const addr of value.split(',')) expect(() => multiaddr(addr), `${path}: ${addr} is a multiaddr`).not.toThrow()
        }
      }
    }
  })

  it('the ports they set are the defaults the proxies and firewall rules assume', () => {
    for (const [key, path] of Object.entries(FILES)) {
      for (const [name, value] of assignments(text[key as keyof typeof FILES])) {
        if (name === OPTIONS.port.env) expect(Number(value), `${path}: ${name}`).toBe(DEFAULT_PORT)
        if (name === OPTIONS.tcpPort.env) expect(Number(value), `${path}: ${name}`).toBe(DEFAULT_TCP_PORT)
        if (name === OPTIONS.announce.env) {
          // the wss address is the proxy's 443, the other one the relay's own TCP port
          for (const addr of interpolate(value).split(',')) {
            expect(addr, `${path}: ${addr}`).toMatch(new RegExp(`^/dns[46]?/[^/]+/tcp/(443/wss|${DEFAULT_TCP_PORT})$`))
          }
        }
      }
    }
  })

  it('the guide lists every limit with its flag, variable and default', () => {
    for (const option of options.filter(o => o.kind === 'count')) {
      const row = text.guide.split('\n').find(line => line.startsWith(`| \`--${option.flag}\` |`))
      expect(row, `docs/deploy.md has a limits row for --${option.flag}`).toBeDefined()
      const cells = row!.split('|').map(c => c.trim())
      expect(cells[2]).toBe(`\`${option.env}\``)
      expect(cells[3]!.split(' ')[0], `the default of --${option.flag}`).toBe(option.default)
    }
  })

  it('the guide announces the wss address for browsers and the TCP one for native peers, and checks /health and /metrics', () => {
    expect(text.guide).toContain('/dns4/relay.example.com/tcp/443/wss')
    expect(text.guide).toContain(`/dns4/relay.example.com/tcp/${DEFAULT_TCP_PORT}`)
    expect(text.guide).toContain('/health')
    expect(text.guide).toContain('/metrics')
  })

  it('the guide names the key file the relay keeps, and links only files that exist', () => {
    expect(read('relay/relay.ts'), 'relay/relay.ts keeps its key in the data directory').toContain('join(config.dataDir, RELAY_KEY_FILE)')
    expect(text.guide).toContain(RELAY_KEY_FILE)
    for (const match of text.guide.matchAll(/\]\((\.\.\/[^)#]+)\)/g)) {
      expect(existsSync(resolve(ROOT, 'docs', match[1]!)), `docs/deploy.md links ${match[1]}`).toBe(true)
    }
  })
})

describe('Dockerfile', () => {
  const stages = dockerStages(text.dockerfile)
  const runtime = stages.at(-1) ?? []
  const workdir = runtime.filter(i => i.op === 'WORKDIR').at(-1)?.args
  const env = dockerEnv(runtime)

  it('builds in one stage and runs in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    const build = stages.slice(0, -1).flat().filter(i => i.op === 'RUN').map(i => i.args).join('\n')
    expect(build).toMatch(/npm (ci|install)\b/)
    expect(build).toContain('npm run build')
    // the runtime stage installs nothing: it takes the built files and pruned dependencies
    expect(runtime.filter(i => i.op === 'RUN').map(i => i.args).join('\n')).not.toMatch(/npm (ci|install|run)/)
  })

  it('installs with the repository\'s .npmrc', () => {
    if (!existsSync(join(ROOT, '.npmrc'))) return
    const copies = stages[0]!.map(i => i.op === 'COPY' ? i.args : i.op === 'RUN' && /npm (ci|install)/.test(i.args) ? '<install>' : '').filter(Boolean)
    const install = copies.indexOf('<install>')
    expect(copies.slice(0, install).some(c => /(^|\s)\.npmrc(\s|$)/.test(c)), '.npmrc is copied before npm ci').toBe(true)
  })

  it('runs the built entry with the polyfill, as package.json does', () => {
    const { importFlag, polyfill, entry } = relayScript()
    const json = (op: string): string[] => {
      const args = runtime.filter(i => i.op === op).at(-1)?.args
      return args == null ? [] : JSON.parse(args) as string[]
    }
    const command = [...json('ENTRYPOINT'), ...json('CMD')]
    expect(command).toEqual(['node', importFlag, `./${polyfill}`, entry])
    expect(workdir).toBeDefined()
    const copied = runtime.filter(i => i.op === 'COPY').map(i => i.args.split(/\s+/).at(-1)!).map(d => posix.normalize(posix.join(workdir!, d)))
    for (const needed of [polyfill, entry.split('/').slice(0, 2).join('/'), 'node_modules', 'dist/app']) {
      expect(copied.some(dest => posix.join(workdir!, needed).startsWith(dest)), `the runtime stage copies ${needed}`).toBe(true)
    }
    expect(existsSync(join(ROOT, polyfill))).toBe(true)
    expect(existsSync(join(ROOT, entry.replace(/^dist\/node\//, '').replace(/\.js$/, '.ts'))), `${entry} is built from a source file`).toBe(true)
  })

  it('serves the app it copies, listens outside the container and keeps its data in a volume', () => {
    expect(env.get(OPTIONS.host.env)).toBe('0.0.0.0')
    expect(env.get(OPTIONS.appDir.env)).toBe(posix.join(workdir!, 'dist/app'))
    const dataDir = env.get(OPTIONS.dataDir.env)
    expect(dataDir).toBeDefined()
    const volumes = runtime.filter(i => i.op === 'VOLUME').flatMap(i => JSON.parse(i.args) as string[])
    expect(volumes).toContain(dataDir)
  })

  it('exposes the default ports and checks /health', () => {
    const exposed = runtime.filter(i => i.op === 'EXPOSE').flatMap(i => i.args.split(/\s+/)).map(p => Number(p.replace(/\/tcp$/, '')))
    expect(exposed.sort()).toEqual([DEFAULT_PORT, DEFAULT_TCP_PORT].sort())
    const health = runtime.find(i => i.op === 'HEALTHCHECK')?.args ?? ''
    expect(health).toContain('/health')
    expect(health).toContain(`|| ${DEFAULT_PORT})`)
  })

  it('runs as a user other than root', () => {
    const user = runtime.filter(i => i.op === 'USER').at(-1)?.args
    expect(user).toBeDefined()
    expect(user).not.toMatch(/^(root|0)(:|$)/)
  })

  it('.dockerignore keeps out local state and build output, and keeps what the build reads', () => {
    const ignored = text.dockerignore.split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
    for (const path of ['node_modules', 'dist', '.git', '.starling']) expect(ignored).toContain(path)
    const needed = ['package.json', 'package-lock.json', '.npmrc', 'index.html', 'vite.config.ts', 'tsconfig.base.json', 'tsconfig.node.json', 'tsconfig.app.json', 'src', 'relay', 'bench', 'bin', 'public']
    for (const path of needed) expect(ignored, `the build needs ${path}`).not.toContain(path)
  })
})

describe('deploy/compose.yaml', () => {
  const compose = withoutHashComments(text.compose)
  const dataDir = dockerEnv(dockerStages(text.dockerfile).at(-1) ?? []).get(OPTIONS.dataDir.env)

  it('builds the Dockerfile from the repository', () => {
    expect(compose).toMatch(/context:\s*\.\.\s*\n\s*dockerfile:\s*Dockerfile\b/)
    expect(existsSync(join(ROOT, 'deploy', '..', 'Dockerfile'))).toBe(true)
  })

  it('publishes the TCP port for native peers but not the HTTP port', () => {
    expect(compose).toContain(`"${DEFAULT_TCP_PORT}:${DEFAULT_TCP_PORT}"`)
    expect(compose).not.toMatch(new RegExp(`["\\s]${DEFAULT_PORT}:\\d+`))
    expect(compose).toContain('"443:443"')
  })

  it('keeps the relay\'s data directory and Caddy\'s certificates in volumes', () => {
    expect(compose).toContain(`relay-data:${dataDir!}`)
    expect(compose).toMatch(/caddy-data:\/data/)
    expect(compose).toMatch(/\.\/Caddyfile:\/etc\/caddy\/Caddyfile/)
  })

  it('points Caddy at the relay\'s HTTP port and announces wss on 443 and the TCP port', () => {
    expect(compose).toMatch(new RegExp(`RELAY_UPSTREAM:\\s*relay:${DEFAULT_PORT}\\b`))
    const announce = assignments(compose).find(([name]) => name === OPTIONS.announce.env)?.[1]
    expect(announce).toBeDefined()
    expect(interpolate(announce!).split(',')).toEqual(['/dns4/relay.example.com/tcp/443/wss', `/dns4/relay.example.com/tcp/${DEFAULT_TCP_PORT}`])
  })

  it('gives the relay time to stop on SIGTERM', () => {
    expect(compose).toMatch(/stop_signal:\s*SIGTERM/)
    expect(compose).toMatch(/stop_grace_period:\s*\d+s/)
  })
})

describe('deploy/Caddyfile', () => {
  const caddy = withoutHashComments(text.caddyfile)

  it('proxies every path, WebSockets on "/" included, to the relay\'s HTTP port', () => {
    const proxies = caddy.split('\n').map(l => l.trim()).filter(l => l.startsWith('reverse_proxy'))
    expect(proxies).toHaveLength(1)
    const [, first] = proxies[0]!.split(/\s+/)
    // no path matcher (or the catch-all one): a matcher such as /api/* would leave out the WebSocket upgrade on /
    const upstream = first === '/*' || first === '*' ? proxies[0]!.split(/\s+/)[2] : first
    expect(upstream).toMatch(new RegExp(`:${DEFAULT_PORT}\\}?$`))
    expect(caddy).not.toMatch(/^\s*(handle|handle_path|route)\s+\/(?!\*)/m)
  })

  it('sets no proxy timeout shorter than the relay\'s idle timeout', () => {
    for (const match of caddy.matchAll(/\b(read_timeout|write_timeout|stream_timeout)\s+(\d+)(s|m|h)?/g)) {
      const seconds = Number(match[2]) * { s: 1, m: 60, h: 3600 }[match[3] as 's' | 'm' | 'h' ?? 's']
      expect(seconds, match[0]).toBeGreaterThan(DEFAULT_IDLE_TIMEOUT)
    }
  })
})

describe('deploy/nginx.conf', () => {
  const nginx = withoutHashComments(text.nginx)
  const tls = block(nginx, /server\s*\{(?=[^}]*listen\s+443\s+ssl)/)
  const root = tls == null ? undefined : block(tls, /location\s+\/\s*\{/)

  it('proxies / on the TLS server to the relay\'s HTTP port', () => {
    expect(tls, 'a server listening on 443 ssl').toBeDefined()
    expect(root, 'a `location /` in it').toBeDefined()
    const target = /proxy_pass\s+http:\/\/([^/;\s]+)/.exec(root!)?.[1]
    expect(target).toBeDefined()
    const upstream = block(nginx, new RegExp(`upstream\\s+${target!}\\s*\\{`))
    const server = upstream == null ? target! : /server\s+(\S+?);/.exec(upstream)?.[1]
    expect(server).toBe(`127.0.0.1:${DEFAULT_PORT}`)
  })

  it('passes the WebSocket upgrade through', () => {
    expect(root).toMatch(/proxy_http_version\s+1\.1;/)
    expect(root).toMatch(/proxy_set_header\s+Upgrade\s+\$http_upgrade;/)
    expect(root).toMatch(/proxy_set_header\s+Connection\s+\$connection_upgrade;/)
    expect(root).toMatch(/proxy_set_header\s+Host\s+\$host;/)
    const map = block(nginx, /map\s+\$http_upgrade\s+\$connection_upgrade\s*\{/)
    expect(map).toMatch(/default\s+upgrade;/)
  })

  it('waits longer than the relay\'s idle timeout on a quiet connection', () => {
    for (const directive of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const value = new RegExp(`${directive}\\s+(\\S+);`).exec(root!)?.[1]
      expect(value, directive).toBeDefined()
      expect(nginxSeconds(value!), directive).toBeGreaterThan(DEFAULT_IDLE_TIMEOUT)
    }
  })
})

describe('deploy/starling-relay.service', () => {
  const unit = unitFile(text.unit)
  const service = unit.get('Service') ?? new Map<string, string[]>()
  const one = (key: string): string | undefined => service.get(key)?.at(-1)
  const environment = new Map((service.get('Environment') ?? []).map(e => e.split('=', 2) as [string, string]))

  it('runs the built entry with the polyfill, from the working directory', () => {
    const { importFlag, polyfill, entry } = relayScript()
    const dir = one('WorkingDirectory')
    expect(dir).toMatch(/^\//)
    const words = one('ExecStart')!.split(/\s+/)
    expect(words[0]).toMatch(/^\/\S*\/node$/)
    expect(words.slice(1)).toEqual([importFlag, posix.join(dir!, polyfill), posix.join(dir!, entry)])
    expect(environment.get(OPTIONS.appDir.env)).toBe(posix.join(dir!, 'dist/app'))
  })

  it('keeps the data directory in its StateDirectory', () => {
    const state = one('StateDirectory')
    expect(state).toBeDefined()
    expect(environment.get(OPTIONS.dataDir.env)).toMatch(new RegExp(`^(/var/lib|%S)/${state!}$`))
  })

  it('runs unprivileged and hardened', () => {
    expect(one('DynamicUser') === 'yes' || (one('User') != null && one('User') !== 'root')).toBe(true)
    expect(one('NoNewPrivileges')).toBe('yes')
    expect(one('ProtectSystem')).toBe('strict')
    expect(one('CapabilityBoundingSet')).toBe('')
    // V8's JIT needs writable and executable memory
    expect(one('MemoryDenyWriteExecute')).not.toBe('yes')
  })

  it('restarts after a crash, reads STARLING_* settings from a file, and stops with SIGTERM and a timeout', () => {
    expect(['on-failure', 'always', 'on-abnormal']).toContain(one('Restart'))
    expect(one('EnvironmentFile')).toMatch(/^-?\//)
    expect(one('KillSignal') ?? 'SIGTERM').toBe('SIGTERM')
    expect(Number(one('TimeoutStopSec')?.replace(/s$/, ''))).toBeGreaterThan(0)
    expect(unit.get('Install')?.get('WantedBy')).toContain('multi-user.target')
  })
})
