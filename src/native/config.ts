/**
 * `config.json` in a peer's home: `{ relay, profile: { name, description, skills } }`, and
 * optionally `mdns`, `lanPort`, `webrtc`, `iceServers`, `policy` and `rateLimit` (see StarlingConfig).
 * It is the one file a person edits by hand, so reading it checks every field and names the
 * first wrong one.
 */
import { readFile } from 'node:fs/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { InvalidInputError, StarlingError } from '../core/errors.js'
import type { AgentProfile } from '../core/a2a/binding.js'
import type { PolicyRule } from '../core/mesh/policy.js'
// a profile `init` accepts is one a relay's registry publishes: the same limits
import { MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, MAX_SKILLS, MAX_TAG_LENGTH, MAX_TAGS } from '../core/registry/card-schema.js'
import { homePaths } from './home.js'
import { writeFileAtomic } from './key-file.js'

/** The relay a new peer uses: a relay started by `npm start` on this machine. */
export const DEFAULT_RELAY = 'http://127.0.0.1:8080'

/** Most ICE servers (and URLs per server) a setting may list. */
export const MAX_ICE_SERVERS = 16

/** Longest TURN username or credential, in characters. */
export const MAX_ICE_CREDENTIAL_LENGTH = 512

/**
 * The ICE servers (STUN/TURN) for WebRTC when neither config.json nor STARLING_ICE_SERVERS names
 * any and the relay setting is a multiaddr: the public STUN server relays give browsers by
 * default. With a relay URL, the ICE servers that relay gives browsers are used instead.
 */
export const DEFAULT_ICE_SERVERS: IceServer[] = [{ urls: ['stun:stun.l.google.com:19302'] }]

/** Environment variable overriding the ICE servers: comma-separated STUN/TURN URLs, or `none`. */
export const ICE_SERVERS_ENV = 'STARLING_ICE_SERVERS'

/** A STUN or TURN server, as RTCConfiguration.iceServers takes it. */
export interface IceServer {
  urls: string | string[]
  username?: string
  credential?: string
}

/** What config.json holds. */
export interface StarlingConfig {
  /** A relay multiaddr (`/ip4/…/tcp/…/p2p/…`) or the http(s) URL of a relay. */
  relay: string
  profile: AgentProfile
  /**
   * Find peers on the local network with mDNS and let them reach us there over TCP, relay or
   * not (default true). Set false on networks you do not trust.
   */
  mdns?: boolean
  /** The TCP port peers on the LAN reach us at while mDNS is on (default 0: any free port). */
  lanPort?: number
  /**
   * Upgrade relayed connections to direct WebRTC ones (default true). WebRTC shows the remote
   * peer our IP addresses (its ICE candidates); false keeps every remote connection relayed.
   */
  webrtc?: boolean
  /** STUN/TURN servers for WebRTC: URLs or `{ urls, username, credential }`; `[]` for none. */
  iceServers?: Array<string | IceServer>
  /**
   * Who may send which tasks, first match wins (src/core/mesh/policy.ts): rules
   * `{ effect: 'allow'|'deny', from?: 'any' | { mesh?, peer? }, skill? }`. With no rule matching,
   * a peer in a mesh accepts members of its meshes only; a peer in no mesh accepts everyone.
   */
  policy?: PolicyRule[]
  /**
   * Per-sender limit of inbound tasks (default: 5 a second, bursts of 20, once the peer is in a
   * mesh or has rules; when set here, for every sender).
   */
  rateLimit?: { perSecond: number, burst: number }
}

/** config.json is missing or wrong; the message names the file and the field. */
export class ConfigError extends StarlingError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_CONFIG', options)
  }
}

const text = (max: number): z.ZodString => z.string().max(max, `must be at most ${max} characters`)
const nonEmpty = (max: number): z.ZodString => text(max).trim().min(1, 'must not be empty')

const skillSchema = z.strictObject({
  id: nonEmpty(MAX_NAME_LENGTH).regex(/^[^\s,]+$/, 'must not contain spaces or commas'),
  name: nonEmpty(MAX_NAME_LENGTH).optional(),
  description: text(MAX_DESCRIPTION_LENGTH).optional(),
  tags: z.array(nonEmpty(MAX_TAG_LENGTH)).max(MAX_TAGS, `at most ${MAX_TAGS} tags`).optional()
})

export const profileSchema = z.strictObject({
  name: nonEmpty(MAX_NAME_LENGTH),
  description: text(MAX_DESCRIPTION_LENGTH),
  skills: z.array(skillSchema).max(MAX_SKILLS, `at most ${MAX_SKILLS} skills`).refine(
    skills => new Set(skills.map(s => s.id)).size === skills.length,
    'skill ids must be unique'
  ),
  /** Reachable over HTTP through the relay's A2A bridge (`serve --bridge` sets it per run). */
  bridge: z.boolean().optional()
})

const iceUrl = z.string().regex(/^(stuns?|turns?):\S+$/i, 'must be a stun:, stuns:, turn: or turns: URL')

export const iceServerSchema = z.strictObject({
  urls: z.union([iceUrl, z.array(iceUrl).min(1).max(MAX_ICE_SERVERS)]),
  username: z.string().max(MAX_ICE_CREDENTIAL_LENGTH).optional(),
  credential: z.string().max(MAX_ICE_CREDENTIAL_LENGTH).optional()
})

/** Most policy rules config.json may hold. */
export const MAX_POLICY_RULES = 256

const policyRuleSchema = z.strictObject({
  effect: z.enum(['allow', 'deny']),
  from: z.union([
    z.literal('any'),
    z.strictObject({ mesh: z.string().min(1).max(256).optional(), peer: z.string().min(1).max(256).optional() })
      .refine(f => f.mesh != null || f.peer != null, 'must name a mesh or a peer (or be "any")')
  ]).optional(),
  skill: nonEmpty(MAX_NAME_LENGTH).optional()
})

