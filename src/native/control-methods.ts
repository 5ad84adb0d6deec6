/**
 * The control socket's methods (./control-api.ts) over a StarlingPeer. Every params object is
 * checked before use: a local program can send anything.
 */
import { z } from 'zod'
import { isPeerId } from '../core/a2a/binding.js'
import { TaskStates, textOf } from '../core/a2a/json.js'
import type { AgentCardJson, PartJson, TaskJson, TaskStateName } from '../core/a2a/json.js'
import { base64Bytes, checkParts } from '../core/a2a/parts.js'
import { InvalidInputError, TaskStateError, UnknownTaskError } from '../core/errors.js'
import { MeshMembersError } from '../core/mesh/service.js'
import type { ConnectionKind } from '../core/node/direct-upgrade.js'
import type { StarlingPeer } from '../core/peer.js'
import type { AgentEntry } from '../core/registry/protocol.js'
import type { TaskRecord } from '../core/store/types.js'
import { agentCardUrl } from '../core/tasks/http-agents.js'
import type { TaskOutcome } from '../core/tasks/outcome.js'
import { INTERRUPTED_STATES, isTerminal } from '../core/tasks/state.js'
import { MAX_FILES, readFilePart } from './cli/attach.js'
import { checkProfile } from './config.js'
import { InvalidParamsError } from './control.js'
import type { ControlContext, ControlMethod } from './control.js'
import { DEFAULT_TASKS_LIMIT, MAX_TASKS_LIMIT, MAX_TTL_MS, RESPOND_STATES } from './control-api.js'
import type { AgentInfo, ContentParams, ControlApi, ControlMethodName, FileInfo, InboxEntry, MeshMembersResult, RespondState, SendResult, StatusResult, TaskDetail, TaskView, WaitResult } from './control-api.js'

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
// checked in depth by checkParts, with messages that name the part
const parts = z.array(z.custom<PartJson>(v => typeof v === 'object' && v !== null && !Array.isArray(v), 'must be a part object')).max(MAX_FILES)
const files = z.array(z.strictObject({
  path: z.string().min(1).max(4096),
  filename: z.string().min(1).max(255).optional(),
  mediaType: z.string().min(1).max(255).optional()
})).max(MAX_FILES)
const contentShape = { text: text.optional(), parts: parts.optional(), files: files.optional() }

