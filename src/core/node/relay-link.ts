/**
 * Keeps a peer connected to a relay and holding a reservation on it.
 *
 * We listen on `/p2p-circuit` and dial the relay ourselves rather than listening on
 * `<relay>/p2p-circuit`: with a static relay address libp2p never re-reserves after the relay
 * connection drops, and start() throws when the relay is down (js-libp2p#3601). Once we are
 * connected, the circuit transport sees the relay's HOP protocol and reserves a slot.
 */
import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { errorMessage, RelayUnavailableError } from '../errors.js'

const log = logger('starling:relay-link')

/** First wait before redialing a relay, in ms. */
export const DEFAULT_RELAY_RETRY_MIN_MS = 500
/** Longest wait between relay dials, in ms. */
export const DEFAULT_RELAY_RETRY_MAX_MS = 30_000
/** Time allowed for one relay dial, in ms. */
export const DEFAULT_RELAY_DIAL_TIMEOUT_MS = 10_000

/**
 * Events after which our addresses may have gained or lost the relay circuit. The circuit
 * listener fires `transport:listening` as soon as the reservation is made; `self:peer:update`
 * follows a second later (libp2p debounces it), so waiting for it alone reports late.
 */
const ADDRESS_EVENTS = ['transport:listening', 'transport:close', 'self:peer:update'] as const

export type RelayState = 'connecting' | 'connected' | 'reserved' | 'offline' | 'stopped'

export interface RelayStatus {
  state: RelayState
  /** PeerID of the relay we are (or were last) connected to. */
  relayPeerId?: string
  /** The relay address we dialed, ending in `/p2p/<relay>`. */
  relayAddr?: string
  /** Why we are offline. */
  error?: string
  /** ms since the epoch of the last change */
  since: number
}

export interface RelayLinkEvents {
  status: CustomEvent<RelayStatus>
}

export interface RelayLinkInit {
  /** Where relays are, in order of preference; asked again before every attempt. */
  relayAddrs: (options: { signal: AbortSignal }) => Promise<string[]>
  retryMinMs?: number
  retryMaxMs?: number
  dialTimeoutMs?: number
}

export class RelayLink extends TypedEventEmitter<RelayLinkEvents> {
  private readonly node: Libp2p
  private readonly init: RelayLinkInit
  private current: RelayStatus = { state: 'stopped', since: Date.now() }
  private controller?: AbortController
  private wake?: () => void
  private relayPeer?: PeerId

  constructor (node: Libp2p, init: RelayLinkInit) {
    super()
    this.node = node
    this.init = init
  }

  get status (): RelayStatus {
    return this.current
  }

  /** The relay as a dialable address (`…/p2p/<relay>`), or throws when not connected. */
  relayAddress (): Multiaddr {
    if (this.current.relayAddr == null || (this.current.state !== 'connected' && this.current.state !== 'reserved')) {
      throw new RelayUnavailableError()
    }
    return multiaddr(this.current.relayAddr)
  }

  start (): void {
    if (this.controller != null) return
    this.controller = new AbortController()
    this.node.addEventListener('peer:disconnect', this.onDisconnect)
    for (const event of ADDRESS_EVENTS) this.node.addEventListener(event, this.onAddressesChanged)
    void this.run(this.controller.signal)
  }

  stop (): void {
    this.controller?.abort()
    this.controller = undefined
    this.node.removeEventListener('peer:disconnect', this.onDisconnect)
    for (const event of ADDRESS_EVENTS) this.node.removeEventListener(event, this.onAddressesChanged)
    this.wake?.()
    this.setStatus({ state: 'stopped' })
  }

  /** Skips the current back-off wait (the network came back, the app returned to the foreground). */
  reconnectNow (): void {
    this.wake?.()
  }

