/**
 * The answering side of the round-trip benchmark, in a process of its own (the measuring side
 * runs in the bench process, so each side has a core): two Starling echo agents with durable
 * file stores — one reachable only through the relay, one also listening on TCP for a direct
 * connection — each also serving the bare echo; a WebSocket echo server; and A2A over HTTP with
 * the official SDK (express server, stock InMemoryTaskStore) running the same echo agent.
 *
 * Prints one line `READY {json}` with the addresses, then runs until SIGTERM or SIGINT.
 */
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { WebSocketServer } from 'ws'
import { AgentCard } from '@a2a-js/sdk'
import { DefaultRequestHandler, InMemoryTaskStore } from '@a2a-js/sdk/server'
import { agentCardHandler, jsonRpcHandler, UserBuilder } from '@a2a-js/sdk/server/express'
import { buildAgentCard } from '../../src/core/a2a/binding.js'
import { StarlingExecutor } from '../../src/core/tasks/executor.js'
import { createNativePeer } from '../../src/native/sdk.js'
import { echoHandler } from '../../src/native/daemon.js'
import { serveEcho } from './echo-protocol.js'

export interface AgentAddresses {
  relayedPeerId: string
  directPeerId: string
  directAddr: string
  wsUrl: string
  httpUrl: string
}

async function main (): Promise<void> {
  const relay = process.argv[2]
  if (relay == null) throw new Error('usage: agent.js <relay multiaddr>')
  const dir = await mkdtemp(join(tmpdir(), 'starling-bench-agent-'))

  const profile = { name: 'echo', description: 'benchmark echo agent', skills: [{ id: 'echo' }] }
  const relayed = await createNativePeer({ home: join(dir, 'relayed'), relay, profile, handler: echoHandler, mdns: false, webrtc: false })
  const direct = await createNativePeer({ home: join(dir, 'direct'), relay, profile, handler: echoHandler, mdns: false, webrtc: false, listen: ['/p2p-circuit', '/ip4/127.0.0.1/tcp/0'] })
  await serveEcho(relayed.node)
  await serveEcho(direct.node)
  const directAddr = direct.node.getMultiaddrs().map(a => a.toString()).find(a => a.startsWith('/ip4/127.0.0.1/tcp/') && !a.includes('p2p-circuit'))
  if (directAddr == null) throw new Error('the direct agent has no TCP address')

  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  wss.on('connection', (socket) => { socket.on('message', (data, binary) => { socket.send(data, { binary }) }) })
  await once(wss, 'listening')

  const app = express()
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const card = AgentCard.fromJSON({
    ...buildAgentCard('http-echo', profile),
    supportedInterfaces: [{ url: `${httpUrl}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }]
  })
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), new StarlingExecutor({ handler: echoHandler }))
  app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: handler }))
  app.use('/a2a/jsonrpc', jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }))

  const addresses: AgentAddresses = {
    relayedPeerId: relayed.peerId,
    directPeerId: direct.peerId,
    directAddr,
    wsUrl: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    httpUrl
  }
  process.stdout.write(`READY ${JSON.stringify(addresses)}\n`)

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve)
    process.once('SIGINT', resolve)
  })
  server.close()
  server.closeAllConnections()
  wss.close()
  await Promise.all([relayed.stop(), direct.stop()])
  await rm(dir, { recursive: true, force: true })
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err)
  process.exit(1)
})
