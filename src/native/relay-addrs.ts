/**
 * Where a native peer finds its relay. The setting in config.json is either a multiaddr, used
 * as it is, or the http(s) URL of a relay, whose `/api/v1/relay` lists its current addresses.
 * The URL is asked again before every connection attempt (the relay link calls us each time),
 * so a relay that restarted with a new port or a new key is found again. The same answer lists
 * the ICE servers the relay gives browsers, which native peers then use for WebRTC too.
 */
import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { TCP } from '@multiformats/multiaddr-matcher'
import { RelayUnavailableError } from '../core/errors.js'
import { checkRelaySetting, iceServerSchema, MAX_ICE_SERVERS } from './config.js'
import type { IceServer } from './config.js'

const log = logger('starling:relay-addrs')

/** Time allowed for `GET <url>/api/v1/relay`, in ms. */
export const DEFAULT_RELAY_INFO_TIMEOUT_MS = 5_000

/** Largest `/api/v1/relay` answer read, in bytes: it lists a handful of addresses. */
export const MAX_RELAY_INFO_BYTES = 64 * 1024

/** The path of a relay's self-description, relative to its URL. */
export const RELAY_INFO_PATH = '/api/v1/relay'

export type RelayAddrs = (options: { signal: AbortSignal }) => Promise<string[]>

export interface RelayAddrsOptions {
  timeoutMs?: number
  /**
   * Told the ICE servers a relay at a URL gives browsers, each time it is asked (the same
   * servers then serve native peers' WebRTC). Never called for a multiaddr setting.
   */
  onIceServers?: (servers: IceServer[]) => void
}

/** The `relayAddrs` callback of StarlingPeerInit for a relay setting (multiaddr or URL). */
export function relayAddrsFor (setting: string, options: RelayAddrsOptions = {}): RelayAddrs {
  const relay = checkRelaySetting(setting)
  if (relay.startsWith('/')) return async () => [relay]
  const timeoutMs = options.timeoutMs ?? DEFAULT_RELAY_INFO_TIMEOUT_MS
  return async ({ signal }) => {
    const info = await fetchRelayInfo(relay, AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]))
    options.onIceServers?.(info.iceServers)
    return info.addrs
  }
}

/** The TCP multiaddrs (ending in `/p2p/<relay>`) a relay at `url` announces. */
export async function fetchTcpAddrs (url: string, signal: AbortSignal): Promise<string[]> {
  return (await fetchRelayInfo(url, signal)).addrs
}

export interface NativeRelayInfo {
  /** The TCP multiaddrs (ending in `/p2p/<relay>`) the relay announces. */
  addrs: string[]
  /** The ICE servers it gives browsers; entries that are not well-formed are left out. */
  iceServers: IceServer[]
}

/** What a relay at `url` says of itself that a native peer uses. */
export async function fetchRelayInfo (url: string, signal: AbortSignal): Promise<NativeRelayInfo> {
  // relative to the URL, so a relay behind a reverse proxy at a path prefix works too
  const infoUrl = new URL(RELAY_INFO_PATH.slice(1), url.endsWith('/') ? url : `${url}/`).toString()
  let body: unknown
  try {
    const response = await fetch(infoUrl, { signal, headers: { accept: 'application/json' } })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const text = await response.text()
    if (text.length > MAX_RELAY_INFO_BYTES) throw new Error(`the answer is larger than ${MAX_RELAY_INFO_BYTES} bytes`)
    body = JSON.parse(text)
  } catch (err) {
    throw new RelayUnavailableError(`could not ask ${infoUrl} for the relay's addresses: ${describe(err)}`, { cause: err })
  }
  const listed = (body as { multiaddrs?: unknown } | null)?.multiaddrs
  if (!Array.isArray(listed)) throw new RelayUnavailableError(`${infoUrl} did not list multiaddrs`)
  const addrs = listed.filter((a): a is string => typeof a === 'string' && isTcpAddr(a))
  if (addrs.length === 0) throw new RelayUnavailableError(`${infoUrl} lists no TCP address for native peers`)
  log('relay at %s has TCP addresses %s', url, addrs.join(', '))
  const ice = (body as { iceServers?: unknown }).iceServers
  const iceServers = Array.isArray(ice)
    ? ice.slice(0, MAX_ICE_SERVERS).flatMap(s => { const parsed = iceServerSchema.safeParse(s); return parsed.success ? [parsed.data] : [] })
    : []
  return { addrs, iceServers }
}

/** `/ip4|ip6|dns…/tcp/<port>/p2p/<id>`: a relay address a native peer can dial over TCP. */
function isTcpAddr (addr: string): boolean {
  try {
    const ma = multiaddr(addr)
    return TCP.exactMatch(ma) && ma.getComponents().some(c => c.name === 'p2p')
  } catch {
    return false
  }
}

function describe (err: unknown): string {
  if (err instanceof Error) {
    // fetch hides the reason (ECONNREFUSED, …) in `cause`
    const cause = (err.cause as { code?: string, message?: string } | undefined)
    const detail = cause?.code ?? cause?.message
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'no answer in time'
    return detail != null ? `${err.message} (${detail})` : err.message
  }
  return String(err)
}
