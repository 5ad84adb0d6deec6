/**
 * The relay's Prometheus metrics (`GET /metrics`): Starling's own and libp2p's, in one prom-client
 * registry.
 *
 * Cheap at thousands of peers: what is a level (connections, reservations, circuits, registry
 * size) is read from libp2p and the registry when Prometheus scrapes, not counted on every event;
 * only things that happen (registry calls, refusals, HTTP requests) are counted as they happen,
 * each a label lookup and an add.
 *
 * libp2p's metrics (@libp2p/prometheus-metrics) add, among others:
 * - `libp2p_data_transfer_bytes_total{protocol="/libp2p/circuit/relay/0.2.0/stop sent|received"}`:
 *   the bytes relayed (a relayed circuit is a stop stream to its destination);
 * - `libp2p_connection_manager_connections{inbound,outbound,...}`, `libp2p_protocol_streams_total`;
 * - `libp2p_circuit_relay_server_reservations_total`, and Node's process metrics.
 * Those wrap every stream's send and receive: a Map update per chunk, which is what libp2p offers.
 */
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Connection } from '@libp2p/interface'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** The protocol a relayed circuit runs on, from the relay to the destination peer. */
export const RELAY_STOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/stop'

/** Registry call latency buckets, in seconds: calls are answered synchronously, in µs to ms. */
export const DEFAULT_REGISTRY_LATENCY_BUCKETS_SECONDS = [0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1]

export type Transport = 'ws' | 'tcp' | 'circuit'
export type RegistryOp = 'publish' | 'remove' | 'discover' | 'other'
export type RegistryOutcome = 'ok' | 'refused' | 'error'
/** Why the relay said no: a registry refusal, a reservation refusal, a bad HTTP request. */
export type RefusalReason = 'forbidden' | 'invalid_params' | 'registry_full' | 'unknown_method' | 'rate_limited' | 'bad_frame' | 'reservation_refused' | 'bad_request'
/** What a peer refused by a private relay tried to do (relay/mesh/service.ts). */
export type MeshOp = 'reserve' | 'circuit' | 'publish' | 'discover' | 'revocations' | 'revoke' | 'members'
export type HttpRoute = 'health' | 'metrics' | 'api_relay' | 'api_agents' | 'api_other' | 'static' | 'method_not_allowed' | 'a2a_bridge'
/** How a call through the A2A HTTP bridge ended (relay/bridge/). */
export type BridgeOutcome = 'ok' | 'a2a_error' | 'refused' | 'rate_limited' | 'not_found' | 'bad_request' | 'unreachable' | 'timeout' | 'aborted' | 'error'

/** What the relay exposes to be measured on scrape; each is read only when Prometheus asks. */
export interface MetricsSource {
  connections: () => Iterable<Connection>
  reservations: () => number
  registryEntries: () => number
}

export class RelayMetrics {
  readonly registry = new Registry()
  readonly registryOps: Counter<'op' | 'outcome'>
  readonly registryLatency: Histogram<'op'>
  readonly refusals: Counter<'reason'>
  readonly httpRequests: Counter<'route' | 'status'>
  /** Private mode: peers refused for want of a membership, by what they tried and why (relay/mesh/). */
  readonly meshRefusals: Counter<'op' | 'reason'>
  readonly bridgedRequests: Counter<'method' | 'outcome'>
  private source?: MetricsSource

