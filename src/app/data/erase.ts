/**
 * Erasing the browser peer: its database (identity, profile, tasks, directory, private meshes, policy) and the page's own
 * preferences in localStorage (pinned agents, added relays, unseen answers, the first visit's
 * welcome) go, so the next start is a first visit with a new PeerID. The app shell in the
 * service worker's cache stays: it holds nothing of the person's.
 */
import { deleteDB } from 'idb'
import { DB_NAME } from './schema.js'

/** Prefix of every localStorage key the app writes. */
export const PAGE_KEY_PREFIX = 'starling:'

/** Deletes the peer's database and the page's keys. Close every storage opened on it first (PeerHost.shutDownFor). */
export async function eraseBrowserPeer (name = DB_NAME): Promise<void> {
  await deleteDB(name, {
    // another tab of this origin still has it open: it closes its connection when asked
    // (idb-storage.ts's `blocking`), and the deletion goes on then
    blocked: () => { console.warn('starling: waiting for another tab to close the database') }
  })
  try {
    for (const key of Object.keys(localStorage)) {
      if (key.startsWith(PAGE_KEY_PREFIX)) localStorage.removeItem(key)
    }
  } catch {
    // storage disabled: nothing was kept there
  }
}
