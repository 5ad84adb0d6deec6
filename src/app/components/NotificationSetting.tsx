/**
 * Asking for notifications, only when the person says so: a browser that was asked on load
 * without a reason is one that blocks the site for good.
 */
import { useState } from 'react'
import type { ReactNode } from 'react'
import { notificationsSupported } from '../pwa/notify.js'

export function NotificationSetting (): ReactNode {
  const [permission, setPermission] = useState<NotificationPermission | 'unsupported'>(
    notificationsSupported() ? Notification.permission : 'unsupported'
  )
  const ask = async (): Promise<void> => { setPermission(await Notification.requestPermission()) }
  return (
    <section className="card" aria-labelledby="notifications-title" data-testid="notification-setting" data-permission={permission}>
      <h3 id="notifications-title">Notifications</h3>
      {permission === 'granted' && <p>On: a notification for every new task and every answer while Starling is in the background.</p>}
      {permission === 'default' && (
        <>
          <p className="muted">Be told of new tasks and answers while Starling is in the background.</p>
          <div className="actions"><button type="button" onClick={() => { void ask() }}>Turn on notifications</button></div>
        </>
      )}
      {permission === 'denied' && <p className="muted">Blocked for this site in the browser&apos;s settings; allow them there to be told of new tasks.</p>}
      {permission === 'unsupported' && <p className="muted">This browser cannot show notifications. The count of what waits is in the title.</p>}
    </section>
  )
}
