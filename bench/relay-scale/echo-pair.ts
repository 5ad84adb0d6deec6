/**
 * Two peers in the section's own process that measure the relayed round trip: `listener` holds a
 * reservation on the relay like every other client, `dialer` reaches it through the relay's
 * circuit (`<relay>/p2p-circuit/p2p/<listener>`) and times a small request/response on one
 * stream. Both sides opt in to limited connections, as Starling's protocols do.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { byteStream, echo } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from '@libp2p/interface'
import { coalescing } from '../../src/core/node/coalesce.js'
import { measureLatency, now } from '../lib/stats.js'
import type { LatencyResult } from '../lib/stats.js'

export const ECHO_PROTOCOL = '/starling-bench/echo/1.0.0'
/** Bytes in each request (and its echo): a small JSON-RPC message. */
export const ECHO_BYTES = 64

export interface EchoPair {
  /** Opens a fresh circuit, then times `count` sequential round trips after `warmup`. */
  measure: (count: number, warmup: number) => Promise<LatencyResult & { circuitMs: number }>
  stop: () => Promise<void>
}

async function node (listen: string[]): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen },
    transports: [coalescing(tcp()), circuitRelayTransport({ reservationCompletionTimeout: 20_000 })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    services: { identify: identify() }
  })
}

export async function startEchoPair (relayAddr: string): Promise<EchoPair> {
  const relay = multiaddr(relayAddr)
  const relayId = relay.getComponents().find(c => c.name === 'p2p')?.value
  const listener = await node(['/p2p-circuit'])
  const dialer = await node([])
  try {
    await listener.handle(ECHO_PROTOCOL, async (stream) => { await echo(stream) }, { runOnLimitedConnection: true })
    await listener.dial(relay, { signal: AbortSignal.timeout(20_000) })
    const deadline = Date.now() + 20_000
    while (!listener.getMultiaddrs().some(ma => ma.toString().includes(`/p2p/${relayId}/p2p-circuit`))) {
      if (Date.now() > deadline) throw new Error('the echo listener got no reservation within 20 s')
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  } catch (err) {
    await Promise.allSettled([listener.stop(), dialer.stop()])
    throw err
  }
  const target = multiaddr(`${relayAddr}/p2p-circuit/p2p/${listener.peerId.toString()}`)
  const payload = new Uint8Array(ECHO_BYTES).fill(0x2a)

  return {
    measure: async (count, warmup) => {
      const start = now()
      const connection = await dialer.dial(target, { signal: AbortSignal.timeout(20_000) })
      const circuitMs = now() - start
      try {
        const stream = await connection.newStream(ECHO_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
        const bytes = byteStream(stream)
        const signal = AbortSignal.timeout(60_000)
        const result = await measureLatency(async () => {
          await bytes.write(payload)
          await bytes.read({ bytes: ECHO_BYTES, signal })
        }, count, warmup)
        await stream.close().catch(() => {})
        return { ...result, circuitMs }
      } finally {
        await connection.close().catch(() => {})
      }
    },
    stop: async () => {
      await Promise.allSettled([dialer.stop(), listener.stop()])
    }
  }
}
