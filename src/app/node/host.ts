/**
 * Owns the page's one StarlingPeer: takes the tab lock, opens the storage, creates and starts
 * the peer, and stops it again. Start and stop requests run one after the other, so a quick
 * stop/start (React's StrictMode does exactly that in development) never runs two peers on one
 * identity, nor creates two identities on a first visit.
 *
 * Only one tab of an origin runs the peer (one PeerID cannot hold two reservations or answer
 * from two inboxes): a second tab waits for the Web Lock and takes over when the first closes.
 */
import type { StarlingPeer } from '../../core/peer.js'
import type { PeerStorage } from '../../core/store/types.js'
import { errorMessage } from '../../core/errors.js'

export type HostState =
  | { phase: 'idle' }
  | { phase: 'starting' }
  /** Another tab of this origin runs the peer. */
  | { phase: 'waiting-for-tab' }
  | { phase: 'running', peer: StarlingPeer }
  | { phase: 'failed', error: string }

export interface PeerHostInit {
  openStorage: () => Promise<PeerStorage>
  createPeer: (storage: PeerStorage) => Promise<StarlingPeer>
  /** Web Lock held while this tab runs the peer; no lock when undefined. */
  lockName?: string
}

interface Running {
  peer?: StarlingPeer
  storage?: PeerStorage
  releaseLock?: () => void
}

export class PeerHost {
  private readonly init: PeerHostInit
  private state: HostState = { phase: 'idle' }
  private readonly listeners = new Set<() => void>()
  private queue: Promise<void> = Promise.resolve()
  private wanted = false
  private lockWait?: AbortController
  private running: Running = {}

  constructor (init: PeerHostInit) {
    this.init = init
  }

  /** For useSyncExternalStore. */
  readonly getState = (): HostState => this.state

  /** For useSyncExternalStore. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  start (): void {
    this.wanted = true
    this.enqueue(async () => { await this.doStart() })
  }

  stop (): void {
    this.wanted = false
    // a start still waiting for another tab's lock gives up now, not when that tab closes
    this.lockWait?.abort()
    // a start requested after this stop (StrictMode's unmount/remount) makes the stop moot
    this.enqueue(async () => { if (!this.wanted) await this.doStop() })
  }

  /** The stored private key (libp2p protobuf), for a key backup; undefined before the first start. */
  async storedIdentity (): Promise<Uint8Array | undefined> {
    return await this.running.storage?.identity.load()
  }

  /**
   * Stops the peer for good and runs `step` on its storage (still open, and no longer used by a
   * peer): replacing the identity with an imported key, or before deleting everything. The page
   * reloads afterwards, so that nothing of the old identity stays in memory.
   */
  async shutDownFor (step: (storage: PeerStorage) => Promise<void>): Promise<void> {
    this.wanted = false
    this.lockWait?.abort()
    const done = Promise.withResolvers<void>()
    this.enqueue(async () => {
      try {
        const { peer, storage } = this.running
        await peer?.stop()
        this.running.peer = undefined
        const open = storage ?? await this.init.openStorage()
        this.running.storage = open
        await step(open)
        await this.release()
        this.setState({ phase: 'idle' })
        done.resolve()
      } catch (err) {
        done.reject(err)
        throw err
      }
    })
    await done.promise
  }

  private enqueue (step: () => Promise<void>): void {
    this.queue = this.queue.then(step).catch((err: unknown) => { console.error('starling: peer lifecycle step failed', err) })
  }

  private async doStart (): Promise<void> {
    if (!this.wanted || this.running.peer != null) return
    this.setState({ phase: 'starting' })
    try {
      if (this.init.lockName != null) {
        const release = await this.acquireLock(this.init.lockName)
        if (release == null) return
        this.running.releaseLock = release
      }
      if (!this.wanted) return await this.doStop()
      this.running.storage = await this.init.openStorage()
      const peer = await this.init.createPeer(this.running.storage)
      this.running.peer = peer
      await peer.start()
      this.setState({ phase: 'running', peer })
    } catch (err) {
      console.error('starling: the peer did not start', err)
      await this.release()
      this.setState({ phase: 'failed', error: errorMessage(err) })
    }
  }

  private async doStop (): Promise<void> {
    await this.release()
    if (this.state.phase !== 'failed') this.setState({ phase: 'idle' })
  }

  private async release (): Promise<void> {
    const { peer, storage, releaseLock } = this.running
    this.running = {}
    try {
      await peer?.stop()
    } catch (err) {
      console.error('starling: stopping the peer failed', err)
    }
    await storage?.close().catch(() => {})
    releaseLock?.()
  }

  /** Resolves with the lock's release function, or undefined when stop() came first. */
  private async acquireLock (name: string): Promise<(() => void) | undefined> {
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
    if (locks == null) return () => {}
    const controller = new AbortController()
    this.lockWait = controller
    const released = Promise.withResolvers<void>()
    const granted = Promise.withResolvers<boolean>()
    // a reload queues behind the old page only for a moment; show the wait if it lasts
    const slow = setTimeout(() => { if (this.state.phase === 'starting') this.setState({ phase: 'waiting-for-tab' }) }, 500)
    locks.request(name, { signal: controller.signal }, async () => {
      granted.resolve(true)
      await released.promise
    }).catch(() => { granted.resolve(false) })
    try {
      return await granted.promise ? () => { released.resolve() } : undefined
    } finally {
      clearTimeout(slow)
      if (this.lockWait === controller) this.lockWait = undefined
    }
  }

  private setState (state: HostState): void {
    this.state = state
    for (const listener of this.listeners) listener()
  }
}
