/**
 * The one component that owns the peer: it starts the PeerHost when mounted and stops it when
 * unmounted, connects the peer's events to the query cache, and brings the peer back online
 * when the page returns to the foreground. Everything below reads the peer through the hooks
 * in ./hooks.ts; no component touches libp2p.
 */
import { useEffect, useState, useSyncExternalStore } from 'react'
import type { ReactNode } from 'react'
import { useQueryClient } from '@tanstack/react-query'
import type { StarlingPeer } from '../../core/peer.js'
import { openIdbStorage } from '../data/idb-storage.js'
import { HostStateContext, PeerHostContext, useHostState } from './context.js'
import type * as PeerModule from './create-peer.js'
import { exposeDebugHandle } from './debug.js'
import { bridgePeerToQueries } from './events.js'
import { PeerHost } from './host.js'

/** Held by the tab that runs the peer of this origin. */
export const PEER_LOCK_NAME = 'starling-peer'

let peerModule: Promise<typeof PeerModule> | undefined

/**
 * Starts downloading the network stack (libp2p, the A2A SDK: most of the app's bytes). The app
 * shell renders without it, as PWAs do: main.tsx calls this before the first render, so both
 * travel at once, and the shell is on screen while the peer's code is still arriving.
 */
export async function loadPeerModule (): Promise<typeof PeerModule> {
  peerModule ??= import('./create-peer.js')
  return await peerModule
}

export function createDefaultHost (): PeerHost {
  return new PeerHost({
    openStorage: async () => await openIdbStorage(),
    createPeer: async (storage) => await (await loadPeerModule()).createBrowserPeer(storage, window.location.origin),
    lockName: PEER_LOCK_NAME
  })
}

export function StarlingProvider ({ children, host: given }: { children: ReactNode, host?: PeerHost }): ReactNode {
  const [host] = useState(() => given ?? createDefaultHost())
  const state = useSyncExternalStore(host.subscribe, host.getState)
  const queryClient = useQueryClient()
  const peer = state.phase === 'running' ? state.peer : undefined

  useEffect(() => {
    host.start()
    return () => { host.stop() }
  }, [host])
  useEffect(() => peer == null ? undefined : bridgePeerToQueries(peer, queryClient), [peer, queryClient])
  useEffect(() => peer == null ? undefined : reconnectOnReturn(peer), [peer])
  useEffect(() => peer == null ? undefined : exposeDebugHandle(peer), [peer])

  return (
    <PeerHostContext.Provider value={host}>
      <HostStateContext.Provider value={state}>{children}</HostStateContext.Provider>
    </PeerHostContext.Provider>
  )
}

/** Renders `children` once the peer runs, `fallback` until then. */
export function PeerGate ({ children, fallback }: { children: ReactNode, fallback: ReactNode }): ReactNode {
  const state = useHostState()
  return state.phase === 'running' ? children : fallback
}

/**
 * Phones suspend background tabs and drop their sockets: when the page is shown again, or the
 * network comes back, redial the relay and retry waiting tasks at once instead of after back-off.
 */
function reconnectOnReturn (peer: StarlingPeer): () => void {
  const onVisible = (): void => { if (document.visibilityState === 'visible') peer.reconnect() }
  const onShow = (): void => { peer.reconnect() }
  document.addEventListener('visibilitychange', onVisible)
  window.addEventListener('pageshow', onShow)
  window.addEventListener('online', onShow)
  return () => {
    document.removeEventListener('visibilitychange', onVisible)
    window.removeEventListener('pageshow', onShow)
    window.removeEventListener('online', onShow)
  }
}
