/**
 * The app shell: header, navigation and the screen the URL names. Until the peer runs, a
 * startup screen says why.
 *
 * Only the default screen (Agents) is in the first download; the others load on demand and are
 * fetched in the background once the peer runs (./screens/lazy.ts). The service worker's
 * registration (./pwa/UpdatePrompt.tsx, with workbox-window) loads after the first render.
 */
import { lazy, Suspense, useEffect } from 'react'
import type { ReactNode } from 'react'
import { Header } from './components/Header.js'
import { Nav } from './components/Nav.js'
import { StartupScreen } from './components/StartupScreen.js'
import { Welcome } from './components/Welcome.js'
import { PeerGate } from './node/StarlingProvider.js'
import { AttentionProvider } from './pwa/AttentionProvider.js'
import { useRoute } from './routes.js'
import { AgentsScreen } from './screens/AgentsScreen.js'
import { InboxScreen, preloadScreens, ProfileScreen, RelayScreen, SendTaskScreen, TasksScreen, TaskView } from './screens/lazy.js'

const UpdatePrompt = lazy(async () => ({ default: (await import('./pwa/UpdatePrompt.js')).UpdatePrompt }))
// only an invite link opens it: not worth a place in the preloaded screens
const JoinMeshScreen = lazy(async () => ({ default: (await import('./screens/JoinMeshScreen.js')).JoinMeshScreen }))

export function App (): ReactNode {
  return (
    <div className="app">
      <PeerGate fallback={<StartupScreen />}>
        <AttentionProvider>
          <Header />
          <Nav />
          <main className="screen">
            <InsecureNotice />
            <Welcome />
            <Suspense fallback={<p className="muted">Loading…</p>}>
              <Screen />
            </Suspense>
          </main>
          <PreloadScreens />
        </AttentionProvider>
      </PeerGate>
      <Suspense fallback={null}>
        <UpdatePrompt />
      </Suspense>
    </div>
  )
}

/**
 * Plain http on a network address is no secure context: the browser turns off the service worker
 * (offline use, installing), notifications, the clipboard and WebCrypto (key backup). Tasks still
 * work; the person is told what is missing and how to get it, rather than finding out later.
 */
function InsecureNotice (): ReactNode {
  if (window.isSecureContext) return null
  return (
    <p className="card warn" role="note" data-testid="insecure-notice">
      This page came over plain http from a network address, which browsers do not trust: offline use, installing,
      notifications, copying and key backup are off. Open the relay through https (a TLS proxy in front of it) or on
      localhost to have them.
    </p>
  )
}

function Screen (): ReactNode {
  const route = useRoute()
  switch (route.name) {
    case 'agents': return <AgentsScreen />
    case 'send': return <SendTaskScreen key={route.peerId} peerId={route.peerId} />
    case 'tasks': return <TasksScreen />
    case 'task': return <TaskView key={`${route.direction}/${route.id}`} direction={route.direction} id={route.id} />
    case 'inbox': return <InboxScreen />
    case 'profile': return <ProfileScreen />
    case 'relay': return <RelayScreen />
    case 'join': return <JoinMeshScreen key={route.token} token={route.token} />
  }
}

/** Once the peer runs (and the browser is idle), fetches the other screens in the background. */
function PreloadScreens (): null {
  useEffect(() => {
    if (typeof requestIdleCallback !== 'function') {
      const timer = setTimeout(preloadScreens, 1_000)
      return () => { clearTimeout(timer) }
    }
    const id = requestIdleCallback(preloadScreens, { timeout: 2_000 })
    return () => { cancelIdleCallback(id) }
  }, [])
  return null
}
