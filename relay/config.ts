/**
 * Relay configuration: command-line flags over STARLING_* environment variables over defaults.
 * An invalid value stops the relay with a message that names it.
 */
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'

export interface RelayConfig {
  /** Address the HTTP/WebSocket and TCP listeners bind to. */
  host: string
  /** HTTP port: the PWA, the API and WebSocket connections from browsers. */
  port: number
  /** TCP port for native peers. */
  tcpPort: number
  /** Where the relay keeps its private key. */
  dataDir: string
  /** The built PWA to serve. */
  appDir: string
  /** Public addresses to announce instead of the listen addresses (e.g. behind a TLS proxy). */
  announce: string[]
  /** Circuit relay reservations held at once. */
  maxReservations: number
  /** Bytes one relayed connection may carry (both directions together) before it is closed. */
  relayDataLimit: number
  /** How long one relayed connection may last, in seconds, before it is closed. */
  relayDurationLimit: number
  /** Connections the relay accepts at once. */
  maxConnections: number
  /** New inbound connections accepted per second from one IP address. */
  newConnectionsPerHost: number
  /** Seconds a peer may send nothing before its connection is closed (libp2p peers ping every 30 s; background browser tabs may run timers only once a minute). */
  idleTimeout: number
  /** Registry entries held at once. */
  maxAgents: number
  /** STUN/TURN URLs browsers use to set up direct WebRTC connections (handed out by /api/v1/relay). */
  iceServers: string[]
}

interface Option {
  flag: string
  env: string
  help: string
  default: string
  kind: 'string' | 'port' | 'count' | 'list'
}

export const OPTIONS: Record<keyof RelayConfig, Option> = {
  host: { flag: 'host', env: 'STARLING_HOST', default: '127.0.0.1', kind: 'string', help: 'address to bind (0.0.0.0 for every interface)' },
  port: { flag: 'port', env: 'STARLING_PORT', default: '8080', kind: 'port', help: 'HTTP port: PWA, API, and WebSockets for browsers' },
  tcpPort: { flag: 'tcp-port', env: 'STARLING_TCP_PORT', default: '4001', kind: 'port', help: 'TCP port for native peers' },
  dataDir: { flag: 'data-dir', env: 'STARLING_DATA_DIR', default: '.starling/relay', kind: 'string', help: 'where the relay key is kept' },
  appDir: { flag: 'app-dir', env: 'STARLING_APP_DIR', default: 'dist/app', kind: 'string', help: 'the built PWA to serve' },
  announce: { flag: 'announce', env: 'STARLING_ANNOUNCE', default: '', kind: 'list', help: 'comma-separated public multiaddrs to announce (e.g. /dns4/relay.example.com/tcp/443/wss)' },
  maxReservations: { flag: 'max-reservations', env: 'STARLING_MAX_RESERVATIONS', default: '4096', kind: 'count', help: 'relay reservations held at once (about 30 KiB each)' },
  relayDataLimit: { flag: 'relay-data-limit', env: 'STARLING_RELAY_DATA_LIMIT', default: String(128 * 1024 * 1024), kind: 'count', help: 'bytes one relayed connection may carry, both ways together, before it is closed' },
  relayDurationLimit: { flag: 'relay-duration-limit', env: 'STARLING_RELAY_DURATION_LIMIT', default: '1800', kind: 'count', help: 'seconds one relayed connection may last before it is closed' },
  maxConnections: { flag: 'max-connections', env: 'STARLING_MAX_CONNECTIONS', default: '8192', kind: 'count', help: 'connections accepted at once' },
  newConnectionsPerHost: { flag: 'new-connections-per-host', env: 'STARLING_NEW_CONNECTIONS_PER_HOST', default: '100', kind: 'count', help: 'new inbound connections accepted per second from one IP address (a NAT or a proxy puts many peers behind one)' },
  idleTimeout: { flag: 'idle-timeout', env: 'STARLING_IDLE_TIMEOUT', default: '120', kind: 'count', help: 'seconds a peer may stay silent before its connection is closed (libp2p peers ping every 30 s; the relay pings no one)' },
  maxAgents: { flag: 'max-agents', env: 'STARLING_MAX_AGENTS', default: '10000', kind: 'count', help: 'registry entries held at once' },
  iceServers: { flag: 'ice-servers', env: 'STARLING_ICE_SERVERS', default: 'stun:stun.l.google.com:19302', kind: 'list', help: 'comma-separated STUN/TURN URLs for browsers\' WebRTC ("none" for none)' }
}

export class ConfigError extends Error {}

export function usage (): string {
  const lines = ['Usage: starling-relay [options]', '', 'Options (flag, environment variable, default):']
  for (const option of Object.values(OPTIONS)) {
    lines.push(`  --${option.flag.padEnd(22)} ${option.env.padEnd(30)} ${option.default === '' ? '(none)' : option.default}`)
    lines.push(`      ${option.help}`)
  }
  lines.push('  --help                 show this text')
  return lines.join('\n')
}

/** Reads the configuration; throws ConfigError naming the first bad value. */
export function loadConfig (argv: string[], env: NodeJS.ProcessEnv): RelayConfig | 'help' {
  const parsed = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean' },
      ...Object.fromEntries(Object.values(OPTIONS).map(o => [o.flag, { type: 'string' as const }]))
    }
  })
  if (parsed.values.help === true) return 'help'
  const out: Record<string, unknown> = {}
  for (const [key, option] of Object.entries(OPTIONS)) {
    const fromFlag = (parsed.values as Record<string, string | boolean | undefined>)[option.flag]
    const raw = typeof fromFlag === 'string' ? fromFlag : env[option.env] ?? option.default
    const source = typeof fromFlag === 'string' ? `--${option.flag}` : env[option.env] != null ? option.env : 'default'
    out[key] = convert(raw, option, source)
  }
  const config = out as unknown as RelayConfig
  config.dataDir = resolve(config.dataDir)
  config.appDir = resolve(config.appDir)
  return config
}

function convert (raw: string, option: Option, source: string): unknown {
  switch (option.kind) {
    case 'string':
      if (raw.trim() === '') throw new ConfigError(`${source}: ${option.flag} must not be empty`)
      return raw.trim()
    case 'list':
      if (raw.trim() === 'none') return []
      return raw.split(',').map(s => s.trim()).filter(s => s.length > 0)
    case 'port': {
      const n = Number(raw)
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${source}: ${option.flag} must be a port number (0-65535), got "${raw}"`)
      return n
    }
    case 'count': {
      const n = Number(raw)
      if (!Number.isSafeInteger(n) || n < 1) throw new ConfigError(`${source}: ${option.flag} must be a positive whole number, got "${raw}"`)
      return n
    }
  }
}
