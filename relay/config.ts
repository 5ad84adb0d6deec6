/**
 * Relay configuration. Each option is taken from, in order: its command-line flag, its STARLING_*
 * environment variable, the config file, its default. An invalid value stops the relay with a
 * message that names the option and where the value came from.
 *
 * The config file is JSON, one key per option named like its flag (`{"max-reservations": 2048}`).
 * It is the file given by `--config` / STARLING_CONFIG, else `<data-dir>/relay.json` when that
 * exists: a relay's settings can live beside its key without a flag. Only one file is read.
 * See ./config-file.ts.
 */
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
// config-file.ts imports this module back; neither uses the other until loadConfig runs
import { readConfigFile } from './config-file.js'
import { meshOwner } from '../src/core/mesh/credentials.js'

/** The file read from the data directory when no --config / STARLING_CONFIG is given. */
export const DATA_DIR_CONFIG_FILE = 'relay.json'

/** The relay's private key in its data directory (hence its PeerID, and its own mesh's id). */
export const RELAY_KEY_FILE = 'relay.key'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const

/** `open`: anyone may reserve, publish and discover; `private`: members of the served meshes only (relay/mesh/). */
export const RELAY_MODES = ['open', 'private'] as const
export type RelayMode = typeof RELAY_MODES[number]
export type LogLevel = typeof LOG_LEVELS[number]

export interface RelayConfig {
  /** Address the HTTP/WebSocket and TCP listeners bind to. */
  host: string
  /** HTTP port: the PWA, the API and WebSocket connections from browsers. */
  port: number
  /** TCP port for native peers. */
  tcpPort: number
  /** Where the relay keeps its private key (and, optionally, relay.json). */
  dataDir: string
  /** The built PWA to serve. */
  appDir: string
  /** Public addresses to announce instead of the listen addresses (e.g. behind a TLS proxy). */
  announce: string[]
  /** Least severe log level written. */
  logLevel: LogLevel
  /** Circuit relay reservations held at once (one per peer). */
  maxReservations: number
  /** Relayed connections (circuits) open at once through the relay. */
  maxCircuits: number
  /** Circuits open at once that one peer is an end of, as caller or as callee. */
  maxCircuitsPerPeer: number
  /** Bytes one relayed connection may carry (both directions together) before it is closed. */
  relayDataLimit: number
  /** How long one relayed connection may last, in seconds, before it is closed. */
  relayDurationLimit: number
  /** Connections the relay accepts at once. */
  maxConnections: number
  /** Inbound connections open at once from one IP address (IPv6: one /64); 0 for no cap. */
  maxConnectionsPerIp: number
  /** New inbound connections accepted per second from one IP address. */
  newConnectionsPerHost: number
  /** Seconds a peer may send nothing before its connection is closed (libp2p peers ping every 30 s; background browser tabs may run timers only once a minute). */
  idleTimeout: number
  /** Registry entries held at once. */
  maxAgents: number
  registryCallsPerSecond: number
  /** STUN/TURN URLs browsers use to set up direct WebRTC connections (handed out by /api/v1/relay). */
  iceServers: string[]
  /** Whether the A2A HTTP bridge (`/a2a/<PeerID>`, relay/bridge/) serves the agents that opted in. */
  bridge: boolean
  /** The relay's public http(s) origin (behind a TLS proxy), for URLs in served cards; '' for the request's Host. */
  publicUrl: string
  /** Largest JSON-RPC request body the bridge reads, in bytes. */
  bridgeMaxBodyBytes: number
  /** Bridged calls one client IP address may make per second, sustained (bursts of twice as many). */
  bridgeCallsPerSecond: number
  /** Bridged SSE streams (SendStreamingMessage, SubscribeToTask) open at once, all clients together. */
  bridgeMaxStreams: number
  /** Seconds a bridged call that waits for its answer (a blocking SendMessage…) may take. */
  bridgeCallTimeout: number
  /** Who may use the relay: anyone (`open`), or members of `meshes` only (`private`). */
  mode: RelayMode
  /**
   * The meshes a private relay serves (`<owner PeerID>/<tag>`); ignored in open mode. Empty in
   * private mode: the relay serves a mesh of its own (relay/mesh/own-mesh.ts).
   */
  meshes: string[]
  /** The config file that was read, if any (absolute path). */
  configFile?: string
}

/** The options a flag, an environment variable or the config file can set. */
export type OptionKey = Exclude<keyof RelayConfig, 'configFile'>

