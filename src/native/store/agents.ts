/**
 * The agents this peer has seen in a registry, in `agents.json`: a cache that lets `peers` and
 * the A2A client know a card without asking the relay. Held in memory, bounded, and written
 * whole on change. Being a cache, a change does not wait for its write: a discover that stores
 * a hundred cards one by one then costs one or two writes, not a hundred.
 */
import { JsonFile } from './json-file.js'
import type { AgentDirectoryStore, KnownAgent } from '../../core/store/types.js'

/** Agents kept at most; the ones seen longest ago go first. */
export const DEFAULT_MAX_KNOWN_AGENTS = 1_000

/** The version of agents.json's layout. */
export const AGENTS_FILE_VERSION = 1

export interface AgentDirectoryInit {
  maxAgents?: number
  onWarning?: (message: string) => void
}

export class AgentDirectory implements AgentDirectoryStore {
  private readonly file: JsonFile
  private readonly maxAgents: number
  private readonly agents = new Map<string, KnownAgent>()
  private readonly onWarning: (message: string) => void

  static async open (path: string, init: AgentDirectoryInit = {}): Promise<AgentDirectory> {
    const directory = new AgentDirectory(path, init)
    let content: unknown
    try {
      content = await directory.file.read()
    } catch (err) {
      // only a cache: start empty rather than refuse to start
      init.onWarning?.(`${path} could not be read (${(err as Error).message}); starting with an empty agent directory`)
    }
    if (content !== undefined) {
      const agents = (content as { version?: unknown, agents?: unknown } | null)?.agents
      if ((content as { version?: unknown }).version !== AGENTS_FILE_VERSION || !Array.isArray(agents)) {
        init.onWarning?.(`${path} is not an agent directory of version ${AGENTS_FILE_VERSION}; starting with an empty one`)
      } else {
        const valid = agents.filter(isKnownAgent)
        if (valid.length !== agents.length) init.onWarning?.(`${path}: ignoring ${agents.length - valid.length} malformed entries`)
        for (const agent of valid.sort((a, b) => a.seenAt - b.seenAt)) directory.agents.set(agent.peerId, agent)
        directory.trim()
      }
    }
    return directory
  }

  private constructor (path: string, init: AgentDirectoryInit) {
    this.file = new JsonFile(path)
    this.maxAgents = init.maxAgents ?? DEFAULT_MAX_KNOWN_AGENTS
    this.onWarning = init.onWarning ?? (() => {})
  }

  async list (): Promise<KnownAgent[]> {
    return structuredClone([...this.agents.values()])
  }

  async put (agent: KnownAgent): Promise<void> {
    // re-inserting keeps the Map in seen order, so trimming drops the oldest
    this.agents.delete(agent.peerId)
    this.agents.set(agent.peerId, structuredClone(agent))
    this.trim()
    this.save()
  }

  async remove (peerId: string): Promise<void> {
    if (this.agents.delete(peerId)) this.save()
  }

  async close (): Promise<void> {
    await this.file.flush()
  }

  private trim (): void {
    for (const peerId of this.agents.keys()) {
      if (this.agents.size <= this.maxAgents) break
      this.agents.delete(peerId)
    }
  }

  private save (): void {
    this.file.write(() => ({ version: AGENTS_FILE_VERSION, agents: [...this.agents.values()] })).catch((err: unknown) => {
      this.onWarning(`could not write ${this.file.path}: ${(err as Error).message}`)
    })
  }
}

function isKnownAgent (value: unknown): value is KnownAgent {
  if (typeof value !== 'object' || value === null) return false
  const a = value as Partial<Record<keyof KnownAgent, unknown>>
  const card = a.card as { name?: unknown, skills?: unknown } | null | undefined
  return typeof a.peerId === 'string' && Number.isFinite(a.seenAt) &&
    typeof card === 'object' && card !== null && typeof card.name === 'string' && Array.isArray(card.skills)
}
