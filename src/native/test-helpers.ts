/**
 * Helpers for tests that run a real relay in-process and native peers beside it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tcp } from '@libp2p/tcp'
import { StarlingPeer } from '../core/peer.js'
import type { StarlingPeerInit } from '../core/peer.js'
import type { RelayStatus } from '../core/node/relay-link.js'
import { memoryStorage } from '../core/store/memory.js'
import { loadConfig } from '../../relay/config.js'
import type { RelayConfig } from '../../relay/config.js'
import { startRelay } from '../../relay/relay.js'
import type { RunningRelay, StartRelayOptions } from '../../relay/relay.js'

export async function tempDir (prefix = 'starling-test-'): Promise<{ path: string, remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

export async function testRelay (overrides: Partial<RelayConfig> = {}, options: StartRelayOptions = {}): Promise<RunningRelay & { dir: string }> {
  const dir = await tempDir('starling-relay-')
  const config = loadConfig(['--port', '0', '--tcp-port', '0', '--data-dir', dir.path, '--app-dir', join(dir.path, 'app')], {})
  if (config === 'help') throw new Error('unreachable')
  const relay = await startRelay({ ...config, ...overrides }, options)
  return {
    ...relay,
    dir: dir.path,
    stop: async () => {
      await relay.stop()
      await dir.remove()
    }
  }
}

/** The relay's TCP address, for native peers. */
export function tcpAddr (relay: RunningRelay): string {
  const addr = relay.multiaddrs().find(a => !a.includes('/ws'))
  if (addr == null) throw new Error('the relay has no TCP address')
  return addr
}

export async function testPeer (relay: RunningRelay, init: Partial<StarlingPeerInit> = {}): Promise<StarlingPeer> {
  const peer = await StarlingPeer.create({
    storage: memoryStorage(),
    transports: [tcp()],
    listen: ['/p2p-circuit'],
    relayAddrs: async () => [tcpAddr(relay)],
    defaultProfile: { name: 'test agent', description: 'a test peer', skills: [{ id: 'echo' }] },
    ...init
  })
  await peer.start()
  return peer
}

/** Resolves once `peer` holds a reservation on its relay and has published its card. */
export async function untilPublished (peer: StarlingPeer): Promise<void> {
  if (peer.registryStatus.expiresAt != null) return
  await new Promise<void>((resolve, reject) => {
    const onRegistry = (evt: CustomEvent<{ expiresAt?: string, error?: string }>): void => {
      if (evt.detail.expiresAt != null) {
        peer.removeEventListener('registry', onRegistry)
        resolve()
      } else if (evt.detail.error != null) {
        peer.removeEventListener('registry', onRegistry)
        reject(new Error(evt.detail.error))
      }
    }
    peer.addEventListener('registry', onRegistry)
  })
}

/** Resolves with the first relay status of `peer` that `test` accepts (now or later). */
export async function untilRelayState (peer: StarlingPeer, test: (s: RelayStatus) => boolean): Promise<RelayStatus> {
  if (test(peer.relayStatus)) return peer.relayStatus
  return await new Promise((resolve) => {
    const on = (evt: CustomEvent<RelayStatus>): void => {
      if (!test(evt.detail)) return
      peer.removeEventListener('relay', on)
      resolve(evt.detail)
    }
    peer.addEventListener('relay', on)
  })
}