export interface Option {
  flag: string
  env: string
  help: string
  default: string
  /** `switch`: on|off (true|false, yes|no, 1|0; a JSON boolean in the file); `url`: an http(s) URL or '' for none. */
  kind: 'string' | 'path' | 'port' | 'count' | 'list' | 'choice' | 'switch' | 'url'
  /** Smallest value a count may take (1 unless said). */
  min?: number
  /** Largest value a count may take. */
  max?: number
  choices?: readonly string[]
  /** A list flag that may also be given more than once (`--mesh A --mesh B`). */
  repeatable?: boolean
  /** The default as --help shows it, when it is worked out rather than fixed (`default` is then unused). */
  defaultText?: string
}

/** setTimeout's longest delay, in seconds: a longer time limit would fire at once. */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000)

export const OPTIONS: Record<OptionKey, Option> = {
  host: { flag: 'host', env: 'STARLING_HOST', default: '127.0.0.1', kind: 'string', help: 'address to bind (0.0.0.0 for every interface)' },
  port: { flag: 'port', env: 'STARLING_PORT', default: '8080', kind: 'port', help: 'HTTP port: PWA, API, and WebSockets for browsers' },
  tcpPort: { flag: 'tcp-port', env: 'STARLING_TCP_PORT', default: '4001', kind: 'port', help: 'TCP port for native peers' },
  dataDir: { flag: 'data-dir', env: 'STARLING_DATA_DIR', default: '.starling/relay', kind: 'path', help: `where the relay key is kept (and ${DATA_DIR_CONFIG_FILE}, read when --config is not given)` },
  appDir: { flag: 'app-dir', env: 'STARLING_APP_DIR', default: 'dist/app', kind: 'path', help: 'the built PWA to serve' },
  announce: { flag: 'announce', env: 'STARLING_ANNOUNCE', default: '', kind: 'list', help: 'comma-separated public multiaddrs to announce (e.g. /dns4/relay.example.com/tcp/443/wss)' },
  logLevel: { flag: 'log-level', env: 'STARLING_LOG_LEVEL', default: 'info', kind: 'choice', choices: LOG_LEVELS, help: `least severe log level written: ${LOG_LEVELS.join('|')}` },
  maxReservations: { flag: 'max-reservations', env: 'STARLING_MAX_RESERVATIONS', default: '4096', kind: 'count', help: 'relay reservations held at once, one per peer (about 30 KiB each)' },
  maxCircuits: { flag: 'max-circuits', env: 'STARLING_MAX_CIRCUITS', default: '4096', kind: 'count', help: 'relayed connections open at once through the relay' },
  maxCircuitsPerPeer: { flag: 'max-circuits-per-peer', env: 'STARLING_MAX_CIRCUITS_PER_PEER', default: '256', kind: 'count', help: 'relayed connections open at once that one peer is an end of (calling or called)' },
  relayDataLimit: { flag: 'relay-data-limit', env: 'STARLING_RELAY_DATA_LIMIT', default: String(128 * 1024 * 1024), kind: 'count', help: 'bytes one relayed connection may carry, both ways together, before it is closed' },
  relayDurationLimit: { flag: 'relay-duration-limit', env: 'STARLING_RELAY_DURATION_LIMIT', default: '1800', kind: 'count', max: MAX_TIMER_SECONDS, help: 'seconds one relayed connection may last before it is closed' },
  maxConnections: { flag: 'max-connections', env: 'STARLING_MAX_CONNECTIONS', default: '8192', kind: 'count', help: 'connections accepted at once' },
  maxConnectionsPerIp: { flag: 'max-connections-per-ip', env: 'STARLING_MAX_CONNECTIONS_PER_IP', default: '128', kind: 'count', min: 0, help: 'inbound connections open at once from one IP address, IPv6 by /64 (0: no cap; behind a reverse proxy every browser has the proxy\'s address)' },
  newConnectionsPerHost: { flag: 'new-connections-per-host', env: 'STARLING_NEW_CONNECTIONS_PER_HOST', default: '100', kind: 'count', help: 'new inbound connections accepted per second from one IP address (a NAT or a proxy puts many peers behind one)' },
  idleTimeout: { flag: 'idle-timeout', env: 'STARLING_IDLE_TIMEOUT', default: '120', kind: 'count', max: MAX_TIMER_SECONDS, help: 'seconds a peer may stay silent before its connection is closed (libp2p peers ping every 30 s; the relay pings no one)' },
  maxAgents: { flag: 'max-agents', env: 'STARLING_MAX_AGENTS', default: '10000', kind: 'count', help: 'registry entries held at once' },
  registryCallsPerSecond: { flag: 'registry-calls-per-second', env: 'STARLING_REGISTRY_CALLS_PER_SECOND', default: '10', kind: 'count', help: 'registry calls one peer may make per second, sustained (bursts of twice as many)' },
  iceServers: { flag: 'ice-servers', env: 'STARLING_ICE_SERVERS', default: 'stun:stun.l.google.com:19302', kind: 'list', help: 'comma-separated STUN/TURN URLs for browsers\' WebRTC ("none" for none)' },
  bridge: { flag: 'bridge', env: 'STARLING_BRIDGE', default: 'on', kind: 'switch', help: 'on|off: the A2A HTTP bridge at /a2a/<PeerID> for agents that opted in (--no-bridge is --bridge off)' },
  publicUrl: { flag: 'public-url', env: 'STARLING_PUBLIC_URL', default: '', kind: 'url', help: 'the relay\'s public origin, e.g. https://relay.example.com, for URLs in bridged agent cards (default: from the request\'s Host)' },
  bridgeMaxBodyBytes: { flag: 'bridge-max-body-bytes', env: 'STARLING_BRIDGE_MAX_BODY_BYTES', default: String(8 * 1024 * 1024), kind: 'count', help: 'largest request body the A2A bridge reads, in bytes' },
  bridgeCallsPerSecond: { flag: 'bridge-calls-per-second', env: 'STARLING_BRIDGE_CALLS_PER_SECOND', default: '20', kind: 'count', help: 'A2A bridge calls one client IP address may make per second, sustained (bursts of twice as many)' },
  bridgeMaxStreams: { flag: 'bridge-max-streams', env: 'STARLING_BRIDGE_MAX_STREAMS', default: '256', kind: 'count', help: 'A2A bridge SSE streams open at once, all clients together' },
  mode: { flag: 'mode', env: 'STARLING_MODE', default: 'open', defaultText: 'open on loopback, else private', kind: 'choice', choices: RELAY_MODES, help: 'open: anyone may reserve, publish and discover; private: only members of the served meshes. Default: open when --host is loopback (127.0.0.0/8, ::1, localhost), private on any other address' },
  meshes: { flag: 'mesh', env: 'STARLING_MESH', default: '', defaultText: 'the relay\'s own mesh', kind: 'list', repeatable: true, help: 'the meshes a private relay serves (<owner PeerID>/<tag>), comma-separated or --mesh repeated. None given: a mesh of the relay\'s own, <relay PeerID>/relay, and an admin join link for the operator at each start (also in <data-dir>/join-link.txt)' },
  bridgeCallTimeout: { flag: 'bridge-call-timeout', env: 'STARLING_BRIDGE_CALL_TIMEOUT', default: '300', kind: 'count', max: MAX_TIMER_SECONDS, help: 'seconds a bridged call that waits for the agent\'s answer may take before it is abandoned' }
}

