/**
 * `starling serve`: a native peer in the foreground with its control socket.
 *
 * Start-up order is what scripts and tests rely on: the peer is built (so its PeerID is known),
 * the control socket listens, the line `Starling peer <PeerID> is serving` is printed, and only
 * then does the peer start — so every relay and registry line comes after it. Requests that
 * arrive before the peer has started wait for it.
 *
 * Output is for a person (or, with `json`, one JSON object per line for a supervisor): one line
 * per change of the relay connection, of the published card, and of a task.
 */
import { logger } from '@libp2p/logger'
import { errorMessage } from '../core/errors.js'
import type { StarlingPeer, RegistryStatus } from '../core/peer.js'
import type { RelayStatus } from '../core/node/relay-link.js'
import { isLanPeer, lanAddrsOf, lanPeerFound } from '../core/node/lan-peers.js'
import type { Peer, PeerUpdate } from '@libp2p/interface'
import type { TaskRecord } from '../core/store/types.js'
import type { InboundTask, TaskHandler } from '../core/tasks/executor.js'
import { isTerminal, INTERRUPTED_STATES, stateLabel } from '../core/tasks/state.js'
import { ConfigError, readConfig } from './config.js'
import { answers, ControlServer, DaemonRunningError } from './control.js'
import { answerText, controlMethods } from './control-methods.js'
import { homePaths } from './home.js'
import { buildNativePeer } from './sdk.js'

const log = logger('starling:daemon')

/** Characters of a task's text shown in an output line. */
export const PREVIEW_LENGTH = 80

export interface DaemonInit {
  home: string
  /** Find and answer peers on the LAN with mDNS; default config.json's `mdns`, else true. */
  mdns?: boolean
  /**
   * Reachable over HTTP through the relay's A2A bridge for this run (`serve --bridge`): the
   * published card declares it. Absent or false: the bridge is off.
   */
  bridge?: boolean
  /** Answer every task with the text it brought (a demo agent). */
  echo?: boolean
  /** Answers every task (`serve --on-task`); ignored with `echo`. */
  handler?: TaskHandler
  /** What `handler` does, for the start-up lines. */
  handlerMode?: string
  /** One JSON object per output line instead of prose. */
  json?: boolean
  /** Where output lines go; default stdout. */
  stdout?: (line: string) => void
  /** Where warnings go; default stderr. */
  stderr?: (line: string) => void
}

export interface RunningDaemon {
  peer: StarlingPeer
  server: ControlServer
  /** Tells clients, stops the peer and its storage, then closes the socket. */
  stop: () => Promise<void>
}

/** The demo agent: answers every task with the text it got. */
export const echoHandler: TaskHandler = async (task) => ({ kind: 'completed', text: task.text })

