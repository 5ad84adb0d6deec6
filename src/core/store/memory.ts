/**
 * PeerStorage in memory: for tests, and for peers that choose to keep nothing.
 */
import type { AgentProfile } from '../a2a/binding.js'
import { compareRecords, matchesQuery } from './types.js'
import type { KnownAgent, PeerStorage, TaskQuery, TaskRecord, TaskRecordStore, ValueStore } from './types.js'

export class MemoryTaskRecordStore implements TaskRecordStore {
  private readonly records = new Map<string, TaskRecord>()

  async get (direction: TaskRecord['direction'], id: string): Promise<TaskRecord | undefined> {
    const record = this.records.get(`${direction}/${id}`)
    return record == null ? undefined : structuredClone(record)
  }

  async put (record: TaskRecord): Promise<void> {
    this.records.set(`${record.direction}/${record.id}`, structuredClone(record))
  }

  async list (query: TaskQuery = {}): Promise<TaskRecord[]> {
    const out = [...this.records.values()].filter(r => matchesQuery(r, query)).sort(compareRecords)
    return structuredClone(query.limit == null ? out : out.slice(0, query.limit))
  }
}

class MemoryValue<T> implements ValueStore<T> {
  private value?: T
  async load (): Promise<T | undefined> { return this.value === undefined ? undefined : structuredClone(this.value) }
  async save (value: T): Promise<void> { this.value = structuredClone(value) }
}

export function memoryStorage (): PeerStorage {
  const agents = new Map<string, KnownAgent>()
  return {
    identity: new MemoryValue<Uint8Array>(),
    profile: new MemoryValue<AgentProfile>(),
    tasks: new MemoryTaskRecordStore(),
    agents: {
      list: async () => structuredClone([...agents.values()]),
      put: async (agent) => { agents.set(agent.peerId, structuredClone(agent)) },
      remove: async (peerId) => { agents.delete(peerId) }
    },
    close: async () => {}
  }
}
