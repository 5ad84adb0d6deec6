/**
 * The relay's inbound A2A HTTP bridge: `GET /a2a/<PeerID>/.well-known/agent-card.json` serves a
 * mesh agent's card with a JSON-RPC interface at `POST /a2a/<PeerID>`, whose calls are forwarded
 * to the agent over libp2p (./proxy-handler.ts). An A2A client that knows nothing of libp2p can
 * so task any agent that opted in (its signed card declares HTTP_BRIDGE_EXTENSION_URI) and that
 * is connected to this relay; any other PeerID is "not found".
 *
 * HTTP is the SDK's: `agentCardHandler` and `jsonRpcHandler` from @a2a-js/sdk/server/express,
 * with its v0.3 compatibility layer on (a request without `A2A-Version` is v0.3). Around them,
 * what a relay hosted for strangers needs: a body size limit, a per-IP rate limit, a cap on open
 * streams, a time limit on calls that wait, the forwarded call aborted when its HTTP client goes.
 */
import { AGENT_CARD_PATH, AgentCard } from '@a2a-js/sdk'
import type { Client } from '@a2a-js/sdk/client'
import { agentCardHandler, jsonRpcHandler } from '@a2a-js/sdk/server/express'
import express from 'express'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Libp2p } from '@libp2p/interface'
import { isPeerId } from '../../src/core/a2a/binding.js'
import type { AgentCardJson } from '../../src/core/a2a/json.js'
import { silentRelayLogger } from '../logger.js'
import type { RelayLogger } from '../logger.js'
import type { BridgeOutcome, RelayMetrics } from '../metrics.js'
import { PeerRateLimit } from '../registry/rate-limit.js'
import { BRIDGE_PATH, bridgeAllowed, bridgedCard, bridgeUrl } from './card.js'
import { PeerLink } from './peer-link.js'
import { BridgeCaller, BridgeRequestHandler, DEFAULT_BRIDGE_CALL_TIMEOUT_MS } from './proxy-handler.js'

/** Largest JSON-RPC request body read, in bytes: 8 MiB (a message with a few files). */
export const DEFAULT_BRIDGE_MAX_BODY_BYTES = 8 * 1024 * 1024
/** Bridged calls one client IP address may make per second, sustained (bursts of twice as many). */
export const DEFAULT_BRIDGE_CALLS_PER_SECOND = 20
/** SSE streams open at once through the bridge, all clients together. */
export const DEFAULT_BRIDGE_MAX_STREAMS = 256
/** Agents whose SDK handlers are kept between calls; the least recently used go past it. */
export const DEFAULT_BRIDGE_CACHED_AGENTS = 256

/** Where an agent's card is, under its bridge URL (the SDK's constant has no leading slash). */
const CARD_PATH = `/${AGENT_CARD_PATH}`

/** The JSON-RPC methods (v1.0 and v0.3 names) that answer with an SSE stream. */
const STREAM_METHODS = new Set(['SendStreamingMessage', 'SubscribeToTask'])

/** v0.3 method names, to their v1.0 names (metrics count calls by the v1.0 name). */
const LEGACY_METHODS: Record<string, string> = {
  'message/send': 'SendMessage',
  'message/stream': 'SendStreamingMessage',
  'tasks/get': 'GetTask',
  'tasks/cancel': 'CancelTask',
  'tasks/resubscribe': 'SubscribeToTask',
  'tasks/pushNotificationConfig/set': 'CreateTaskPushNotificationConfig',
  'tasks/pushNotificationConfig/get': 'GetTaskPushNotificationConfig',
  'tasks/pushNotificationConfig/list': 'ListTaskPushNotificationConfigs',
  'tasks/pushNotificationConfig/delete': 'DeleteTaskPushNotificationConfig',
  'agent/getAuthenticatedExtendedCard': 'GetExtendedAgentCard'
}

const V1_METHODS = new Set([
  'SendMessage', 'SendStreamingMessage', 'GetTask', 'ListTasks', 'CancelTask', 'SubscribeToTask',
  'CreateTaskPushNotificationConfig', 'GetTaskPushNotificationConfig', 'ListTaskPushNotificationConfigs',
  'DeleteTaskPushNotificationConfig', 'GetExtendedAgentCard'
])

