/**
 * The registry as a libp2p protocol on the relay. The publisher is always the stream's remote
 * PeerID, authenticated by Noise: no request can act on another peer's entry.
 */
import { logger } from '@libp2p/logger'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { errorResponse, isObject, RpcErrorCode, successResponse } from '../../src/core/rpc/jsonrpc.js'
import type { JsonRpcId, JsonRpcRequest, JsonRpcResponse } from '../../src/core/rpc/jsonrpc.js'
import { serveRpc } from '../../src/core/rpc/server.js'
import { REGISTRY_MAX_FRAME_BYTES, REGISTRY_PROTOCOL, RegistryMethod } from '../../src/core/registry/protocol.js'
import type { AgentEntry, DiscoverResult, PublishResult } from '../../src/core/registry/protocol.js'
import { checkCard } from '../../src/core/registry/card-schema.js'
import { base64ToBytes } from '../../src/core/a2a/parts.js'
import { InvalidAgentRecordError, MAX_AGENT_RECORD_BYTES, openAgentRecord } from '../../src/core/registry/agent-record.js'
import { MAX_TEXT_QUERY_LENGTH, RegistryFullError } from './registry.js'
import { PeerRateLimit } from './rate-limit.js'
import type { RateLimitInit } from './rate-limit.js'
import type { Registry, RegistryEntry } from './registry.js'
import type { RelayLogger } from '../logger.js'
import type { RefusalReason, RegistryOp, RegistryOutcome, RelayMetrics } from '../metrics.js'

const log = logger('starling:relay:registry')

/** How often lapsed entries are dropped, in ms. */
export const DEFAULT_SWEEP_INTERVAL_MS = 10_000
/** Registry streams one peer may hold open at once. */
export const MAX_REGISTRY_STREAMS_PER_PEER = 2
/** How long a registry stream may stay open with no call, in ms. */
export const REGISTRY_STREAM_IDLE_MS = 30_000
/** Registry calls in flight on one stream. */
export const MAX_REGISTRY_CALLS_PER_STREAM = 8

/**
 * Who may use the registry, when the relay restricts it (private mode, relay/mesh/service.ts).
 * Absent: everyone may publish and discover everything (open mode).
 */
export interface RegistryAccess {
  /** Undefined when `caller` may `op`; else why not (`reason` for programs, `message` for people). */
  check: (caller: string, op: 'publish' | 'discover') => Promise<{ reason: string, message: string } | undefined>
  /** Whether `caller` may see `publisher`'s entry in a discover. */
  visible: (caller: string, publisher: string) => boolean
}

export interface RegistryServiceInit {
  registry: Registry
  /** The relay's own addresses (with `/p2p/<relay>`), to build each agent's circuit addresses. */
  relayAddrs: () => string[]
  sweepIntervalMs?: number
  /** Counts and times every call (relay/metrics.ts). */
  metrics?: RelayMetrics
  /** Operational log: publishes, removals and refusals, at debug. */
  log?: RelayLogger
  /** Calls per peer (./rate-limit.ts). */
  rateLimit?: RateLimitInit
  /** Who may publish and discover what; absent: anyone, everything. */
  access?: RegistryAccess
}

/** The metric label of a registry method: a fixed set, whatever a peer sends. */
function opOf (method: string): RegistryOp {
  switch (method) {
    case RegistryMethod.Publish: return 'publish'
    case RegistryMethod.Remove: return 'remove'
    case RegistryMethod.Discover: return 'discover'
    default: return 'other'
  }
}

/** Why a registry call was refused, from its error code. */
function refusalOf (code: number): RefusalReason {
  switch (code) {
    case RpcErrorCode.Forbidden: return 'forbidden'
    case RpcErrorCode.Unavailable: return 'registry_full'
    case RpcErrorCode.MethodNotFound: return 'unknown_method'
    case RpcErrorCode.TooManyRequests: return 'rate_limited'
    default: return 'invalid_params'
  }
}

/** A publish's signed record, once checked: its bytes and sequence, or why it was refused. */
type CheckedRecord = { base64: string, seq: number } | { error: string, forbidden?: boolean }

/**
 * Checks a signed agent record sent with a publish: it must open (signature, domain, payload),
 * be signed by the caller itself, and hold the very card published.
 */
async function checkRecord (value: unknown, card: unknown, caller: string): Promise<CheckedRecord> {
  if (typeof value !== 'string' || value.length > Math.ceil(MAX_AGENT_RECORD_BYTES / 3) * 4) {
    return { error: `record must be a base64 signed agent record of at most ${MAX_AGENT_RECORD_BYTES} bytes` }
  }
  try {
    const record = await openAgentRecord(base64ToBytes(value))
    if (record.peerId !== caller) return { error: `the record was signed by ${record.peerId}; you are ${caller}`, forbidden: true }
    if (JSON.stringify(record.card) !== JSON.stringify(card)) return { error: 'the signed record holds another card than the one published' }
    return { base64: value, seq: record.seq }
  } catch (err) {
    if (err instanceof InvalidAgentRecordError) return { error: err.message }
    return { error: 'record is not base64' }
  }
}

