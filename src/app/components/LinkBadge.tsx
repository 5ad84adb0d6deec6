import type { ReactNode } from 'react'
import { useConnections } from '../node/hooks.js'
import { LINK_LABELS, linkTo } from '../model/agents.js'

/** How we are connected to `peerId` right now: direct WebRTC, relayed, or not at all. */
export function LinkBadge ({ peerId }: { peerId: string }): ReactNode {
  const kind = linkTo(peerId, useConnections().data)
  return <span className={`link link-${kind}`} data-testid="agent-link" data-kind={kind}>{LINK_LABELS[kind]}</span>
}
