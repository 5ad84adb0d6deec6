/**
 * Tasks this peer sends to other agents.
 *
 * A send is stored first (state submitted, delivery queued, the message in the record's outbox)
 * and delivered by the outbox (./outbox.ts): SendMessage with `returnImmediately` and a push
 * config naming this peer, retried with the same message id until the agent accepts it or the
 * task's TTL passes. The agent then pushes every change (src/core/push); a task with no news for
 * a while is checked with GetTask, so an update lost on the way is found too. The record keeps
 * our own id (the first message's id) whatever the agent calls the task (`remoteId`), so the
 * sender has a stable id from the moment it asks.
 *
 * A plain HTTP agent (./http-agents.ts: `peerId` is its card URL) cannot push to us: the same
 * record, outbox and TTL apply, but the task is followed by SubscribeToTask when its card says
 * it streams, else by GetTask polls every DEFAULT_HTTP_POLL_MIN_MS, backing off to
 * DEFAULT_HTTP_POLL_MAX_MS while nothing changes.
 */
import { randomId } from '../ids.js'
import { logger } from '@libp2p/logger'
import { Message, SendMessageRequest, StreamResponse, Task } from '@a2a-js/sdk'
import type { Client } from '@a2a-js/sdk/client'
import { A2AError, TaskNotCancelableError, TaskNotFoundError } from '@a2a-js/sdk/errors'
import { timedSignal } from '../abort.js'
import { errorMessage, InvalidInputError, MessageTooLargeError, StarlingError, TaskStateError, UnknownTaskError } from '../errors.js'
import { interfaceUrl } from '../a2a/binding.js'
import type { MessageJson, PartJson, StreamResponseJson, TaskJson, TaskStateName } from '../a2a/json.js'
import { checkParts, checkStreamResponse, partsBytes } from '../a2a/parts.js'
import type { PushParams } from '../push/protocol.js'
import { RpcErrorCode } from '../rpc/jsonrpc.js'
import { NotCounterpartError } from '../push/service.js'
import type { OutboxItem, TaskRecord } from '../store/types.js'
import { agentMessage } from './outcome.js'
import type { Outbox } from './outbox.js'
import { DEFAULT_HTTP_POLL_MAX_MS, DEFAULT_HTTP_POLL_MIN_MS, InvalidAgentResponseError, isAgentUrl } from './http-agents.js'
import type { FollowMode } from './http-agents.js'
import { withTask } from './records.js'
import type { TaskRecords } from './records.js'
import { applyStreamResponse, INTERRUPTED_STATES, isTerminal, refusedTransition, stateLabel } from './state.js'

const log = logger('starling:outbound')

/** How long a task may wait for its agent before it fails, unless the sender says: 24 h in ms. */
export const DEFAULT_TASK_TTL_MS = 24 * 60 * 60 * 1000
/** Longest TTL a sender may ask for: 7 days in ms (a receiver remembers message ids that long). */
export const MAX_TASK_TTL_MS = 7 * 24 * 60 * 60 * 1000
/**
 * Time one delivery attempt of a small message may take before it counts as failed, in ms. An
 * agent acknowledges at once (returnImmediately), so a longer wait means a connection that died
 * without saying so; the outbox tries again on a fresh one.
 */
export const DEFAULT_DELIVERY_TIMEOUT_MS = 10_000
/** Slowest transfer a delivery attempt allows for before it counts as failed: 256 KiB/s, in bytes per second. */
const SLOWEST_TRANSFER_BYTES_PER_S = 256 * 1024
/** How long send() waits for the first delivery attempt before answering "queued", in ms. */
export const DEFAULT_SEND_WAIT_MS = 5_000
/** First GetTask check of an open task that brought no news, in ms after the last news. */
export const DEFAULT_CHECK_MIN_MS = 15_000
/** Longest wait between two checks of a task that brings no news, in ms. */
export const DEFAULT_CHECK_MAX_MS = 10 * 60 * 1000
/** When a delivery attempt is slower than this, the record says `sent` meanwhile, in ms. */
const SENT_AFTER_MS = 250

export interface OutboundTasksInit {
  records: TaskRecords
  outbox: Outbox
  /** An SDK client for the agent `peerId`. */
  client: (peerId: string) => Promise<Client>
  /** This peer's PeerID: where the agent pushes updates. */
  self: string
  checkMinMs?: number
  checkMaxMs?: number
  /**
   * How the agent `peerId` tells us what changes (./http-agents.ts). Default: a mesh peer
   * pushes; an HTTP agent (`peerId` a URL) is polled.
   */
  follow?: (peerId: string) => FollowMode
  /** First poll of an HTTP agent's task after news, in ms (DEFAULT_HTTP_POLL_MIN_MS). */
  pollMinMs?: number
  /** Longest wait between two polls of an HTTP agent's task, in ms (DEFAULT_HTTP_POLL_MAX_MS). */
  pollMaxMs?: number
}

