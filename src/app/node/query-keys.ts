/**
 * TanStack Query keys of everything read from the peer. Every key starts with the PeerID, so
 * nothing cached for one identity is ever shown for another.
 */
import type { TaskDirection, TaskQuery } from '../../core/store/types.js'

export function queryKeys (peerId: string) {
  const all = ['starling', peerId] as const
  return {
    all,
    relay: [...all, 'relay'] as const,
    registry: [...all, 'registry'] as const,
    connections: [...all, 'connections'] as const,
    profile: [...all, 'profile'] as const,
    /** Prefix of every task list. */
    taskLists: [...all, 'tasks'] as const,
    tasks: (query: TaskQuery) => [...all, 'tasks', query] as const,
    task: (direction: TaskDirection, id: string) => [...all, 'task', direction, id] as const,
    inbox: [...all, 'inbox'] as const,
    requests: [...all, 'requests'] as const,
    policy: [...all, 'policy'] as const,
    knownAgents: [...all, 'agents', 'known'] as const,
    discover: [...all, 'agents', 'registry'] as const
  }
}
