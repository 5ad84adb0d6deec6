/**
 * Upgrades relayed connections to direct WebRTC ones, between any two peers that do WebRTC
 * (browsers, and native peers on node-datachannel): browsers cannot hole-punch TCP and WebRTC
 * crosses NATs, so the relayed circuit is used as the signalling channel for a WebRTC dial to
 * the same peer (`<relay>/p2p-circuit/webrtc/p2p/<peer>`). Only the side that opened the
 * circuit dials, so two peers never race to build two WebRTC connections to each other; a peer
 * announces that it can be dialled so by the WebRTC signalling protocol in identify.
 */
import { logger } from '@libp2p/logger'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import type { Connection, IdentifyResult, Libp2p } from '@libp2p/interface'
import type { RelayLink } from './relay-link.js'

const log = logger('starling:direct-upgrade')

/** Protocol a peer announces when it can be reached over WebRTC. */
export const WEBRTC_SIGNALING_PROTOCOL = '/webrtc-signaling/0.0.1'

/** Time allowed for one WebRTC upgrade attempt, in ms (ICE on a LAN takes well under a second). */
export const DEFAULT_UPGRADE_TIMEOUT_MS = 8_000

/** Attempts per round; about 1 in 15 first WebRTC dials needs a second try. */
export const DEFAULT_UPGRADE_ATTEMPTS = 2

/**
 * Waits before further rounds while the peer is still only relayed, in ms. The first is short:
 * a round that fails at once (the relay link between states, another attempt under way) or on
 * one unlucky ICE exchange is worth repeating while the person still looks at "relayed"; the
 * later ones back off, for a peer whose network truly blocks WebRTC.
 */
export const DEFAULT_UPGRADE_RETRY_DELAYS_MS = [3_000, 15_000, 60_000, 300_000]

export type ConnectionKind = 'direct' | 'webrtc' | 'relayed'

/** How a connection reaches the remote: WebRTC, relayed through a circuit, or another direct transport. */
export function connectionKind (connection: Connection): ConnectionKind {
  if (WebRTC.matches(connection.remoteAddr)) return 'webrtc'
  if (connection.limits != null || connection.remoteAddr.toString().includes('/p2p-circuit')) return 'relayed'
  return 'direct'
}

export interface DirectUpgraderInit {
  attempts?: number
  timeoutMs?: number
  retryDelaysMs?: number[]
}

export class DirectUpgrader {
  private readonly node: Libp2p
  private readonly relay: RelayLink
  private readonly attempts: number
  private readonly timeoutMs: number
  private readonly retryDelaysMs: number[]
  private readonly inProgress = new Set<string>()
  private readonly retries = new Map<string, ReturnType<typeof setTimeout>>()
  private running = false

  constructor (node: Libp2p, relay: RelayLink, init: DirectUpgraderInit = {}) {
    this.node = node
    this.relay = relay
    this.attempts = init.attempts ?? DEFAULT_UPGRADE_ATTEMPTS
    this.timeoutMs = init.timeoutMs ?? DEFAULT_UPGRADE_TIMEOUT_MS
    this.retryDelaysMs = init.retryDelaysMs ?? DEFAULT_UPGRADE_RETRY_DELAYS_MS
  }

  start (): void {
    this.running = true
    this.node.addEventListener('peer:identify', this.onIdentify)
    this.node.addEventListener('connection:close', this.onClose)
  }

  stop (): void {
    this.running = false
    this.node.removeEventListener('peer:identify', this.onIdentify)
    this.node.removeEventListener('connection:close', this.onClose)
    for (const timer of this.retries.values()) clearTimeout(timer)
    this.retries.clear()
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { connection, protocols, peerId } = evt.detail
    if (connectionKind(connection) !== 'relayed' || connection.direction !== 'outbound') return
    if (!protocols.includes(WEBRTC_SIGNALING_PROTOCOL)) return
    void this.upgradeWithRetries(peerId.toString(), 0)
  }

  /**
   * A WebRTC connection went (the remote left it, ICE failed, or the connector closed one that
   * could no longer open streams) while the circuit we opened is still there: upgrade again, as
   * after identify, or the pair would stay relayed until the circuit itself is replaced.
   */
  private readonly onClose = (evt: CustomEvent<Connection>): void => {
    const closed = evt.detail
    if (!this.running || connectionKind(closed) !== 'webrtc') return
    const peerId = closed.remotePeer.toString()
    const ours = this.node.getConnections().some(c => c.remotePeer.toString() === peerId && c.status === 'open' &&
      connectionKind(c) === 'relayed' && c.direction === 'outbound')
    if (ours && !this.hasDirect(peerId)) void this.upgradeWithRetries(peerId, 0)
  }

  /** One round of attempts now; if it fails while the peer stays relayed, another round later. */
  private async upgradeWithRetries (peerId: string, round: number): Promise<void> {
    if (await this.upgrade(peerId)) return
    const delay = this.retryDelaysMs[round]
    if (delay == null || !this.running || this.retries.has(peerId)) return
    this.retries.set(peerId, setTimeout(() => {
      this.retries.delete(peerId)
      if (this.running && this.hasRelayed(peerId) && !this.hasDirect(peerId)) void this.upgradeWithRetries(peerId, round + 1)
    }, delay))
  }

  /** Dials `peerId` over WebRTC through the relay unless a direct connection already exists. */
  async upgrade (peerId: string): Promise<boolean> {
    if (this.inProgress.has(peerId)) return false
    this.inProgress.add(peerId)
    try {
      for (let attempt = 1; attempt <= this.attempts && this.running; attempt++) {
        if (this.hasDirect(peerId)) return true
        let target
        try {
          target = this.relay.relayAddress().encapsulate(`/p2p-circuit/webrtc/p2p/${peerId}`)
        } catch {
          return false
        }
        try {
          const connection = await this.node.dial(target, { signal: AbortSignal.timeout(this.timeoutMs) })
          log('direct WebRTC connection to %s (attempt %d)', peerId, attempt)
          return connectionKind(connection) === 'webrtc'
        } catch (err) {
          log('WebRTC upgrade to %s failed (attempt %d) - %e', peerId, attempt, err)
        }
      }
      return false
    } finally {
      this.inProgress.delete(peerId)
    }
  }

  private hasRelayed (peerId: string): boolean {
    return this.node.getConnections().some(c => c.remotePeer.toString() === peerId && c.status === 'open' && connectionKind(c) === 'relayed')
  }

  private hasDirect (peerId: string): boolean {
    return this.node.getConnections().some(c => c.remotePeer.toString() === peerId && c.status === 'open' && connectionKind(c) === 'webrtc')
  }
}
