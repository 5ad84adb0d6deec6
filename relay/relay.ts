/**
 * Composes the relay: its key, the HTTP server, the libp2p node with the circuit relay, and
 * the registry. `startRelay` is what relay/main.ts runs and what tests start in-process.
 */
import { once } from 'node:events'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateKey } from '../src/native/key-file.js'
import { STARLING_VERSION } from '../src/core/node/create-node.js'
import { RELAY_KEY_FILE } from './config.js'
import type { RelayConfig } from './config.js'
import { HealthMonitor } from './health.js'
import type { HealthMonitorInit } from './health.js'
import { createRelayHttpServer } from './http.js'
import { DEFAULT_HTTP_DRAIN_MS, HttpDrain } from './http-drain.js'
import { silentRelayLogger } from './logger.js'
import type { RelayLogger } from './logger.js'
import { countReservationRefusals, RelayMetrics } from './metrics.js'
import { createRelayNode } from './node.js'
import type { RelayNode } from './node.js'
import { Registry } from './registry/registry.js'
import { RegistryService } from './registry/service.js'
import { WebSocketBridge } from './ws-bridge.js'
import { A2ABridge } from './bridge/bridge.js'
import { MeshMembership } from './mesh/membership.js'
import { MeshService } from './mesh/service.js'
import type { MeshServiceInit } from './mesh/service.js'
import { operatorInvite, ownMeshId } from './mesh/own-mesh.js'
import type { OperatorInvite } from './mesh/own-mesh.js'

export interface RunningRelay {
  node: RelayNode
  registry: RegistryService
  /** Where a browser opens the PWA. */
  url: string
  peerId: string
  /** Dialable addresses, each ending in `/p2p/<relay>`. */
  multiaddrs: () => string[]
  metrics: RelayMetrics
  /** Private mode's memberships and revocations (relay/mesh/); absent in open mode. */
  mesh?: MeshService
  /**
   * A private relay given no meshes serves its own (relay/mesh/own-mesh.ts): its id, and the
   * operator's admin invite. Absent otherwise.
   */
  ownMesh?: { meshId: string, invite: OperatorInvite }
  /**
   * Stops gracefully: refuses new connections and registry streams, lets HTTP requests in flight
   * finish (up to `graceMs`), then closes libp2p. Calling it again returns the same promise.
   */
  stop: (graceMs?: number) => Promise<void>
}

export interface StartRelayOptions {
  /** Operational log (JSON lines); silent when absent, so in-process relays in tests are quiet. */
  log?: RelayLogger
  /** Thresholds for "degraded" (relay/health.ts); tests set them, operators keep the defaults. */
  health?: HealthMonitorInit
  /** Private mode's timings (relay/mesh/service.ts); tests shorten them, operators keep the defaults. */
  mesh?: Pick<MeshServiceInit, 'credentialsTimeoutMs' | 'refusalCacheMs' | 'sweepIntervalMs'>
}