  /**
   * Connected to the relay but holding no slot (a private relay refused one before we showed a
   * credential for it): hang up, so the next connection asks again. The relay decides on a
   * reservation when it is made, and libp2p does not ask twice on one connection.
   */
  async retryReservation (): Promise<void> {
    if (this.current.state !== 'connected' || this.relayPeer == null) return
    log('connected to relay %p without a reservation: redialling to ask again', this.relayPeer)
    await this.node.hangUp(this.relayPeer)
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    if (this.relayPeer?.equals(evt.detail) === true) {
      log('relay %p disconnected', evt.detail)
      this.setStatus({ state: 'offline', error: 'the relay connection closed' })
      this.wake?.()
    }
  }

  private readonly onAddressesChanged = (): void => {
    const reserved = this.hasReservation()
    if (this.current.state === 'connected' && reserved) this.setStatus({ state: 'reserved' })
    else if (this.current.state === 'reserved' && !reserved) this.setStatus({ state: 'connected' })
  }

  private hasReservation (): boolean {
    const relay = this.relayPeer?.toString()
    if (relay == null) return false
    return this.node.getMultiaddrs().some(ma => ma.toString().includes(`/p2p/${relay}/p2p-circuit`))
  }

  private async run (signal: AbortSignal): Promise<void> {
    let delay = this.init.retryMinMs ?? DEFAULT_RELAY_RETRY_MIN_MS
    const maxDelay = this.init.retryMaxMs ?? DEFAULT_RELAY_RETRY_MAX_MS
    while (!signal.aborted) {
      if (this.relayPeer != null && this.node.getConnections(this.relayPeer).length > 0) {
        // still connected: wait until that changes or someone asks us to look again
        await this.sleep(undefined, signal)
        continue
      }
      this.setStatus({ state: 'connecting' })
      try {
        await this.connect(signal)
        delay = this.init.retryMinMs ?? DEFAULT_RELAY_RETRY_MIN_MS
        continue
      } catch (err) {
        if (signal.aborted) return
        log.error('could not reach a relay - %e', err)
        this.setStatus({ state: 'offline', error: errorMessage(err) })
      }
      // full jitter keeps a crowd of peers from redialing a restarted relay in lockstep
      await this.sleep(delay / 2 + Math.random() * delay / 2, signal)
      delay = Math.min(delay * 2, maxDelay)
    }
  }

  private async connect (signal: AbortSignal): Promise<void> {
    const addrs = await this.init.relayAddrs({ signal })
    if (addrs.length === 0) throw new RelayUnavailableError('no relay address is configured')
    let lastError: unknown
    for (const addr of addrs) {
      try {
        const ma = multiaddr(addr)
        const connection = await this.node.dial(ma, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.dialTimeoutMs ?? DEFAULT_RELAY_DIAL_TIMEOUT_MS)])
        })
        this.relayPeer = connection.remotePeer
        const relayAddr = ma.getComponents().some(c => c.name === 'p2p')
          ? ma.toString()
          : ma.encapsulate(`/p2p/${connection.remotePeer.toString()}`).toString()
        this.setStatus({ state: this.hasReservation() ? 'reserved' : 'connected', relayPeerId: connection.remotePeer.toString(), relayAddr })
        log('connected to relay %s', relayAddr)
        return
      } catch (err) {
        lastError = err
        log('relay %s unreachable - %e', addr, err)
      }
    }
    throw new RelayUnavailableError(`no relay could be reached: ${errorMessage(lastError)}`, { cause: lastError })
  }

  private async sleep (ms: number | undefined, signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        if (timer != null) clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.wake = undefined
        resolve()
      }
      const timer = ms == null ? undefined : setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      this.wake = done
    })
  }

  private setStatus (update: Omit<RelayStatus, 'since' | 'relayPeerId' | 'relayAddr'> & Partial<RelayStatus>): void {
    const next: RelayStatus = {
      relayPeerId: this.current.relayPeerId,
      relayAddr: this.current.relayAddr,
      ...update,
      since: Date.now()
    }
    if (next.state === this.current.state && next.relayAddr === this.current.relayAddr && next.error === this.current.error) return
    this.current = next
    this.safeDispatchEvent('status', { detail: next })
  }
}