  constructor () {
    const registers = [this.registry]
    const sourceOf = (): MetricsSource | undefined => this.source
    // each gauge is registered with the registry, which keeps it: nothing else holds it
    new Gauge({
      name: 'starling_relay_connections',
      help: 'Open connections to the relay, by transport (ws: browsers, tcp: native peers, circuit: relayed to the relay itself)',
      labelNames: ['transport'],
      registers,
      collect () {
        const counts: Record<Transport, number> = { ws: 0, tcp: 0, circuit: 0 }
        for (const connection of sourceOf()?.connections() ?? []) counts[transportOf(connection)]++
        for (const [transport, n] of Object.entries(counts)) this.set({ transport }, n)
      }
    })
    new Gauge({
      name: 'starling_relay_reservations',
      help: 'Circuit relay reservations held',
      registers,
      collect () { this.set(sourceOf()?.reservations() ?? 0) }
    })
    new Gauge({
      name: 'starling_relay_circuits_open',
      help: 'Relayed circuits open through the relay (stop streams to destination peers)',
      registers,
      collect () {
        let open = 0
        for (const connection of sourceOf()?.connections() ?? []) {
          for (const stream of connection.streams) {
            if (stream.protocol === RELAY_STOP_PROTOCOL && stream.direction === 'outbound' && stream.status === 'open') open++
          }
        }
        this.set(open)
      }
    })
    new Gauge({
      name: 'starling_relay_registry_entries',
      help: 'Agent cards held in the skill registry',
      registers,
      collect () { this.set(sourceOf()?.registryEntries() ?? 0) }
    })
    this.registryOps = new Counter({
      name: 'starling_relay_registry_operations_total',
      help: 'Registry calls answered, by operation and outcome',
      labelNames: ['op', 'outcome'],
      registers
    })
    this.registryLatency = new Histogram({
      name: 'starling_relay_registry_operation_duration_seconds',
      help: 'Time to answer one registry call, by operation',
      labelNames: ['op'],
      buckets: DEFAULT_REGISTRY_LATENCY_BUCKETS_SECONDS,
      registers
    })
    this.refusals = new Counter({
      name: 'starling_relay_refusals_total',
      help: 'Requests the relay refused, by reason',
      labelNames: ['reason'],
      registers
    })
    this.meshRefusals = new Counter({
      name: 'starling_relay_mesh_refusals_total',
      help: 'Private mode: peers refused for want of a membership of a served mesh, by what they tried and why',
      labelNames: ['op', 'reason'],
      registers
    })
    this.httpRequests = new Counter({
      name: 'starling_relay_http_requests_total',
      help: 'HTTP requests answered, by route and status code',
      labelNames: ['route', 'status'],
      registers
    })
    this.bridgedRequests = new Counter({
      name: 'starling_relay_bridge_requests_total',
      help: 'Calls through the A2A HTTP bridge, by A2A method (v1 name; card for card fetches, other when unknown) and outcome',
      labelNames: ['method', 'outcome'],
      registers
    })
  }

  /** Points the scrape-time gauges at the running relay. */
  bind (source: MetricsSource): void {
    this.source = source
  }

  /**
   * libp2p's metrics, in this registry: pass as createLibp2p's `metrics`. Node's default process
   * metrics come with it.
   */
  libp2pMetrics (): ReturnType<typeof prometheusMetrics> {
    return prometheusMetrics({ registry: this.registry })
  }

  /** Times and counts one registry call; `run` returns the outcome it reached. */
  measureRegistryCall<T> (op: RegistryOp, run: () => { result: T, outcome: RegistryOutcome, refusal?: RefusalReason }): T {
    const end = this.registryLatency.startTimer({ op })
    try {
      const { result, outcome, refusal } = run()
      this.registryOps.inc({ op, outcome })
      if (refusal != null) this.refusals.inc({ reason: refusal })
      return result
    } catch (err) {
      this.registryOps.inc({ op, outcome: 'error' })
      throw err
    } finally {
      end()
    }
  }

  /** The exposition text and its content type. */
  async render (): Promise<{ contentType: string, body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}

/** How a connection reached the relay, from its remote address. */
export function transportOf (connection: Pick<Connection, 'remoteAddr'>): Transport {
  const addr = connection.remoteAddr.toString()
  if (addr.includes('/p2p-circuit')) return 'circuit'
  if (/\/wss?(\/|$)/.test(addr) || addr.includes('/tls/ws')) return 'ws'
  return 'tcp'
}

/** The part of @libp2p/circuit-relay-v2's server that decides reservations (not public API). */
interface ReservationStoreLike {
  reserve: (...args: unknown[]) => { status: unknown }
}

/**
 * Counts refused reservations (`refusals_total{reason="reservation_refused"}`). The circuit
 * relay server has no event or metric for them, so its reservation store's `reserve` is wrapped;
 * if a later version moves it, nothing is counted and `false` is returned, nothing breaks.
 */
export function countReservationRefusals (relayService: unknown, metrics: RelayMetrics): boolean {
  const store = (relayService as { reservationStore?: Partial<ReservationStoreLike> } | undefined)?.reservationStore
  const reserve = store?.reserve
  if (store == null || typeof reserve !== 'function') return false
  store.reserve = (...args: unknown[]) => {
    const result = reserve.apply(store, args)
    if (result.status !== 'OK') metrics.refusals.inc({ reason: 'reservation_refused' })
    return result
  }
  return true
}
