/**
 * A Starling peer: one libp2p node with its relay link, the A2A binding (both ends), the
 * registry client and the task stores. The PWA (src/app/node) and the native daemon
 * (src/native/daemon.ts) each build one with their own transports and storage, and drive it
 * through this API only.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { AgentCard } from '@a2a-js/sdk'
import type { Client, ClientFactory } from '@a2a-js/sdk/client'
import { TypedEventEmitter } from 'main-event'
import type { Connection, ConnectionGater, PrivateKey } from '@libp2p/interface'
import type { ICryptoInterface } from '@libp2p/noise'
import { A2A_PROTOCOL, bindingInterface, buildAgentCard, DEFAULT_A2A_MAX_FRAME_BYTES } from './a2a/binding.js'
import type { AgentProfile } from './a2a/binding.js'
import type { AgentCardJson, PartJson } from './a2a/json.js'
import { A2AServer } from './a2a/server.js'
import { a2aErrorFromRpc, Libp2pTransportFactory } from './a2a/transport.js'
import { errorMessage, NoAgentError } from './errors.js'
import { PeerConnector } from './node/connector.js'
import { createStarlingNode } from './node/create-node.js'
import type { StarlingNode, TransportFactory } from './node/create-node.js'
import type { PeerDiscoveryFactory } from './node/lan-peers.js'
import { connectionKind, DirectUpgrader } from './node/direct-upgrade.js'
import type { ConnectionKind } from './node/direct-upgrade.js'
import { RelayLink } from './node/relay-link.js'
import type { RelayStatus } from './node/relay-link.js'
import { sealAgentRecord } from './registry/agent-record.js'
import { RegistryClient } from './registry/client.js'
import type { AgentEntry, DiscoverParams } from './registry/protocol.js'
import type { KnownAgent, PeerStorage, TaskDirection, TaskQuery, TaskRecord } from './store/types.js'
import type { InboundTask, TaskHandler } from './tasks/executor.js'
import { InboundTasks } from './tasks/inbound.js'
import type { TaskOutcome } from './tasks/outcome.js'
import { OutboundTasks } from './tasks/outbound.js'
import { HttpAgents, isAgentUrl } from './tasks/http-agents.js'
import type { SendOptions } from './tasks/outbound.js'
import { Outbox } from './tasks/outbox.js'
import { TaskRecords } from './tasks/records.js'
import { PushService } from './push/service.js'
import { Admission } from './mesh/admission.js'
import type { PolicyRule } from './mesh/policy.js'
import type { RateLimitInit } from './mesh/rate-limit.js'
import { MeshService } from './mesh/service.js'
import { MemoryMeshStore } from './mesh/store.js'
import type { MeshStore } from './mesh/store.js'

const log = logger('starling:peer')

/** How stale an agent's `seenAt` in the directory may get before a discover rewrites it, in ms. */
const DIRECTORY_REFRESH_MS = 60_000

export interface StarlingPeerInit {
  /** Where the peer keeps its identity and tasks. The caller owns it: stop() leaves it open. */
  storage: PeerStorage
  /** The platform's transports (WebSockets + WebRTC in the browser, TCP natively). */
  transports: TransportFactory[]
  /** Listen addresses: `/p2p-circuit` always; `/webrtc` where WebRTC exists. */
  listen: string[]
  /** Relay multiaddrs, in order of preference; asked again before every connection attempt. */
  relayAddrs: (options: { signal: AbortSignal }) => Promise<string[]>
  /** The profile to start with when storage holds none (it may depend on the new PeerID). */
  defaultProfile: AgentProfile | ((peerId: string) => AgentProfile)
  /** Answers inbound tasks automatically; without it they wait in the inbox for `respond()`. */
  handler?: TaskHandler
  /** Upgrade relayed connections to direct WebRTC ones (browsers). */
  directUpgrade?: boolean
  connectionGater?: ConnectionGater
  userAgent?: string
  /** Noise's crypto, when the platform has a faster one. */
  noiseCrypto?: ICryptoInterface
  /** Finds peers without the relay, e.g. mDNS on a LAN (Node); they are dialled directly. */
  peerDiscovery?: PeerDiscoveryFactory[]
  /** Where the meshes this peer belongs to are kept (default: memory, none at start). */
  meshStore?: MeshStore
  /**
   * Who may send which tasks (src/core/mesh/policy.ts), first match wins. Without a matching
   * rule, a peer in a mesh accepts members of its meshes only; a peer in no mesh accepts all.
   */
  policy?: PolicyRule[]
  /** Per-sender rate limit of inbound tasks; default: DEFAULT_TASKS_PER_SECOND once the policy is active. */
  rateLimit?: RateLimitInit
  /**
   * A person answers this peer (the PWA): a task from a sender no rule names and no mesh of ours
   * vouches for is held under requests() until the person accepts the sender (acceptSender) or
   * blocks it (blockSender), instead of running or being refused.
   */
  askUnknownSenders?: boolean
}

