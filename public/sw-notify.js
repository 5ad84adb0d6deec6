/* global self */
// Loaded into the service worker that vite-plugin-pwa generates (vite.config.ts, workbox
// `importScripts`). A click on one of Starling's notifications (src/app/pwa/notify.ts) brings
// the app forward on the task it is about, opening it when no window is left.
self.addEventListener('notificationclick', (event) => {
  event.notification.close()
  const hash = event.notification.data && typeof event.notification.data.url === 'string' ? event.notification.data.url : ''
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true })
    const client = windows[0]
    if (client != null) {
      // the page changes its own hash (src/app/pwa/AttentionProvider.tsx): a navigation from
      // here would reload it, and restart its peer
      client.postMessage({ type: 'starling:open', url: hash })
      await client.focus()
      return
    }
    await self.clients.openWindow(new URL('/' + hash, self.registration.scope).href)
  })())
})
