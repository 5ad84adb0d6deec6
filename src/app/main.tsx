/**
 * The PWA's entry point: the query cache, the peer (StarlingProvider), the app shell.
 */
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { App } from './App.js'
import { loadPeerModule, StarlingProvider } from './node/StarlingProvider.js'
import './styles.css'

const queryClient = new QueryClient({
  defaultOptions: {
    // Queries read the local peer and its IndexedDB, mutations act through it: they work
    // offline too (the peer queues and retries what needs the network).
    queries: { networkMode: 'always' },
    mutations: { networkMode: 'always' }
  }
})

// the network stack downloads while the shell renders (see loadPeerModule)
void loadPeerModule()

const root = document.getElementById('root')
if (root == null) throw new Error('index.html has no #root element')

createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <StarlingProvider>
        <App />
      </StarlingProvider>
    </QueryClientProvider>
  </StrictMode>
)