export interface PeerConnectionInfo {
  peerId: string
  kind: ConnectionKind
  remoteAddr: string
  /** Whether this is our connection to the relay itself. */
  relay: boolean
}

export interface RegistryStatus {
  /** ISO time our entry lapses unless renewed. */
  expiresAt?: string
  error?: string
}

export interface StarlingPeerEvents {
  /** The relay connection changed state. */
  relay: CustomEvent<RelayStatus>
  /** A connection to some peer opened or closed. */
  connections: CustomEvent<PeerConnectionInfo[]>
  /** A task (inbound or outbound) was stored. */
  task: CustomEvent<TaskRecord>
  /** A new inbound task, or a new turn of one, arrived. */
  inbound: CustomEvent<InboundTask>
  profile: CustomEvent<AgentProfile>
  registry: CustomEvent<RegistryStatus>
  /** The agent directory changed. */
  agents: CustomEvent<KnownAgent[]>
  /** A new task from an unknown sender is held under requests. */
  request: CustomEvent<InboundTask>
  /** The policy's rules changed. */
  policy: CustomEvent<readonly PolicyRule[]>
}

export class StarlingPeer extends TypedEventEmitter<StarlingPeerEvents> {
  readonly node: StarlingNode
  readonly peerId: string
  private readonly storage: PeerStorage
  private readonly relay: RelayLink
  private readonly connector: PeerConnector
  private readonly server: A2AServer
  private readonly registry: RegistryClient
  private readonly inbound: InboundTasks
  private readonly outbound: OutboundTasks
  private readonly records: TaskRecords
  private readonly outbox: Outbox
  private readonly pushService: PushService
  /** The meshes this peer belongs to, and what it checks of those that send it tasks. */
  readonly meshes: MeshService
  private readonly admission: Admission
  private readonly upgrader?: DirectUpgrader
  /** Plain HTTP A2A agents (not on the mesh), by card URL. */
  private readonly httpAgents: HttpAgents
  private clientFactory?: Promise<ClientFactory>
  private readonly agents = new Map<string, KnownAgent>()
  /** When a send by skill last gave up on an agent, ms since the epoch. */
  private readonly failedAt = new Map<string, number>()
  /** SDK clients per agent, for the card they were made from (a new card makes a new client). */
  private readonly clients = new Map<string, { card?: AgentCardJson, client: Promise<Client> }>()
  private currentProfile: AgentProfile
  private currentCard: AgentCardJson
  private registryState: RegistryStatus = {}

  /** Loads (or creates) the peer's identity from storage and builds the peer. Call start() next. */
  static async create (init: StarlingPeerInit): Promise<StarlingPeer> {
    const privateKey = await loadOrCreateIdentity(init.storage)
    let profile = await init.storage.profile.load()
    if (profile == null) {
      const peerId = peerIdFromPrivateKey(privateKey).toString()
      profile = typeof init.defaultProfile === 'function' ? init.defaultProfile(peerId) : init.defaultProfile
      await init.storage.profile.save(profile)
    }
    const node = await createStarlingNode({
      privateKey,
      transports: init.transports,
      listen: init.listen,
      connectionGater: init.connectionGater,
      userAgent: init.userAgent,
      noiseCrypto: init.noiseCrypto,
      peerDiscovery: init.peerDiscovery
    })
    const rules = await init.storage.policy?.load()
    const peer = new StarlingPeer(node, rules == null ? init : { ...init, policy: rules }, profile, privateKey)
    for (const agent of await init.storage.agents.list()) peer.agents.set(agent.peerId, agent)
    return peer
  }

