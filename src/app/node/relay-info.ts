/**
 * Where the relay is: the PWA asks the origin that served it (`GET /api/v1/relay`, see
 * relay/http.ts) before every connection attempt, so a relay that restarted on a new key or
 * address is found again, and the ICE servers for WebRTC are always the relay's current ones.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { WebSockets, WebSocketsSecure } from '@multiformats/multiaddr-matcher'

/** The answer of `GET /api/v1/relay`, reduced to what this page can use. */
export interface RelayInfo {
  peerId: string
  /** WebSocket multiaddrs only (wss only on an https page), best first. */
  multiaddrs: string[]
  iceServers: RTCIceServer[]
}

export class RelayInfoSource {
  private readonly url: URL
  private readonly secureOnly: boolean
  private latest: RelayInfo | undefined

  /** `origin`: the page's own origin (`location.origin`). */
  constructor (origin: string) {
    this.url = new URL('/api/v1/relay', origin)
    // an https page may not open ws:// sockets (mixed content)
    this.secureOnly = this.url.protocol === 'https:'
  }

  /** ICE servers from the last answer; none before the first one (and none are needed then). */
  get iceServers (): RTCIceServer[] {
    return this.latest?.iceServers ?? []
  }

  async fetch (options: { signal?: AbortSignal } = {}): Promise<RelayInfo> {
    let response: Response
    try {
      response = await fetch(this.url, { signal: options.signal, cache: 'no-store', headers: { Accept: 'application/json' } })
    } catch (err) {
      throw new Error(`cannot reach ${this.url.host}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    if (!response.ok) throw new Error(`${this.url.pathname} answered HTTP ${response.status}`)
    const info = this.parse(await response.json())
    this.latest = info
    return info
  }

  private parse (body: unknown): RelayInfo {
    if (typeof body !== 'object' || body === null) throw new Error(`${this.url.pathname} did not answer a JSON object`)
    const { peerId, multiaddrs, iceServers } = body as Record<string, unknown>
    if (typeof peerId !== 'string' || !Array.isArray(multiaddrs)) throw new Error(`${this.url.pathname} answered without peerId and multiaddrs`)
    return {
      peerId,
      multiaddrs: multiaddrs.filter((a): a is string => typeof a === 'string' && this.dialable(a)),
      iceServers: Array.isArray(iceServers) ? iceServers.filter(isIceServer) : []
    }
  }

  private dialable (addr: string): boolean {
    try {
      const ma = multiaddr(addr)
      return WebSocketsSecure.matches(ma) || (!this.secureOnly && WebSockets.matches(ma))
    } catch {
      return false
    }
  }
}

function isIceServer (value: unknown): value is RTCIceServer {
  if (typeof value !== 'object' || value === null) return false
  const urls = (value as { urls?: unknown }).urls
  return typeof urls === 'string' || (Array.isArray(urls) && urls.every(u => typeof u === 'string'))
}
