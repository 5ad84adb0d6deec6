/**
 * The relay's HTTP surface on one port: the PWA's files, the JSON API, health, and WebSocket
 * upgrades for libp2p (handed to ./ws-bridge.ts).
 */
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize, sep } from 'node:path'
import { promisify } from 'node:util'
import { brotliCompress, constants as zlib, gzip } from 'node:zlib'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AgentEntry } from '../src/core/registry/protocol.js'
import type { HttpRoute } from './metrics.js'
import type { WebSocketBridge } from './ws-bridge.js'
import { MAX_TEXT_QUERY_LENGTH } from './registry/registry.js'

export interface RelayHttpInit {
  appDir: string
  bridge: WebSocketBridge
  /** `GET /health` body; `status: "stopping"` answers 503 so load balancers move away. */
  health: () => Record<string, unknown>
  /** `GET /metrics`: Prometheus exposition text. Absent: 404. */
  metrics?: () => Promise<{ contentType: string, body: string }>
  /** Told of every answered request (for metrics); must be cheap. */
  onAnswered?: (route: HttpRoute, status: number) => void
  /** The relay's PeerID and dialable multiaddrs, best first for a client that reached us at `host`. */
  relayInfo: (host: string | undefined) => RelayInfo
  /** `GET /api/v1/agents`; absent (a private relay): 403, its agents are for its meshes' members only. */
  agents?: (query: { skill?: string, tags?: string[], text?: string, limit?: number }) => AgentEntry[]
  /** Answers everything under `/a2a/` (the A2A HTTP bridge, ./bridge/bridge.ts); absent: the bridge is off. */
  a2a?: (req: IncomingMessage, res: ServerResponse) => void
}

/** `GET /api/v1/relay`: how the PWA served by this relay reaches it. */
export interface RelayInfo {
  peerId: string
  /** Dialable multiaddrs, best first for the asking client. */
  multiaddrs: string[]
  /** ICE servers for WebRTC, as RTCConfiguration.iceServers takes them. */
  iceServers: Array<{ urls: string[] }>
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json'
}

export function createRelayHttpServer (init: RelayHttpInit): Server {
  const compressed = new CompressedFiles()
  const server = createServer((req, res) => {
    if (init.onAnswered != null) {
      const answered = init.onAnswered
      res.once('finish', () => { answered(routeOf(req), res.statusCode) })
    }
    handle(init, compressed, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' })
      else res.destroy(err instanceof Error ? err : undefined)
    })
  })
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => { socket.destroy() })
    init.bridge.upgrade(req, socket, head)
  })
  // a slow or stalled client cannot hold a socket for ever
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  return server
}

/** What the relay answers to pages of any origin (CORS): its health, its addresses, its registry. */
const PUBLIC_READS = new Set(['/health', '/api/v1/relay', '/api/v1/agents'])

async function handle (init: RelayHttpInit, compressed: CompressedFiles, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://relay.invalid')
  if (isBridgePath(url.pathname)) {
    if (init.a2a == null) sendJson(res, 404, { error: 'the A2A HTTP bridge is turned off on this relay' })
    else init.a2a(req, res)
    return
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD')
    sendJson(res, 405, { error: `${req.method ?? ''} is not supported here` })
    return
  }
  if (PUBLIC_READS.has(url.pathname)) {
    // public facts any page may read: a PWA served by another relay lists this one among its
    // relays (src/app/node/relay-info.ts) and checks it is up; no credentials are involved
    res.setHeader('Access-Control-Allow-Origin', '*')
  }
  switch (url.pathname) {
    case '/health': {
      const body = init.health()
      sendJson(res, body.status === 'stopping' ? 503 : 200, body)
      return
    }
    case '/metrics': {
      if (init.metrics == null) break
      const { contentType, body } = await init.metrics()
      res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : body)
      return
    }
    case '/api/v1/relay':
      sendJson(res, 200, init.relayInfo(req.headers.host))
      return
    case '/api/v1/agents': {
      if (init.agents == null) {
        sendJson(res, 403, { error: 'this relay serves private meshes: their agents are listed only to members, over libp2p (the registry protocol)' })
        return
      }
      const skill = url.searchParams.get('skill') ?? undefined
      const tags = url.searchParams.getAll('tag')
      const limitParam = url.searchParams.get('limit')
      const limit = limitParam == null ? undefined : Number(limitParam)
      if (limit != null && (!Number.isInteger(limit) || limit < 1)) {
        sendJson(res, 400, { error: 'limit must be a positive whole number' })
        return
      }
      const text = url.searchParams.get('text') ?? undefined
      if (text != null && text.length > MAX_TEXT_QUERY_LENGTH) {
        sendJson(res, 400, { error: `text must be at most ${MAX_TEXT_QUERY_LENGTH} characters` })
        return
      }
      const agents = init.agents({ skill, tags: tags.length > 0 ? tags : undefined, text, limit })
      sendJson(res, 200, agents.map(a => ({ peerId: a.peerId, card: a.card, addresses: a.addresses, expiresAt: a.expiresAt, online: a.online, ...(a.record != null ? { record: a.record } : {}) })))
      return
    }
  }
  if (url.pathname.startsWith('/api/')) {
    sendJson(res, 404, { error: `no API at ${url.pathname}` })
    return
  }
  await serveStatic(init.appDir, compressed, url.pathname, req, res)
}

