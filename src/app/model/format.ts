/**
 * Small pure helpers for showing peers and times.
 */
import { isAgentUrl } from '../../core/tasks/http-agents.js'

/** The last six characters of a PeerID: the part that tells Ed25519 PeerIDs apart (they all start 12D3KooW). */
export function peerTail (peerId: string): string {
  return peerId.slice(-6)
}

/** A PeerID short enough for a list: `12D3Ko…a1b2c3`; for an HTTP agent (its card URL), its host. */
export function shortPeerId (peerId: string): string {
  if (isAgentUrl(peerId)) return hostOf(peerId)
  return peerId.length <= 14 ? peerId : `${peerId.slice(0, 6)}…${peerTail(peerId)}`
}

function hostOf (url: string): string {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' })

/** A moment (ms since the epoch, or an ISO string) in the reader's locale. */
export function formatTime (when: number | string | undefined): string {
  if (when == null) return ''
  const date = new Date(when)
  return Number.isNaN(date.getTime()) ? '' : dateTime.format(date)
}

/** The machine-readable form of a moment, for `<time dateTime>`. */
export function isoTime (when: number | string | undefined): string | undefined {
  if (when == null) return undefined
  const date = new Date(when)
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}