/** The option naming the config file; it cannot be set from a file. */
export const CONFIG_OPTION = { flag: 'config', env: 'STARLING_CONFIG' } as const

/** Where a value came from, as the error message names it. */
export type ConfigSource =
  | { kind: 'flag', name: string }
  | { kind: 'env', name: string }
  | { kind: 'file', name: string }
  | { kind: 'default', name: 'default' }

/** A configuration the relay refuses to start with. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  /** The option at fault (its flag name), when one is. */
  readonly option?: string
  /** Where the bad value came from: `--flag`, `STARLING_*` or `config file PATH`. */
  readonly source?: string

  constructor (message: string, details: { option?: string, source?: string } = {}) {
    super(message)
    this.option = details.option
    this.source = details.source
  }
}

export function describeSource (source: ConfigSource): string {
  return source.kind === 'file' ? `config file ${source.name}` : source.name
}

export function usage (): string {
  const lines = [
    'Usage: starling-relay [options]',
    '',
    'Each option is taken from its flag, else its environment variable, else the config file,',
    `else its default. The config file is JSON keyed by flag name: --config, else <data-dir>/${DATA_DIR_CONFIG_FILE} if it exists.`,
    '',
    'Options (flag, environment variable, default):',
    `  --${CONFIG_OPTION.flag.padEnd(24)} ${CONFIG_OPTION.env.padEnd(32)} (none)`,
    `      JSON config file (replaces <data-dir>/${DATA_DIR_CONFIG_FILE})`
  ]
  for (const option of Object.values(OPTIONS)) {
    lines.push(`  --${option.flag.padEnd(24)} ${option.env.padEnd(32)} ${option.defaultText ?? (option.default === '' ? '(none)' : option.default)}`)
    lines.push(`      ${option.help}`)
  }
  lines.push('  --help                     show this text')
  return lines.join('\n')
}

