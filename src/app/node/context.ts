/**
 * React context of the peer host's state. StarlingProvider fills it; components read the
 * running peer through usePeer() (only below <PeerGate>, which waits for it).
 */
import { createContext, useContext } from 'react'
import type { StarlingPeer } from '../../core/peer.js'
import type { HostState } from './host.js'

export const HostStateContext = createContext<HostState | null>(null)

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
