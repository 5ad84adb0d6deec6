/**
 * Messages between the relay-scale section and its client worker processes (over the IPC
 * channel of child_process.fork).
 */

export type ToWorker =
  /** Start `count` more clients, each dialing the relay and holding a reservation on it. */
  | { type: 'grow', count: number, relayAddr: string, concurrency: number }
  /**
   * Every client pings the relay (`/ipfs/ping/1.0.0`) every `intervalMs`, each at its own phase,
   * as libp2p's connection monitor does on every Starling peer; `null` stops it.
   */
  | { type: 'ping', intervalMs: number | null }
  /** Start no more clients: the pending `grow` answers with what it has (the time is up). */
  | { type: 'halt' }
  /** Stop every client, then exit. */
  | { type: 'stop' }
  /**
   * (The soak, ../soak.ts.) Every client reserved from now on also publishes its agent card to
   * the relay's registry with this TTL and renews it at half the TTL granted, as a Starling
   * peer's registry client does. Client number `offset + stride × k` of this worker has the
   * skill `soak-<number mod buckets>`, so that a discover per bucket counts the whole registry.
   */
  | { type: 'registry', ttlSeconds: number, buckets: number, offset: number, stride: number }
  /** (The soak.) Answered with `stats`. */
  | { type: 'stats' }

export type FromWorker =
  | { type: 'ready' }
  /** Sent as clients reserve, at most a few times a second. */
  | { type: 'progress', reserved: number, failed: number }
  /** The answer to `grow`: clients holding a reservation now, and those that gave up. */
  | { type: 'grown', reserved: number, failed: number, errors: string[] }
  | { type: 'pinging', clients: number }
  | { type: 'stopped' }
  | { type: 'error', message: string }
  | { type: 'stats', stats: WorkerStats }

/** What a worker's clients have been through since it started (counters only grow). */
export interface WorkerStats {
  /** Clients that got a reservation (and kept running). */
  clients: number
  /** Clients whose circuit address through the relay is there now. */
  reservedNow: number
  /** Clients whose last publish (or renewal) succeeded. */
  publishedNow: number
  /** First publishes, and those that failed. */
  publishes: number
  publishFailures: number
  /** Renewals, and those that failed. */
  renewals: number
  renewFailures: number
  /** A client's circuit address went away (its reservation was lost or not refreshed). */
  reservationLosses: number
  /** ... and came back. */
  reservationRegains: number
  /** A client's connection to the relay closed. */
  relayDisconnects: number
  /** Registry failures by message (`publish: …`, `renew: …`). */
  errors: Record<string, number>
}
