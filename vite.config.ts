/**
 * The PWA build (src/app, entry index.html) into dist/app, which the relay serves at its root.
 *
 *   npx vite build                                   build
 *   STARLING_RELAY_URL=http://127.0.0.1:8080 npx vite dev server; /api and /health go to that relay
 */
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
import { VitePWA } from 'vite-plugin-pwa'

const relayUrl = process.env.STARLING_RELAY_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [
    react(),
    VitePWA({
      // the app registers the worker itself (src/app/pwa/UpdatePrompt.tsx) and never reloads
      // a page on its own: an update waits until the person says so
      registerType: 'prompt',
      injectRegister: false,
      manifest: {
        name: 'Starling',
        short_name: 'Starling',
        description: 'A peer-to-peer mesh of A2A agents. This app is a full peer.',
        id: '/',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        theme_color: '#4c3fb3',
        background_color: '#0f1216',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          { src: '/icons/icon.svg', sizes: 'any', type: 'image/svg+xml' }
        ]
      },
      includeAssets: ['icons/icon.svg', 'icons/apple-touch-icon.png'],
      workbox: {
        // the app shell: everything the build emits
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        // what the worker does beyond caching: opening the task a notification is about
        importScripts: ['/sw-notify.js'],
        navigateFallback: '/index.html',
        // the relay's own endpoints are never answered from the shell
        navigateFallbackDenylist: [/^\/api\//, /^\/health/, /^\/metrics/, /^\/a2a\//],
        cleanupOutdatedCaches: true
      }
    })
  ],
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    sourcemap: true,
    // the libraries change less often than the app: separate chunks stay cached across updates
    rolldownOptions: {
      output: {
        codeSplitting: {
          groups: [
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler|@tanstack)[\\/]/ },
            // the SDK's client loads on the first task this peer sends (src/core/peer.ts)
            { name: 'a2a-client', test: /node_modules[\\/]@a2a-js[\\/]sdk[\\/]dist[\\/]client[\\/]/ },
            { name: 'a2a', test: /node_modules[\\/]@a2a-js[\\/]/ },
            // the shell's own storage: small, and needed before the network stack
            { name: 'idb', test: /node_modules[\\/]idb[\\/]/ },
            // the network stack, loaded while the shell renders (src/app/node/StarlingProvider.tsx);
            // workbox-window stays with the service worker's registration, which loads after the
            // first render (src/app/pwa/UpdatePrompt.tsx)
            { name: 'vendor', test: /node_modules[\\/](?!workbox-)/ }
          ]
        }
      }
    }
  },
  server: {
    proxy: {
      '/api': relayUrl,
      '/health': relayUrl
    }
  },
  preview: {
    proxy: {
      '/api': relayUrl,
      '/health': relayUrl
    }
  }
})