  private constructor (node: StarlingNode, init: StarlingPeerInit, profile: AgentProfile, privateKey: PrivateKey) {
    super()
    this.node = node
    this.peerId = node.peerId.toString()
    this.storage = init.storage
    this.currentProfile = profile
    this.currentCard = buildAgentCard(this.peerId, profile)
    this.relay = new RelayLink(node, { relayAddrs: init.relayAddrs })
    this.connector = new PeerConnector({ node, relay: this.relay })
    this.registry = new RegistryClient({
      connector: this.connector,
      relay: this.relay,
      onPublish: (outcome) => {
        this.setRegistry('result' in outcome ? { expiresAt: outcome.result.expiresAt } : { error: errorMessage(outcome.error) })
      },
      seal: async (card) => await sealAgentRecord(card, privateKey)
    })
    this.records = new TaskRecords(init.storage.tasks)
    this.records.onChange((record) => { this.safeDispatchEvent('task', { detail: record }) })
    this.pushService = new PushService({
      node,
      connector: this.connector,
      receive: async (from, params) => { await this.outbound.receivePush(from, params) }
    })
    this.meshes = new MeshService({
      node,
      connector: this.connector,
      store: init.meshStore ?? new MemoryMeshStore(),
      privateKey,
      relayPeerId: () => this.relay.status.relayPeerId,
      // a mesh joined may be what a private relay waited for before it gave us a slot
      onChange: () => { void this.relay.retryReservation().catch((err: unknown) => { log.error('redialling the relay failed - %e', err) }) }
    })
    this.admission = new Admission({
      meshes: this.meshes,
      rules: init.policy,
      rateLimit: init.rateLimit,
      ask: init.askUnknownSenders,
      // the person opted into the relay's HTTP bridge: its anonymous callers come as the relay
      bridged: (sender) => this.currentProfile.bridge === true && sender === this.relay.status.relayPeerId,
      known: async (sender) => (await init.storage.tasks.list({ direction: 'outbound', peerId: sender, limit: 1 })).length > 0
    })
    this.inbound = new InboundTasks({
      records: this.records,
      card: () => this.currentCard,
      handler: init.handler,
      push: async (peerId, token, update, options) => { await this.pushService.push(peerId, token, update, options) },
      onInbound: (task) => { this.safeDispatchEvent('inbound', { detail: task }) },
      onHeld: (task) => { this.safeDispatchEvent('request', { detail: task }) },
      admit: async (task, signal) => await this.admission.check(task, { signal })
    })
    this.outbox = new Outbox({
      records: this.records,
      deliver: async (record, item, signal) => {
        if (record.direction === 'outbound') await this.outbound.deliver(record, item, signal)
        else await this.inbound.pushes.deliver(record, item, signal)
      },
      expire: async (record) => {
        if (record.direction === 'outbound') await this.outbound.expire(record)
        else await this.inbound.pushes.expire(record)
      }
    })
    this.httpAgents = new HttpAgents({
      known: (url) => this.agents.get(url)?.card,
      remember: async (url, card) => { await this.rememberAgent({ peerId: url, card, seenAt: Date.now() }) }
    })
    this.outbound = new OutboundTasks({
      records: this.records,
      outbox: this.outbox,
      self: this.peerId,
      client: async (peerId) => await this.client(peerId),
      follow: (peerId) => isAgentUrl(peerId) ? this.httpAgents.follow(peerId) : 'push'
    })
    this.server = new A2AServer(node, { requestHandler: () => this.inbound.requestHandler() })
    if (init.directUpgrade === true) this.upgrader = new DirectUpgrader(node, this.relay)
  }

  get profile (): AgentProfile { return this.currentProfile }
  get card (): AgentCardJson { return this.currentCard }
  get relayStatus (): RelayStatus { return this.relay.status }
  get registryStatus (): RegistryStatus { return this.registryState }

  async start (): Promise<void> {
    await this.node.start()
    await this.server.start()
    await this.pushService.start()
    await this.meshes.start()
    this.relay.addEventListener('status', this.onMeshRelayStatus)
    this.relay.addEventListener('status', this.onRelayStatus)
    this.node.addEventListener('connection:open', this.onConnectionsChanged)
    this.node.addEventListener('connection:close', this.onConnectionsChanged)
    this.upgrader?.start()
    this.relay.start()
    await this.outbound.start()
    await this.outbox.start()
    await this.inbound.resume()
    log('peer %s started', this.peerId)
  }

