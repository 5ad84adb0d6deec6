/**
 * The relay's end of A2A calls it forwards to mesh agents: one shared RPC stream per agent on
 * the A2A protocol, opened on the connection the agent holds to the relay (every agent the
 * bridge serves is connected to it, for its reservation), and an @a2a-js/sdk Client over it.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { AgentCard } from '@a2a-js/sdk'
import { ClientFactory, ClientFactoryOptions } from '@a2a-js/sdk/client'
import type { Client } from '@a2a-js/sdk/client'
import type { Libp2p } from '@libp2p/interface'
import { A2A_PROTOCOL, bindingInterface } from '../../src/core/a2a/binding.js'
import type { AgentCardJson } from '../../src/core/a2a/json.js'
import { a2aRpcClient, Libp2pTransportFactory } from '../../src/core/a2a/transport.js'
import { PeerUnreachableError } from '../../src/core/errors.js'
import type { RpcClient } from '../../src/core/rpc/client.js'

/** How long a bridged agent's stream stays open with no call in flight, in ms. */
export const DEFAULT_BRIDGE_STREAM_IDLE_MS = 60_000

export interface PeerLinkInit {
  node: Pick<Libp2p, 'getConnections'>
  idleTimeoutMs?: number
}

export class PeerLink {
  private readonly node: PeerLinkInit['node']
  private readonly idleTimeoutMs: number
  private readonly streams = new Map<string, RpcClient>()
  private readonly opening = new Map<string, Promise<RpcClient>>()
  private readonly factory: ClientFactory

  constructor (init: PeerLinkInit) {
    this.node = init.node
    this.idleTimeoutMs = init.idleTimeoutMs ?? DEFAULT_BRIDGE_STREAM_IDLE_MS
    this.factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      transports: [new Libp2pTransportFactory(async (peerId, options) => await this.rpc(peerId, options))]
    }))
  }

  /** Whether `peerId` has an open connection to the relay now. */
  isConnected (peerId: string): boolean {
    return this.connection(peerId) != null
  }

  /** An SDK client for the agent, over the libp2p binding whatever interfaces its card lists. */
  async client (peerId: string, card: AgentCardJson): Promise<Client> {
    return await this.factory.createFromAgentCard(AgentCard.fromJSON({ ...card, supportedInterfaces: [bindingInterface(peerId)] }))
  }

  /** Closes every stream. */
  async close (): Promise<void> {
    const streams = [...this.streams.values()]
    this.streams.clear()
    await Promise.all(streams.map(async s => { await s.close() }))
  }

  private async rpc (peerId: string, options: { signal?: AbortSignal }): Promise<RpcClient> {
    const current = this.streams.get(peerId)
    if (current?.isOpen === true) return current
    let pending = this.opening.get(peerId)
    if (pending == null) {
      pending = this.open(peerId, options.signal).finally(() => this.opening.delete(peerId))
      this.opening.set(peerId, pending)
    }
    return await pending
  }

  private async open (peerId: string, signal?: AbortSignal): Promise<RpcClient> {
    const connection = this.connection(peerId)
    if (connection == null) throw new PeerUnreachableError(peerId)
    const stream = await connection.newStream(A2A_PROTOCOL, { signal })
    const client = a2aRpcClient(stream, { idleTimeout: this.idleTimeoutMs })
    this.streams.set(peerId, client)
    client.onClose(() => { if (this.streams.get(peerId) === client) this.streams.delete(peerId) })
    return client
  }

  private connection (peerId: string): ReturnType<Libp2p['getConnections']>[number] | undefined {
    let id
    try {
      id = peerIdFromString(peerId)
    } catch {
      return undefined
    }
    // a relayed connection would be one the relay made through itself: only direct ones count
    return this.node.getConnections(id).find(c => c.status === 'open' && c.limits == null)
  }
}
