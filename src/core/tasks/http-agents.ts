/**
 * Plain HTTP A2A agents: agents that are not on the mesh but serve A2A over HTTP (the SDK's
 * JSON-RPC or HTTP+JSON bindings), reached by the URL of their agent card.
 *
 * Such an agent is named in a task record by its normalised card URL (`agentCardUrl`), in the
 * field that holds a PeerID for mesh agents: a PeerID never contains ':', so the two cannot be
 * mixed up (`isAgentUrl`). Its card is fetched and checked before anything is stored, and kept in
 * the agent directory under the same URL (its name is what lists show).
 *
 * Everything an HTTP agent answers comes through `boundedFetch`: a body over the size limit, or a
 * body that claims to be JSON and is not, is refused with a typed error before the SDK reads it,
 * so a misbehaving server fails a task clearly instead of filling memory.
 */
import { AGENT_CARD_PATH, AgentCard } from '@a2a-js/sdk'
import type { Client, ClientFactory } from '@a2a-js/sdk/client'
import { InvalidInputError, StarlingError } from '../errors.js'
import type { AgentCardJson } from '../a2a/json.js'
import { agentCardSchema, MAX_CARD_BYTES } from '../registry/card-schema.js'

/** Time a fetch of an agent card may take, in ms. */
export const DEFAULT_CARD_TIMEOUT_MS = 10_000
/**
 * Largest body an HTTP agent may answer one request with, in bytes: 56 MiB, as large as the
 * largest A2A message the libp2p binding carries (a task with its files).
 */
export const DEFAULT_HTTP_MAX_BODY_BYTES = 56 * 1024 * 1024
/**
 * Most bytes one SSE stream (SendStreamingMessage / SubscribeToTask) may carry before it is cut,
 * in bytes: 4 × DEFAULT_HTTP_MAX_BODY_BYTES. A cut stream is opened again, starting with the
 * task's current snapshot, so a long task only costs a reconnection now and then.
 */
export const DEFAULT_HTTP_MAX_STREAM_BYTES = 4 * DEFAULT_HTTP_MAX_BODY_BYTES
/** First GetTask poll of an HTTP agent's task that brought no news, in ms after the last news. */
export const DEFAULT_HTTP_POLL_MIN_MS = 1_000
/** Longest wait between two polls (or stream reconnections) of an HTTP agent's task, in ms. */
export const DEFAULT_HTTP_POLL_MAX_MS = 30_000

/** Protocol bindings of the SDK's default HTTP transports. */
const HTTP_BINDINGS: ReadonlySet<string> = new Set(['JSONRPC', 'HTTP+JSON'])

/** The agent card could not be fetched, or what came is not a card we can use. */
export class AgentCardError extends StarlingError {
  /** The card URL asked for. */
  readonly url: string
  /** unreachable: no answer (it may come back); cors: a browser may not ask it; refused: it answered, not with a usable card. */
  readonly reason: 'unreachable' | 'cors' | 'refused'

  constructor (url: string, message: string, reason: AgentCardError['reason'] = 'refused', options?: ErrorOptions) {
    super(message, 'ERR_AGENT_CARD', options)
    this.url = url
    this.reason = reason
  }
}

/**
 * An HTTP agent answered with something that is not an A2A answer (not JSON, too large). Being
 * an InvalidInputError, a delivery that meets it is not retried: the task fails saying so.
 */
export class InvalidAgentResponseError extends InvalidInputError {}

/** Whether `peerId` names an HTTP agent (its card URL) rather than a mesh peer (a PeerID). */
export function isAgentUrl (peerId: string): boolean {
  return /^https?:\/\//i.test(peerId)
}

/**
 * The card URL of the agent at `input`: the URL itself when it names a `.json` file (a card at
 * `/.well-known/agent-card.json` or anywhere else), else the agent's base URL with
 * AGENT_CARD_PATH appended. Normalised (lowercase scheme and host, no fragment, no credentials)
 * so that one agent is one string. Throws InvalidInputError for anything but an http(s) URL.
 */
