/**
 * Starling for Node programs. Two ways in:
 *
 * - `createNativePeer({ home })` runs a peer inside your process: TCP to the relay, WebRTC to
 *   other peers (set up through the relay), mDNS and TCP to peers on the LAN, storage in the
 *   home directory, the whole StarlingPeer API (send, waitFor, inbox, respond, discover…).
 *   Pass `handler` to answer inbound tasks in code.
 * - `ControlClient.connect(home)` drives a peer that `starling serve` runs, over its control
 *   socket, the way the CLI does.
 *
 * One home is used by one process at a time: do not open a home that a daemon serves.
 *
 * @example
 * ```ts
 * const peer = await createNativePeer({
 *   home: resolveHome(),
 *   handler: async (task) => ({ kind: 'completed', text: task.text.toUpperCase() })
 * })
 * const [agent] = await peer.discover({ skill: 'translate' })
 * const sent = await peer.send(agent.peerId, 'bonjour')
 * const done = await peer.waitFor(sent.id)
 * await peer.stop()
 * ```
 */
import { mdns as mdnsDiscovery } from '@libp2p/mdns'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { coalescing } from '../core/node/coalesce.js'
import { fastX25519 } from './fast-x25519.js'
import { StarlingPeer } from '../core/peer.js'
import type { AgentProfile } from '../core/a2a/binding.js'
import type { TaskHandler } from '../core/tasks/executor.js'
import type { PolicyRule } from '../core/mesh/policy.js'
import { STARLING_VERSION } from '../core/node/create-node.js'
import { ConfigError, DEFAULT_ICE_SERVERS, DEFAULT_RELAY, iceServerList, iceServersFromEnv, MDNS_ENV, readConfig, switchFromEnv, WEBRTC_ENV } from './config.js'
import type { IceServer } from './config.js'
import { openFileStorage } from './store/index.js'
import type { FileStorageInit } from './store/index.js'
import { relayAddrsFor } from './relay-addrs.js'
import { FileMeshStore } from './store/meshes.js'

export { StarlingPeer } from '../core/peer.js'
export type { StarlingPeerEvents, PeerConnectionInfo, RegistryStatus } from '../core/peer.js'
export type { AgentProfile, SkillSpec } from '../core/a2a/binding.js'
export { parseSkillList } from '../core/a2a/binding.js'
export { textOf } from '../core/a2a/json.js'
export type { AgentCardJson, TaskJson, MessageJson, PartJson, TaskStateName } from '../core/a2a/json.js'
export type { InboundTask, TaskHandler, TaskOutcome } from '../core/tasks/executor.js'
export type { TaskRecord, TaskQuery, TaskDirection, KnownAgent, PeerStorage } from '../core/store/types.js'
export type { AgentEntry } from '../core/registry/protocol.js'
export type { RelayStatus } from '../core/node/relay-link.js'
export * from '../core/errors.js'
export { resolveHome, homePaths, HOME_ENV } from './home.js'
export { readConfig, writeConfig, checkProfile, checkRelaySetting, ConfigError, DEFAULT_RELAY, DEFAULT_ICE_SERVERS, ICE_SERVERS_ENV, MDNS_ENV, WEBRTC_ENV } from './config.js'
export type { StarlingConfig, IceServer } from './config.js'
export { openFileStorage } from './store/index.js'
export type { FileStorage, FileStorageInit } from './store/index.js'
export { relayAddrsFor } from './relay-addrs.js'
export { FileMeshStore, MESHES_FILE } from './store/meshes.js'
export type { MeshInfo, InviteResult, RevokeResult } from '../core/mesh/service.js'
export type { PolicyRule } from '../core/mesh/policy.js'
export { SKILL_METADATA_KEY } from '../core/mesh/policy.js'
export { ControlClient, ControlConnectionError, ControlRequestError, NotServingError } from './control-client.js'
export type * from './control-api.js'
export { RESPOND_STATES } from './control-api.js'

