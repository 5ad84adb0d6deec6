import { useQuery } from '@tanstack/react-query'
import type { ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import { fetchRelayStatus, formatUptime } from '../model/relay-status.js'
import type { RelayStatus } from '../model/relay-status.js'
import { JoinLink } from '../components/JoinLink.js'
import { RelayList } from '../components/RelayList.js'
import { usePeerId, useRelayStatus } from '../node/hooks.js'

/** How often the view asks the relay again while it is on screen, in ms. */
export const RELAY_STATUS_INTERVAL_MS = 5_000

/** The relay's health and registry as the relay reports them: read-only. */
export function RelayScreen (): ReactNode {
  const link = useRelayStatus().data
  const peerId = usePeerId()
  const status = useQuery<RelayStatus>({
    queryKey: ['relay-status', window.location.origin],
    queryFn: async ({ signal }) => await fetchRelayStatus(window.location.origin, { signal }),
    refetchInterval: RELAY_STATUS_INTERVAL_MS
  })
  const health = status.data?.health
  return (
    <section aria-labelledby="relay-title" data-testid="relay-screen">
      <h2 id="relay-title">Relay</h2>
      <p className="muted">What the relay at <code>{window.location.host}</code> says about itself. This browser&apos;s link to it: <strong>{link?.state ?? 'unknown'}</strong>.</p>
      <RelayList />
      <JoinLink peerId={peerId} />
      {status.error != null && <p role="alert" className="error">The relay did not answer: {errorMessage(status.error)}</p>}
      {health == null
        ? status.isPending && <p className="muted">Asking the relay…</p>
        : (
          <article className="card" data-testid="relay-health" data-status={health.status}>
            <div className="card-head">
              <h3>Health</h3>
              <span className={`badge state-${health.status === 'ok' ? 'completed' : 'failed'}`} data-testid="relay-health-status">{health.status}</span>
            </div>
            {health.reasons.length > 0 && (
              <ul aria-label="Why the relay is degraded" data-testid="relay-health-reasons">
                {health.reasons.map(reason => <li key={reason}>{reason}</li>)}
              </ul>
            )}
            <dl className="facts">
              {health.peerId != null && (<><dt>Relay</dt><dd><code data-testid="relay-peer-id">{health.peerId}</code></dd></>)}
              {health.version != null && (<><dt>Version</dt><dd>{health.version}</dd></>)}
              {health.mode != null && (<><dt>Who may use it</dt><dd data-testid="relay-mode">{health.mode === 'private' ? 'members of its private meshes' : 'anyone'}</dd></>)}
              {health.uptimeSeconds != null && (<><dt>Up for</dt><dd data-testid="relay-uptime">{formatUptime(health.uptimeSeconds)}</dd></>)}
              {health.connectedPeers != null && (<><dt>Peers connected</dt><dd data-testid="relay-peers">{health.connectedPeers}</dd></>)}
              {health.reservations != null && (<><dt>Reservations</dt><dd data-testid="relay-reservations">{health.reservations}</dd></>)}
              {health.agents != null && (<><dt>Agents listed</dt><dd data-testid="relay-agents">{health.agents}</dd></>)}
            </dl>
          </article>
          )}
      {status.data != null && (
        <article className="card" aria-labelledby="registry-title">
          <h3 id="registry-title">Registry</h3>
          {status.data.registry == null
            ? <p className="muted" data-testid="relay-registry-private">This relay lists its agents only to members of its meshes: see Agents.</p>
            : status.data.registry.length === 0
            ? <p className="empty">No agent is listed.</p>
            : (
              <ul className="registry" data-testid="relay-registry">
                {status.data.registry.map(entry => (
                  <li key={entry.peerId} data-testid="relay-registry-entry" data-peer-id={entry.peerId}>
                    <strong>{entry.name}</strong> {entry.online ? <span className="badge state-completed">online</span> : <span className="badge">offline</span>}
                    {entry.description !== '' && <span className="muted"> · {entry.description}</span>}
                    <div className="muted">skills: {entry.skills.join(', ') || 'none'}{Number.isFinite(entry.expiresAt) ? ` · listed until ${new Date(entry.expiresAt).toLocaleTimeString()}` : ''}</div>
                  </li>
                ))}
              </ul>
              )}
        </article>
      )}
    </section>
  )
}