export function agentCardUrl (input: string): string {
  let url: URL
  try {
    url = new URL(input.trim())
  } catch {
    throw new InvalidInputError(`"${input}" is not a URL: give the agent's card URL, like https://agent.example/.well-known/agent-card.json`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidInputError(`${url.protocol} URLs are not supported: an A2A agent card is fetched over http or https`)
  }
  if (url.username !== '' || url.password !== '') throw new InvalidInputError('the agent URL must not carry a user name or password')
  url.hash = ''
  if (!url.pathname.toLowerCase().endsWith('.json')) {
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${AGENT_CARD_PATH.replace(/^\/+/, '')}`
    url.search = ''
  }
  return url.href
}

/**
 * Checks a card an HTTP agent serves: the registry's card schema and size limits, and at least
 * one http(s) interface over a binding the SDK's client speaks. Throws AgentCardError.
 */
export function checkHttpAgentCard (value: unknown, url: string): AgentCardJson {
  const size = new TextEncoder().encode(JSON.stringify(value ?? null)).byteLength
  if (size > MAX_CARD_BYTES) throw new AgentCardError(url, `the agent card at ${url} is ${size} bytes; the limit is ${MAX_CARD_BYTES}`)
  const parsed = agentCardSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = ['card', ...(issue?.path ?? [])].map(p => typeof p === 'number' ? `[${p}]` : `.${String(p)}`).join('').slice(1)
    throw new AgentCardError(url, `the agent card at ${url} is not a valid A2A card: ${path}: ${issue?.message ?? 'invalid'}`)
  }
  const card = parsed.data as AgentCardJson
  const usable = card.supportedInterfaces.some(i => HTTP_BINDINGS.has(i.protocolBinding) && isAgentUrl(i.url))
  if (!usable) {
    throw new AgentCardError(url, `the agent at ${url} lists no http(s) interface with the JSONRPC or HTTP+JSON binding`)
  }
  return card
}

export interface FetchCardOptions {
  signal?: AbortSignal
  fetch?: typeof fetch
  timeoutMs?: number
}

/**
 * Fetches and checks the card at `url` (a normalised card URL). Throws AgentCardError saying
 * why: unreachable, an HTTP error, not JSON, not a card — or, in a browser, that the agent does
 * not allow requests from web pages (CORS).
 */
export async function fetchAgentCard (url: string, options: FetchCardOptions = {}): Promise<AgentCardJson> {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis)
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_CARD_TIMEOUT_MS)
  const signal = options.signal == null ? timeout : AbortSignal.any([options.signal, timeout])
  let response: Response
  try {
    response = await fetchImpl(url, { headers: { Accept: 'application/json' }, signal })
  } catch (err) {
    options.signal?.throwIfAborted()
    if (timeout.aborted) throw new AgentCardError(url, `the agent at ${url} did not answer within ${Math.round((options.timeoutMs ?? DEFAULT_CARD_TIMEOUT_MS) / 1000)} s`, 'unreachable', { cause: err })
    if (await blockedByCors(url, fetchImpl)) {
      throw new AgentCardError(url, `this agent does not accept requests from browsers (CORS): ${new URL(url).origin} does not allow this page's origin`, 'cors', { cause: err })
    }
    throw new AgentCardError(url, `could not reach the agent at ${url}: ${causeOf(err)}`, 'unreachable', { cause: err })
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {})
    throw new AgentCardError(url, `the agent at ${url} answered HTTP ${response.status}${response.statusText !== '' ? ` ${response.statusText}` : ''}${response.status === 404 ? ': no agent card there' : ''}`)
  }
  let text: string
  try {
    text = await readBounded(response, MAX_CARD_BYTES)
  } catch (err) {
    throw new AgentCardError(url, `the agent card at ${url} could not be read: ${causeOf(err)}`, 'refused', { cause: err })
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new AgentCardError(url, `the answer at ${url} is not JSON, so not an agent card (it starts "${preview(text)}")`)
  }
  return checkHttpAgentCard(value, url)
}

/**
 * In a browser, a fetch refused by CORS and one that found no server fail alike (a bare
 * TypeError). An opaque `no-cors` request tells them apart: it succeeds when a server answered.
 * Outside a browser there is no CORS, so the question does not arise.
 */
async function blockedByCors (url: string, fetchImpl: typeof fetch): Promise<boolean> {
  if (!('document' in globalThis)) return false
  try {
    await fetchImpl(url, { mode: 'no-cors', signal: AbortSignal.timeout(DEFAULT_CARD_TIMEOUT_MS) })
    return true
  } catch {
    return false
  }
}

/**
 * A fetch for the SDK's HTTP transports that refuses what no A2A agent should answer: a JSON body
 * over `maxBodyBytes` or one that does not parse (InvalidAgentResponseError), an SSE stream past
 * `maxStreamBytes` (cut with the same error). Other answers (HTTP errors, which the SDK reports
 * itself) pass as they came.
 */
export function boundedFetch (init: { fetch?: typeof fetch, maxBodyBytes?: number, maxStreamBytes?: number } = {}): typeof fetch {
  const maxBody = init.maxBodyBytes ?? DEFAULT_HTTP_MAX_BODY_BYTES
  const maxStream = init.maxStreamBytes ?? DEFAULT_HTTP_MAX_STREAM_BYTES
  return async (input, requestInit) => {
    const fetchImpl = init.fetch ?? globalThis.fetch.bind(globalThis)
    const response = await fetchImpl(input, requestInit)
    const type = response.headers.get('content-type') ?? ''
    if (type.startsWith('text/event-stream')) {
      if (response.body == null) return response
      let seen = 0
      const limited = response.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
        transform (chunk, controller) {
          seen += chunk.byteLength
          if (seen > maxStream) {
            controller.error(new InvalidAgentResponseError(`the agent's event stream passed ${maxStream} bytes`))
            return
          }
          controller.enqueue(chunk)
        }
      }))
      return new Response(limited, { status: response.status, statusText: response.statusText, headers: response.headers })
    }
    // an HTTP error's body is the SDK's to report (it is read for a JSON-RPC error, at most the limit)
    const text = await readBounded(response, maxBody)
    if (response.ok) {
      try {
        JSON.parse(text)
      } catch {
        throw new InvalidAgentResponseError(`the agent answered with something that is not JSON (HTTP ${response.status}, ${type !== '' ? type : 'no content type'}, starting "${preview(text)}")`)
      }
    }
    return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers })
  }
}

