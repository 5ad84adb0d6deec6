/**
 * Screens live in the URL's hash (`#/tasks/outbound/<id>`), so a reload, the back button and a
 * home-screen launch land where the person was, and the relay needs no routes of its own.
 *
 * An invite to a private mesh is `#join=<token>` (the form src/core/mesh/credentials.ts and the
 * CLI's links use): the token stays in the fragment, which the browser never sends to the relay.
 */
import { useSyncExternalStore } from 'react'
import type { TaskDirection } from '../core/store/types.js'

export type Route =
  | { name: 'agents' }
  | { name: 'send', peerId: string }
  | { name: 'tasks' }
  | { name: 'task', direction: TaskDirection, id: string }
  | { name: 'inbox' }
  | { name: 'profile' }
  | { name: 'relay' }
  | { name: 'join', token: string }

export function parseRoute (hash: string): Route {
  if (hash.startsWith('#join=')) return { name: 'join', token: safeDecode(hash.slice('#join='.length)) }
  const parts = hash.replace(/^#\/?/, '').split('/').map(p => safeDecode(p))
  const [first, second, third] = parts
  switch (first) {
    case 'agents':
      return second != null && second !== '' ? { name: 'send', peerId: second } : { name: 'agents' }
    case 'tasks':
      if ((second === 'inbound' || second === 'outbound') && third != null && third !== '') return { name: 'task', direction: second, id: third }
      return { name: 'tasks' }
    case 'inbox': return { name: 'inbox' }
    case 'profile': return { name: 'profile' }
    case 'relay': return { name: 'relay' }
    default: return { name: 'agents' }
  }
}

export function href (route: Route): string {
  switch (route.name) {
    case 'agents': return '#/agents'
    case 'send': return `#/agents/${encodeURIComponent(route.peerId)}`
    case 'tasks': return '#/tasks'
    case 'task': return `#/tasks/${route.direction}/${encodeURIComponent(route.id)}`
    case 'inbox': return '#/inbox'
    case 'profile': return '#/profile'
    case 'relay': return '#/relay'
    case 'join': return `#join=${encodeURIComponent(route.token)}`
  }
}

export function navigate (route: Route): void {
  window.location.hash = href(route)
}

function subscribe (onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange)
  return () => { window.removeEventListener('hashchange', onChange) }
}

function currentHash (): string {
  return window.location.hash
}

export function useRoute (): Route {
  return parseRoute(useSyncExternalStore(subscribe, currentHash))
}

function safeDecode (part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}
