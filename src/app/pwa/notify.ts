/**
 * The browser's side of ./attention.ts: the count in the title and the app badge, and system
 * notifications shown through the service worker (Android shows no `new Notification()` from a
 * page; public/sw-notify.js opens the task when one is clicked).
 */
import type { AttentionNotice } from './attention.js'
import { titleWithCount } from './attention.js'

/** Whether this browser can show notifications at all. */
export function notificationsSupported (): boolean {
  return typeof Notification !== 'undefined'
}

export function notificationsAllowed (): boolean {
  return notificationsSupported() && Notification.permission === 'granted'
}

/** Writes the count into the title and, where the platform has one, the app's badge. */
export function showCount (count: number): void {
  document.title = titleWithCount(count)
  // the Badging API exists for installed apps on desktop Chromium and some phones; elsewhere the
  // title is the count
  const badging = navigator as Navigator & { setAppBadge?: (n: number) => Promise<void>, clearAppBadge?: () => Promise<void> }
  const done = count > 0 ? badging.setAppBadge?.(count) : badging.clearAppBadge?.()
  done?.catch(() => {})
}

export async function showNotification (notice: AttentionNotice): Promise<void> {
  const options: NotificationOptions = { body: notice.body, tag: notice.tag, data: { url: notice.url }, icon: '/icons/icon-192.png', badge: '/icons/icon-192.png' }
  const registration = 'serviceWorker' in navigator ? await navigator.serviceWorker.getRegistration() : undefined
  if (registration != null) {
    await registration.showNotification(notice.title, options)
    return
  }
  // no worker (a development server): a page notification, which brings the page forward
  const notification = new Notification(notice.title, options)
  notification.onclick = () => {
    window.focus()
    window.location.hash = notice.url
    notification.close()
  }
}
