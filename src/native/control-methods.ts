/**
 * The control socket's methods (./control-api.ts) over a StarlingPeer. Every params object is
 * checked before use: a local program can send anything.
 */
import { z } from 'zod'
import { isPeerId } from '../core/a2a/binding.js'
import { textOf } from '../core/a2a/json.js'
import type { AgentCardJson, TaskJson, TaskStateName } from '../core/a2a/json.js'
import { InvalidInputError, UnknownTaskError } from '../core/errors.js'
import type { ConnectionKind } from '../core/node/direct-upgrade.js'
import type { StarlingPeer } from '../core/peer.js'
import type { AgentEntry } from '../core/registry/protocol.js'
import type { TaskRecord } from '../core/store/types.js'
import type { TaskOutcome } from '../core/tasks/outcome.js'
import { INTERRUPTED_STATES, isTerminal } from '../core/tasks/state.js'
import { checkProfile } from './config.js'
import { InvalidParamsError } from './control.js'
import type { ControlContext, ControlMethod } from './control.js'
import { RESPOND_STATES } from './control-api.js'
import type { AgentInfo, ControlApi, ControlMethodName, InboxEntry, RespondState, StatusResult, TaskDetail, TaskView, WaitResult } from './control-api.js'

/** Tasks `tasks` lists when the caller does not say. */
export const DEFAULT_TASKS_LIMIT = 20

/** Most tasks one `tasks` call lists. */
export const MAX_TASKS_LIMIT = 1_000

/** Longest `wait` timeout, in ms: about 24 days, the most setTimeout can count. */
export const MAX_WAIT_TIMEOUT_MS = 2 ** 31 - 1

export interface ControlMethodsInit {
  peer: StarlingPeer
  home: string
  relaySetting: string
  echo: boolean
  /** Resolves once the peer has started; requests wait for it. */
  ready?: Promise<void>
}

const taskId = z.string().min(1, 'must not be empty').max(256)
const peerId = z.string().refine(isPeerId, 'must be a PeerID')
// no length limit of its own: a request line is at most 1 MiB (./control.ts)
const text = z.string()

const schemas = {
  discover: z.strictObject({
    skill: z.string().min(1).max(128).optional(),
    tags: z.array(z.string().min(1).max(64)).max(32).optional(),
    limit: z.number().int().min(1).max(1000).optional()
  }),
  send: z.strictObject({
    peerId,
    text: text.refine(t => t.trim() !== '', 'must not be empty'),
    contextId: z.string().min(1).max(256).optional(),
    taskId: taskId.optional()
  }),
  wait: z.strictObject({ taskId, timeoutMs: z.number().int().min(0).max(MAX_WAIT_TIMEOUT_MS).optional() }),
  respond: z.strictObject({ taskId, text, state: z.enum(RESPOND_STATES as [RespondState, ...RespondState[]]).optional() }),
  task: z.strictObject({ taskId }),
  tasks: z.strictObject({
    direction: z.enum(['inbound', 'outbound']).optional(),
    limit: z.number().int().min(1).max(MAX_TASKS_LIMIT).optional()
  })
}

type Handlers = { [M in ControlMethodName]: (params: unknown, context: ControlContext) => Promise<ControlApi[M]['result']> }

