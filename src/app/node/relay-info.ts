/**
 * Where the relays are: the PWA asks the origin that served it (`GET /api/v1/relay`, see
 * relay/http.ts), then the relays the person added, before every connection attempt, so a relay
 * that restarted on a new key or address is found again, and the ICE servers for WebRTC are
 * always the current ones of the first relay that answered.
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

  /**
   * `origin`: the relay's origin; `pageOrigin`: the page's own (`location.origin`), default the
   * same. An https page may open no ws:// socket (mixed content), whichever relay it asks.
   */
  constructor (origin: string, pageOrigin = origin) {
    this.url = new URL('/api/v1/relay', origin)
    this.secureOnly = new URL(pageOrigin).protocol === 'https:'
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

/** Time one relay has to say where it is, in ms, before the others are used without it. */
export const DEFAULT_RELAY_INFO_TIMEOUT_MS = 5_000

/** What the page last learned of one relay. */
export interface RelayReach {
  origin: string
  /** ms since the epoch */
  checkedAt: number
  peerId?: string
  error?: string
}

export interface RelayChoiceInit {
  /** The page's origin: the relay that served the app, always asked first. */
  origin: string
  /** The relays the person added, in order (src/app/data/relays.ts); read at every attempt. */
  extra: () => Iterable<string>
}

/**
 * The relays this page may use, in order of preference: its own origin's first. Before each
 * connection attempt every one is asked for its addresses (the answers are independent, so they
 * are asked at once); the peer dials them in that order and holds its reservation on the first
 * that takes it (src/core/node/relay-link.ts).
 */
export class RelayChoice {
  private readonly init: RelayChoiceInit
  private readonly sources = new Map<string, RelayInfoSource>()
  private readonly reach = new Map<string, RelayReach>()
  private iceFrom?: RelayInfoSource

  constructor (init: RelayChoiceInit) {
    this.init = init
  }

  /** The ICE servers of the first relay that answered last time. */
  get iceServers (): RTCIceServer[] {
    return this.iceFrom?.iceServers ?? []
  }

  /** What each relay answered last time, in order. */
  get reachability (): RelayReach[] {
    return this.origins().map(origin => this.reach.get(origin) ?? { origin, checkedAt: 0 })
  }

  /** The WebSocket multiaddrs of every relay that answers, in order of preference. */
  async relayAddrs (options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const origins = this.origins()
    // a relay that does not answer must not hold up the ones that do
    const signal = AbortSignal.any([...(options.signal != null ? [options.signal] : []), AbortSignal.timeout(DEFAULT_RELAY_INFO_TIMEOUT_MS)])
    const answers = await Promise.allSettled(origins.map(async origin => await this.source(origin).fetch({ signal })))
    const addrs: string[] = []
    const errors: string[] = []
    this.iceFrom = undefined
    answers.forEach((answer, i) => {
      const origin = origins[i]!
      if (answer.status === 'fulfilled') {
        this.reach.set(origin, { origin, checkedAt: Date.now(), peerId: answer.value.peerId })
        this.iceFrom ??= this.source(origin)
        addrs.push(...answer.value.multiaddrs)
      } else {
        const error = answer.reason instanceof Error ? answer.reason.message : String(answer.reason)
        this.reach.set(origin, { origin, checkedAt: Date.now(), error })
        errors.push(error)
      }
    })
    if (addrs.length === 0 && errors.length > 0) throw new Error(errors.join('; '))
    return addrs
  }

  private origins (): string[] {
    return [...new Set([this.init.origin, ...this.init.extra()])]
  }

  private source (origin: string): RelayInfoSource {
    let source = this.sources.get(origin)
    if (source == null) {
      source = new RelayInfoSource(origin, this.init.origin)
      this.sources.set(origin, source)
    }
    return source
  }
}

function isIceServer (value: unknown): value is RTCIceServer {
  if (typeof value !== 'object' || value === null) return false
  const urls = (value as { urls?: unknown }).urls
  return typeof urls === 'string' || (Array.isArray(urls) && urls.every(u => typeof u === 'string'))
}