  async stop (): Promise<void> {
    this.relay.removeEventListener('status', this.onRelayStatus)
    this.relay.removeEventListener('status', this.onMeshRelayStatus)
    this.node.removeEventListener('connection:open', this.onConnectionsChanged)
    this.node.removeEventListener('connection:close', this.onConnectionsChanged)
    this.upgrader?.stop()
    this.outbound.stop()
    this.outbox.stop()
    this.registry.stop()
    this.relay.stop()
    await this.connector.close()
    await this.pushService.stop()
    await this.meshes.stop()
    await this.server.stop()
    await this.node.stop()
  }

  /** Redial the relay and retry waiting tasks now (the app came back to the foreground). */
  reconnect (): void {
    this.relay.reconnectNow()
    this.outbox.poke()
    this.outbound.poke()
  }

  /** Every open connection and how it reaches the remote. */
  connections (): PeerConnectionInfo[] {
    const relayId = this.relay.status.relayPeerId
    return this.node.getConnections()
      .filter(c => c.status === 'open')
      .map(c => ({
        peerId: c.remotePeer.toString(),
        kind: connectionKind(c),
        remoteAddr: c.remoteAddr.toString(),
        relay: c.remotePeer.toString() === relayId
      }))
  }

  /** Changes name, description or skills; the new card is published at once. */
  async setProfile (profile: AgentProfile): Promise<void> {
    await this.storage.profile.save(profile)
    this.currentProfile = profile
    this.currentCard = buildAgentCard(this.peerId, profile)
    this.safeDispatchEvent('profile', { detail: profile })
    if (this.relay.status.state === 'reserved') await this.publish()
  }

  /** Agents in the relay's registry; each seen card is kept in the directory. */
  async discover (params: DiscoverParams = {}, options: { signal?: AbortSignal } = {}): Promise<AgentEntry[]> {
    const entries = await this.registry.discover(params, options)
    const seenAt = Date.now()
    let changed = false
    for (const entry of entries) {
      if (entry.peerId === this.peerId) continue
      const known = this.agents.get(entry.peerId)
      // the directory is written when a card changes, and at most once a minute per agent otherwise
      if (known != null && seenAt - known.seenAt < DIRECTORY_REFRESH_MS && JSON.stringify(known.card) === JSON.stringify(entry.card)) continue
      const agent: KnownAgent = { peerId: entry.peerId, card: entry.card, seenAt }
      this.agents.set(entry.peerId, agent)
      await this.storage.agents.put(agent)
      changed = true
    }
    if (changed) this.safeDispatchEvent('agents', { detail: this.knownAgents() })
    return entries
  }

  /** Agents seen before, from the directory (no network). */
  knownAgents (): KnownAgent[] {
    return [...this.agents.values()].sort((a, b) => b.seenAt - a.seenAt)
  }

  /**
   * Sends a task to `peerId` (or, with `options.taskId`, our next message in one). It is stored
   * at once and delivered by the outbox; resolves with the record after the first attempt.
   */
  async send (peerId: string, content: string | PartJson[], options: SendOptions = {}): Promise<TaskRecord> {
    const parts = typeof content === 'string' ? [{ text: content, mediaType: 'text/plain' }] : content
    return await this.outbound.send(peerId, parts, options)
  }

  /**
   * Sends a task to an agent that has `skill` (anycast). The candidates are the registry's
   * connected agents with the skill: those this peer has a direct connection to first, then those
   * with any connection, then the rest, each group starting with the agents that failed longest
   * ago (or never). A candidate that does not accept the task on the first attempt is given up —
   * the task is withdrawn from it — and the next one is tried. Throws NoAgentError when none
   * accepts.
   */
  async sendToSkill (skill: string, content: string | PartJson[], options: Omit<SendOptions, 'taskId'> & { tags?: string[] } = {}): Promise<TaskRecord> {
    const entries = await this.discover({ skill, tags: options.tags }, { signal: options.signal })
    const connected = new Map<string, number>()
    for (const c of this.connections()) {
      if (c.relay) continue
      connected.set(c.peerId, Math.min(connected.get(c.peerId) ?? 2, c.kind === 'relayed' ? 1 : 0))
    }
    const candidates = entries
      .filter(e => e.peerId !== this.peerId && e.online)
      .sort((a, b) => (connected.get(a.peerId) ?? 2) - (connected.get(b.peerId) ?? 2) ||
        (this.failedAt.get(a.peerId) ?? 0) - (this.failedAt.get(b.peerId) ?? 0))
    const tried: string[] = []
    for (const candidate of candidates) {
      // the agent's policy may allow a skill to some senders only: the task says which it asks for
      const record = await this.send(candidate.peerId, content, { ...options, metadata: { ...options.metadata, skill } })
      if (record.delivery !== 'queued') {
        this.failedAt.delete(candidate.peerId)
        return record
      }
      const reason = `not accepted by ${candidate.peerId}; the task went to another agent with skill ${skill}`
      if (!await this.outbound.withdraw(record.id, reason)) return record
      this.failedAt.set(candidate.peerId, Date.now())
      tried.push(candidate.peerId)
    }
    throw new NoAgentError(skill, tried)
  }

