/**
 * PeerStorage over IndexedDB (with `idb`): the browser peer's identity, profile, tasks, agent
 * directory, private meshes and policy, kept across reloads. See ./schema.ts for the stores and indexes.
 */
import { openDB } from 'idb'
import type { MeshData, MeshStore } from '../../core/mesh/store.js'
import { compareRecords, matchesQuery } from '../../core/store/types.js'
import type { AgentDirectoryStore, KnownAgent, PeerStorage, TaskDirection, TaskQuery, TaskRecord, TaskRecordStore, ValueStore } from '../../core/store/types.js'
import { DB_NAME, DB_VERSION, SINGLETON_KEY, TASK_INDEXES, upgrade } from './schema.js'
import type { StarlingDatabase, StarlingDB } from './schema.js'

const DIRECTIONS: readonly TaskDirection[] = ['inbound', 'outbound']

/**
 * The browser's storage: PeerStorage plus the MeshStore the peer is created with (meshes are not
 * part of core's PeerStorage: a native peer keeps them in a file of their own).
 */
export interface BrowserPeerStorage extends PeerStorage {
  meshes: MeshStore
}

/** Opens (creating or migrating as needed) the database `name` and returns the storage on it. */
export async function openIdbStorage (name = DB_NAME): Promise<BrowserPeerStorage> {
  const db = await openDB<StarlingDB>(name, DB_VERSION, {
    upgrade,
    // a newer version of the app (another tab) wants to migrate: let it, this tab reloads later
    blocking: () => { db.close() }
  })
  return {
    identity: {
      load: async () => {
        const bytes = await db.get('identity', SINGLETON_KEY)
        return bytes == null ? undefined : new Uint8Array(bytes)
      },
      save: async (bytes) => { await db.put('identity', bytes.slice(), SINGLETON_KEY) }
    },
    profile: singleton(db, 'profile'),
    policy: singleton(db, 'policy'),
    tasks: new IdbTaskRecordStore(db),
    agents: new IdbAgentDirectory(db),
    meshes: {
      load: async () => (await db.get('meshes', SINGLETON_KEY)) ?? { meshes: [], invites: [], revocations: [] },
      // one put in one transaction: IndexedDB keeps the old value or the new, never half of it
      save: async (data: MeshData) => { await db.put('meshes', data, SINGLETON_KEY) }
    },
    close: async () => { db.close() }
  }
}

function singleton<S extends 'profile' | 'policy'> (db: StarlingDatabase, store: S): ValueStore<StarlingDB[S]['value']> {
  return {
    load: async () => await db.get(store, SINGLETON_KEY),
    save: async (value) => { await db.put(store, value, SINGLETON_KEY) }
  }
}

class IdbAgentDirectory implements AgentDirectoryStore {
  constructor (private readonly db: StarlingDatabase) {}

  async list (): Promise<KnownAgent[]> {
    return await this.db.getAll('agents')
  }

  async put (agent: KnownAgent): Promise<void> {
    await this.db.put('agents', agent)
  }

  async remove (peerId: string): Promise<void> {
    await this.db.delete('agents', peerId)
  }
}

type TaskIndexName = typeof TASK_INDEXES[keyof typeof TASK_INDEXES]

/** One backwards walk over an index: the keys that start with `prefix`. */
interface Scan {
  index: TaskIndexName
  prefix: Array<string | number>
}

export class IdbTaskRecordStore implements TaskRecordStore {
  constructor (private readonly db: StarlingDatabase) {}

  async get (direction: TaskDirection, id: string): Promise<TaskRecord | undefined> {
    return await this.db.get('tasks', [direction, id])
  }

  async put (record: TaskRecord): Promise<void> {
    await this.db.put('tasks', record)
  }

  /**
   * Walks the narrowest index for the query backwards from `before` (or the newest record), so
   * only matching records and the next page are read: the inbox reads its open tasks, not the
   * whole history. A query on several states walks one range per state and merges them.
   */
  async list (query: TaskQuery = {}): Promise<TaskRecord[]> {
    const limit = query.limit ?? Number.POSITIVE_INFINITY
    if (limit <= 0) return []
    const tx = this.db.transaction('tasks', 'readonly')
    const store = tx.store
    const results = await Promise.all(planScans(query).map(async (scan) => {
      const out: TaskRecord[] = []
      // the outbox index is not in list order: it is read whole (it holds only pending work)
      const outbox = scan.index === TASK_INDEXES.byOutbox
      let cursor = await store.index(scan.index).openCursor(scanRange(scan.prefix, outbox ? undefined : query.before), 'prev')
      while (cursor != null && (outbox || out.length < limit)) {
        if (matchesQuery(cursor.value, query)) out.push(cursor.value)
        cursor = await cursor.continue()
      }
      return out
    }))
    await tx.done
    // the outbox index is ordered by due time, every other one newest first
    const merged = results.length === 1 && query.outbox !== true ? results[0] ?? [] : results.flat().sort(compareRecords)
    return merged.slice(0, limit)
  }
}

/** Which index ranges answer `query`; everything else in the query is checked per record. */
function planScans (query: TaskQuery): Scan[] {
  if (query.outbox === true) return [{ index: TASK_INDEXES.byOutbox, prefix: [] }]
  if (query.states != null) {
    const states = [...new Set(query.states)]
    const directions = query.direction != null ? [query.direction] : DIRECTIONS
    return directions.flatMap(direction => states.map(state => ({ index: TASK_INDEXES.byDirectionState, prefix: [direction, state] })))
  }
  if (query.direction != null) return [{ index: TASK_INDEXES.byDirection, prefix: [query.direction] }]
  if (query.contextId != null) return [{ index: TASK_INDEXES.byContext, prefix: [query.contextId] }]
  if (query.peerId != null) return [{ index: TASK_INDEXES.byPeer, prefix: [query.peerId] }]
  return [{ index: TASK_INDEXES.byUpdated, prefix: [] }]
}

/**
 * Keys `[...prefix, updatedAt, id]` from the prefix up to (excluding) `before`. An array sorts
 * above every number and string in IndexedDB, so `[...prefix, []]` is above every key of the
 * prefix; `prefix` itself (shorter) is below all of them.
 */
function scanRange (prefix: Array<string | number>, before: TaskQuery['before']): IDBKeyRange {
  return before == null
    ? IDBKeyRange.bound(prefix, [...prefix, []])
    : IDBKeyRange.bound(prefix, [...prefix, before.updatedAt, before.id], false, true)
}

