/**
 * The PWA's IndexedDB schema and its migrations. Persistence lives in src/app/data only; the
 * rest of the app reaches it through the PeerStorage interface of src/core/store/types.ts.
 *
 * To change the schema: add a migration to MIGRATIONS (never edit a shipped one). DB_VERSION
 * follows from the list, and `upgrade` runs every migration between the version a browser has
 * and the current one, inside the single versionchange transaction IndexedDB gives us.
 */
import type { DBSchema, IDBPDatabase, IDBPTransaction, StoreNames } from 'idb'
import type { AgentProfile } from '../../core/a2a/binding.js'
import type { TaskStateName } from '../../core/a2a/json.js'
import type { MeshData } from '../../core/mesh/store.js'
import type { PolicyRule } from '../../core/mesh/policy.js'
import type { KnownAgent, TaskDirection, TaskRecord } from '../../core/store/types.js'

export const DB_NAME = 'starling'

/** Singleton values live under this key in their store. */
export const SINGLETON_KEY = 'current'

/**
 * Task indexes. Every one ends in (updatedAt, id), so a cursor walked backwards ('prev') yields
 * records in the order TaskRecordStore.list promises: newest first, ties by id descending.
 */
export const TASK_INDEXES = {
  /** Every task. */
  byUpdated: 'by-updated',
  /** Tasks of one direction. */
  byDirection: 'by-direction',
  /** Tasks of one direction in one state: the inbox, open outbound tasks. */
  byDirectionState: 'by-direction-state',
  /** Tasks with one peer. */
  byPeer: 'by-peer',
  /** Tasks of one conversation. */
  byContext: 'by-context',
  /**
   * Tasks whose outbox holds work, by when it is due. Sparse: a record without `outboxAt` is
   * not in it, so the outbox is found without reading the history.
   */
  byOutbox: 'by-outbox'
} as const

export interface StarlingDB extends DBSchema {
  /** The libp2p private key, protobuf bytes, under SINGLETON_KEY. */
  identity: { key: string, value: Uint8Array }
  /** The agent profile, under SINGLETON_KEY. */
  profile: { key: string, value: AgentProfile }
  tasks: {
    key: [TaskDirection, string]
    value: TaskRecord
    indexes: {
      'by-updated': [number, string]
      'by-direction': [TaskDirection, number, string]
      'by-direction-state': [TaskDirection, TaskStateName, number, string]
      'by-peer': [string, number, string]
      'by-context': [string, number, string]
      'by-outbox': [number, number, string]
    }
  }
  /** The agent directory, by PeerID. */
  agents: { key: string, value: KnownAgent }
  /**
   * The private meshes this peer is in, the invites it issued and the revocations it signed, as
   * one value under SINGLETON_KEY: the MeshStore writes them whole, so one put is atomic.
   */
  meshes: { key: string, value: MeshData }
  /**
   * Who may send this peer which tasks (src/core/mesh/policy.ts), under SINGLETON_KEY: the rules
   * the person wrote and those accepting or blocking a sender added.
   */
  policy: { key: string, value: PolicyRule[] }
}

export type StarlingDatabase = IDBPDatabase<StarlingDB>
type UpgradeTransaction = IDBPTransaction<StarlingDB, Array<StoreNames<StarlingDB>>, 'versionchange'>
type Migration = (db: StarlingDatabase, tx: UpgradeTransaction) => void

/** MIGRATIONS[n] takes a database from version n to version n + 1. */
const MIGRATIONS: readonly Migration[] = [
  // 0 → 1: the first schema
  (db) => {
    db.createObjectStore('identity')
    db.createObjectStore('profile')
    const tasks = db.createObjectStore('tasks', { keyPath: ['direction', 'id'] })
    tasks.createIndex(TASK_INDEXES.byUpdated, ['updatedAt', 'id'])
    tasks.createIndex(TASK_INDEXES.byDirection, ['direction', 'updatedAt', 'id'])
    tasks.createIndex(TASK_INDEXES.byDirectionState, ['direction', 'state', 'updatedAt', 'id'])
    tasks.createIndex(TASK_INDEXES.byPeer, ['peerId', 'updatedAt', 'id'])
    tasks.createIndex(TASK_INDEXES.byContext, ['contextId', 'updatedAt', 'id'])
    db.createObjectStore('agents', { keyPath: 'peerId' })
  },
  // 1 → 2: the outbox index (records of version 1 have no outbox, so none is missed)
  (_db, tx) => {
    tx.objectStore('tasks').createIndex(TASK_INDEXES.byOutbox, ['outboxAt', 'updatedAt', 'id'])
  },
  // 2 → 3: private meshes (a browser of version 2 is in none, so the store starts empty)
  (db) => {
    db.createObjectStore('meshes')
  },
  // 3 → 4: the policy (a browser of version 3 has no rules: unknown senders are asked about)
  (db) => {
    db.createObjectStore('policy')
  }
]

export const DB_VERSION = MIGRATIONS.length

/** The `upgrade` callback of openDB: runs the migrations from `oldVersion` up to DB_VERSION. */
export function upgrade (db: StarlingDatabase, oldVersion: number, newVersion: number | null, tx: UpgradeTransaction): void {
  const target = newVersion ?? DB_VERSION
  for (let version = oldVersion; version < target; version++) {
    const migration = MIGRATIONS[version]
    if (migration == null) throw new Error(`no migration from database version ${version}`)
    migration(db, tx)
  }
}
