/**
 * "Join from your phone": a link to this relay's app that opens straight on this peer's agent,
 * as text, a copy button, the system share sheet where there is one, and a QR code to scan. The
 * relay serves the app, so its address is the link's origin: opening the link joins the same
 * mesh, and the first task from the phone goes to this browser.
 */
import type { ReactNode } from 'react'
import { href } from '../routes.js'
import { useCopy } from './use-copy.js'
import { useQrCode } from './use-qr-code.js'

/** The link another device opens to join this relay and task this peer. */
export function joinLink (origin: string, peerId: string): string {
  return `${origin}/${href({ name: 'send', peerId })}`
}

export function JoinLink ({ peerId }: { peerId: string }): ReactNode {
  const link = joinLink(window.location.origin, peerId)
  const { src: qr, error } = useQrCode(link)
  const copied = useCopy(link)
  const canShare = typeof navigator.share === 'function'

  return (
    <article className="card join" aria-labelledby="join-title" data-testid="join-link">
      <h3 id="join-title">Join from another device</h3>
      <p className="muted">Scan this on your phone, or send it the link: it opens this app on this relay, ready to send a task to this browser.</p>
      {qr != null && <img className="qr" src={qr} width={200} height={200} alt={`QR code of ${link}`} data-testid="join-qr" />}
      <p><a href={link} data-testid="join-url">{link}</a></p>
      <div className="actions">
        <button type="button" onClick={copied.copy}>{copied.state === 'copied' ? 'Copied' : 'Copy link'}</button>
        {canShare && <button type="button" onClick={() => { navigator.share({ title: 'Join me on Starling', url: link }).catch(() => {}) }}>Share…</button>}
      </div>
      {copied.state === 'failed' && <p role="alert" className="error">Cannot copy here: select the link instead.</p>}
      {error != null && <p role="alert" className="error">{error}</p>}
    </article>
  )
}
