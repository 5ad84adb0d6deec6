/**
 * Composes the relay: its key, the HTTP server, the libp2p node with the circuit relay, and
 * the registry. `startRelay` is what relay/main.ts runs and what tests start in-process.
 */
import { once } from 'node:events'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { loadOrCreateKey } from '../src/native/key-file.js'
import { STARLING_VERSION } from '../src/core/node/create-node.js'
import type { RelayConfig } from './config.js'
import { createRelayHttpServer } from './http.js'
import { createRelayNode } from './node.js'
import type { RelayNode } from './node.js'
import { Registry } from './registry/registry.js'
import { RegistryService } from './registry/service.js'
import { WebSocketBridge } from './ws-bridge.js'

export interface RunningRelay {
  node: RelayNode
  registry: RegistryService
  /** Where a browser opens the PWA. */
  url: string
  peerId: string
  /** Dialable addresses, each ending in `/p2p/<relay>`. */
  multiaddrs: () => string[]
  stop: () => Promise<void>
}

export async function startRelay (config: RelayConfig): Promise<RunningRelay> {
  const startedAt = Date.now()
  const privateKey = await loadOrCreateKey(join(config.dataDir, 'relay.key'))
  const bridge = new WebSocketBridge()
  // the HTTP server starts first (its port goes into the node's addresses); until the node
  // exists, the handlers answer from what there is
  const parts: { node?: RelayNode, service?: RegistryService } = {}

  const multiaddrs = (): string[] => parts.node?.getMultiaddrs().map(a => a.toString()) ?? []
  const server = createRelayHttpServer({
    appDir: config.appDir,
    bridge,
    health: () => ({
      status: parts.node?.status === 'started' ? 'ok' : 'starting',
      version: STARLING_VERSION,
      peerId: parts.node?.peerId.toString(),
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      connectedPeers: parts.node?.getPeers().length ?? 0,
      reservations: parts.node?.services.relay.reservations.size ?? 0,
      agents: parts.service?.registry.size ?? 0
    }),
    relayInfo: (host) => ({
      peerId: parts.node?.peerId.toString() ?? '',
      multiaddrs: preferFor(host, multiaddrs()),
      iceServers: config.iceServers.length > 0 ? [{ urls: config.iceServers }] : []
    }),
    agents: (query) => {
      const service = parts.service
      return service == null ? [] : service.registry.discover(query).map(e => service.describe(e))
    }
  })
  server.listen(config.port, config.host)
  await once(server, 'listening')
  const httpPort = (server.address() as AddressInfo).port

  const node = await createRelayNode({ config, privateKey, bridge, wsAnnounce: hostsFor(config.host).map(ip => `/ip4/${ip}/tcp/${httpPort}/ws`) })
  const service = new RegistryService(node, {
    registry: new Registry({ maxEntries: config.maxAgents }),
    relayAddrs: multiaddrs
  })
  await service.start()
  parts.node = node
  parts.service = service

  const urlHost = config.host === '0.0.0.0' ? '127.0.0.1' : config.host
  return {
    node,
    registry: service,
    url: `http://${urlHost}:${httpPort}`,
    peerId: node.peerId.toString(),
    multiaddrs,
    stop: async () => {
      server.close()
      server.closeAllConnections()
      await service.stop()
      await node.stop()
    }
  }
}

/** The IPv4 addresses a listener on `host` is reachable at. */
function hostsFor (host: string): string[] {
  if (host !== '0.0.0.0') return [host]
  const out = new Set<string>(['127.0.0.1'])
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) if (info.family === 'IPv4') out.add(info.address)
  }
  return [...out]
}

/**
 * Orders the relay's addresses for a client that reached us at `host` (the HTTP Host header):
 * WebSocket addresses on that host first, since that is the one the client can surely reach.
 */
export function preferFor (host: string | undefined, addrs: string[]): string[] {
  const score = (addr: string): number => {
    const isWs = /\/wss?(\/|$)/.test(addr) || addr.includes('/tls/ws')
    if (!isWs) return 2
    if (host == null) return 1
    const [name, port] = splitHost(host)
    return addr.includes(`/${name}/tcp/${port}/`) ? 0 : 1
  }
  return [...addrs].sort((a, b) => score(a) - score(b))
}

function splitHost (host: string): [string, string] {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(host)
  return [match?.[1] ?? host, match?.[2] ?? '80']
}