export async function startRelay (config: RelayConfig, options: StartRelayOptions = {}): Promise<RunningRelay> {
  const startedAt = Date.now()
  const log = options.log ?? silentRelayLogger()
  const metrics = new RelayMetrics()
  const healthMonitor = new HealthMonitor(options.health)
  let stopping = false
  let lastVerdict: 'ok' | 'degraded' = 'ok'
  const privateKey = await loadOrCreateKey(join(config.dataDir, RELAY_KEY_FILE))
  // private mode: members of the served meshes only; what it was told survives a restart. Given
  // none, the relay serves a mesh its own key owns
  let mesh: MeshService | undefined
  const ownMeshIdText = config.mode === 'private' && config.meshes.length === 0 ? ownMeshId(peerIdFromPrivateKey(privateKey).toString()) : undefined
  if (config.mode === 'private') {
    const meshIds = ownMeshIdText != null ? [ownMeshIdText] : config.meshes
    const membership = new MeshMembership({ meshIds, dataDir: config.dataDir, log })
    await membership.load()
    mesh = new MeshService({ ...options.mesh, membership, log, metrics })
    if (ownMeshIdText != null) log.info({ event: 'mesh.private', meshes: meshIds, own: true }, `private mode: serving the relay's own mesh ${ownMeshIdText}`)
    else log.info({ event: 'mesh.private', meshes: meshIds }, `private mode: serving ${meshIds.length} mesh${meshIds.length === 1 ? '' : 'es'}`)
    if (config.bridge) log.info({ event: 'bridge.off', reason: 'private mode' }, 'the A2A HTTP bridge is off in private mode: HTTP callers prove no membership')
  }
  const bridge = new WebSocketBridge()
  const bridged = config.bridge && mesh == null
  // the HTTP server starts first (its port goes into the node's addresses); until the node
  // exists, the handlers answer from what there is
  const parts: { node?: RelayNode, service?: RegistryService, a2a?: A2ABridge } = {}

  const multiaddrs = (): string[] => parts.node?.getMultiaddrs().map(a => a.toString()) ?? []
  const server = createRelayHttpServer({
    appDir: config.appDir,
    bridge,
    health: () => {
      const reservations = parts.node?.services.relay.reservations.size ?? 0
      const agents = parts.service?.registry.size ?? 0
      const verdict = healthMonitor.check({
        reservations: { used: reservations, max: config.maxReservations },
        connections: { used: parts.node?.getConnections().length ?? 0, max: config.maxConnections },
        agents: { used: agents, max: config.maxAgents }
      })
      // a change is logged once, not every probe: probes come every few seconds
      if (verdict.status !== lastVerdict) {
        lastVerdict = verdict.status
        if (verdict.status === 'degraded') log.warn({ event: 'health.degraded', reasons: verdict.reasons }, 'relay degraded')
        else log.info({ event: 'health.ok' }, 'relay healthy again')
      }
      return {
        status: stopping ? 'stopping' : parts.node?.status === 'started' ? verdict.status : 'starting',
        reasons: verdict.reasons,
        version: STARLING_VERSION,
        // who may use it: a page refused a slot tells its person why (src/app/components/ConnectionIndicator.tsx)
        mode: config.mode,
        peerId: parts.node?.peerId.toString(),
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        connectedPeers: parts.node?.getPeers().length ?? 0,
        reservations,
        agents,
        eventLoopLagMs: verdict.eventLoopLagMs
      }
    },
    metrics: async () => await metrics.render(),
    onAnswered: (route, status) => { metrics.httpRequests.inc({ route, status: String(status) }) },
    relayInfo: (host) => ({
      peerId: parts.node?.peerId.toString() ?? '',
      multiaddrs: preferFor(host, multiaddrs()),
      iceServers: config.iceServers.length > 0 ? [{ urls: config.iceServers }] : []
    }),
    // a private mesh's agents are listed to its members only, over libp2p where they prove it
    agents: mesh != null ? undefined : (query) => {
      const service = parts.service
      return service == null ? [] : service.registry.discover(query).map(e => service.describe(e))
    },
    // HTTP callers cannot prove a membership: a private relay bridges nobody to its meshes' agents
    a2a: bridged
      ? (req, res) => {
          if (parts.a2a != null) {
            parts.a2a.handle(req, res)
            return
          }
          res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Retry-After': '1' })
          res.end(JSON.stringify({ error: 'the relay is starting' }))
        }
      : undefined
  })
  const drain = new HttpDrain(server)
  server.listen(config.port, config.host)
  await once(server, 'listening')
  const httpPort = (server.address() as AddressInfo).port

  let ownMesh: RunningRelay['ownMesh']
  if (ownMeshIdText != null && mesh != null) {
    const membership = mesh.membership
    const invite = await operatorInvite({
      key: privateKey,
      meshId: ownMeshIdText,
      baseUrl: config.publicUrl !== '' ? config.publicUrl : `http://${linkHost(config.host)}:${httpPort}`,
      dataDir: config.dataDir,
      usesOf: (meshId, inviteId) => membership.usesOf(meshId, inviteId),
      isRevoked: membership.isRevoked
    }).catch((err: unknown) => {
      server.close()
      healthMonitor.stop()
      throw err
    })
    ownMesh = { meshId: ownMeshIdText, invite }
    // the link itself is a secret: the log says where it is kept, not what it is
    log.info({ event: 'mesh.operator_invite', meshId: ownMeshIdText, inviteId: invite.inviteId, expiresAt: new Date(invite.expiresAt).toISOString(), maxUses: invite.maxUses, kept: invite.kept, file: invite.file }, `operator's admin join link (${invite.kept ? 'kept from an earlier start' : 'new'}) in ${invite.file}`)
  }

  const node = await createRelayNode({
    config,
    privateKey,
    bridge,
    wsAnnounce: hostsFor(config.host).map(ip => `/ip4/${ip}/tcp/${httpPort}/ws`),
    metrics: metrics.libp2pMetrics(),
    access: mesh?.gater()
  }).catch((err: unknown) => {
    // a relay that fails to start leaves nothing listening or ticking behind it
    server.close()
    healthMonitor.stop()
    throw err
  })
  if (!countReservationRefusals(node.services.relay, metrics)) {
    log.warn({ event: 'metrics.unavailable', metric: 'reservation_refused' }, 'cannot count refused reservations with this @libp2p/circuit-relay-v2')
  }
  const service = new RegistryService(node, {
    registry: new Registry({ maxEntries: config.maxAgents }),
    relayAddrs: multiaddrs,
    rateLimit: { perSecond: config.registryCallsPerSecond, burst: 2 * config.registryCallsPerSecond },
    metrics,
    log,
    access: mesh?.registryAccess()
  })
  await service.start()
  await mesh?.start(node, service.registry)
  parts.node = node
  parts.service = service
  if (bridged) {
    parts.a2a = new A2ABridge({
      node,
      card: (peerId) => service.registry.get(peerId)?.card,
      publicUrl: config.publicUrl,
      maxBodyBytes: config.bridgeMaxBodyBytes,
      callsPerSecond: config.bridgeCallsPerSecond,
      maxStreams: config.bridgeMaxStreams,
      callTimeoutMs: config.bridgeCallTimeout * 1000,
      metrics,
      log
    })
  }
  if (log.isLevelEnabled('debug')) {
    // per-peer events only when asked for: at thousands of peers they are most of the log
    node.addEventListener('peer:connect', (evt) => { log.debug({ event: 'peer.connect', peer: evt.detail.toString() }, 'peer connected') })
    node.addEventListener('peer:disconnect', (evt) => { log.debug({ event: 'peer.disconnect', peer: evt.detail.toString() }, 'peer disconnected') })
  }
  metrics.bind({
    connections: () => node.getConnections(),
    reservations: () => node.services.relay.reservations.size,
    registryEntries: () => service.registry.size
  })

  let stopped: Promise<void> | undefined
  const urlHost = config.host === '0.0.0.0' ? '127.0.0.1' : config.host
  return {
    node,
    registry: service,
    url: `http://${urlHost}:${httpPort}`,
    peerId: node.peerId.toString(),
    multiaddrs,
    metrics,
    mesh,
    ownMesh,
    stop: async (graceMs = DEFAULT_HTTP_DRAIN_MS) => {
      stopped ??= (async () => {
        stopping = true
        // the HTTP listener closes at once (drain() closes it before its first await)
        const drained = drain.drain(graceMs)
        log.info({ event: 'relay.stopping', httpRequestsInFlight: drain.requestsInFlight }, 'stopping: no new connections, finishing requests in flight')
        // registry calls are answered synchronously as they arrive: once no new registry stream
        // is accepted, what is left is writing answers, which libp2p's stop flushes
        await service.stop()
        await mesh?.stop()
        const finished = await drained
        // bridged calls cut at the deadline leave their streams to agents: closed with them
        await parts.a2a?.close()
        if (!finished) log.warn({ event: 'http.drain_timeout', graceMs }, 'HTTP requests still in flight at the deadline were cut')
        await node.stop()
        healthMonitor.stop()
        log.info({ event: 'relay.stopped' }, 'relay stopped')
      })()
      await stopped
    }
  }
}

/**
 * The host a join link names: the bound address, or for 0.0.0.0 (every interface) the first
 * address another machine can reach, else loopback. Behind a proxy or a DNS name, --public-url.
 */
function linkHost (host: string): string {
  if (host === '0.0.0.0') return hostsFor(host).find(ip => !ip.startsWith('127.')) ?? '127.0.0.1'
  if (host === '::') return '[::1]'
  return host.includes(':') ? `[${host}]` : host
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
