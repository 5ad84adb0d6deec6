/**
 * Erasing the browser peer: its database (identity, profile, tasks, directory) goes, so the next
 * start is a first visit with a new PeerID. The app shell in the service worker's cache stays:
 * it holds nothing of the person's.
 */
import { deleteDB } from 'idb'
import { DB_NAME } from './schema.js'

/** Deletes the peer's database. Close every storage opened on it first (PeerHost.shutDownFor). */
export async function eraseIdbStorage (name = DB_NAME): Promise<void> {
  await deleteDB(name, {
    // another tab of this origin still has it open: it closes its connection when asked
    // (idb-storage.ts's `blocking`), and the deletion goes on then
    blocked: () => { console.warn('starling: waiting for another tab to close the database') }
  })
}
