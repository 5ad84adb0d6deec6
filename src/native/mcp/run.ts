/**
 * `starling mcp`: the MCP server of ./server.ts on stdio (what Claude Code and Cursor start), or
 * with `--http PORT` over Streamable HTTP on 127.0.0.1 (stateless: each POST is answered by a
 * server of its own). stdout belongs to the protocol on stdio: notes go to stderr.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { ExitCode, UsageError } from '../cli/verb.js'
import type { VerbContext } from '../cli/verb.js'
import { createStarlingMcpServer } from './server.js'

export async function runMcp (context: VerbContext): Promise<number> {
  const http = context.values.http
  if (typeof http === 'string') {
    const port = Number(http)
    if (http.trim() === '' || !Number.isSafeInteger(port) || port < 0 || port > 65_535) throw new UsageError(`--http must be a port number, got "${http}"`)
    return await runHttp(context, port)
  }
  return await runStdio(context)
}

/** Serves on stdin/stdout until stdin ends (the client went away). */
async function runStdio (context: VerbContext): Promise<number> {
  const server = createStarlingMcpServer({ home: context.home })
  const transport = new StdioServerTransport()
  const closed = new Promise<void>((resolve) => {
    server.server.onclose = resolve
    process.stdin.once('end', () => { void server.close() })
    process.stdin.once('close', () => { void server.close() })
  })
  await server.connect(transport)
  context.note(`starling mcp: serving MCP on stdio for the peer in ${context.home}`)
  await closed
  return ExitCode.Ok
}

/** Serves Streamable HTTP on 127.0.0.1:port (at /mcp) until SIGINT or SIGTERM. */
async function runHttp (context: VerbContext, port: number): Promise<number> {
  const httpServer = createServer((req, res) => { void handle(context.home, req, res) })
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject)
    httpServer.listen(port, '127.0.0.1', () => {
      httpServer.off('error', reject)
      resolve()
    })
  })
  const address = httpServer.address()
  const bound = typeof address === 'object' && address != null ? address.port : port
  context.note(`starling mcp: serving MCP on http://127.0.0.1:${bound}/mcp for the peer in ${context.home}`)
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      httpServer.close(() => { resolve() })
      httpServer.closeAllConnections()
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  return ExitCode.Ok
}

async function handle (home: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
  if (path !== '/mcp') {
    res.writeHead(404).end()
    return
  }
  if (req.method !== 'POST') {
    // stateless: no session to stream to or to end
    res.writeHead(405, { allow: 'POST' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null }))
    return
  }
  const server = createStarlingMcpServer({ home })
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
    // only local pages and programs: a web page elsewhere cannot rebind a name to 127.0.0.1
    enableDnsRebindingProtection: true,
    allowedHosts: [`127.0.0.1:${req.socket.localPort ?? ''}`, `localhost:${req.socket.localPort ?? ''}`]
  })
  res.on('close', () => {
    void transport.close()
    void server.close()
  })
  try {
    await server.connect(transport)
    await transport.handleRequest(req, res)
  } catch (err) {
    if (!res.headersSent) res.writeHead(500).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: (err as Error).message }, id: null }))
  }
}
