/**
 * Feeds TanStack Query from the peer's events (StarlingPeerEvents in src/core/peer.ts). Values
 * the event carries whole (relay status, connections, profile, registry status, directory) are
 * written into the cache; task changes update the task and mark the lists stale, which makes
 * the visible ones read the store again.
 */
import type { QueryClient } from '@tanstack/react-query'
import type { StarlingPeer, StarlingPeerEvents } from '../../core/peer.js'
import { queryKeys } from './query-keys.js'

type Handlers = { [K in keyof StarlingPeerEvents]: (evt: StarlingPeerEvents[K]) => void }

/** Subscribes the query cache to `peer`; returns the unsubscribe function. */
export function bridgePeerToQueries (peer: StarlingPeer, client: QueryClient): () => void {
  const keys = queryKeys(peer.peerId)
  const handlers: Handlers = {
    relay: (evt) => { client.setQueryData(keys.relay, evt.detail) },
    connections: (evt) => { client.setQueryData(keys.connections, evt.detail) },
    profile: (evt) => { client.setQueryData(keys.profile, evt.detail) },
    registry: (evt) => {
      client.setQueryData(keys.registry, evt.detail)
      // we just (re)published: the registry has changed at least by our own entry
      if (evt.detail.expiresAt != null) void client.invalidateQueries({ queryKey: keys.discover })
    },
    agents: () => {
      client.setQueryData(keys.knownAgents, peer.knownAgents())
    },
    task: (evt) => {
      const record = evt.detail
      client.setQueryData(keys.task(record.direction, record.id), record)
      void client.invalidateQueries({ queryKey: keys.taskLists })
      if (record.direction === 'inbound') {
        void client.invalidateQueries({ queryKey: keys.inbox })
        void client.invalidateQueries({ queryKey: keys.requests })
      }
    },
    inbound: () => { void client.invalidateQueries({ queryKey: keys.inbox }) },
    request: () => { void client.invalidateQueries({ queryKey: keys.requests }) },
    policy: (evt) => { client.setQueryData(keys.policy, evt.detail) }
  }
  const names = Object.keys(handlers) as Array<keyof StarlingPeerEvents>
  for (const name of names) peer.addEventListener(name, handlers[name] as EventListener)
  // whatever changed before we listened is read again
  void client.invalidateQueries({ queryKey: keys.all })
  return () => {
    for (const name of names) peer.removeEventListener(name, handlers[name] as EventListener)
  }
}
