/**
 * Closes connections on which the remote has sent nothing for a while.
 *
 * A dead peer (a laptop that slept, a phone that lost its network, a relay that was killed)
 * sends no FIN: its connection would stay open for ever. libp2p's connection monitor finds them
 * by opening a ping stream on every connection at every interval, which on a relay with
 * thousands of peers is most of its idle CPU. This watches the raw connection instead, under
 * encryption, so it covers every transport and costs no traffic: yamux answers and sends
 * keep-alive pings every 30 s (js-libp2p and go-libp2p alike), and those are what it hears.
 * (yamux's own keep-alive never closes a connection whose pings go unanswered.)
 */
import type { ConnectionGater, MultiaddrConnection, Startable } from '@libp2p/interface'

export class SilentPeerReaper implements Startable {
  private readonly timeoutMs: number
  private readonly lastHeard = new Map<MultiaddrConnection, number>()
  private timer?: ReturnType<typeof setInterval>

  constructor (timeoutMs: number) {
    this.timeoutMs = timeoutMs
  }

  /** Connections watched now. */
  get size (): number {
    return this.lastHeard.size
  }

  start (): void {
    this.timer = setInterval(() => { this.sweep() }, Math.max(1000, Math.round(this.timeoutMs / 6)))
    // a sweep alone must not keep a Node process alive
    const timer = this.timer as { unref?: () => void }
    timer.unref?.()
  }

  stop (): void {
    clearInterval(this.timer)
    this.lastHeard.clear()
  }

  /** Starts watching a connection, once its encryption and muxer listen to it. */
  watch (maConn: MultiaddrConnection): void {
    this.lastHeard.set(maConn, Date.now())
    maConn.addEventListener('message', this.onMessage)
    maConn.addEventListener('close', this.onClose)
  }

  private readonly onMessage = (evt: Event): void => {
    this.lastHeard.set(evt.target as MultiaddrConnection, Date.now())
  }

  private readonly onClose = (evt: Event): void => {
    this.lastHeard.delete(evt.target as MultiaddrConnection)
  }

  private sweep (): void {
    const cutoff = Date.now() - this.timeoutMs
    for (const [maConn, heard] of this.lastHeard) {
      if (heard >= cutoff) continue
      this.lastHeard.delete(maConn)
      maConn.abort(new Error(`nothing heard from the peer for ${Math.round(this.timeoutMs / 1000)} s`))
    }
  }
}


/** A connection gater that hands every upgraded connection, both ways, to `reaper`. */
export function watchedBy (reaper: SilentPeerReaper, gater: ConnectionGater = {}): ConnectionGater {
  return {
    ...gater,
    denyInboundUpgradedConnection: async (peer, maConn) => {
      if (await gater.denyInboundUpgradedConnection?.(peer, maConn) === true) return true
      reaper.watch(maConn)
      return false
    },
    denyOutboundUpgradedConnection: async (peer, maConn) => {
      if (await gater.denyOutboundUpgradedConnection?.(peer, maConn) === true) return true
      reaper.watch(maConn)
      return false
    }
  }
}