const schemas = {
  discover: z.strictObject({
    skill: z.string().min(1).max(128).optional(),
    tags: z.array(z.string().min(1).max(64)).max(32).optional(),
    limit: z.number().int().min(1).max(1000).optional()
  }),
  send: z.strictObject({
    peerId: peerId.optional(),
    skill: z.string().min(1).max(128).optional(),
    // checked (http or https, a card there) by the peer, with messages that say what is wrong
    url: z.string().min(1).max(2048).optional(),
    ...contentShape,
    contextId: z.string().min(1).max(256).optional(),
    taskId: taskId.optional(),
    ttlMs: z.number().int().min(1).max(MAX_TTL_MS).optional()
  }).refine(p => [p.peerId, p.skill, p.url].filter(v => v != null).length === 1, 'give either peerId or skill, or url instead (one of the three)')
    .refine(p => p.skill == null || p.taskId == null, 'a task to continue has its agent already: give peerId (or url), not skill'),
  wait: z.strictObject({ taskId, timeoutMs: z.number().int().min(0).max(MAX_WAIT_TIMEOUT_MS).optional() }),
  respond: z.strictObject({ taskId, ...contentShape, state: z.enum(RESPOND_STATES as [RespondState, ...RespondState[]]).optional() }),
  task: z.strictObject({ taskId }),
  meshCreate: z.strictObject({ name: z.string().trim().min(1, 'must not be empty').max(128) }),
  meshInvite: z.strictObject({
    mesh: z.string().min(1).max(512),
    role: z.enum(['member', 'admin']).optional(),
    ttlMs: z.number().int().min(1000).max(365 * 24 * 60 * 60 * 1000).optional(),
    maxUses: z.number().int().min(1).max(1_000_000).optional()
  }),
  meshJoin: z.strictObject({ token: z.string().min(1).max(64 * 1024) }),
  mesh: z.strictObject({ mesh: z.string().min(1).max(512) }),
  meshRevoke: z.strictObject({ mesh: z.string().min(1).max(512), member: peerId.optional(), invite: z.string().min(1).max(128).optional() })
    .refine(p => (p.member == null) !== (p.invite == null), 'give either member or invite'),
  tasks: z.strictObject({
    direction: z.enum(['inbound', 'outbound']).optional(),
    states: z.array(z.enum(TaskStates)).min(1).max(TaskStates.length).optional(),
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

    send: async (params, { signal }): Promise<SendResult> => {
      const { peerId: named, skill, url, contextId, taskId: continues, ttlMs, ...given } = parse(schemas.send, params)
      if (named === peer.peerId) throw new InvalidInputError('that is this peer\'s own PeerID: send to another agent')
      // an HTTP agent is named by its normalised card URL (InvalidInputError for a URL that is not http(s))
      const to = url != null ? agentCardUrl(url) : named
      if (continues != null && to != null) await continuable(peer, continues, to)
      // every file is read and checked before the task exists: a refused file queues nothing
      const message = await contentParts(given, 'message', signal)
      if (message.length === 0) throw new InvalidParamsError('text: say something, or attach parts or files')
      const record = skill != null
        ? await peer.sendToSkill(skill, message, { contextId, ttlMs, signal })
        : url != null && continues == null
          // the card is fetched and checked before the task is stored
          ? await peer.sendToUrl(url, message, { contextId, ttlMs, signal })
          : await peer.send(to ?? '', message, { contextId, taskId: continues, ttlMs, signal })
      const { taskId, contextId: context, state, delivery, expiresAt, lastError, localError } = view(record)
      return withoutUndefined({ taskId, peerId: record.peerId, contextId: context, state, delivery, expiresAt, lastError, localError })
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
      files: senderFiles(r.task),
      state: r.state,
      contextId: r.contextId,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt
    })),

    respond: async (params, { signal }) => {
      const { taskId: id, state, ...given } = parse(schemas.respond, params)
      // before any file is read
      await knownInbound(peer, id)
      const outcome = await toOutcome(state ?? 'completed', given, signal)
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
      const { direction, states, limit } = parse(schemas.tasks, params ?? {})
      return (await peer.tasks({ direction, states, limit: limit ?? DEFAULT_TASKS_LIMIT })).map(view)
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
    },

    meshCreate: async (params) => {
      const { name } = parse(schemas.meshCreate, params)
      return await peer.meshes.create(name, { relays: relayUrl(init.relaySetting) != null ? [init.relaySetting] : [] })
    },

    meshInvite: async (params) => {
      const { mesh, role, ttlMs, maxUses } = parse(schemas.meshInvite, params)
      const invite = await peer.meshes.invite(meshIdOf(peer, mesh), { role, ttlMs, maxUses })
      const url = relayUrl(init.relaySetting)
      return { ...invite, ...(url != null ? { link: `${url}/#join=${invite.token}` } : {}) }
    },

    meshJoin: async (params) => {
      const { token } = parse(schemas.meshJoin, params)
      return await peer.meshes.join(token)
    },

    meshList: async () => peer.meshes.list(),

    meshLeave: async (params) => await peer.meshes.leave(meshIdOf(peer, parse(schemas.mesh, params).mesh)),

    meshRevoke: async (params, { signal }) => {
      const { mesh, member, invite } = parse(schemas.meshRevoke, params)
      return await peer.meshes.revoke(meshIdOf(peer, mesh), member != null ? { member } : { invite: invite ?? '' }, { signal })
    },

    meshMembers: async (params, { signal }): Promise<MeshMembersResult> => {
      const meshId = meshIdOf(peer, parse(schemas.mesh, params).mesh)
      const mesh = peer.meshes.list().find(m => m.meshId === meshId)
      if (mesh == null) throw new InvalidInputError(`this peer is not in mesh ${meshId}`)
      const local = {
        mesh,
        invites: mesh.role === 'member' ? [] : peer.meshes.invites(meshId),
        members: [{ peerId: peer.peerId, role: mesh.role }]
      }
      try {
        const listed = await peer.meshes.members(meshId, { signal })
        return {
          ...local,
          relayMembers: listed.members,
          relayTotal: listed.total,
          note: listed.total > listed.members.length
            ? `the relay knows ${listed.total} members now (connected or listed) and lists the first ${listed.members.length}; members it does not see now are not in the list`
            : 'the relay lists the members it knows now (connected or listed); members it does not see now are not in the list'
        }
      } catch (err) {
        if (!(err instanceof MeshMembersError)) throw err
        return {
          ...local,
          relayError: err.message,
          note: 'a mesh\'s members are known to the relays that admit them; this peer knows only itself and the invites it issued'
        }
      }
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

/** The id of this peer's mesh named `mesh` (its id, or its name when only one mesh has it). */
function meshIdOf (peer: StarlingPeer, mesh: string): string {
  const meshes = peer.meshes.list()
  if (meshes.some(m => m.meshId === mesh)) return mesh
  const named = meshes.filter(m => m.name === mesh)
  if (named.length === 1 && named[0] != null) return named[0].meshId
  if (named.length > 1) throw new InvalidInputError(`${named.length} meshes are named "${mesh}": give the mesh id (\`starling mesh list\`)`)
  throw new InvalidInputError(`this peer is in no mesh "${mesh}" (\`starling mesh list\` shows its meshes)`)
}

/** The relay setting when it is an http(s) URL (a link's base), without a trailing slash. */
function relayUrl (setting: string): string | undefined {
  return /^https?:\/\//i.test(setting) ? setting.replace(/\/+$/, '') : undefined
}

/** Throws UnknownTaskError, with a hint when the id is one of our outbound tasks. */
async function knownInbound (peer: StarlingPeer, id: string): Promise<void> {
  if (await peer.task('inbound', id) != null) return
  if (await peer.task('outbound', id) != null) {
    throw new InvalidInputError(`task ${id} was sent by this peer, not to it: to answer the agent's question, send with --task ${id}`)
  }
  throw new UnknownTaskError(id)
}

/** Throws UnknownTaskError, with a hint when the id is one of our inbound tasks. */
async function knownOutbound (peer: StarlingPeer, id: string): Promise<void> {
  if (await peer.task('outbound', id) != null) return
  if (await peer.task('inbound', id) != null) {
    throw new InvalidInputError(`task ${id} was sent to this peer, not by it: answer it with respond`)
  }
  throw new UnknownTaskError(id)
}

/**
 * Resolves with the outbound task `id` once `wait` has something to tell: the task finished, or
 * it waits for our input and no answer of ours is still on its way. (Right after `send --task`
 * the task still says input-required until the agent has our answer; that is the old question,
 * not a new one, so StarlingPeer.waitFor's "settled" is not enough here.) Listens before it
 * reads, so a change stored while the read is under way is not missed.
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
      if (record.direction === 'outbound' && record.id === id && hasNews(record)) settle(record)
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
      } else if (hasNews(record)) {
        settle(record)
      }
    }, (err: unknown) => {
      done()
      reject(err)
    })
  })
}

/** Finished, or waiting for us with no answer of ours pending: `wait` has something to say. */
function hasNews (record: TaskRecord): boolean {
  if (isTerminal(record.state)) return true
  return INTERRUPTED_STATES.includes(record.state) && record.outbox?.some(item => item.kind === 'message') !== true
}

/**
 * Throws unless `id` is an outbound task of ours, sent to `to`, that waits for our input: the
 * only kind a message can continue. Said here, before anything is read or queued.
 */
async function continuable (peer: StarlingPeer, id: string, to: string): Promise<void> {
  await knownOutbound(peer, id)
  const record = await peer.task('outbound', id)
  if (record == null) throw new UnknownTaskError(id)
  if (record.peerId !== to) throw new InvalidInputError(`task ${id} was sent to ${record.peerId}, not to ${to}`)
  if (!INTERRUPTED_STATES.includes(record.state)) {
    throw new TaskStateError(`task ${id} is ${stateName(record.state)}: only a task that waits for your input (input-required) can be continued`)
  }
}

/** `TASK_STATE_INPUT_REQUIRED` → `input-required`. */
function stateName (state: TaskStateName): string {
  return state.replace(/^TASK_STATE_/, '').toLowerCase().replace(/_/g, '-')
}

/**
 * The parts of a message or answer: the text (unless blank), the parts given, then the files,
 * read here. Throws InvalidPartError (ERR_INVALID_INPUT) for a part or file the peer would
 * refuse to send, before anything is sent.
 */
async function contentParts (content: ContentParams, where: string, signal: AbortSignal): Promise<PartJson[]> {
  const out: PartJson[] = []
  if (content.text != null && content.text.trim() !== '') out.push({ text: content.text, mediaType: 'text/plain' })
  out.push(...content.parts ?? [])
  for (const file of content.files ?? []) out.push(await readFilePart(file, { signal }))
  checkParts(out, where)
  return out
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

/**
 * How `respond` ends the turn. A completed answer is one artifact: the text, then the parts
 * and files. A question (input-required) is the text, with parts and files beside it. A failure
 * or a rejection is a reason, in words only.
 */
async function toOutcome (state: RespondState, given: ContentParams, signal: AbortSignal): Promise<TaskOutcome> {
  const text = given.text ?? ''
  const attached = (given.parts?.length ?? 0) + (given.files?.length ?? 0) > 0
  if (state === 'completed') {
    if (!attached) {
      if (text.trim() === '') throw new InvalidParamsError('text: the answer is empty: give text, parts or files')
      return { kind: 'completed', text }
    }
    return { kind: 'completed', parts: await contentParts(given, 'answer', signal) }
  }
  if (text.trim() === '') throw new InvalidParamsError(`text: ${state === 'input-required' ? 'the question' : 'the reason'} must not be empty`)
  if (state === 'input-required') {
    if (!attached) return { kind: 'input-required', text }
    return { kind: 'input-required', text, parts: await contentParts({ parts: given.parts, files: given.files }, 'question', signal) }
  }
  if (attached) throw new InvalidParamsError(`files: a ${state} answer carries a reason only, not parts or files`)
  return state === 'failed' ? { kind: 'failed', text } : { kind: 'rejected', text }
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
  const outbox = record.outbox ?? []
  const lastError = outbox.findLast(item => item.lastError != null)?.lastError
  return withoutUndefined({
    taskId: record.id,
    direction: record.direction,
    peerId: record.peerId,
    contextId: record.contextId,
    state: record.state,
    text: record.direction === 'outbound' ? answerText(record.task) : senderText(record.task),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    delivery: record.delivery,
    remoteId: record.remoteId,
    expiresAt: record.expiresAt,
    pending: outbox.map(item => item.kind),
    lastError,
    localError: record.localError
  })
}

/** The object without its undefined fields: answers have the same keys whether read or written. */
function withoutUndefined<T extends object> (value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
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

/** The files of the sender's latest message in a task, without their bytes. */
export function senderFiles (task: TaskJson): FileInfo[] {
  const latest = (task.history ?? []).findLast(m => m.role === 'ROLE_USER')
  return (latest?.parts ?? [])
    .filter(p => typeof p.raw === 'string')
    .map(p => withoutUndefined({ filename: p.filename, mediaType: p.mediaType, size: base64Bytes(p.raw ?? '') }))
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