export interface SendOptions {
  /** Continue an existing conversation. */
  contextId?: string
  /** Our id of an outbound task to continue (our answer to its input-required turn). */
  taskId?: string
  /** How long the task may wait for the agent before it fails, in ms (default 24 h, at most 7 days). */
  ttlMs?: number
  /**
   * The message's A2A metadata, e.g. `{ skill }`: the skill the task asks for, which an agent's
   * policy may allow or deny (src/core/mesh/policy.ts). A send by skill sets it.
   */
  metadata?: Record<string, unknown>
  signal?: AbortSignal
}

interface Check {
  peerId: string
  at: number
  delay: number
  /** The shortest and longest delay for this agent's tasks. */
  min: number
  max: number
}

export class OutboundTasks {
  private readonly init: OutboundTasksInit
  private readonly records: TaskRecords
  private readonly checkMinMs: number
  private readonly checkMaxMs: number
  private readonly pollMinMs: number
  private readonly pollMaxMs: number
  /** Subscriptions (SubscribeToTask) to HTTP agents' tasks, by our task id. */
  private readonly streams = new Map<string, AbortController>()
  /** How long to wait before subscribing again to a task whose last subscription brought nothing, in ms. */
  private readonly resubscribeDelays = new Map<string, number>()
  private readonly checks = new Map<string, Check>()
  private readonly watchers = new Map<string, Set<(record: TaskRecord) => void>>()
  private checkTimer?: ReturnType<typeof setTimeout>
  private controller = new AbortController()
  private unsubscribe?: () => void
  private stopped = true

  constructor (init: OutboundTasksInit) {
    this.init = init
    this.records = init.records
    this.checkMinMs = init.checkMinMs ?? DEFAULT_CHECK_MIN_MS
    this.checkMaxMs = init.checkMaxMs ?? DEFAULT_CHECK_MAX_MS
    this.pollMinMs = init.pollMinMs ?? DEFAULT_HTTP_POLL_MIN_MS
    this.pollMaxMs = init.pollMaxMs ?? DEFAULT_HTTP_POLL_MAX_MS
  }

  /** How `peerId` tells us of changes. */
  private followOf (peerId: string): FollowMode {
    return this.init.follow?.(peerId) ?? (isAgentUrl(peerId) ? 'poll' : 'push')
  }

