/**
 * PeerStorage in a native peer's home directory:
 *
 *   identity.key  the libp2p private key, protobuf-encoded, mode 0600
 *   config.json   the profile (and the relay setting, which is not the core's business)
 *   tasks.jsonl   the task log (./task-log.ts)
 *   agents.json   the agent directory (./agents.ts)
 */
import { mkdir, readFile, stat } from 'node:fs/promises'
import { logger } from '@libp2p/logger'
import type { AgentProfile } from '../../core/a2a/binding.js'
import type { PeerStorage, ValueStore } from '../../core/store/types.js'
import { writeFileAtomic } from '../key-file.js'
import { checkProfile, ConfigError, DEFAULT_RELAY, readConfig } from '../config.js'
import { homePaths } from '../home.js'
import { AgentDirectory } from './agents.js'
import { JsonFile } from './json-file.js'
import { TaskLog } from './task-log.js'
import type { TaskLogInit } from './task-log.js'

export { TaskLog, TaskLogError, TASK_LOG_HEADER } from './task-log.js'
export { AgentDirectory } from './agents.js'

const log = logger('starling:store')

export interface FileStorageInit {
  /** Told about data that was dropped or could not be read (shown to the person running the peer). */
  onWarning?: (message: string) => void
  /** Options of the task log (compaction thresholds). */
  tasks?: Omit<TaskLogInit, 'onWarning'>
  maxAgents?: number
  /** The relay setting to write when saving a profile creates config.json (default DEFAULT_RELAY). */
  relay?: string
}

export interface FileStorage extends PeerStorage {
  readonly home: string
  readonly tasks: TaskLog
}

/** Opens the storage in `home`, creating the directory (mode 0700) when needed. */
export async function openFileStorage (home: string, init: FileStorageInit = {}): Promise<FileStorage> {
  const onWarning = init.onWarning ?? ((message: string) => { log.error(message) })
  const paths = homePaths(home)
  await mkdir(home, { recursive: true, mode: 0o700 })
  const tasks = await TaskLog.open(paths.tasks, { ...init.tasks, onWarning })
  let agents: AgentDirectory
  try {
    agents = await AgentDirectory.open(paths.agents, { maxAgents: init.maxAgents, onWarning })
  } catch (err) {
    await tasks.close()
    throw err
  }
  return {
    home,
    identity: new IdentityFile(paths.identity, onWarning),
    profile: new ProfileInConfig(home, init.relay ?? DEFAULT_RELAY),
    tasks,
    agents,
    close: async () => {
      await Promise.all([tasks.close(), agents.close()])
    }
  }
}

/** The private key file. Written once, atomically, readable by the owner only. */
class IdentityFile implements ValueStore<Uint8Array> {
  private readonly path: string
  private readonly onWarning: (message: string) => void

  constructor (path: string, onWarning: (message: string) => void) {
    this.path = path
    this.onWarning = onWarning
  }

  async load (): Promise<Uint8Array | undefined> {
    let bytes: Buffer
    try {
      bytes = await readFile(this.path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new ConfigError(`could not read the identity in ${this.path}: ${(err as Error).message}`, { cause: err })
    }
    const { mode } = await stat(this.path)
    if ((mode & 0o077) !== 0) this.onWarning(`${this.path} can be read by other users (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it`)
    return new Uint8Array(bytes)
  }

  async save (value: Uint8Array): Promise<void> {
    await writeFileAtomic(this.path, value, 0o600)
  }
}

/**
 * The `profile` member of config.json. Saving keeps the relay setting as it is; when there is
 * no config.json yet, it writes one with the relay the peer was opened with.
 */
class ProfileInConfig implements ValueStore<AgentProfile> {
  private readonly home: string
  private readonly relay: string
  private readonly file: JsonFile

  constructor (home: string, relay: string) {
    this.home = home
    this.relay = relay
    this.file = new JsonFile(homePaths(home).config)
  }

  async load (): Promise<AgentProfile | undefined> {
    return (await readConfig(this.home))?.profile
  }

  async save (value: AgentProfile): Promise<void> {
    const profile = checkProfile(value)
    await this.file.write(async () => {
      // read at write time: `starling init` in another process may have changed the relay
      const config = await readConfig(this.home)
      return { relay: config?.relay ?? this.relay, profile }
    })
  }
}