/** JSON-RPC error codes the bridge answers with itself. */
const INVALID_REQUEST = -32600
const PARSE_ERROR = -32700
const INTERNAL_ERROR = -32603

export interface A2ABridgeInit {
  node: Pick<Libp2p, 'getConnections'>
  /** The agent's current card in the relay's registry, if it has an entry. */
  card: (peerId: string) => AgentCardJson | undefined
  /** The relay's public origin (`https://relay.example.com`); absent: `http://<Host header>`. */
  publicUrl?: string
  maxBodyBytes?: number
  callsPerSecond?: number
  maxStreams?: number
  /** Time limit of a call that waits for the agent's answer, in ms. */
  callTimeoutMs?: number
  maxCachedAgents?: number
  metrics?: RelayMetrics
  log?: RelayLogger
}

/** The SDK's handlers for one agent, at one public URL. */
interface BridgedAgent {
  card: RequestHandler
  rpc: RequestHandler
}

/** What one HTTP request through the bridge is, for its metrics and log line. */
interface BridgeCall {
  peerId: string
  method: string
  caller: BridgeCaller
  /** Set when the bridge answered itself (refused, not found…). */
  outcome?: BridgeOutcome
  reason?: string
}

export class A2ABridge {
  private readonly init: A2ABridgeInit
  private readonly log: RelayLogger
  private readonly app: express.Express
  private readonly link: PeerLink
  private readonly rateLimit: PeerRateLimit
  private readonly parseJson: RequestHandler
  private readonly agents = new Map<string, BridgedAgent>()
  private readonly callers = new WeakMap<IncomingMessage, BridgeCaller>()
  private readonly clients = new Map<string, { card: AgentCardJson, client: Promise<Client> }>()
  private readonly maxStreams: number
  private readonly maxBodyBytes: number
  private streams = 0

