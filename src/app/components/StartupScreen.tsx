import type { ReactNode } from 'react'
import { useHostState } from '../node/context.js'

/** What the page shows until the peer runs. */
export function StartupScreen (): ReactNode {
  const state = useHostState()
  let body: ReactNode
  switch (state.phase) {
    case 'waiting-for-tab':
      body = <p>Starling is open in another tab of this browser. This tab takes over when that one is closed.</p>
      break
    case 'failed':
      body = (
        <>
          <p role="alert">Your peer could not start: {state.error}</p>
          <button type="button" onClick={() => { window.location.reload() }}>Try again</button>
        </>
      )
      break
    default:
      body = <p>Starting your peer…</p>
  }
  return (
    <main className="startup" data-testid="startup" data-phase={state.phase}>
      <h1 className="brand"><img src="/icons/icon.svg" alt="" width="40" height="40" /> Starling</h1>
      {body}
    </main>
  )
}