export class RegistryService {
  readonly registry: Registry
  private readonly node: Libp2p
  private readonly relayAddrs: () => string[]
  private readonly sweepIntervalMs: number
  private readonly metrics?: RelayMetrics
  private readonly opsLog?: RelayLogger
  private readonly rateLimit: PeerRateLimit
  /** Signed records checked for publishes in flight, by request. */
  private readonly records = new WeakMap<JsonRpcRequest, CheckedRecord>()
  private readonly access?: RegistryAccess
  /** Publishes and discovers refused by `access`, by request: why. */
  private readonly denied = new WeakMap<JsonRpcRequest, { reason: string, message: string }>()
  private sweeper?: ReturnType<typeof setInterval>

  constructor (node: Libp2p, init: RegistryServiceInit) {
    this.node = node
    this.registry = init.registry
    this.relayAddrs = init.relayAddrs
    this.sweepIntervalMs = init.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS
    this.metrics = init.metrics
    this.opsLog = init.log
    this.rateLimit = new PeerRateLimit(init.rateLimit)
    this.access = init.access
  }

  async start (): Promise<void> {
    await this.node.handle(REGISTRY_PROTOCOL, async (stream, connection) => { await this.serve(stream, connection) }, {
      maxInboundStreams: MAX_REGISTRY_STREAMS_PER_PEER
    })
    this.node.addEventListener('peer:connect', this.onConnect)
    this.node.addEventListener('peer:disconnect', this.onDisconnect)
    this.sweeper = setInterval(() => { this.registry.sweep() }, this.sweepIntervalMs)
  }

  async stop (): Promise<void> {
    clearInterval(this.sweeper)
    this.node.removeEventListener('peer:connect', this.onConnect)
    this.node.removeEventListener('peer:disconnect', this.onDisconnect)
    await this.node.unhandle(REGISTRY_PROTOCOL)
  }

  /** An entry as the protocol and the HTTP view describe it. */
  describe (entry: RegistryEntry): AgentEntry {
    return {
      peerId: entry.peerId,
      card: entry.card,
      addresses: entry.addresses,
      expiresAt: new Date(entry.expiresAt).toISOString(),
      online: entry.offlineSince == null,
      ...(entry.record != null ? { record: entry.record } : {})
    }
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    this.registry.setOnline(evt.detail.toString(), true)
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.registry.setOnline(evt.detail.toString(), false)
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const caller = connection.remotePeer.toString()
    await serveRpc(stream, {
      maxFrameBytes: REGISTRY_MAX_FRAME_BYTES,
      maxInFlight: MAX_REGISTRY_CALLS_PER_STREAM,
      // clients close their registry stream after 5 s without a call; one held open and silent is not a client's
      idleTimeoutMs: REGISTRY_STREAM_IDLE_MS,
      // unreadable frames and invalid requests never reach `call`: counted here
      onProblem: () => { this.metrics?.refusals.inc({ reason: 'bad_frame' }) },
      handler: async (request) => {
        // who may publish or discover is decided before the (synchronous) call: it may ask the caller
        const op = request.method === RegistryMethod.Publish ? 'publish' : request.method === RegistryMethod.Discover ? 'discover' : undefined
        if (this.access != null && op != null) {
          const refusal = await this.access.check(caller, op)
          if (refusal != null) this.denied.set(request, refusal)
        }
        // a signed record is checked before the (synchronous) call: its signature takes a moment
        if (request.method === RegistryMethod.Publish && isObject(request.params) && request.params.record !== undefined) {
          this.records.set(request, await checkRecord(request.params.record, request.params.card, caller))
        }
        return this.call(request, caller)
      }
    })
  }

  /** One registry call from `caller`. Exported behaviour: every refusal says why. */
  call (request: JsonRpcRequest, caller: string): JsonRpcResponse {
    const metrics = this.metrics
    if (metrics == null && this.opsLog == null) return this.answer(request, caller)
    const op = opOf(request.method)
    const run = (): { result: JsonRpcResponse, outcome: RegistryOutcome, refusal?: RefusalReason } => {
      const result = this.answer(request, caller)
      if (!('error' in result)) {
        if (op !== 'discover') this.opsLog?.debug({ event: `registry.${op}`, peer: caller }, `registry ${op}`)
        return { result, outcome: 'ok' }
      }
      const refusal = refusalOf(result.error.code)
      // per call at debug: a flood of bad calls must not become a flood of log lines (the
      // refusal counters carry the volume; a full registry shows in /health)
      this.opsLog?.debug({ event: 'registry.refused', op, peer: caller, reason: refusal, detail: result.error.message }, 'registry call refused')
      return { result, outcome: 'refused', refusal }
    }
    return metrics == null ? run().result : metrics.measureRegistryCall(op, run)
  }