  // #region HTTP agents: tasks to plain HTTP A2A agents, by the URL of their card

  /**
   * Fetches and checks the card of the plain HTTP A2A agent at `url` (its card URL or base URL)
   * and keeps it in the directory under its normalised card URL, which then names the agent
   * where a PeerID names a mesh agent. Throws InvalidInputError for a URL that is not http(s),
   * AgentCardError when the card cannot be fetched or used.
   */
  async addHttpAgent (url: string, options: { signal?: AbortSignal } = {}): Promise<KnownAgent> {
    const added = await this.httpAgents.add(url, options)
    return this.agents.get(added.url) ?? { peerId: added.url, card: added.card, seenAt: Date.now() }
  }

  /**
   * Sends a task to the plain HTTP A2A agent at `url`: its card is fetched and checked first
   * (nothing is stored when that fails), then the task goes like any other (stored, delivered by
   * the outbox, in the same list), with the agent's card URL as its `peerId`.
   */
  async sendToUrl (url: string, content: string | PartJson[], options: Omit<SendOptions, 'taskId'> = {}): Promise<TaskRecord> {
    const agent = await this.addHttpAgent(url, { signal: options.signal })
    return await this.send(agent.peerId, content, options)
  }

  /** Keeps `agent` in the directory (memory and storage) and says so. */
  private async rememberAgent (agent: KnownAgent): Promise<void> {
    this.agents.set(agent.peerId, agent)
    await this.storage.agents.put(agent)
    this.safeDispatchEvent('agents', { detail: this.knownAgents() })
  }

  // #endregion

  async tasks (query: TaskQuery = {}): Promise<TaskRecord[]> {
    return await this.storage.tasks.list(query)
  }

  async task (direction: TaskDirection, id: string): Promise<TaskRecord | undefined> {
    return await this.storage.tasks.get(direction, id)
  }

  /** Inbound tasks that wait for an answer. */
  async inbox (): Promise<TaskRecord[]> {
    return await this.inbound.inbox()
  }

  /** Answers an inbound task. */
  async respond (taskId: string, outcome: TaskOutcome): Promise<void> {
    await this.inbound.respond(taskId, outcome)
  }

  /** Tasks from unknown senders held until the person accepts or blocks them, newest first. */
  async requests (): Promise<TaskRecord[]> {
    return await this.inbound.requests()
  }

  /** Who may send which tasks, first match wins (src/core/mesh/policy.ts). */
  get policyRules (): readonly PolicyRule[] {
    return this.admission.policy.rules
  }

  /**
   * Replaces the policy's rules, keeps them (storage.policy) and settles the held requests they
   * now decide: allowed ones run, denied ones are rejected with the reason.
   */
  async setPolicy (rules: readonly PolicyRule[], options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.storage.policy?.save([...rules])
    this.admission.policy.setRules(rules)
    this.safeDispatchEvent('policy', { detail: this.admission.policy.rules })
    await this.reviewRequests(options)
  }

  /** Accepts `peerId` as a sender from now on (an allow rule first) and runs its held tasks. */
  async acceptSender (peerId: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.setPolicy([{ effect: 'allow', from: { peer: peerId } }, ...this.withoutPeerRule(peerId)], options)
  }

  /** Blocks `peerId` (a deny rule first): its held tasks and those it sends later are rejected. */
  async blockSender (peerId: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.setPolicy([{ effect: 'deny', from: { peer: peerId } }, ...this.withoutPeerRule(peerId)], options)
  }

  /** The rules but one that names `peerId` alone (an earlier accept or block of it). */
  private withoutPeerRule (peerId: string): PolicyRule[] {
    return this.admission.policy.rules.filter(r => !(r.skill == null && typeof r.from === 'object' && r.from.peer === peerId && r.from.mesh == null))
  }