/** The body of `response` as text, refusing (and cancelling) one over `maxBytes`. */
async function readBounded (response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN)
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {})
    throw new InvalidAgentResponseError(`the agent's answer is ${declared} bytes; the limit is ${maxBytes}`)
  }
  if (response.body == null) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => {})
      throw new InvalidAgentResponseError(`the agent's answer passed ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) { bytes.set(chunk, offset); offset += chunk.byteLength }
  return new TextDecoder().decode(bytes)
}

function preview (text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > 60 ? `${flat.slice(0, 60)}…` : flat
}

/** Node's fetch says "fetch failed" and keeps the reason (ECONNREFUSED, …) in `cause`. */
function causeOf (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const cause = err.cause as { code?: unknown, message?: unknown } | undefined
  if (cause != null && typeof cause.code === 'string') return `${err.message} (${cause.code})`
  if (cause != null && typeof cause.message === 'string') return `${err.message} (${cause.message})`
  return err.message
}


/** How this peer hears of a task's changes. push: a mesh agent pushes them; stream / poll: an HTTP agent (which cannot reach us) is followed. */
export type FollowMode = 'push' | 'stream' | 'poll'

export interface HttpAgentsInit {
  /** The card known for an agent (the agent directory), by card URL. */
  known: (url: string) => AgentCardJson | undefined
  /** Keeps a card fetched from an agent (the agent directory). */
  remember: (url: string, card: AgentCardJson) => Promise<void>
  /** The fetch to use (default: the platform's). */
  fetch?: typeof fetch
}

/**
 * SDK clients for HTTP agents, one per card URL and card (a new card makes a new client), over
 * the SDK's own JSON-RPC and HTTP+JSON transports behind `boundedFetch`. The SDK's client side is
 * loaded on first use.
 */
export class HttpAgents {
  private readonly init: HttpAgentsInit
  private readonly fetchImpl: typeof fetch
  private readonly clients = new Map<string, { card: AgentCardJson, client: Promise<Client> }>()
  private factory?: Promise<ClientFactory>

  constructor (init: HttpAgentsInit) {
    this.init = init
    this.fetchImpl = boundedFetch({ fetch: init.fetch })
  }

  /**
   * Fetches and checks the card at `input` (any URL of the agent), and keeps it. When the agent
   * cannot be reached but its card is known, the known card is used: a task to an agent that is
   * down is queued like one to a mesh peer that is offline.
   */
  async add (input: string, options: { signal?: AbortSignal } = {}): Promise<{ url: string, card: AgentCardJson }> {
    const url = agentCardUrl(input)
    let card: AgentCardJson
    try {
      card = await fetchAgentCard(url, { signal: options.signal, fetch: this.init.fetch })
    } catch (err) {
      const known = this.init.known(url)
      if (known != null && err instanceof AgentCardError && err.reason === 'unreachable') return { url, card: known }
      throw err
    }
    await this.init.remember(url, card)
    return { url, card }
  }

  /** How a task of the agent at `url` is followed: by stream when its card says it can. */
  follow (url: string): FollowMode {
    return this.init.known(url)?.capabilities.streaming === true ? 'stream' : 'poll'
  }

  /** An SDK client for the agent whose card is at `url` (fetched first when not known). */
  async client (url: string, options: { signal?: AbortSignal } = {}): Promise<Client> {
    const card = this.init.known(url) ?? (await this.add(url, options)).card
    const cached = this.clients.get(url)
    if (cached?.card === card) return await cached.client
    const client = this.clientFactory().then(async factory => await factory.createFromAgentCard(AgentCard.fromJSON(card)))
    this.clients.set(url, { card, client })
    client.catch(() => { if (this.clients.get(url)?.client === client) this.clients.delete(url) })
    return await client
  }

  private async clientFactory (): Promise<ClientFactory> {
    this.factory ??= import('@a2a-js/sdk/client').then(({ ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory, RestTransportFactory }) => new ClientFactory(
      ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
        transports: [new JsonRpcTransportFactory({ fetchImpl: this.fetchImpl }), new RestTransportFactory({ fetchImpl: this.fetchImpl })]
      })
    ))
    return await this.factory
  }
}