export async function startDaemon (init: DaemonInit): Promise<RunningDaemon> {
  const out = init.stdout ?? ((line: string) => { process.stdout.write(line + '\n') })
  const errOut = init.stderr ?? ((line: string) => { process.stderr.write(line + '\n') })
  const json = init.json === true
  const emit = (event: string, fields: Record<string, unknown>, text: string): void => {
    out(json ? JSON.stringify({ event, ...fields }) : text)
  }
  const warn = (message: string): void => {
    if (json) out(JSON.stringify({ event: 'warning', message }))
    else errOut(`Warning: ${message}`)
  }

  const paths = homePaths(init.home)
  const config = await readConfig(init.home)
  if (config == null) {
    throw new ConfigError(`${init.home} has no config.json: run \`starling init --name NAME --skills a,b\` first`)
  }
  // checked before the storage is opened: a second daemon must not touch the first one's task log
  if (await answers(paths.socket)) throw new DaemonRunningError(paths.socket)

  const echo = init.echo === true
  const peer = await buildNativePeer({
    home: init.home,
    handler: echo ? echoHandler : init.handler,
    onWarning: warn,
    mdns: init.mdns
  })
  // the run decides: the card the peer publishes says whether the relay may bridge it
  const bridge = init.bridge === true
  if ((peer.profile.bridge === true) !== bridge) {
    const { bridge: _, ...profile } = peer.profile
    try {
      await peer.setProfile(bridge ? { ...profile, bridge: true } : profile)
    } catch (err) {
      await peer.stop().catch(() => {})
      throw new ConfigError(`cannot turn the HTTP bridge ${bridge ? 'on' : 'off'}: ${errorMessage(err)}`, { cause: err })
    }
  }
  const started = Promise.withResolvers<void>()
  // nobody may be waiting when the start fails: that must not be an unhandled rejection
  started.promise.catch(() => {})
  const server = new ControlServer({
    path: paths.socket,
    methods: controlMethods({ peer, home: init.home, relaySetting: config.relay, echo, ready: started.promise })
  })
  try {
    await server.start()
  } catch (e) {
    await peer.stop().catch(() => {})
    throw e
  }

  emit('serving', { peerId: peer.peerId, name: peer.profile.name, home: init.home, socket: paths.socket, relay: config.relay, echo, bridge },
    `Starling peer ${peer.peerId} is serving`)
  if (!json) {
    out(`  Name:   ${peer.profile.name}`)
    out(`  Skills: ${peer.profile.skills.map(s => s.id).join(', ') || '(none)'}`)
    out(`  Home:   ${init.home}`)
    out(`  Relay:  ${config.relay}`)
    out(`  Bridge: ${bridge ? `on (A2A over HTTP at <relay>/a2a/${peer.peerId})` : 'off'}`)
    out(`  Mode:   ${echo
      ? 'echo (answers every task with the text it got)'
      : init.handler != null
        ? init.handlerMode ?? 'automatic'
        : 'manual (answer tasks with `starling inbox` and `starling respond`)'}`)
  }

  const output = new DaemonOutput(peer, emit)
  output.attach()
  try {
    await peer.start()
    started.resolve()
  } catch (e) {
    started.reject(e)
    output.detach()
    await server.stop()
    await peer.stop().catch(() => {})
    throw e
  }
  log('serving %s', init.home)

  let stopping: Promise<void> | undefined
  return {
    peer,
    server,
    stop: async () => {
      stopping ??= (async () => {
        output.detach()
        // the socket stays bound until the peer has stopped: no second daemon meanwhile
        server.drain()
        try {
          await peer.stop()
        } finally {
          await server.stop()
        }
        emit('stopped', { peerId: peer.peerId }, 'Stopped')
      })()
      await stopping
    }
  }
}

type Emit = (event: string, fields: Record<string, unknown>, text: string) => void

/** Turns the peer's events into output lines, one per change. */
class DaemonOutput {
  private readonly peer: StarlingPeer
  private readonly emit: Emit
  /** The last state printed per task, so a task's line repeats only when its state changes. */
  private readonly states = new Map<string, string>()
  private saidConnecting = false
  /** The error of the last offline line, so a relay that stays down is reported once. */
  private lastOffline?: string
  /** LAN peers already said. */
  private readonly lanPeers = new Set<string>()

  constructor (peer: StarlingPeer, emit: Emit) {
    this.peer = peer
    this.emit = emit
  }

  attach (): void {
    this.peer.addEventListener('relay', this.onRelay)
    this.peer.addEventListener('registry', this.onRegistry)
    this.peer.addEventListener('inbound', this.onInbound)
    this.peer.addEventListener('task', this.onTask)
    this.peer.node.addEventListener('peer:update', this.onPeerUpdate)
    // the node runs from its creation: peers it found on the LAN before now are said once here
    void this.peer.node.peerStore.all({ filters: [isLanPeer] }).then((peers) => {
      for (const peer of peers) if (!this.lanPeers.has(peer.id.toString())) this.sayLanPeer(peer)
    }, (err: unknown) => { log.error('could not list LAN peers - %s', errorMessage(err)) })
  }

  detach (): void {
    this.peer.removeEventListener('relay', this.onRelay)
    this.peer.removeEventListener('registry', this.onRegistry)
    this.peer.removeEventListener('inbound', this.onInbound)
    this.peer.removeEventListener('task', this.onTask)
    this.peer.node.removeEventListener('peer:update', this.onPeerUpdate)
  }

