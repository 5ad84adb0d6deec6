/**
 * Caps the inbound connections open at once from one IP address. libp2p limits only the rate of
 * new connections per host (`inboundConnectionThreshold`) and the total (`maxConnections`):
 * one host opening connections slowly could still take every slot. An IPv6 host usually has a
 * whole /64 to pick addresses from, so IPv6 addresses are counted by their /64.
 *
 * A connection counts from the moment it is accepted, before its encryption handshake (an
 * unfinished handshake holds the relay's resources too), until it closes, whether or not it was
 * ever upgraded. Connections whose address is not IP (none on the relay today) are not counted.
 */
import { isIPv4, isIPv6 } from 'node:net'
import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface'

export class ConnectionsPerIp {
  private readonly max: number
  private readonly open = new Map<string, number>()
  /** Refused connections since start (for metrics and logs). */
  refused = 0

  /** `max` connections at once per address; 0 for no cap. */
  constructor (max: number) {
    this.max = max
  }

  /** Connections open now from the address (or /64) `ip` is in. */
  count (ip: string): number {
    return this.open.get(addressKey(ip)) ?? 0
  }

  /** Decides on a new inbound connection, and counts it until it closes when accepted. */
  readonly denyInboundConnection = (maConn: MultiaddrConnection): boolean => {
    if (this.max === 0) return false
    const ip = remoteIp(maConn)
    if (ip == null) return false
    const key = addressKey(ip)
    const open = this.open.get(key) ?? 0
    if (open >= this.max) {
      this.refused++
      maConn.log('refused: %d connections open from %s, the cap is %d', open, key, this.max)
      return true
    }
    this.open.set(key, open + 1)
    maConn.addEventListener('close', () => {
      const left = (this.open.get(key) ?? 1) - 1
      if (left <= 0) this.open.delete(key)
      else this.open.set(key, left)
    }, { once: true })
    return false
  }

  /** The gater hooks this cap needs, to merge into the relay's gater. */
  gater (): Pick<ConnectionGater, 'denyInboundConnection'> {
    return { denyInboundConnection: this.denyInboundConnection }
  }
}

function remoteIp (maConn: MultiaddrConnection): string | undefined {
  const component = maConn.remoteAddr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')
  return component?.value
}

/** The key an address is counted under: the IPv4 address itself, or the /64 of an IPv6 one. */
export function addressKey (ip: string): string {
  const zoneless = ip.replace(/%.*$/, '')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(zoneless)?.[1]
  if (mapped != null) return mapped
  if (isIPv4(zoneless) || !isIPv6(zoneless)) return zoneless
  return `${expandIPv6(zoneless).slice(0, 4).join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address, as lower-case hex without leading zeros. */
function expandIPv6 (ip: string): string[] {
  const cut = ip.indexOf('::')
  const head = cut < 0 ? ip : ip.slice(0, cut)
  const tail = cut < 0 ? undefined : ip.slice(cut + 2)
  const groups = (part: string | undefined): string[] => {
    if (part == null || part === '') return []
    const out: string[] = []
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        // an embedded IPv4 address fills the last two groups
        const [a = 0, b = 0, c = 0, d = 0] = piece.split('.').map(Number)
        out.push(((a << 8) | b).toString(16), ((c << 8) | d).toString(16))
      } else {
        out.push(parseInt(piece, 16).toString(16))
      }
    }
    return out
  }
  const first = groups(head)
  const last = groups(tail)
  const zeros = tail == null ? [] : new Array<string>(8 - first.length - last.length).fill('0')
  return [...first, ...zeros, ...last]
}