  /** Decides the held requests again under the current rules. */
  private async reviewRequests (options: { signal?: AbortSignal }): Promise<void> {
    for (const record of await this.inbound.requests()) {
      options.signal?.throwIfAborted()
      const message = (record.task.history ?? []).find(m => m.role === 'ROLE_USER')
      if (message == null) continue
      const decision = await this.admission.decide({ from: record.peerId, message }, options)
      if (decision == null) await this.inbound.release(record.id)
      else if (decision.outcome === 'reject') await this.inbound.respond(record.id, { kind: 'rejected', text: decision.reason })
    }
  }

  /** Asks the agent of an outbound task to cancel it (kept in the outbox until delivered). */
  async cancel (taskId: string, options: { signal?: AbortSignal } = {}): Promise<TaskRecord> {
    return await this.outbound.cancel(taskId, options)
  }

  /** Resolves when an outbound task has finished or needs our input. */
  async waitFor (taskId: string, options: { signal?: AbortSignal } = {}): Promise<TaskRecord> {
    return await this.outbound.waitFor(taskId, options)
  }

  /**
   * An @a2a-js/sdk Client for the agent `peerId`, over the libp2p binding (every A2A method); for
   * an HTTP agent (`peerId` its card URL), over the SDK's own HTTP transports.
   */
  async client (peerId: string): Promise<Client> {
    if (isAgentUrl(peerId)) return await this.httpAgents.client(peerId)
    const known = this.agents.get(peerId)?.card
    const cached = this.clients.get(peerId)
    if (cached != null && cached.card === known) return await cached.client
    const card = known ?? buildAgentCard(peerId, { name: peerId, description: '', skills: [] })
    // whatever interfaces a card lists, a mesh agent is reached at its own PeerID over the binding
    const pinned: AgentCardJson = { ...card, supportedInterfaces: [bindingInterface(peerId)] }
    const client = this.factory().then(async factory => await factory.createFromAgentCard(AgentCard.fromJSON(pinned)))
    this.clients.set(peerId, { card: known, client })
    client.catch(() => { if (this.clients.get(peerId)?.client === client) this.clients.delete(peerId) })
    return await client
  }

  /**
   * The SDK's client side, loaded on first use: a browser peer that only answers tasks never
   * downloads it (it is a fifth of the A2A SDK's bytes).
   */
  private async factory (): Promise<ClientFactory> {
    this.clientFactory ??= import('@a2a-js/sdk/client').then(({ ClientFactory, ClientFactoryOptions }) => new ClientFactory(
      ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
        transports: [new Libp2pTransportFactory(async (peerId, options) => await this.connector.rpc(peerId, {
          protocol: A2A_PROTOCOL,
          maxFrameBytes: DEFAULT_A2A_MAX_FRAME_BYTES,
          toError: a2aErrorFromRpc,
          signal: options.signal
        }))]
      })
    ))
    return await this.clientFactory
  }

  private async publish (): Promise<void> {
    try {
      await this.registry.publish(this.currentCard)
    } catch (err) {
      // the registry client reports it (onPublish) and retries
      log.error('publishing our card failed - %e', err)
    }
  }

  private setRegistry (state: RegistryStatus): void {
    this.registryState = state
    this.safeDispatchEvent('registry', { detail: state })
  }

  private readonly onRelayStatus = (evt: CustomEvent<RelayStatus>): void => {
    this.safeDispatchEvent('relay', { detail: evt.detail })
    if (evt.detail.state === 'reserved') {
      void this.publish()
      this.outbox.poke()
      this.outbound.poke()
    }
  }

  /** Revocations our relay knows are fetched whenever we hold a reservation on it (again). */
  private readonly onMeshRelayStatus = (evt: CustomEvent<RelayStatus>): void => {
    if (evt.detail.state === 'reserved') void this.meshes.syncRevocations().catch(() => {})
  }

  private readonly onConnectionsChanged = (evt: CustomEvent<Connection>): void => {
    this.safeDispatchEvent('connections', { detail: this.connections() })
    if (evt.type === 'connection:open') {
      // a peer we owe something just came within reach
      const peerId = evt.detail.remotePeer.toString()
      this.outbox.poke(peerId)
      this.outbound.poke(peerId)
    }
  }
}

async function loadOrCreateIdentity (storage: PeerStorage): Promise<PrivateKey> {
  const stored = await storage.identity.load()
  if (stored != null) return privateKeyFromProtobuf(new Uint8Array(stored))
  const key = await generateKeyPair('Ed25519')
  await storage.identity.save(privateKeyToProtobuf(key))
  return key
}
