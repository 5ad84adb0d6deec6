/**
 * React context of the peer host's state. StarlingProvider fills it; components read the
 * running peer through usePeer() (only below <PeerGate>, which waits for it).
 */
import { createContext, useContext } from 'react'
import type { StarlingPeer } from '../../core/peer.js'
import type { HostState, PeerHost } from './host.js'

export const HostStateContext = createContext<HostState | null>(null)

/** The host itself, for the few actions that outlive the peer (key import, reset). */
export const PeerHostContext = createContext<PeerHost | null>(null)

export function usePeerHost (): PeerHost {
  const host = useContext(PeerHostContext)
  if (host == null) throw new Error('usePeerHost() needs a <StarlingProvider> above it')
  return host
}

export function useHostState (): HostState {
  const state = useContext(HostStateContext)
  if (state == null) throw new Error('useHostState() needs a <StarlingProvider> above it')
  return state
}

/** The running peer. Use below <PeerGate>: it renders its children only once the peer runs. */
export function usePeer (): StarlingPeer {
  const state = useHostState()
  if (state.phase !== 'running') throw new Error('usePeer() was called before the peer started (use it below <PeerGate>)')
  return state.peer
}
