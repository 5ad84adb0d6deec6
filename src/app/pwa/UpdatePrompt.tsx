/**
 * Registers the service worker (vite-plugin-pwa, `registerType: 'prompt'`) and offers a reload
 * when a new version is waiting. It never reloads on its own: a page mid-task keeps running.
 */
import type { ReactNode } from 'react'
import { useRegisterSW } from 'virtual:pwa-register/react'

export function UpdatePrompt (): ReactNode {
  const { needRefresh: [needRefresh, setNeedRefresh], updateServiceWorker } = useRegisterSW({
    onRegisterError: (err: unknown) => { console.warn('starling: the service worker was not registered', err) }
  })
  if (!needRefresh) return null
  return (
    <div className="update" role="status">
      A new version of Starling is ready.
      <button type="button" onClick={() => { void updateServiceWorker(true) }}>Reload</button>
      <button type="button" className="secondary" onClick={() => { setNeedRefresh(false) }}>Later</button>
    </div>
  )
}