/** The method table a ControlServer serves for `peer`. */
export function controlMethods (init: ControlMethodsInit): Record<ControlMethodName, ControlMethod> {
  const { peer } = init
  const ready = init.ready ?? Promise.resolve()

  const agents = (entries: AgentEntry[]): AgentInfo[] => {
    const kinds = connectionKinds(peer)
    return entries
      .filter(e => e.peerId !== peer.peerId)
      .map(e => {
        const kind = kinds.get(e.peerId)
        return { peerId: e.peerId, card: e.card, online: e.online, expiresAt: e.expiresAt, connected: kind != null, ...(kind != null ? { connection: kind } : {}) }
      })
  }

  const handlers: Handlers = {
    status: async (): Promise<StatusResult> => ({
      peerId: peer.peerId,
      home: init.home,
      relaySetting: init.relaySetting,
      relay: peer.relayStatus,
      registry: peer.registryStatus,
      card: peer.card,
      echo: init.echo
    }),

    card: async (): Promise<AgentCardJson> => peer.card,

    peers: async (_params, { signal }) => agents(await peer.discover({}, { signal })),

    discover: async (params, { signal }) => {
      const query = parse(schemas.discover, params ?? {})
      return agents(await peer.discover(query, { signal }))
    },

    send: async (params, { signal }) => {
      const { peerId: to, text: message, contextId, taskId: continues } = parse(schemas.send, params)
      if (to === peer.peerId) throw new InvalidInputError('that is this peer\'s own PeerID: send to another agent')
      const record = await peer.send(to, message, { contextId, taskId: continues, signal })
      return { taskId: record.id, contextId: record.contextId, state: record.state }
    },

    wait: async (params, { signal }): Promise<WaitResult> => {
      const { taskId: id, timeoutMs } = parse(schemas.wait, params)
      await knownOutbound(peer, id)
      const timeout = timeoutMs == null ? undefined : AbortSignal.timeout(timeoutMs)
      try {
        const record = await untilSettled(peer, id, timeout == null ? signal : AbortSignal.any([signal, timeout]))
        return { ...detail(record), timedOut: false }
      } catch (err) {
        if (timeout?.aborted !== true || signal.aborted) throw err
        const current = await peer.task('outbound', id)
        if (current == null) throw new UnknownTaskError(id)
        return { ...detail(current), timedOut: true }
      }
    },

    inbox: async (): Promise<InboxEntry[]> => (await peer.inbox()).map(r => ({
      taskId: r.id,
      from: r.peerId,
      text: senderText(r.task),
      state: r.state,
      contextId: r.contextId,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt
    })),

    respond: async (params) => {
      const { taskId: id, text: answer, state } = parse(schemas.respond, params)
      const outcome = toOutcome(state ?? 'completed', answer)
      await peer.respond(id, outcome)
      return { taskId: id, state: OUTCOME_STATES[outcome.kind] }
    },

    cancel: async (params, { signal }): Promise<TaskView> => {
      const { taskId: id } = parse(schemas.task, params)
      await knownOutbound(peer, id)
      return view(await peer.cancel(id, { signal }))
    },

    task: async (params): Promise<TaskDetail> => {
      const { taskId: id } = parse(schemas.task, params)
      const record = await peer.task('outbound', id) ?? await peer.task('inbound', id)
      if (record == null) throw new UnknownTaskError(id)
      return detail(record)
    },

    tasks: async (params) => {
      const { direction, limit } = parse(schemas.tasks, params ?? {})
      return (await peer.tasks({ direction, limit: limit ?? DEFAULT_TASKS_LIMIT })).map(view)
    },

    setProfile: async (params) => {
      let profile
      try {
        profile = checkProfile(params, 'params')
      } catch (err) {
        throw new InvalidParamsError((err as Error).message, { cause: err })
      }
      await peer.setProfile(profile)
      return peer.card
    }
  }

  const methods = {} as Record<ControlMethodName, ControlMethod>
  for (const [name, handler] of Object.entries(handlers) as Array<[ControlMethodName, ControlMethod]>) {
    methods[name] = async (params, context) => {
      await ready
      return await handler(params, context)
    }
  }
  return methods
}

/**
 * Resolves with the outbound task `id` once it has finished or waits for our input. Listens
 * before it reads, so a change stored while the read is under way is not missed (the record
 * read may predate it; the event cannot).
 */