  private answer (request: JsonRpcRequest, caller: string): JsonRpcResponse {
    const id = request.id ?? null
    const wait = this.rateLimit.take(caller)
    if (wait > 0) {
      return errorResponse(id, RpcErrorCode.TooManyRequests,
        `too many registry calls: at most ${this.rateLimit.perSecond} a second per peer (bursts of ${this.rateLimit.burst}); try again in ${wait} ms`)
    }
    const denied = this.denied.get(request)
    if (denied != null) return errorResponse(id, RpcErrorCode.Forbidden, denied.message, { reason: denied.reason })
    const params = request.params ?? {}
    if (!isObject(params)) return errorResponse(id, RpcErrorCode.InvalidParams, 'params must be an object')
    if (params.peerId !== undefined && params.peerId !== caller) {
      return errorResponse(id, RpcErrorCode.Forbidden,
        `you are ${caller}; a peer can only ${request.method === RegistryMethod.Remove ? 'remove' : 'publish'} its own entry, not ${String(params.peerId)}`)
    }
    switch (request.method) {
      case RegistryMethod.Publish: return this.publish(id, params, caller, this.records.get(request))
      case RegistryMethod.Remove:
        return successResponse(id, { removed: this.registry.remove(caller) })
      case RegistryMethod.Discover: return this.discover(id, params, caller)
      default:
        return errorResponse(id, RpcErrorCode.MethodNotFound, `unknown registry method ${request.method}`)
    }
  }

  private publish (id: JsonRpcId, params: Record<string, unknown>, caller: string, record?: CheckedRecord): JsonRpcResponse {
    if (params.record !== undefined) {
      if (record == null) return errorResponse(id, RpcErrorCode.InvalidParams, 'the signed record could not be checked')
      if ('error' in record) return errorResponse(id, record.forbidden === true ? RpcErrorCode.Forbidden : RpcErrorCode.InvalidParams, record.error)
      const held = this.registry.get(caller)
      if (held?.seq != null && record.seq <= held.seq) {
        return errorResponse(id, RpcErrorCode.InvalidParams, `the signed record is not newer than the one held (sequence ${record.seq} ≤ ${held.seq})`)
      }
    }
    const ttl = params.ttlSeconds
    if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isFinite(ttl))) {
      return errorResponse(id, RpcErrorCode.InvalidParams, 'ttlSeconds must be a number')
    }
    const check = checkCard(params.card, caller)
    if (!check.ok) return errorResponse(id, check.forbidden === true ? RpcErrorCode.Forbidden : RpcErrorCode.InvalidParams, check.reason)
    try {
      const entry = this.registry.publish(caller, check.card, {
        ttlSeconds: ttl,
        addresses: this.relayAddrs().map(a => `${a}/p2p-circuit/p2p/${caller}`),
        online: this.node.getConnections().some(c => c.remotePeer.toString() === caller),
        ...(record != null && !('error' in record) ? { record: record.base64, seq: record.seq } : {})
      })
      log('%s published %s (%d skills)', caller, check.card.name, check.card.skills.length)
      const result: PublishResult = {
        expiresAt: new Date(entry.expiresAt).toISOString(),
        ttlSeconds: Math.round((entry.expiresAt - entry.publishedAt) / 1000)
      }
      return successResponse(id, result)
    } catch (err) {
      if (err instanceof RegistryFullError) return errorResponse(id, RpcErrorCode.Unavailable, err.message)
      throw err
    }
  }

  private discover (id: JsonRpcId, params: Record<string, unknown>, caller: string): JsonRpcResponse {
    const { skill, tags, limit, text, after, paged } = params
    if (text !== undefined && (typeof text !== 'string' || text.length > MAX_TEXT_QUERY_LENGTH)) {
      return errorResponse(id, RpcErrorCode.InvalidParams, `text must be a string of at most ${MAX_TEXT_QUERY_LENGTH} characters`)
    }
    if (after !== undefined && (typeof after !== 'string' || after.length > 256)) {
      return errorResponse(id, RpcErrorCode.InvalidParams, 'after must be the next cursor of a previous page')
    }
    if (paged !== undefined && typeof paged !== 'boolean') return errorResponse(id, RpcErrorCode.InvalidParams, 'paged must be true or false')
    if (skill !== undefined && (typeof skill !== 'string' || skill.length === 0 || skill.length > 128)) {
      return errorResponse(id, RpcErrorCode.InvalidParams, 'skill must be a string of 1 to 128 characters')
    }
    if (tags !== undefined && (!Array.isArray(tags) || tags.length > 32 || tags.some(t => typeof t !== 'string'))) {
      return errorResponse(id, RpcErrorCode.InvalidParams, 'tags must be an array of at most 32 strings')
    }
    if (limit !== undefined && (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 1)) {
      return errorResponse(id, RpcErrorCode.InvalidParams, 'limit must be a positive number')
    }
    const access = this.access
    const query = {
      skill,
      tags: tags as string[] | undefined,
      limit,
      text: text as string | undefined,
      after: after as string | undefined,
      ...(access != null ? { visible: (publisher: string) => access.visible(caller, publisher) } : {})
    }
    if (paged === true || after !== undefined) {
      const page = this.registry.discoverPage(query)
      const result: DiscoverResult = { agents: page.entries.map(e => this.describe(e)), ...(page.next != null ? { next: page.next } : {}) }
      return successResponse(id, result)
    }
    const result: DiscoverResult = { agents: this.registry.discover(query).map(e => this.describe(e)) }
    return successResponse(id, result)
  }
}
