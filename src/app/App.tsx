/**
 * The app shell: header, navigation and the screen the URL names. Until the peer runs, a
 * startup screen says why.
 */
import type { ReactNode } from 'react'
import { Header } from './components/Header.js'
import { Nav } from './components/Nav.js'
import { StartupScreen } from './components/StartupScreen.js'
import { PeerGate } from './node/StarlingProvider.js'
import { UpdatePrompt } from './pwa/UpdatePrompt.js'
import { useRoute } from './routes.js'
import { AgentsScreen } from './screens/AgentsScreen.js'
import { InboxScreen } from './screens/InboxScreen.js'
import { ProfileScreen } from './screens/ProfileScreen.js'
import { SendTaskScreen } from './screens/SendTaskScreen.js'
import { TasksScreen } from './screens/TasksScreen.js'
import { TaskView } from './screens/TaskView.js'

export function App (): ReactNode {
  return (
    <div className="app">
      <PeerGate fallback={<StartupScreen />}>
        <Header />
        <Nav />
        <main className="screen">
          <Screen />
        </main>
      </PeerGate>
      <UpdatePrompt />
    </div>
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
  }
}
