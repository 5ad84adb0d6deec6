/**
 * Runs ./attention.ts for the running peer: tells it which task is on screen and when the page
 * comes to the front, writes the count into the title and badge, and opens the task a clicked
 * notification is about (the service worker asks, public/sw-notify.js).
 */
import { createContext, useContext, useEffect, useRef, useState } from 'react'
import type { ReactNode } from 'react'
import { agentName } from '../model/agents.js'
import { shortPeerId } from '../model/format.js'
import { usePeer } from '../node/context.js'
import { useKnownAgents } from '../node/hooks.js'
import { useRoute } from '../routes.js'
import { Attention } from './attention.js'
import { notificationsAllowed, showCount, showNotification } from './notify.js'

export interface AttentionCounts {
  /** Everything that waits for the person: the title's and badge's number. */
  total: number
  /** Answers to the person's own tasks not looked at yet. */
  unseenAnswers: number
}

const AttentionContext = createContext<AttentionCounts>({ total: 0, unseenAnswers: 0 })

export function useAttentionCounts (): AttentionCounts {
  return useContext(AttentionContext)
}

export function AttentionProvider ({ children }: { children: ReactNode }): ReactNode {
  const peer = usePeer()
  const agents = useKnownAgents().data
  const route = useRoute()
  const agentsRef = useRef(agents)
  const [attention, setAttention] = useState<Attention>()
  const [counts, setCounts] = useState<AttentionCounts>({ total: 0, unseenAnswers: 0 })

  useEffect(() => { agentsRef.current = agents }, [agents])

  useEffect(() => {
    const current = new Attention({
      peer,
      nameOf: (peerId) => agentName(peerId, agentsRef.current) ?? shortPeerId(peerId),
      notify: showNotification,
      visible: () => document.visibilityState === 'visible',
      allowed: notificationsAllowed,
      storage: window.localStorage,
      show: (total) => {
        showCount(total)
        setCounts({ total, unseenAnswers: current.unseenAnswers })
      }
    })
    current.start().catch((err: unknown) => { console.warn('starling: counting what waits failed', err) })
    setAttention(current)
    const onVisibility = (): void => { if (document.visibilityState === 'visible') current.onVisible() }
    const onMessage = (event: MessageEvent): void => {
      const data = event.data as { type?: unknown, url?: unknown } | undefined
      if (data?.type === 'starling:open' && typeof data.url === 'string' && data.url.startsWith('#/')) window.location.hash = data.url
    }
    document.addEventListener('visibilitychange', onVisibility)
    navigator.serviceWorker?.addEventListener('message', onMessage)
    return () => {
      current.stop()
      document.removeEventListener('visibilitychange', onVisibility)
      navigator.serviceWorker?.removeEventListener('message', onMessage)
      showCount(0)
    }
  }, [peer])

  const viewing = route.name === 'task' && route.direction === 'outbound' ? route.id : undefined
  useEffect(() => { attention?.setViewing(viewing) }, [attention, viewing])

  return <AttentionContext.Provider value={counts}>{children}</AttentionContext.Provider>
}