export interface NativePeerInit {
  /** The home directory (see resolveHome()). Created when missing. */
  home: string
  /** Answers inbound tasks; without it they wait in the inbox for `respond()`. */
  handler?: TaskHandler
  /** A relay multiaddr or URL; default: config.json's, else DEFAULT_RELAY. */
  relay?: string
  /**
   * The profile when config.json has none; without either, creating the peer fails. It is
   * saved in a new config.json (with `relay`), so the next start needs neither.
   */
  profile?: AgentProfile
  /** Told about stored data that was dropped or could not be read. */
  onWarning?: (message: string) => void
  /** Storage options (task log compaction thresholds…). */
  storage?: Omit<FileStorageInit, 'onWarning'>
  /**
   * Find peers on the local network with mDNS and be reachable there over TCP, with or without
   * the relay. Default: STARLING_MDNS (on/off), else config.json's `mdns`, else true. Turn it
   * off on untrusted networks.
   */
  mdns?: boolean
  /**
   * Upgrade relayed connections to direct WebRTC ones, and accept such upgrades. Default:
   * STARLING_WEBRTC (on/off), else config.json's `webrtc`, else true. false leaves the peer on TCP alone: relayed, or direct on
   * the LAN (WebRTC shows remote peers our IP addresses; benchmarks of the relayed path need it).
   */
  webrtc?: boolean
  /**
   * STUN/TURN servers for WebRTC. Default: STARLING_ICE_SERVERS, else config.json's
   * `iceServers`, else those the relay gives browsers (relay URL), else DEFAULT_ICE_SERVERS.
   */
  iceServers?: IceServer[]
  /**
   * Listen addresses. Default: `/p2p-circuit` (a relay reservation), `/webrtc` (direct
   * connections set up through the relay) and, with mDNS on, `/ip4/0.0.0.0/tcp/<lanPort>`
   * (config.json's `lanPort`, default any free port) for peers on the LAN.
   */
  listen?: string[]
  userAgent?: string
  /** Who may send which tasks; default config.json's `policy` (see PolicyRule). */
  policy?: PolicyRule[]
  /** Per-sender limit of inbound tasks; default config.json's `rateLimit`. */
  rateLimit?: { perSecond: number, burst: number }
}

/** A LAN listener on every IPv4 interface; only private addresses may connect to it. */
function lanListenAddr (port: number): string {
  return `/ip4/0.0.0.0/tcp/${port}`
}

/**
 * A peer with TCP to its relay, WebRTC to other peers, mDNS on the LAN (unless turned off) and
 * its state in `init.home`, created but not started.
 * `stop()` also closes the storage. Most programs want createNativePeer().
 */
export async function buildNativePeer (init: NativePeerInit): Promise<StarlingPeer> {
  const config = await readConfig(init.home)
  const profile = config?.profile ?? init.profile
  if (profile == null) {
    throw new ConfigError(`no profile in ${init.home}: run \`starling init --name NAME --skills a,b\` or pass a profile`)
  }
  const relay = init.relay ?? config?.relay ?? DEFAULT_RELAY
  const configured = init.iceServers ?? iceServersFromEnv() ?? (config?.iceServers != null ? iceServerList(config.iceServers) : undefined)
  // a relay URL tells us the ICE servers it gives browsers; until it has, the default ones
  let relayIceServers: IceServer[] | undefined
  const relayAddrs = relayAddrsFor(relay, { onIceServers: (servers) => { relayIceServers = servers } })
  const mdns = init.mdns ?? switchFromEnv(MDNS_ENV) ?? config?.mdns ?? true
  const webrtc = init.webrtc ?? switchFromEnv(WEBRTC_ENV) ?? config?.webrtc ?? true
  const storage = await openFileStorage(init.home, { ...init.storage, onWarning: init.onWarning, relay })
  let peer: StarlingPeer
  try {
    peer = await StarlingPeer.create({
      storage,
      transports: [
        coalescing(tcp()),
        // node-datachannel: read at every WebRTC dial and answer, like the browser's
        ...(webrtc ? [webRTC({ rtcConfiguration: () => ({ iceServers: configured ?? relayIceServers ?? DEFAULT_ICE_SERVERS }) })] : [])
      ],
      noiseCrypto: fastX25519(),
      listen: init.listen ?? ['/p2p-circuit', ...(webrtc ? ['/webrtc'] : []), ...(mdns ? [lanListenAddr(config?.lanPort ?? 0)] : [])],
      relayAddrs,
      defaultProfile: profile,
      handler: init.handler,
      meshStore: new FileMeshStore(init.home),
      policy: init.policy ?? config?.policy,
      rateLimit: init.rateLimit ?? config?.rateLimit,
      // like browsers: the side that opened a relayed connection upgrades it to WebRTC
      directUpgrade: webrtc,
      peerDiscovery: mdns ? [mdnsDiscovery()] : undefined,
      userAgent: init.userAgent ?? `starling-native/${STARLING_VERSION}`
    })
  } catch (err) {
    await storage.close()
    throw err
  }
  // StarlingPeer does not own its storage; this one was opened here, so it closes with the peer
  const stopPeer = peer.stop.bind(peer)
  peer.stop = async () => {
    try {
      await stopPeer()
    } finally {
      await storage.close()
    }
  }
  return peer
}

/** A started native peer (see buildNativePeer()). */
export async function createNativePeer (init: NativePeerInit): Promise<StarlingPeer> {
  const peer = await buildNativePeer(init)
  try {
    await peer.start()
  } catch (err) {
    await peer.stop().catch(() => {})
    throw err
  }
  return peer
}