  private readonly onRelay = (evt: CustomEvent<RelayStatus>): void => {
    const status = evt.detail
    const fields = { state: status.state, relayPeerId: status.relayPeerId, relayAddr: status.relayAddr, error: status.error }
    switch (status.state) {
      case 'connecting':
        // every retry passes through here: say it once per outage
        if (this.saidConnecting) return
        this.saidConnecting = true
        this.emit('relay', fields, 'Relay: connecting')
        return
      case 'connected':
      case 'reserved':
        this.saidConnecting = false
        this.lastOffline = undefined
        this.emit('relay', fields, status.state === 'connected'
          ? `Relay connected: ${status.relayAddr ?? ''}`
          : `Relay reservation held: reachable at ${status.relayAddr ?? ''}/p2p-circuit/p2p/${this.peer.peerId}`)
        return
      case 'offline':
        // a relay that stays down fails every retry the same way: say it once
        if (this.lastOffline === status.error) return
        this.lastOffline = status.error
        this.emit('relay', fields, `Relay offline: ${status.error ?? 'disconnected'} (retrying)`)
        return
      case 'stopped':
    }
  }

  /** A peer found on the LAN (mDNS): it is dialled there directly, relay or not. */
  private readonly onPeerUpdate = (evt: CustomEvent<PeerUpdate>): void => {
    if (lanPeerFound(evt.detail)) this.sayLanPeer(evt.detail.peer)
  }

  private sayLanPeer (peer: Peer): void {
    const peerId = peer.id.toString()
    this.lanPeers.add(peerId)
    const addrs = lanAddrsOf(peer).map(a => a.toString())
    this.emit('lan', { peerId, addrs }, `LAN peer ${peerId} found at ${addrs.join(', ')}`)
  }

  private readonly onRegistry = (evt: CustomEvent<RegistryStatus>): void => {
    const name = this.peer.profile.name
    if (evt.detail.expiresAt != null) {
      this.emit('registry', { published: true, name, expiresAt: evt.detail.expiresAt }, `Published card "${name}" (listed until ${evt.detail.expiresAt} unless renewed)`)
    } else {
      this.emit('registry', { published: false, name, error: evt.detail.error }, `Could not publish card "${name}": ${evt.detail.error ?? 'unknown error'}`)
    }
  }

  private readonly onInbound = (evt: CustomEvent<InboundTask>): void => {
    const task = evt.detail
    this.emit('inbound', { taskId: task.taskId, from: task.from, text: task.text },
      `Task ${task.taskId} from ${task.from}: ${preview(task.text)}`)
  }

  private readonly onTask = (evt: CustomEvent<TaskRecord>): void => {
    const record = evt.detail
    const key = `${record.direction}/${record.id}`
    const previous = this.states.get(key)
    if (previous === record.state) return
    const settled = isTerminal(record.state) || INTERRUPTED_STATES.includes(record.state)
    if (isTerminal(record.state)) this.states.delete(key)
    else this.states.set(key, record.state)
    // the arrival of an inbound task has its own line; say only how tasks end or pause
    if (!settled) return
    const text = record.direction === 'outbound' ? answerText(record.task) : ''
    const who = record.direction === 'outbound' ? `to ${record.peerId}` : `from ${record.peerId}`
    try {
      this.emit('task', { taskId: record.id, direction: record.direction, peerId: record.peerId, state: record.state, text },
        `Task ${record.id} ${who} ${stateLabel(record.state)}${text !== '' ? `: ${preview(text)}` : ''}`)
    } catch (e) {
      log.error('could not print a task change - %s', errorMessage(e))
    }
  }
}

/** One line of at most PREVIEW_LENGTH characters, quoted. */
export function preview (text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return JSON.stringify(flat.length > PREVIEW_LENGTH ? `${flat.slice(0, PREVIEW_LENGTH - 1)}…` : flat)
}