/** The route a request took, from a fixed set (a label per path would grow without bound). */
function routeOf (req: IncomingMessage): HttpRoute {
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
  if (isBridgePath(path)) return 'a2a_bridge'
  if (req.method !== 'GET' && req.method !== 'HEAD') return 'method_not_allowed'
  switch (path) {
    case '/health': return 'health'
    case '/metrics': return 'metrics'
    case '/api/v1/relay': return 'api_relay'
    case '/api/v1/agents': return 'api_agents'
  }
  return path.startsWith('/api/') ? 'api_other' : 'static'
}

/** Whether a path is the A2A bridge's (`/a2a/<PeerID>…`). */
function isBridgePath (path: string): boolean {
  return path === '/a2a' || path.startsWith('/a2a/')
}

/** Types worth compressing (text); images and fonts are compressed already. */
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.webmanifest', '.svg', '.txt', '.map'])

/** Files smaller than this are sent as they are, in bytes: compression would gain nothing. */
const MIN_COMPRESS_BYTES = 1024

type Encoding = 'br' | 'gzip'

const brotli = promisify(brotliCompress)
const gz = promisify(gzip)

/**
 * The app's files compressed once and kept in memory (the app is a few hundred KiB): without a
 * compressing proxy in front, a first visit would download the JS four times as large.
 */
class CompressedFiles {
  private readonly cache = new Map<string, Promise<Buffer>>()

  async get (file: string, mtimeMs: number, encoding: Encoding): Promise<Buffer> {
    const key = `${encoding} ${mtimeMs} ${file}`
    let entry = this.cache.get(key)
    if (entry == null) {
      entry = readFile(file).then(async (data) => encoding === 'br'
        ? await brotli(data, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9, [zlib.BROTLI_PARAM_SIZE_HINT]: data.length } })
        : await gz(data, { level: 9 }))
      this.cache.set(key, entry)
      entry.catch(() => { this.cache.delete(key) })
    }
    return await entry
  }
}

function preferredEncoding (req: IncomingMessage): Encoding | undefined {
  const accepted = String(req.headers['accept-encoding'] ?? '')
  if (/\bbr\b/.test(accepted)) return 'br'
  if (/\bgzip\b/.test(accepted)) return 'gzip'
  return undefined
}

async function serveStatic (appDir: string, compressed: CompressedFiles, pathname: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let relative: string
  try {
    relative = decodeURIComponent(pathname)
  } catch {
    sendJson(res, 400, { error: 'bad path' })
    return
  }
  const path = normalize(join(appDir, relative))
  if (path !== appDir && !path.startsWith(appDir + sep)) {
    sendJson(res, 404, { error: 'not found' })
    return
  }
  let file = path
  let info = await stat(file).catch(() => undefined)
  if (info?.isDirectory() === true) {
    file = join(file, 'index.html')
    info = await stat(file).catch(() => undefined)
  }
  if (info == null && extname(pathname) === '') {
    // a client-side route: the app shell answers it
    file = join(appDir, 'index.html')
    info = await stat(file).catch(() => undefined)
  }
  if (info?.isFile() !== true) {
    if (pathname === '/' || pathname === '/index.html') {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' })
      res.end(`The Starling PWA has not been built into ${appDir}. Run "npm run build" (npm start does it for you).\n`)
      return
    }
    sendJson(res, 404, { error: 'not found' })
    return
  }
  const hashed = file.includes(`${sep}assets${sep}`)
  const headers: Record<string, string | number> = {
    'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    // hashed build assets never change; the shell and the service worker must be re-checked
    'Cache-Control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    'X-Content-Type-Options': 'nosniff'
  }
  const encoding = COMPRESSIBLE.has(extname(file)) && info.size >= MIN_COMPRESS_BYTES ? preferredEncoding(req) : undefined
  if (COMPRESSIBLE.has(extname(file))) headers.Vary = 'Accept-Encoding'
  if (encoding != null) {
    const body = await compressed.get(file, info.mtimeMs, encoding)
    res.writeHead(200, { ...headers, 'Content-Encoding': encoding, 'Content-Length': body.length })
    res.end(req.method === 'HEAD' ? undefined : body)
    return
  }
  res.writeHead(200, { ...headers, 'Content-Length': info.size })
  if (req.method === 'HEAD') {
    res.end()
    return
  }
  createReadStream(file).on('error', () => res.destroy()).pipe(res)
}

function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff'
  })
  res.end(text)
}
