/**
 * The relay's HTTP surface on one port: the PWA's files, the JSON API, health, and WebSocket
 * upgrades for libp2p (handed to ./ws-bridge.ts).
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize, sep } from 'node:path'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AgentEntry } from '../src/core/registry/protocol.js'
import type { WebSocketBridge } from './ws-bridge.js'

export interface RelayHttpInit {
  appDir: string
  bridge: WebSocketBridge
  /** `GET /health` body. */
  health: () => Record<string, unknown>
  /** The relay's PeerID and dialable multiaddrs, best first for a client that reached us at `host`. */
  relayInfo: (host: string | undefined) => RelayInfo
  agents: (query: { skill?: string, tags?: string[], limit?: number }) => AgentEntry[]
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
  const server = createServer((req, res) => {
    handle(init, req, res).catch((err: unknown) => {
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

async function handle (init: RelayHttpInit, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://relay.invalid')
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD')
    sendJson(res, 405, { error: `${req.method ?? ''} is not supported here` })
    return
  }
  switch (url.pathname) {
    case '/health':
      sendJson(res, 200, init.health())
      return
    case '/api/v1/relay':
      sendJson(res, 200, init.relayInfo(req.headers.host))
      return
    case '/api/v1/agents': {
      const skill = url.searchParams.get('skill') ?? undefined
      const tags = url.searchParams.getAll('tag')
      const limitParam = url.searchParams.get('limit')
      const limit = limitParam == null ? undefined : Number(limitParam)
      if (limit != null && (!Number.isInteger(limit) || limit < 1)) {
        sendJson(res, 400, { error: 'limit must be a positive whole number' })
        return
      }
      const agents = init.agents({ skill, tags: tags.length > 0 ? tags : undefined, limit })
      sendJson(res, 200, agents.map(a => ({ peerId: a.peerId, card: a.card, addresses: a.addresses, expiresAt: a.expiresAt, online: a.online })))
      return
    }
  }
  if (url.pathname.startsWith('/api/')) {
    sendJson(res, 404, { error: `no API at ${url.pathname}` })
    return
  }
  await serveStatic(init.appDir, url.pathname, req, res)
}

async function serveStatic (appDir: string, pathname: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
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
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': info.size,
    // hashed build assets never change; the shell and the service worker must be re-checked
    'Cache-Control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    'X-Content-Type-Options': 'nosniff'
  })
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
