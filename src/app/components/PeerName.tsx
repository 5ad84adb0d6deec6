import type { ReactNode } from 'react'
import { useKnownAgents } from '../node/hooks.js'
import { agentName } from '../model/agents.js'
import { shortPeerId } from '../model/format.js'

/** An agent's name from its card when we know it, else its short PeerID. */
export function PeerName ({ peerId }: { peerId: string }): ReactNode {
  const name = agentName(peerId, useKnownAgents().data)
  return <span className="peer-name" title={peerId}>{name ?? shortPeerId(peerId)}</span>
}

/** The same as a string, for accessible names. */
export function usePeerName (peerId: string): string {
  return agentName(peerId, useKnownAgents().data) ?? shortPeerId(peerId)
}
