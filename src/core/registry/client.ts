/**
 * A peer's side of the skill registry: publish (and keep renewing) its card on the relay,
 * remove it, and discover other agents.
 */
import { logger } from '@libp2p/logger'
import { errorMessage, RegistryError, RelayUnavailableError, StarlingError } from '../errors.js'
import type { AgentCardJson } from '../a2a/json.js'
import type { PeerConnector } from '../node/connector.js'
import type { RelayLink } from '../node/relay-link.js'
import type { RpcClient } from '../rpc/client.js'
import type { JsonRpcErrorObject } from '../rpc/jsonrpc.js'
import { isDiscoverResult, REGISTRY_MAX_FRAME_BYTES, REGISTRY_PROTOCOL, RegistryMethod } from './protocol.js'
import type { AgentEntry, DiscoverParams, PublishParams, PublishResult } from './protocol.js'
import { bytesToBase64 } from '../a2a/parts.js'

const log = logger('starling:registry-client')

/** TTL asked for our entry, in seconds; we renew at half of it. */
export const DEFAULT_PUBLISH_TTL_SECONDS = 300

/** Time allowed for one registry call, in ms. */
export const DEFAULT_REGISTRY_TIMEOUT_MS = 10_000

export interface RegistryClientInit {
  connector: PeerConnector
  relay: RelayLink
  ttlSeconds?: number
  timeoutMs?: number
  /** Told the outcome of every publish, renewals and retries included. */
  onPublish?: (outcome: { result: PublishResult } | { error: unknown }) => void
  /**
   * Seals the card as this peer's signed agent record (./agent-record.ts), sent beside it so
   * the relay can hand out a card anyone can check.
   */
  seal?: (card: AgentCardJson) => Promise<Uint8Array>
}

export class RegistryClient {
  private readonly connector: PeerConnector
  private readonly relay: RelayLink
  private readonly ttlSeconds: number
  private readonly timeoutMs: number
  private readonly onPublish: NonNullable<RegistryClientInit['onPublish']>
  private readonly seal?: RegistryClientInit['seal']
  private renewTimer?: ReturnType<typeof setTimeout>
  private card?: AgentCardJson
  private lastPublish?: PublishResult

  constructor (init: RegistryClientInit) {
    this.connector = init.connector
    this.relay = init.relay
    this.ttlSeconds = init.ttlSeconds ?? DEFAULT_PUBLISH_TTL_SECONDS
    this.timeoutMs = init.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS
    this.onPublish = init.onPublish ?? (() => {})
    this.seal = init.seal
  }

  /** The result of the last successful publish, if any. */
  get published (): PublishResult | undefined {
    return this.lastPublish
  }

  /** Publishes `card` now and keeps renewing it until `stop()` (or a new card). */
  async publish (card: AgentCardJson, options: { signal?: AbortSignal } = {}): Promise<PublishResult> {
    this.card = card
    this.clearRenewal()
    try {
      const client = await this.client(options.signal)
      // sealed afresh each time: a renewal's record carries a newer sequence number
      const record = this.seal == null ? undefined : bytesToBase64(await this.seal(card))
      const params: PublishParams = { card, ttlSeconds: this.ttlSeconds, ...(record != null ? { record } : {}) }
      const result = await client.request(RegistryMethod.Publish, params, { signal: this.signal(options.signal) }) as PublishResult
      this.lastPublish = result
      this.scheduleRenewal(result.ttlSeconds)
      this.onPublish({ result })
      return result
    } catch (err) {
      // try again soon: the relay may be restarting
      this.scheduleRenewal(Math.min(30, this.ttlSeconds))
      this.onPublish({ error: err })
      throw err
    }
  }

  async remove (options: { signal?: AbortSignal } = {}): Promise<boolean> {
    this.card = undefined
    this.clearRenewal()
    const client = await this.client(options.signal)
    const result = await client.request(RegistryMethod.Remove, {}, { signal: this.signal(options.signal) }) as { removed?: unknown }
    return result.removed === true
  }

  async discover (params: DiscoverParams = {}, options: { signal?: AbortSignal } = {}): Promise<AgentEntry[]> {
    const client = await this.client(options.signal)
    const result = await client.request(RegistryMethod.Discover, params, { signal: this.signal(options.signal) })
    if (!isDiscoverResult(result)) throw new StarlingError('the relay sent a malformed discover result', 'ERR_BAD_RELAY_RESPONSE')
    return result.agents
  }

  stop (): void {
    this.card = undefined
    this.clearRenewal()
  }

  private async client (signal?: AbortSignal): Promise<RpcClient> {
    const relayId = this.relay.status.relayPeerId
    if (relayId == null) throw new RelayUnavailableError()
    return await this.connector.rpc(relayId, {
      protocol: REGISTRY_PROTOCOL,
      maxFrameBytes: REGISTRY_MAX_FRAME_BYTES,
      signal,
      // registry calls are rare: give the relay its stream back soon after
      idleTimeoutMs: 5_000,
      toError: (e: JsonRpcErrorObject) => new RegistryError(e.code, e.message)
    })
  }

  private signal (signal?: AbortSignal): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs)
    return signal == null ? timeout : AbortSignal.any([signal, timeout])
  }

  private scheduleRenewal (ttlSeconds: number): void {
    this.clearRenewal()
    const card = this.card
    if (card == null) return
    this.renewTimer = setTimeout(() => {
      if (this.card !== card) return
      this.publish(card).catch((err: unknown) => { log.error('renewing our registry entry failed - %s', errorMessage(err)) })
    }, Math.max(1, ttlSeconds / 2) * 1000)
  }

  private clearRenewal (): void {
    if (this.renewTimer != null) clearTimeout(this.renewTimer)
    this.renewTimer = undefined
  }
}
