/**
 * The relay and peers of one describe block's tests, stopped after each test (vitest's afterEach:
 * kept apart from ./test-helpers.ts, which the benchmarks import too).
 */
import { afterEach } from 'vitest'
import type { StarlingPeer, StarlingPeerInit } from '../core/peer.js'
import type { RelayConfig } from '../../relay/config.js'
import type { RunningRelay } from '../../relay/relay.js'
import { testPeer, testRelay } from './test-helpers.js'

/** A relay and the peers on it that the tests of one describe block start: see peersOnRelay(). */
export interface PeersOnRelay {
  /** The relay: started on the first call of a test, with that call's config; the same one after. */
  relay: (config?: Partial<RelayConfig>) => Promise<RunningRelay>
  /** A new peer on the relay (started with the default config if none is yet). */
  peer: (init?: Partial<StarlingPeerInit>) => Promise<StarlingPeer>
  /** Stops a peer before the test ends (a restart); it is not stopped again. */
  stop: (peer: StarlingPeer) => Promise<void>
}

/**
 * The relay and peers of each test in the calling describe block, stopped after each test
 * (an afterEach hook it registers): one place for what every such block otherwise writes out.
 */
export function peersOnRelay (): PeersOnRelay {
  let relay: RunningRelay | undefined
  const peers: StarlingPeer[] = []
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop() }))
    await relay?.stop()
    relay = undefined
  })
  const start = async (config?: Partial<RelayConfig>): Promise<RunningRelay> => {
    relay ??= await testRelay(config)
    return relay
  }
  return {
    relay: start,
    peer: async (init = {}) => {
      const p = await testPeer(await start(), init)
      peers.push(p)
      return p
    },
    stop: async (peer) => {
      const i = peers.indexOf(peer)
      if (i >= 0) peers.splice(i, 1)
      await peer.stop()
    }
  }
}
