import { useEffect, useState } from 'react'
import type { ReactNode } from 'react'
import { usePeerId } from '../node/hooks.js'
import { shortPeerId } from '../model/format.js'

/** Our PeerID, short; a click copies the whole of it. */
export function PeerIdBadge (): ReactNode {
  const peerId = usePeerId()
  const [copied, setCopied] = useState<'yes' | 'failed' | undefined>()

  useEffect(() => {
    if (copied == null) return
    const timer = setTimeout(() => { setCopied(undefined) }, 2000)
    return () => { clearTimeout(timer) }
  }, [copied])

  const copy = (): void => {
    navigator.clipboard.writeText(peerId).then(() => { setCopied('yes') }, () => { setCopied('failed') })
  }

  return (
    <button type="button" className="peer-id" data-testid="peer-id" data-peer-id={peerId} title={peerId} onClick={copy}
      aria-label={`Our PeerID ${peerId}, copy`}>
      <span className="muted">You </span><code>{shortPeerId(peerId)}</code>
      <span className="muted" aria-live="polite">{copied === 'yes' ? ' copied' : copied === 'failed' ? ' copy failed' : ''}</span>
    </button>
  )
}
