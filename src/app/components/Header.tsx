import type { ReactNode } from 'react'
import { ConnectionIndicator } from './ConnectionIndicator.js'
import { PeerIdBadge } from './PeerIdBadge.js'

/** Brand, connection indicator and our PeerID. */
export function Header (): ReactNode {
  return (
    <header className="header">
      <h1 className="brand">
        <img src="/icons/icon.svg" alt="" width="28" height="28" />
        Starling
      </h1>
      <ConnectionIndicator />
      <PeerIdBadge />
    </header>
  )
}