async function untilSettled (peer: StarlingPeer, id: string, signal: AbortSignal): Promise<TaskRecord> {
  signal.throwIfAborted()
  return await new Promise<TaskRecord>((resolve, reject) => {
    const done = (): void => {
      peer.removeEventListener('task', onTask)
      signal.removeEventListener('abort', onAbort)
    }
    const settle = (record: TaskRecord): void => {
      done()
      resolve(record)
    }
    const onTask = (evt: CustomEvent<TaskRecord>): void => {
      const record = evt.detail
      if (record.direction === 'outbound' && record.id === id && isSettled(record.state)) settle(record)
    }
    const onAbort = (): void => {
      done()
      reject(signal.reason)
    }
    peer.addEventListener('task', onTask)
    signal.addEventListener('abort', onAbort, { once: true })
    peer.task('outbound', id).then((record) => {
      if (record == null) {
        done()
        reject(new UnknownTaskError(id))
      } else if (isSettled(record.state)) {
        settle(record)
      }
    }, (err: unknown) => {
      done()
      reject(err)
    })
  })
}

/** Finished, or waiting for the sender (us): `wait` has an answer to give. */
function isSettled (state: TaskStateName): boolean {
  return isTerminal(state) || INTERRUPTED_STATES.includes(state)
}

/** Throws UnknownTaskError, with a hint when the id is one of our inbound tasks. */
async function knownOutbound (peer: StarlingPeer, id: string): Promise<void> {
  if (await peer.task('outbound', id) != null) return
  if (await peer.task('inbound', id) != null) {
    throw new InvalidInputError(`task ${id} was sent to this peer, not by it: answer it with respond`)
  }
  throw new UnknownTaskError(id)
}

function parse<T> (schema: z.ZodType<T>, params: unknown): T {
  const parsed = schema.safeParse(params)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const path = (issue?.path ?? []).map(String).join('.')
  throw new InvalidParamsError(`${path === '' ? 'params' : path}: ${issue?.message ?? 'invalid'}`)
}

const OUTCOME_STATES: Record<TaskOutcome['kind'], TaskStateName> = {
  completed: 'TASK_STATE_COMPLETED',
  'input-required': 'TASK_STATE_INPUT_REQUIRED',
  failed: 'TASK_STATE_FAILED',
  rejected: 'TASK_STATE_REJECTED',
  canceled: 'TASK_STATE_CANCELED'
}

function toOutcome (state: RespondState, text: string): TaskOutcome {
  switch (state) {
    case 'completed': return { kind: 'completed', text }
    case 'input-required': return { kind: 'input-required', text }
    case 'failed': return { kind: 'failed', text }
    case 'rejected': return { kind: 'rejected', text }
  }
}

/** The best connection to each peer we are connected to: direct beats WebRTC beats relayed. */
function connectionKinds (peer: StarlingPeer): Map<string, ConnectionKind> {
  const rank: Record<ConnectionKind, number> = { direct: 0, webrtc: 1, relayed: 2 }
  const out = new Map<string, ConnectionKind>()
  for (const c of peer.connections()) {
    if (c.relay) continue
    const known = out.get(c.peerId)
    if (known == null || rank[c.kind] < rank[known]) out.set(c.peerId, c.kind)
  }
  return out
}

export function view (record: TaskRecord): TaskView {
  return {
    taskId: record.id,
    direction: record.direction,
    peerId: record.peerId,
    contextId: record.contextId,
    state: record.state,
    text: record.direction === 'outbound' ? answerText(record.task) : senderText(record.task),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt
  }
}

function detail (record: TaskRecord): TaskDetail {
  return { ...view(record), task: record.task }
}

/** What the agent answered: the text of its artifacts, else of its latest status message. */
export function answerText (task: TaskJson): string {
  const artifacts = (task.artifacts ?? []).map(a => textOf(a.parts)).filter(t => t !== '')
  if (artifacts.length > 0 && task.status.state === 'TASK_STATE_COMPLETED') return artifacts.join('\n')
  const status = textOf(task.status.message?.parts)
  if (status !== '') return status
  return artifacts.join('\n')
}

/** The sender's latest message in a task. */
export function senderText (task: TaskJson): string {
  const history = task.history ?? []
  for (let i = history.length - 1; i >= 0; i--) {
    const message = history[i]
    if (message?.role === 'ROLE_USER') return textOf(message.parts)
  }
  return ''
}
