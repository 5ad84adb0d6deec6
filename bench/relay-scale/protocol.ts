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

export type FromWorker =
  | { type: 'ready' }
  /** Sent as clients reserve, at most a few times a second. */
  | { type: 'progress', reserved: number, failed: number }
  /** The answer to `grow`: clients holding a reservation now, and those that gave up. */
  | { type: 'grown', reserved: number, failed: number, errors: string[] }
  | { type: 'pinging', clients: number }
  | { type: 'stopped' }
  | { type: 'error', message: string }