  /** Starts following the open tasks that were delivered before a restart. */
  async start (): Promise<void> {
    this.stopped = false
    this.controller = new AbortController()
    this.unsubscribe = this.records.onChange((record) => {
      if (record.direction !== 'outbound') return
      for (const watcher of this.watchers.get(record.id) ?? []) watcher(record)
    })
    const open = await this.records.store.list({ direction: 'outbound', states: ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING'] })
    const now = Date.now()
    for (const record of open) {
      if (record.remoteId == null) continue
      // an HTTP agent's task is followed again at once (nothing else tells us what it did meanwhile);
      // the first checks of mesh tasks are spread over a few seconds: a peer with many open tasks
      // does not ask for all at once
      if (this.followOf(record.peerId) !== 'push') this.scheduleCheck(record, now)
      else this.scheduleCheck(record, now + Math.round(Math.random() * 3000))
    }
  }

  stop (): void {
    this.stopped = true
    this.unsubscribe?.()
    this.controller.abort()
    clearTimeout(this.checkTimer)
    this.checks.clear()
    for (const stream of this.streams.values()) stream.abort()
    this.streams.clear()
    this.resubscribeDelays.clear()
  }

  /** Connectivity changed: tasks of `peerId` (or of everyone) are checked now. */
  poke (peerId?: string): void {
    const now = Date.now()
    for (const check of this.checks.values()) {
      if (peerId == null || check.peerId === peerId) check.at = Math.min(check.at, now)
    }
    this.armChecks()
  }

  /**
   * Stores a message to `peerId` (a new task, or with `taskId` our answer in an existing one) and
   * tries to deliver it. Resolves with the record after the first attempt, or after
   * DEFAULT_SEND_WAIT_MS with the record still queued: delivery goes on in the background.
   */
  async send (peerId: string, parts: PartJson[], options: SendOptions = {}): Promise<TaskRecord> {
    options.signal?.throwIfAborted()
    checkParts(parts, 'the message')
    const ttl = options.ttlMs ?? DEFAULT_TASK_TTL_MS
    if (!Number.isFinite(ttl) || ttl <= 0 || ttl > MAX_TASK_TTL_MS) {
      throw new InvalidInputError(`the TTL must be between 1 ms and ${MAX_TASK_TTL_MS / 3_600_000} h`)
    }
    const now = Date.now()
    const message: MessageJson = { messageId: randomId(), role: 'ROLE_USER', parts, ...(options.metadata != null ? { metadata: options.metadata } : {}) }
    let record: TaskRecord | undefined
    if (options.taskId != null) {
      const taskId = options.taskId
      record = await this.records.update('outbound', taskId, (current) => {
        if (current == null) throw new UnknownTaskError(taskId)
        if (current.peerId !== peerId) throw new InvalidInputError(`task ${taskId} is with ${current.peerId}, not ${peerId}`)
        if (isTerminal(current.state)) throw new TaskStateError(`task ${taskId} is already ${stateLabel(current.state)}`)
        const turn: MessageJson = { ...message, contextId: current.contextId, taskId }
        const outbox = [...current.outbox ?? [], { kind: 'message' as const, message: turn, attempts: 0 }]
        return {
          ...current,
          task: { ...current.task, history: [...current.task.history ?? [], turn] },
          delivery: 'queued',
          outbox,
          outboxAt: current.outboxAt ?? now,
          expiresAt: Math.max(current.expiresAt ?? 0, now + ttl),
          updatedAt: Math.max(now, current.updatedAt)
        }
      })
    } else {
      const contextId = options.contextId ?? randomId()
      const first: MessageJson = { ...message, contextId }
      const id = message.messageId
      const created: TaskRecord = {
        direction: 'outbound',
        id,
        peerId,
        contextId,
        state: 'TASK_STATE_SUBMITTED',
        task: { id, contextId, status: { state: 'TASK_STATE_SUBMITTED', timestamp: new Date(now).toISOString() }, history: [first], artifacts: [] },
        createdAt: now,
        updatedAt: now,
        delivery: 'queued',
        expiresAt: now + ttl,
        outbox: [{ kind: 'message', message: first, attempts: 0 }],
        outboxAt: now,
        timeline: [{ state: 'TASK_STATE_SUBMITTED', at: now }]
      }
      // the first attempt goes out while the task is being stored; send() resolves once both
      // are done, so a caller never hears of a task that is not stored (in the browser a write
      // to IndexedDB costs as much as the round trip itself)
      const storing = this.records.update('outbound', id, (current) => current ?? created)
      const attempt = this.waitForAttempt(id, options.signal, created)
      record = await storing
      await attempt
    }
    if (record == null) throw new StarlingError('the task could not be stored', 'ERR_STORE')
    if (options.taskId != null) await this.waitForAttempt(record.id, options.signal)
    return await this.records.get('outbound', record.id) ?? record
  }

  /**
   * Asks the agent to cancel the task. The request is kept in the outbox like a message: it is
   * delivered when the agent can be reached. Resolves with the record after the first attempt.
   */
  async cancel (taskId: string, options: { signal?: AbortSignal } = {}): Promise<TaskRecord> {
    const record = await this.records.update('outbound', taskId, (current) => {
      if (current == null) throw new UnknownTaskError(taskId)
      if (isTerminal(current.state)) throw new TaskStateError(`task ${taskId} is already ${stateLabel(current.state)}`)
      if (current.outbox?.some(i => i.kind === 'cancel') === true) return current
      const now = Date.now()
      return { ...current, outbox: [...current.outbox ?? [], { kind: 'cancel', attempts: 0 }], outboxAt: current.outboxAt ?? now, updatedAt: Math.max(now, current.updatedAt) }
    })
    if (record == null) throw new UnknownTaskError(taskId)
    await this.waitForAttempt(taskId, options.signal)
    return await this.records.get('outbound', taskId) ?? record
  }

  /**
   * Takes back a task its agent never accepted (an attempt failed, none in flight): it fails here
   * with `reason` and its outbox is emptied. False when it was accepted or may be being accepted.
   */
  async withdraw (taskId: string, reason: string): Promise<boolean> {
    let withdrawn = false
    await this.records.update('outbound', taskId, (current) => {
      if (current == null || current.delivery !== 'queued' || current.remoteId != null) return undefined
      const head = current.outbox?.[0]
      if (head?.kind !== 'message' || head.attempts === 0) return undefined
      withdrawn = true
      return failLocally(current, reason)
    })
    return withdrawn
  }

  /** Resolves with the task once it is finished or waits for us (input-required). */
  async waitFor (taskId: string, options: { signal?: AbortSignal } = {}): Promise<TaskRecord> {
    options.signal?.throwIfAborted()
    const { promise, resolve, reject } = Promise.withResolvers<TaskRecord>()
    const watchers = this.watchers.get(taskId) ?? new Set()
    this.watchers.set(taskId, watchers)
    const onChange = (changed: TaskRecord): void => { if (isSettled(changed)) resolve(changed) }
    const onAbort = (): void => {
      reject(options.signal?.reason instanceof Error ? options.signal.reason : new StarlingError('aborted', 'ABORT_ERR'))
    }
    // listen first, then read: a change stored between the two is not missed
    watchers.add(onChange)
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const record = await this.records.get('outbound', taskId)
      if (record == null) throw new UnknownTaskError(taskId)
      if (isSettled(record)) return record
      return await promise
    } finally {
      watchers.delete(onChange)
      if (watchers.size === 0) this.watchers.delete(taskId)
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Delivers the head of an outbound task's outbox (called by the outbox). */
  async deliver (record: TaskRecord, item: OutboxItem, signal: AbortSignal): Promise<void> {
    if (item.kind === 'message') await this.deliverMessage(record, item.message, signal)
    else if (item.kind === 'cancel') await this.deliverCancel(record, signal)
    else await this.dropHead(record, item)
  }

  /** The TTL of a task passed with requests undelivered: it fails, saying why. */
  async expire (record: TaskRecord): Promise<void> {
    await this.records.update('outbound', record.id, (current) => {
      if (current == null) return undefined
      const lastError = current.outbox?.find(i => i.lastError != null)?.lastError
      const undelivered = current.outbox?.some(i => i.kind === 'message') === true
      const reason = undelivered
        ? `not delivered: the agent ${current.peerId} could not be reached before the task's TTL ran out${lastError != null ? ` (last error: ${lastError})` : ''}`
        : `the agent ${current.peerId} could not be reached before the task's TTL ran out${lastError != null ? ` (last error: ${lastError})` : ''}`
      return failLocally(current, reason)
    })
    this.checks.delete(record.id)
  }

  /** An update pushed by `from` (src/core/push). Throws a typed error to refuse it. */
  async receivePush (from: string, params: PushParams): Promise<void> {
    checkStreamResponse(params.update)
    let refused: Error | undefined
    const stored = await this.records.update('outbound', params.token, (current) => {
      if (current == null) throw new UnknownTaskError(params.token)
      if (current.peerId !== from) throw new NotCounterpartError(`task ${params.token} was sent to ${current.peerId}, not to ${from}`)
      const remoteId = remoteIdOf(params.update)
      if (remoteId == null) throw new InvalidInputError('a push carries a task, a status update or an artifact update')
      if (current.remoteId != null && remoteId !== current.remoteId) {
        throw new InvalidInputError(`the update is for task ${remoteId}; this task is ${current.remoteId} at the agent`)
      }
      const local = toLocal(params.update, current.id)
      const why = refusedTransition(current.task, local)
      if (why != null) {
        // a repeat of a final update (a retried push) is not an error
        if (isTerminal(current.state) && local.statusUpdate?.status.state === current.state) return undefined
        if (isTerminal(current.state) && local.task?.status.state === current.state) return undefined
        refused = new TaskStateError(`refused: ${why}`)
        return undefined
      }
      return applied(current, local, remoteId)
    })
    if (refused != null) throw refused
    if (stored != null) this.noteNews(stored)
  }

  private async deliverMessage (record: TaskRecord, message: MessageJson, signal: AbortSignal): Promise<void> {
    const continuing = message.taskId != null
    if (continuing && record.remoteId == null) {
      // our first message never reached the agent, so there is no task there to continue
      await this.records.update('outbound', record.id, current => current == null ? undefined : failLocally(current, 'the task was never accepted by the agent'))
      return
    }
    const outgoing: MessageJson = continuing ? { ...message, taskId: record.remoteId } : message
    const pushed = this.followOf(record.peerId) === 'push'
    const request = SendMessageRequest.fromJSON({
      message: outgoing,
      configuration: {
        acceptedOutputModes: [],
        returnImmediately: true,
        // our own message (and its files) need not come back with the answer
        historyLength: 0,
        // the agent tells us what changes over /starling/push, with our id of the task as the
        // token; an HTTP agent cannot reach us, so its tasks are followed from here instead
        ...(pushed ? { taskPushNotificationConfig: { url: interfaceUrl(this.init.self), token: record.id } } : {})
      }
    })
    const sentTimer = setTimeout(() => {
      void this.records.update('outbound', record.id, current => current?.delivery === 'queued' ? { ...current, delivery: 'sent' } : undefined).catch(() => {})
    }, SENT_AFTER_MS)
    let result: Awaited<ReturnType<Client['sendMessage']>>
    try {
      const client = await this.init.client(record.peerId)
      // a message with files gets the time to move them at a slow link's pace
      const timeout = DEFAULT_DELIVERY_TIMEOUT_MS + Math.ceil(partsBytes(message.parts) / SLOWEST_TRANSFER_BYTES_PER_S) * 1000
      const timed = timedSignal(signal, timeout, `the agent did not acknowledge the message within ${Math.round(timeout / 1000)} s`)
      try {
        result = await client.sendMessage(request, { signal: timed.signal })
      } finally {
        timed.clear()
      }
    } catch (err) {
      if (!isPermanent(err)) throw err
      await this.records.update('outbound', record.id, current => current == null
        ? undefined
        : failLocally(current, err instanceof InvalidAgentResponseError
          ? `the agent's answer was refused: ${errorMessage(err)}`
          : `the agent refused the message: ${errorMessage(err)}`))
      return
    } finally {
      clearTimeout(sentTimer)
    }
    let item: StreamResponseJson
    try {
      // the agent answered at once without making a task of it, or with its task
      item = 'messageId' in result ? { message: Message.toJSON(result) as MessageJson } : { task: Task.toJSON(result) as TaskJson }
    } catch (err) {
      await this.records.update('outbound', record.id, current => current == null
        ? undefined
        : failLocally(current, `the agent's answer was refused: it is not an A2A task or message (${errorMessage(err)})`))
      return
    }
    const stored = await this.records.update('outbound', record.id, (current) => {
      if (current == null) return undefined
      const rest = dropItem(current, message.messageId)
      if (item.message != null) return answeredDirectly(rest, item.message)
      const task = item.task
      if (task == null) return rest
      try {
        checkStreamResponse(item)
      } catch (err) {
        return failLocally(rest, `the agent's answer was refused: ${errorMessage(err)}`)
      }
      if (current.remoteId != null && task.id !== current.remoteId) {
        return failLocally(rest, `the agent answered with task ${task.id}, not ${current.remoteId}`)
      }
      const local = toLocal(item, current.id)
      if (refusedTransition(rest.task, local) != null) return { ...rest, delivery: 'delivered', remoteId: task.id }
      return applied(rest, local, task.id)
    })
    if (stored != null) this.noteNews(stored)
  }

  private async deliverCancel (record: TaskRecord, signal: AbortSignal): Promise<void> {
    if (record.remoteId == null) {
      // the task never reached the agent: canceling it here is all there is to do
      await this.records.update('outbound', record.id, current => current == null
        ? undefined
        : withTask({ ...current, outbox: undefined, outboxAt: undefined }, {
          ...current.task,
          status: { state: 'TASK_STATE_CANCELED', timestamp: new Date().toISOString(), message: agentMessage(current.id, current.contextId, [{ text: 'canceled before it reached the agent' }]) }
        }))
      return
    }
    let task: TaskJson | undefined
    let note: string | undefined
    try {
      const client = await this.init.client(record.peerId)
      const timed = timedSignal(signal, DEFAULT_DELIVERY_TIMEOUT_MS)
      try {
        task = Task.toJSON(await client.cancelTask({ id: record.remoteId, tenant: '', metadata: {} }, { signal: timed.signal })) as TaskJson
      } finally {
        timed.clear()
      }
    } catch (err) {
      if (!isPermanent(err)) throw err
      // too late (finished meanwhile) or unknown there: the cancel is over; a check tells the rest
      note = err instanceof TaskNotCancelableError ? undefined : `the cancel was refused: ${errorMessage(err)}`
      if (err instanceof TaskNotFoundError) note = 'the agent no longer knows this task'
    }
    const stored = await this.records.update('outbound', record.id, (current) => {
      if (current == null) return undefined
      const rest = { ...current, outbox: current.outbox?.filter(i => i.kind !== 'cancel') }
      if (rest.outbox?.length === 0) { rest.outbox = undefined; rest.outboxAt = undefined }
      if (task == null) return note == null ? rest : { ...rest, localError: note }
      const local = toLocal({ task }, current.id)
      return refusedTransition(rest.task, local) == null ? applied(rest, local, task.id) : rest
    })
    if (stored != null) this.noteNews(stored, 0)
  }

  private async dropHead (record: TaskRecord, item: OutboxItem): Promise<void> {
    await this.records.update('outbound', record.id, (current) => {
      if (current?.outbox?.[0]?.kind !== item.kind) return undefined
      return withOutbox(current, current.outbox.slice(1))
    })
  }

  /** Waits for the first delivery attempt of a task, at most DEFAULT_SEND_WAIT_MS. */
  private async waitForAttempt (id: string, signal?: AbortSignal, record?: TaskRecord): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, DEFAULT_SEND_WAIT_MS)
      signal?.addEventListener('abort', () => { resolve() }, { once: true })
    })
    try {
      await Promise.race([this.init.outbox.attempt('outbound', id, record), waited])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * News of a task arrived: its next check moves back (or goes, when it is settled). An HTTP
   * agent's task is polled sooner; a streaming one's subscription opens now (unless it is open).
   */
  private noteNews (record: TaskRecord, delayMs?: number): void {
    if (isSettled(record) || record.remoteId == null) {
      this.checks.delete(record.id)
      return
    }
    const follow = this.followOf(record.peerId)
    if (follow === 'stream') {
      if (!this.streams.has(record.id)) this.scheduleCheck(record, Date.now())
      return
    }
    const delay = delayMs ?? (follow === 'poll' ? this.pollMinMs : this.checkMinMs)
    this.scheduleCheck(record, Date.now() + delay, delay)
  }

  private scheduleCheck (record: TaskRecord, at: number, delay?: number): void {
    if (this.stopped) return
    const http = this.followOf(record.peerId) !== 'push'
    const min = http ? this.pollMinMs : this.checkMinMs
    const max = http ? this.pollMaxMs : this.checkMaxMs
    this.checks.set(record.id, { peerId: record.peerId, at, delay: Math.min(Math.max(delay ?? min, min), max), min, max })
    this.armChecks()
  }

  private armChecks (): void {
    clearTimeout(this.checkTimer)
    if (this.stopped || this.checks.size === 0) return
    let next = Number.POSITIVE_INFINITY
    for (const check of this.checks.values()) next = Math.min(next, check.at)
    this.checkTimer = setTimeout(() => { void this.runChecks() }, Math.min(Math.max(next - Date.now(), 0), 2 ** 31 - 1))
    const timer = this.checkTimer as { unref?: () => void }
    timer.unref?.()
  }

  private async runChecks (): Promise<void> {
    const now = Date.now()
    const due = [...this.checks].filter(([, check]) => check.at <= now)
    for (const [, check] of due) {
      // pushed back first, so that a check that hangs is not started twice
      check.at = now + check.delay
      check.delay = Math.min(check.delay * 2, check.max)
    }
    await Promise.all(due.map(async ([id]) => { await this.check(id) }))
    this.armChecks()
  }

  /**
   * Asks the agent for a task that brought no news for a while; a streaming HTTP agent's task is
   * subscribed to instead, unless `poll` (the subscription just ended: where is the task now?).
   */
  private async check (id: string, poll = false): Promise<void> {
    const record = await this.records.get('outbound', id)
    if (record?.remoteId == null || isSettled(record)) {
      this.checks.delete(id)
      this.resubscribeDelays.delete(id)
      return
    }
    const follow = this.followOf(record.peerId)
    if (follow === 'stream' && !poll && !this.streams.has(id)) {
      // the subscription runs on its own; its end brings the next check
      this.checks.delete(id)
      void this.subscribe(record)
      return
    }
    const remoteId = record.remoteId
    try {
      const client = await this.init.client(record.peerId)
      const timed = timedSignal(this.controller.signal, DEFAULT_DELIVERY_TIMEOUT_MS)
      let task: TaskJson
      try {
        // the agent's status says where the task is; a mesh agent's messages come by push, an
        // HTTP agent's only with the task: its whole history is asked for
        const response = await client.getTask({ id: remoteId, tenant: '', historyLength: follow === 'push' ? 0 : undefined }, { signal: timed.signal })
        task = Task.toJSON(response) as TaskJson
      } finally {
        timed.clear()
      }
      if (follow !== 'push' && !await this.checkHttpUpdate(id, { task })) { this.checks.delete(id); return }
      checkStreamResponse({ task })
      const stored = await this.records.update('outbound', id, (current) => {
        if (current == null) return undefined
        if (follow !== 'push' && task.id !== remoteId) {
          return isTerminal(current.state) ? undefined : failLocally(current, `the agent answered with task ${task.id}, not ${remoteId}`)
        }
        const local = toLocal({ task }, current.id)
        return refusedTransition(current.task, local) == null ? applied(current, local, remoteId) : undefined
      })
      if (stored != null && isSettled(stored)) this.checks.delete(id)
    } catch (err) {
      if (this.stopped) return
      if (err instanceof TaskNotFoundError) {
        await this.records.update('outbound', id, current => current == null || isTerminal(current.state) ? undefined : failLocally(current, 'the agent no longer knows this task'))
        this.checks.delete(id)
        return
      }
      if (err instanceof InvalidAgentResponseError) {
        await this.records.update('outbound', id, current => current == null || isTerminal(current.state) ? undefined : failLocally(current, `the agent's answer was refused: ${errorMessage(err)}`))
        this.checks.delete(id)
        return
      }
      log('checking task %s with %s failed - %s', id, record.peerId, errorMessage(err))
      if (!isPermanent(err) && record.expiresAt != null && record.expiresAt <= Date.now()) {
        await this.expire(record)
      }
    }
  }

  /**
   * Follows an HTTP agent's task with SubscribeToTask until the stream ends, applying each update
   * as it comes. Then one GetTask check says where the task is (a stream may end, or be refused,
   * as the task finishes); while it is still open the subscription is opened again after the
   * check's delay, which doubles while subscriptions bring nothing.
   */
  private async subscribe (record: TaskRecord): Promise<void> {
    const id = record.id
    const remoteId = record.remoteId
    if (remoteId == null || this.stopped) return
    const controller = new AbortController()
    this.streams.set(id, controller)
    const signal = AbortSignal.any([this.controller.signal, controller.signal])
    let news = false
    try {
      const client = await this.init.client(record.peerId)
      for await (const response of client.resubscribeTask({ id: remoteId, tenant: '' }, { signal })) {
        let update: StreamResponseJson
        try {
          update = StreamResponse.toJSON(response) as StreamResponseJson
        } catch (err) {
          throw new InvalidAgentResponseError(`the agent sent an update that is not A2A (${errorMessage(err)})`)
        }
        if (!await this.checkHttpUpdate(id, update)) return
        const { record: stored, changed } = await this.applyHttpUpdate(id, update, remoteId)
        news ||= changed
        if (stored == null || isSettled(stored)) break
      }
    } catch (err) {
      if (signal.aborted) return
      if (err instanceof InvalidAgentResponseError) {
        await this.records.update('outbound', id, current => current == null || isTerminal(current.state) ? undefined : failLocally(current, `the agent's answer was refused: ${errorMessage(err)}`))
        return
      }
      log('following task %s at %s failed - %s', id, record.peerId, errorMessage(err))
    } finally {
      if (this.streams.get(id) === controller) this.streams.delete(id)
    }
    if (this.stopped) return
    // a GetTask now, then (if the task is still open) a new subscription after the delay
    await this.check(id, true)
    const current = await this.records.get('outbound', id)
    if (current == null || isSettled(current) || this.stopped || this.streams.has(id)) {
      this.resubscribeDelays.delete(id)
      return
    }
    const previous = this.resubscribeDelays.get(id)
    const delay = news || previous == null ? this.pollMinMs : Math.min(previous * 2, this.pollMaxMs)
    this.resubscribeDelays.set(id, delay)
    this.checks.set(id, { peerId: current.peerId, at: Date.now() + delay, delay, min: this.pollMinMs, max: this.pollMaxMs })
    this.armChecks()
  }

  /**
   * Checks an update an HTTP agent sent (nothing vouches for it but the agent): one that is not
   * A2A fails the task, saying why. False when it did.
   */
  private async checkHttpUpdate (id: string, update: StreamResponseJson): Promise<boolean> {
    try {
      checkStreamResponse(update)
      return true
    } catch (err) {
      await this.records.update('outbound', id, current => current == null || isTerminal(current.state) ? undefined : failLocally(current, `the agent's answer was refused: ${errorMessage(err)}`))
      return false
    }
  }

  /** Applies an update from an HTTP agent's stream; a task id other than its own fails the task. */
  private async applyHttpUpdate (id: string, update: StreamResponseJson, remoteId: string): Promise<{ record?: TaskRecord, changed: boolean }> {
    let changed = false
    const record = await this.records.update('outbound', id, (current) => {
      if (current == null || isTerminal(current.state)) return undefined
      const about = remoteIdOf(update)
      if (about == null) return undefined
      changed = true
      if (about !== remoteId) return failLocally(current, `the agent sent an update of task ${about}; this task is ${remoteId} at the agent`)
      const local = toLocal(update, current.id)
      if (refusedTransition(current.task, local) != null) { changed = false; return undefined }
      return applied(current, local, remoteId)
    })
    return { record, changed }
  }
}

/** JSON-RPC errors after which the same request may succeed later. */
const RETRIABLE_RPC_CODES: ReadonlySet<number> = new Set([
  RpcErrorCode.InternalError, RpcErrorCode.TooManyRequests, RpcErrorCode.Unavailable,
  // the answer did not fit the relayed connection: the next try goes over a fresh one, or a direct one
  RpcErrorCode.TooLargeForRelay
])

/** Whether an error from the agent means retrying the same request cannot succeed. */
function isPermanent (err: unknown): boolean {
  if (err instanceof A2AError) {
    // an internal error at the agent (its store failed), an agent stopping, or one with too many
    // calls in flight may all pass
    const code = (err as { envelopeCode?: number }).envelopeCode
    return code == null || !RETRIABLE_RPC_CODES.has(code)
  }
  // a message over the binding's size limit stays over it
  return err instanceof InvalidInputError || err instanceof MessageTooLargeError
}

/** The agent's task id an update is about. */
function remoteIdOf (update: StreamResponseJson): string | undefined {
  return update.task?.id ?? update.statusUpdate?.taskId ?? update.artifactUpdate?.taskId
}

/** An update from the agent, with our id of the task in place of the agent's. */
function toLocal (update: StreamResponseJson, localId: string): StreamResponseJson {
  if (update.task != null) return { task: { ...update.task, id: localId } }
  if (update.statusUpdate != null) return { statusUpdate: { ...update.statusUpdate, taskId: localId } }
  if (update.artifactUpdate != null) return { artifactUpdate: { ...update.artifactUpdate, taskId: localId } }
  return update
}

/** `record` with an update from its agent applied; delivered, since the agent has the task. */
function applied (record: TaskRecord, local: StreamResponseJson, remoteId: string): TaskRecord {
  let task = applyStreamResponse(record.task, local)
  // the agent's copy of the history may be shorter than ours (historyLength): keep our messages
  if (local.task != null) task = { ...task, history: mergeHistory(record.task.history ?? [], task.history ?? []) }
  const next = withTask({ ...record, remoteId, delivery: 'delivered' }, task)
  return isTerminal(next.state) ? withOutbox(next, next.outbox?.filter(i => i.kind === 'message') ?? []) : next
}

function mergeHistory (ours: MessageJson[], theirs: MessageJson[]): MessageJson[] {
  const seen = new Set(theirs.map(m => m.messageId))
  const missing = ours.filter(m => !seen.has(m.messageId))
  return missing.length === 0 ? theirs : [...missing, ...theirs]
}

/** The agent answered a new task with a message instead of a task: kept as a completed task. */
function answeredDirectly (record: TaskRecord, reply: MessageJson): TaskRecord {
  const task: TaskJson = {
    ...record.task,
    status: { state: 'TASK_STATE_COMPLETED', message: reply, timestamp: new Date().toISOString() },
    history: [...record.task.history ?? [], reply]
  }
  return withTask({ ...record, delivery: 'delivered' }, task)
}

/** `record` without the outbox message `messageId`. */
function dropItem (record: TaskRecord, messageId: string): TaskRecord {
  return withOutbox(record, (record.outbox ?? []).filter(i => i.kind !== 'message' || i.message.messageId !== messageId))
}

function withOutbox (record: TaskRecord, outbox: OutboxItem[]): TaskRecord {
  return outbox.length === 0
    ? { ...record, outbox: undefined, outboxAt: undefined }
    : { ...record, outbox, outboxAt: record.outboxAt ?? Date.now() }
}

/** The task failed here, not at the agent: what is owed is dropped and `reason` says why. */
function failLocally (record: TaskRecord, reason: string): TaskRecord {
  const base = { ...record, outbox: undefined, outboxAt: undefined, localError: reason }
  if (isTerminal(record.state)) return base
  const state: TaskStateName = 'TASK_STATE_FAILED'
  return withTask(base, {
    ...record.task,
    status: { state, timestamp: new Date().toISOString(), message: agentMessage(record.id, record.contextId, [{ text: reason }]) }
  })
}

/**
 * A task the sender need not follow further: finished, or waiting for the sender itself (and not
 * already answered by a message still in our outbox).
 */
function isSettled (record: TaskRecord): boolean {
  if (isTerminal(record.state)) return true
  return INTERRUPTED_STATES.includes(record.state) && record.outbox?.some(i => i.kind === 'message') !== true
}