  constructor (init: A2ABridgeInit) {
    this.init = init
    this.log = init.log ?? silentRelayLogger()
    this.link = new PeerLink({ node: init.node })
    const perSecond = init.callsPerSecond ?? DEFAULT_BRIDGE_CALLS_PER_SECOND
    this.rateLimit = new PeerRateLimit({ perSecond, burst: 2 * perSecond })
    this.maxStreams = init.maxStreams ?? DEFAULT_BRIDGE_MAX_STREAMS
    this.maxBodyBytes = init.maxBodyBytes ?? DEFAULT_BRIDGE_MAX_BODY_BYTES
    // read before the SDK's own parser (100 KiB), which then finds the body read and skips
    this.parseJson = express.json({ limit: this.maxBodyBytes })
    this.app = express()
    this.app.disable('x-powered-by')
    this.app.set('etag', false)
    this.app.use(`${BRIDGE_PATH}/:peerId`, (req, res, next) => { this.route(req, res, next) })
    this.app.use((req: Request, res: Response) => {
      const call = this.callOf(req, res)
      this.answer(req, res, call, 404, 'not_found', `no A2A bridge route at ${req.originalUrl.split('?', 1)[0] ?? ''}: agents are at ${BRIDGE_PATH}/<PeerID>`)
    })
    this.app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => { this.onError(err, req, res) })
  }

  /** Answers one HTTP request under BRIDGE_PATH (a node:http request handler). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.app(req, res)
  }

  /** SSE streams open through the bridge now. */
  get streamsOpen (): number {
    return this.streams
  }

  /** Closes the streams to agents (calls in flight fail). */
  async close (): Promise<void> {
    await this.link.close()
  }

  private route (req: Request, res: Response, next: NextFunction): void {
    const call = this.callOf(req, res)
    const peerId = call.peerId
    const wait = this.rateLimit.take(call.caller.address)
    if (wait > 0) {
      res.setHeader('Retry-After', String(Math.ceil(wait / 1000)))
      this.answer(req, res, call, 429, 'rate_limited', `too many calls from ${call.caller.address}: try again in ${Math.ceil(wait / 1000)} s`)
      return
    }
    const card = isPeerId(peerId) ? this.init.card(peerId) : undefined
    if (card == null || !bridgeAllowed(card)) {
      // the same answer for an unknown agent and for one that did not opt in
      this.answer(req, res, call, 404, 'not_found', `no agent ${peerId} is reachable through this relay's A2A bridge (unknown, or it did not allow the bridge)`)
      return
    }
    if (!this.link.isConnected(peerId)) {
      this.answer(req, res, call, 503, 'unreachable', `agent ${peerId} is offline: it is not connected to this relay now`)
      return
    }
    const agent = this.agent(peerId, this.originOf(req))
    if (req.path === CARD_PATH) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD')
        this.answer(req, res, call, 405, 'bad_request', `${req.method} is not supported on an agent card`)
        return
      }
      call.caller.outcome = 'ok'
      agent.card(req, res, next)
      return
    }
    if (req.path !== '/') {
      this.answer(req, res, call, 404, 'not_found', `no A2A bridge route at ${req.originalUrl.split('?', 1)[0] ?? ''}`)
      return
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST')
      this.answer(req, res, call, 405, 'bad_request', `${req.method} is not supported: send A2A JSON-RPC requests with POST`)
      return
    }
    this.parseJson(req, res, (err?: unknown) => {
      if (err != null) {
        next(err)
        return
      }
      call.method = methodOf(req.body)
      if (STREAM_METHODS.has(call.method)) {
        if (this.streams >= this.maxStreams) {
          res.setHeader('Retry-After', '5')
          this.answer(req, res, call, 503, 'refused', `the bridge has ${this.maxStreams} streams open, its limit: try again later`)
          return
        }
        this.streams++
        res.once('close', () => { this.streams-- })
      }
      agent.rpc(req, res, next)
    })
  }

  /** The call a request is, made when the request arrives: it is counted and logged once it ends. */
  private callOf (req: Request, res: Response): BridgeCall {
    const existing = res.locals.bridgeCall as BridgeCall | undefined
    if (existing != null) return existing
    const controller = new AbortController()
    const caller = new BridgeCaller(req.socket.remoteAddress ?? 'unknown', controller.signal)
    const call: BridgeCall = { peerId: String(req.params.peerId ?? ''), method: 'card', caller }
    if (req.method === 'POST') call.method = 'other'
    res.locals.bridgeCall = call
    this.callers.set(req, caller)
    // a write to a client that went away is not an error worth a crash
    res.on('error', () => {})
    res.once('close', () => {
      // the HTTP client went before its answer was complete: the forwarded call stops too
      if (!res.writableFinished) controller.abort()
      this.finish(call, res)
    })
    return call
  }

  private finish (call: BridgeCall, res: Response): void {
    const outcome: BridgeOutcome = call.outcome ?? call.caller.outcome ??
      (!res.writableFinished ? 'aborted' : res.statusCode >= 500 ? 'error' : 'bad_request')
    this.init.metrics?.bridgedRequests.inc({ method: call.method, outcome })
    if (outcome === 'ok') return
    const fields = { event: 'bridge.call', outcome, peer: call.peerId, method: call.method, client: call.caller.address, status: res.statusCode }
    if (outcome === 'unreachable' || outcome === 'timeout' || outcome === 'error') this.log.warn(fields, call.reason ?? 'bridged call failed')
    else this.log.info(fields, call.reason ?? 'bridged call refused')
  }

  /** An answer from the bridge itself: a JSON-RPC error to a POST, `{ error }` to anything else. */
  private answer (req: Request, res: Response, call: BridgeCall, status: number, outcome: BridgeOutcome, message: string, code = INVALID_REQUEST): void {
    call.outcome = outcome
    call.reason = message
    res.setHeader('Cache-Control', 'no-store')
    if (req.method === 'POST') {
      const id = isObject(req.body) && (typeof req.body.id === 'string' || typeof req.body.id === 'number') ? req.body.id : null
      res.status(status).json({ jsonrpc: '2.0', id, error: { code: status >= 500 || status === 429 ? INTERNAL_ERROR : code, message } })
    } else {
      res.status(status).json({ error: message })
    }
  }

  private onError (err: unknown, req: Request, res: Response): void {
    const call = this.callOf(req, res)
    if (res.headersSent) {
      res.destroy()
      return
    }
    const type = (err as { type?: unknown }).type
    if (type === 'entity.too.large') {
      this.answer(req, res, call, 413, 'bad_request', `the request body is over ${this.maxBodyBytes} bytes, this bridge's limit`)
    } else if (type === 'entity.parse.failed') {
      // as the SDK answers a body it cannot parse: HTTP 200 with a JSON-RPC parse error
      this.answer(req, res, call, 200, 'bad_request', 'the request body is not valid JSON', PARSE_ERROR)
    } else if (typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status < 500) {
      this.answer(req, res, call, (err as { status: number }).status, 'bad_request', `the request could not be read: ${(err as Error).message}`)
    } else {
      this.log.error({ event: 'bridge.error', err }, 'bridge request failed')
      this.answer(req, res, call, 500, 'error', 'internal error')
    }
  }

  /** The public origin the served card names: the configured one, else this request's Host. */
  private originOf (req: Request): string {
    if (this.init.publicUrl != null && this.init.publicUrl !== '') return this.init.publicUrl
    const host = req.headers.host
    if (host != null && /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return `http://${host}`
    return `http://${req.socket.localAddress ?? '127.0.0.1'}:${req.socket.localPort ?? 80}`
  }

  /** The SDK's handlers for an agent at `origin`, made on first use and kept (LRU). */
  private agent (peerId: string, origin: string): BridgedAgent {
    const key = `${origin} ${peerId}`
    const cached = this.agents.get(key)
    if (cached != null) {
      this.agents.delete(key)
      this.agents.set(key, cached)
      return cached
    }
    const url = bridgeUrl(origin, peerId)
    const handler = new BridgeRequestHandler({
      peerId,
      card: async () => {
        const card = this.init.card(peerId)
        if (card == null) throw new Error(`agent ${peerId} is no longer in this relay's registry`)
        return AgentCard.fromJSON(bridgedCard(card, url))
      },
      client: async () => await this.client(peerId),
      connected: () => this.link.isConnected(peerId),
      callTimeoutMs: this.init.callTimeoutMs ?? DEFAULT_BRIDGE_CALL_TIMEOUT_MS
    })
    const agent: BridgedAgent = {
      // no caching: an agent may turn the bridge off or change its card at any time
      card: express.Router().use(CARD_PATH, agentCardHandler({ agentCardProvider: handler, cache: { maxAge: 0 }, legacyCompat: { enabled: true } })),
      rpc: jsonRpcHandler({
        requestHandler: handler,
        userBuilder: async (req) => this.callers.get(req) ?? new BridgeCaller(req.socket.remoteAddress ?? 'unknown', new AbortController().signal),
        legacyCompat: { enabled: true }
      })
    }
    this.agents.set(key, agent)
    if (this.agents.size > (this.init.maxCachedAgents ?? DEFAULT_BRIDGE_CACHED_AGENTS)) {
      const oldest = this.agents.keys().next().value
      if (oldest != null) this.agents.delete(oldest)
    }
    return agent
  }

  /** An SDK client for the agent, made again when its card changes. */
  private async client (peerId: string): Promise<Client> {
    const card = this.init.card(peerId)
    if (card == null) throw new Error(`agent ${peerId} is no longer in this relay's registry`)
    const cached = this.clients.get(peerId)
    if (cached?.card === card) return await cached.client
    const client = this.link.client(peerId, card)
    this.clients.set(peerId, { card, client })
    if (this.clients.size > (this.init.maxCachedAgents ?? DEFAULT_BRIDGE_CACHED_AGENTS)) {
      const oldest = this.clients.keys().next().value
      if (oldest != null) this.clients.delete(oldest)
    }
    client.catch(() => { if (this.clients.get(peerId)?.client === client) this.clients.delete(peerId) })
    return await client
  }
}

/** The v1.0 name of a request's method, `other` when it names none. */
function methodOf (body: unknown): string {
  const method = isObject(body) ? body.method : undefined
  if (typeof method !== 'string') return 'other'
  if (V1_METHODS.has(method)) return method
  return LEGACY_METHODS[method] ?? 'other'
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value != null && !Array.isArray(value)
}
