import type { ReactNode } from 'react'
import type { RelayState } from '../../core/node/relay-link.js'
import { useRegistryStatus, useRelayHealth, useRelayStatus } from '../node/hooks.js'

/** How long what the relay said of its mode is trusted, in ms. */
const MODE_STALE_MS = 60_000

const RELAY_LABELS: Record<RelayState, string> = {
  connecting: 'relay: connecting…',
  connected: 'relay: connected',
  reserved: 'relay: reserved',
  offline: 'relay: offline',
  stopped: 'relay: stopped'
}

/** The relay link's state (reserved = reachable by other peers) and whether our card is published. */
export function ConnectionIndicator (): ReactNode {
  const relay = useRelayStatus().data
  const registry = useRegistryStatus().data
  const state = relay?.state ?? 'connecting'
  // connected without a slot: on a private relay, that is what a page that joined none of its
  // meshes gets, and the person should know why (the relay says its mode in /health)
  const health = useRelayHealth(window.location.origin, { enabled: state === 'connected', staleTime: MODE_STALE_MS })
  const reason = state === 'offline' && relay?.error != null
    ? ` (${relay.error})`
    : state === 'connected' && health.data?.mode === 'private' && health.data.peerId === relay?.relayPeerId
      ? ' (a private relay: only members of its meshes get a slot; open an invite link to join)'
      : ''
  const title = relay?.relayPeerId != null ? `Relay ${relay.relayPeerId}` : undefined

  let card: { state: 'published' | 'error' | 'pending', label: string }
  if (registry?.error != null) card = { state: 'error', label: `Card not published: ${registry.error}` }
  else if (registry?.expiresAt != null && state === 'reserved') card = { state: 'published', label: 'Card published' }
  else card = { state: 'pending', label: 'Card not published yet' }

  return (
    <div className="indicator" role="status" aria-live="polite">
      <span className={`relay relay-${state}`} data-testid="relay-status" data-state={state} title={title}>
        <span className="dot" aria-hidden="true" />
        {RELAY_LABELS[state]}{reason}
      </span>
      <span className={`registry registry-${card.state}`} data-testid="registry-status" data-state={card.state}>{card.label}</span>
    </div>
  )
}