/** Reads the configuration; throws ConfigError naming the first bad value and where it came from. */
export function loadConfig (argv: string[], env: NodeJS.ProcessEnv): RelayConfig | 'help' {
  const flags = parseFlags(argv)
  if (flags.help === true) return 'help'
  const fromFlag = (flag: string): string | undefined => {
    const value = flags[flag]
    return typeof value === 'string' ? value : undefined
  }
  const negated = (flag: string): boolean => flags[`no-${flag}`] === true

  // the data directory decides where relay.json is looked for, so the file cannot set it then
  const dataDirText = textValue('dataDir', fromFlag, env)
  const dataDirFromText = dataDirText == null ? undefined : convertText(dataDirText.raw, OPTIONS.dataDir, dataDirText.source) as string
  // an empty STARLING_CONFIG (a compose file's `${VAR:-}`) means none
  const explicitFile = fromFlag(CONFIG_OPTION.flag) ?? (env[CONFIG_OPTION.env] === '' ? undefined : env[CONFIG_OPTION.env])
  const file = explicitFile != null
    ? readConfigFile({ path: resolve(explicitFile), required: true, named: fromFlag(CONFIG_OPTION.flag) != null ? `--${CONFIG_OPTION.flag}` : CONFIG_OPTION.env })
    : readConfigFile({ path: resolve(dataDirFromText ?? OPTIONS.dataDir.default, DATA_DIR_CONFIG_FILE), required: false, named: 'data directory', forbid: ['dataDir'] })

  const out: Record<string, unknown> = {}
  const defaulted = new Set<OptionKey>()
  for (const [key, option] of Object.entries(OPTIONS) as Array<[OptionKey, Option]>) {
    const text = textValue(key, fromFlag, env, negated)
    if (text != null) {
      out[key] = convertText(text.raw, option, text.source)
      if (option.kind === 'path') out[key] = resolve(out[key] as string)
    } else if (file != null && key in file.values) {
      out[key] = file.values[key]
    } else {
      defaulted.add(key)
      out[key] = convertText(option.default, option, { kind: 'default', name: 'default' })
      if (option.kind === 'path') out[key] = resolve(out[key] as string)
    }
  }
  const config = out as unknown as RelayConfig
  // a relay anyone on the network can reach is private unless it is told otherwise
  if (defaulted.has('mode')) config.mode = defaultMode(config.host)
  if (file != null) config.configFile = file.path
  checkMeshes(config)
  return config
}

/**
 * Whether `host` is a loopback address: 127.0.0.0/8 (also IPv4-mapped), ::1, or `localhost`.
 * Only this machine reaches a relay bound there.
 */
export function isLoopback (host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  if (h === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(h)) return true
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}

/** The mode when none is set: open on loopback, private on any other address (0.0.0.0 included). */
export function defaultMode (host: string): RelayMode {
  return isLoopback(host) ? 'open' : 'private'
}

/** Every mesh id is one. A private relay given none serves its own (relay/mesh/own-mesh.ts). */
function checkMeshes (config: RelayConfig): void {
  for (const id of config.meshes) {
    try {
      meshOwner(id)
    } catch (err) {
      throw new ConfigError(`--${OPTIONS.meshes.flag}: ${(err as Error).message}`, { option: OPTIONS.meshes.flag })
    }
  }
}

function parseFlags (argv: string[]): Record<string, string | boolean | undefined> {
  try {
    const values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean' },
        [CONFIG_OPTION.flag]: { type: 'string' },
        ...Object.fromEntries(Object.values(OPTIONS).map(o => [o.flag, { type: 'string' as const, multiple: o.repeatable === true }])),
        // `--no-bridge` reads better than `--bridge off` for the one thing a switch is turned off for
        ...Object.fromEntries(Object.values(OPTIONS).filter(o => o.kind === 'switch').map(o => [`no-${o.flag}`, { type: 'boolean' as const }]))
      }
    }).values as Record<string, string | string[] | boolean | undefined>
    // a repeated list flag is one list: `--mesh A --mesh B` is `--mesh A,B`
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]))
  } catch (err) {
    // node's message names the flag ("Unknown option '--no-such-flag'"); ours says what to do
    throw new ConfigError(`${(err as Error).message} (--help lists the options)`, { source: 'command line' })
  }
}

