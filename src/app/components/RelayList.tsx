/**
 * The relays this page may use: the one that served the app, then the ones the person added, in
 * the order the peer tries them (src/app/node/relay-info.ts). Each says whether it answers now
 * and which one the peer is on.
 */
import { useId, useState, useSyncExternalStore } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import { extraRelays, MAX_EXTRA_RELAYS, relayOrigin } from '../data/relays.js'
import { usePeer } from '../node/context.js'
import { useRelayHealth, useRelayStatus } from '../node/hooks.js'

/** How often each listed relay is asked whether it is up while the list is on screen, in ms. */
export const RELAY_CHECK_INTERVAL_MS = 10_000

export function RelayList (): ReactNode {
  const own = window.location.origin
  const extra = useSyncExternalStore(extraRelays.subscribe, extraRelays.get)
  const peer = usePeer()
  const status = useRelayStatus().data
  const [typed, setTyped] = useState('')
  const [error, setError] = useState<string>()
  const fieldId = useId()

  const add = (event: FormEvent): void => {
    event.preventDefault()
    try {
      const origin = relayOrigin(typed)
      if (origin === own || extra.has(origin)) throw new Error(`${new URL(origin).host} is already listed`)
      if (extra.size >= MAX_EXTRA_RELAYS) throw new Error(`at most ${MAX_EXTRA_RELAYS} relays can be added`)
      extraRelays.add(origin)
      setTyped('')
      setError(undefined)
      // a peer without a relay tries the new one now, not at its next back-off
      if (status?.state !== 'reserved') peer.reconnect()
    } catch (err) {
      setError(errorMessage(err))
    }
  }

  return (
    <article className="card" aria-labelledby="relays-title" data-testid="relay-list">
      <h3 id="relays-title">Relays</h3>
      <p className="muted">Tried in this order: the peer holds its reservation on the first that answers.</p>
      <ul className="relays">
        <RelayRow origin={own} own inUse={status?.relayPeerId} />
        {[...extra].map(origin => <RelayRow key={origin} origin={origin} inUse={status?.relayPeerId} onRemove={() => { extraRelays.delete(origin) }} />)}
      </ul>
      <form className="stack" onSubmit={add}>
        <label htmlFor={fieldId}>Add a relay</label>
        <input id={fieldId} value={typed} onChange={(e) => { setTyped(e.target.value) }} placeholder="https://relay.example" inputMode="url" autoComplete="url" />
        <div className="actions"><button type="submit" disabled={typed.trim() === ''}>Add relay</button></div>
        {error != null && <p role="alert" className="error">Not added: {error}</p>}
      </form>
    </article>
  )
}

function RelayRow ({ origin, own = false, inUse, onRemove }: { origin: string, own?: boolean, inUse?: string, onRemove?: () => void }): ReactNode {
  const health = useRelayHealth(origin, { refetchInterval: RELAY_CHECK_INTERVAL_MS })
  const host = new URL(origin).host
  const reachable = health.data != null && health.data.status !== 'stopping' && health.error == null
  const current = health.data?.peerId != null && health.data.peerId === inUse
  return (
    <li data-testid="relay-row" data-origin={origin} data-reachable={health.isPending ? 'checking' : String(reachable)} data-in-use={String(current)}>
      <strong>{host}</strong>{own && <span className="muted"> · this app&apos;s relay</span>}
      {' '}
      {health.isPending
        ? <span className="muted">checking…</span>
        : reachable
          ? <span className="badge state-completed">reachable</span>
          : <span className="badge state-failed" title={health.error != null ? errorMessage(health.error) : undefined}>unreachable</span>}
      {current && <span className="badge"> in use</span>}
      {onRemove != null && <button type="button" className="secondary small" onClick={onRemove} aria-label={`Remove the relay ${host}`}>Remove</button>}
    </li>
  )
}