const configSchema = z.strictObject({
  relay: z.string().refine(isRelaySetting, 'must be a relay multiaddr or an http(s) URL'),
  profile: profileSchema,
  mdns: z.boolean().optional(),
  webrtc: z.boolean().optional(),
  lanPort: z.number().int('must be a whole number').min(0).max(65535).optional(),
  iceServers: z.array(z.union([iceUrl, iceServerSchema])).max(MAX_ICE_SERVERS, `at most ${MAX_ICE_SERVERS} ICE servers`).optional(),
  policy: z.array(policyRuleSchema).max(MAX_POLICY_RULES, `at most ${MAX_POLICY_RULES} rules`).optional(),
  rateLimit: z.strictObject({ perSecond: z.number().positive().max(1e6), burst: z.number().int().min(1).max(1e6) }).optional()
})

/** The ICE servers a setting lists, each as `{ urls, … }`. */
export function iceServerList (setting: Array<string | IceServer>): IceServer[] {
  return setting.map(s => typeof s === 'string' ? { urls: [s] } : s)
}

/** Environment variables turning LAN discovery and WebRTC on or off (`on`/`off`, `1`/`0`, `true`/`false`). */
export const MDNS_ENV = 'STARLING_MDNS'
export const WEBRTC_ENV = 'STARLING_WEBRTC'

/**
 * An on/off environment variable: true, false, or undefined when unset. Throws ConfigError for
 * anything else, so a typo never silently leaves a network feature on.
 */
export function switchFromEnv (name: string, env: NodeJS.ProcessEnv = process.env): boolean | undefined {
  const value = env[name]?.trim().toLowerCase()
  if (value == null || value === '') return undefined
  if (['on', '1', 'true', 'yes'].includes(value)) return true
  if (['off', '0', 'false', 'no'].includes(value)) return false
  throw new ConfigError(`${name}: "${env[name] ?? ''}" is neither on nor off`)
}

/**
 * The ICE servers STARLING_ICE_SERVERS names (comma-separated URLs, `none` for none), or
 * undefined when it is unset. Throws ConfigError naming a bad URL.
 */
export function iceServersFromEnv (env: NodeJS.ProcessEnv = process.env): IceServer[] | undefined {
  const value = env[ICE_SERVERS_ENV]?.trim()
  if (value == null || value === '') return undefined
  if (value.toLowerCase() === 'none') return []
  const urls = value.split(',').map(u => u.trim()).filter(u => u !== '')
  for (const url of urls) {
    if (!iceUrl.safeParse(url).success) throw new ConfigError(`${ICE_SERVERS_ENV}: "${url}" is not a stun:, stuns:, turn: or turns: URL`)
  }
  return [{ urls }]
}

/** Whether `value` is a usable relay setting: an http(s) URL or a multiaddr. */
export function isRelaySetting (value: string): boolean {
  try {
    checkRelaySetting(value)
    return true
  } catch {
    return false
  }
}

/** Throws InvalidInputError unless `value` is an http(s) URL or a multiaddr. */
export function checkRelaySetting (value: string): string {
  const trimmed = value.trim()
  if (/^https?:\/\//i.test(trimmed)) {
    try {
      return new URL(trimmed).toString().replace(/\/$/, '')
    } catch (err) {
      throw new InvalidInputError(`not a valid URL: ${value}`, { cause: err })
    }
  }
  if (trimmed.startsWith('/')) {
    try {
      return multiaddr(trimmed).toString()
    } catch (err) {
      throw new InvalidInputError(`not a valid multiaddr: ${value}`, { cause: err })
    }
  }
  throw new InvalidInputError(`the relay must be a multiaddr (/ip4/…/tcp/…/p2p/…) or an http(s) URL, got "${value}"`)
}

/** Checks a profile (from flags or a file); throws InvalidInputError naming the field. */
export function checkProfile (value: unknown, source = 'profile'): AgentProfile {
  const parsed = profileSchema.safeParse(value)
  if (!parsed.success) throw new InvalidInputError(describeIssue(source, parsed.error))
  return parsed.data
}

/** Reads config.json; undefined when there is none. Throws ConfigError when it is not valid. */
export async function readConfig (home: string): Promise<StarlingConfig | undefined> {
  const path = homePaths(home).config
  let raw: string
  try {
    raw = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ConfigError(`could not read ${path}: ${(err as Error).message}`, { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  const parsed = configSchema.safeParse(json)
  if (!parsed.success) throw new ConfigError(`${path}: ${describeIssue('', parsed.error)}`)
  return parsed.data
}

/**
 * Writes config.json atomically (a crash leaves the old file or the new one, never half).
 * Settings of the file on disk that `config` does not name (mdns, lanPort, webrtc, iceServers,
 * which a person adds by hand) are kept; a key given as undefined removes its setting.
 */
export async function writeConfig (home: string, config: StarlingConfig): Promise<void> {
  const existing = await readConfig(home).catch(() => undefined)
  const checked = configSchema.parse({ ...existing, ...config })
  await writeFileAtomic(homePaths(home).config, JSON.stringify(checked, null, 2) + '\n', 0o600)
}

function describeIssue (prefix: string, error: z.ZodError): string {
  const issue = error.issues[0]
  const path = [prefix, ...(issue?.path ?? []).map(p => typeof p === 'number' ? `[${p}]` : `.${String(p)}`)]
    .join('')
    .replace(/^\./, '')
  return `${path === '' ? 'the file' : path}: ${issue?.message ?? 'invalid'}`
}