/** An option's value from its flag, else its environment variable; undefined when neither is set. */
function textValue (key: OptionKey, fromFlag: (flag: string) => string | undefined, env: NodeJS.ProcessEnv, negated: (flag: string) => boolean = () => false): { raw: string, source: ConfigSource } | undefined {
  const option = OPTIONS[key]
  const flag = fromFlag(option.flag)
  if (flag != null) return { raw: flag, source: { kind: 'flag', name: `--${option.flag}` } }
  if (option.kind === 'switch' && negated(option.flag)) return { raw: 'off', source: { kind: 'flag', name: `--no-${option.flag}` } }
  const fromEnv = env[option.env]
  if (fromEnv != null) return { raw: fromEnv, source: { kind: 'env', name: option.env } }
  return undefined
}

/** Converts a flag's or an environment variable's text (or a default) to the option's type. */
export function convertText (raw: string, option: Option, source: ConfigSource): unknown {
  const fail = (what: string): never => { throw invalid(option, source, `${what}, got "${raw}"`) }
  switch (option.kind) {
    case 'string':
    case 'path':
      if (raw.trim() === '') throw invalid(option, source, 'must not be empty')
      return raw.trim()
    case 'list':
      if (raw.trim() === 'none') return []
      return raw.split(',').map(s => s.trim()).filter(s => s.length > 0)
    case 'choice':
      if (!(option.choices ?? []).includes(raw.trim())) fail(`must be one of ${(option.choices ?? []).join('|')}`)
      return raw.trim()
    case 'switch': {
      const value = SWITCH_WORDS[raw.trim().toLowerCase()]
      if (value == null) fail('must be on or off')
      return value
    }
    case 'url':
      return checkUrl(raw.trim(), fail)
    case 'port':
    case 'count': {
      const n = raw.trim() === '' ? NaN : Number(raw)
      checkNumber(n, option, fail)
      return n
    }
  }
}

/** Checks a JSON value from the config file against the option's type. */
export function convertJson (value: unknown, option: Option, source: ConfigSource): unknown {
  // JSON.stringify would show a number too large for JSON (1e400 parses to Infinity) as null
  const shown = typeof value === 'number' ? String(value) : JSON.stringify(value)
  const fail = (what: string): never => { throw invalid(option, source, `${what}, got ${shown}`) }
  switch (option.kind) {
    case 'string':
    case 'path':
      if (typeof value !== 'string' || value.trim() === '') fail('must be a non-empty string')
      return (value as string).trim()
    case 'list':
      if (typeof value === 'string') return convertText(value, option, source)
      if (!Array.isArray(value) || !value.every(v => typeof v === 'string')) fail('must be a list of strings')
      return (value as string[]).map(s => s.trim()).filter(s => s.length > 0)
    case 'choice':
      if (typeof value !== 'string' || !(option.choices ?? []).includes(value)) fail(`must be one of ${(option.choices ?? []).join('|')}`)
      return value
    case 'switch':
      if (typeof value === 'boolean') return value
      if (typeof value !== 'string') fail('must be true or false')
      return convertText(value as string, option, source)
    case 'url':
      if (typeof value !== 'string') fail('must be a string')
      return checkUrl((value as string).trim(), fail)
    case 'port':
    case 'count':
      if (typeof value !== 'number') fail('must be a number')
      checkNumber(value as number, option, fail)
      return value
  }
}

/** The words a switch takes, to their value. */
const SWITCH_WORDS: Record<string, boolean | undefined> = { on: true, off: false, true: true, false: false, yes: true, no: false, 1: true, 0: false }

/** An http(s) origin without a trailing slash, or '' for none. */
function checkUrl (text: string, fail: (what: string) => never): string {
  if (text === '') return ''
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return fail('must be an http(s) URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('must be an http(s) URL')
  return text.replace(/\/+$/, '')
}

function checkNumber (n: number, option: Option, fail: (what: string) => never): void {
  if (option.kind === 'port') {
    if (!Number.isInteger(n) || n < 0 || n > 65535) fail('must be a port number (0-65535)')
    return
  }
  const min = option.min ?? 1
  const max = option.max ?? Number.MAX_SAFE_INTEGER
  if (!Number.isSafeInteger(n) || n < min) fail(min === 1 ? 'must be a positive whole number' : `must be a whole number, at least ${min}`)
  if (n > max) fail(`must be at most ${max}`)
}

function invalid (option: Option, source: ConfigSource, what: string): ConfigError {
  const where = describeSource(source)
  return new ConfigError(`${where}: ${option.flag} ${what}`, { option: option.flag, source: where })
}
