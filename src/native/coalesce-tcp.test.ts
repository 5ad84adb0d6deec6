// The coalescing transport wrapper (src/core/node/coalesce.ts) over real TCP, counting socket writes.
import { afterEach, describe, expect, it } from 'vitest'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from '@libp2p/interface'
import { Socket } from 'node:net'
import { coalescing } from '../core/node/coalesce.js'
import type { TransportFactory } from '../core/node/create-node.js'

describe('transports that send each message in one write', () => {
  const nodes: Libp2p[] = []
  afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => { await n.stop() })) })

  /** Echoes 50 messages of 1000 bytes over `transport`; returns the socket writes made meanwhile. */
  async function echoWrites (transport: () => TransportFactory): Promise<number> {
    const make = async (): Promise<Libp2p> => {
      const node = await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [transport()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()]
      })
      nodes.push(node)
      return node
    }
    const [a, b] = await Promise.all([make(), make()])
    await b.handle('/echo/1.0.0', (stream) => {
      stream.addEventListener('message', (evt) => { stream.send(evt.data) })
    })
    const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, '/echo/1.0.0')
    // every socket write, single or vectored, goes through Socket#_writeGeneric: one syscall each
    const proto = Socket.prototype as unknown as { _writeGeneric: (...args: unknown[]) => unknown }
    const writeGeneric = proto._writeGeneric
    let writes = 0
    proto._writeGeneric = function (this: Socket, ...args: unknown[]) { writes++; return writeGeneric.apply(this, args) }
    try {
      const payload = new Uint8Array(1000).fill(7)
      for (let i = 0; i < 50; i++) {
        const echoed = new Promise<number>((resolve) => {
          stream.addEventListener('message', (evt) => { resolve(evt.data.byteLength) }, { once: true })
        })
        stream.send(payload)
        expect(await echoed).toBe(1000)
      }
    } finally {
      proto._writeGeneric = writeGeneric
    }
    return writes
  }

  it('writes each encrypted message with one syscall instead of two, and the data arrives whole', async () => {
    const plain = await echoWrites(() => tcp())
    const corked = await echoWrites(() => coalescing(tcp()))
    expect(corked).toBeGreaterThanOrEqual(100)
    expect(corked).toBeLessThan(plain * 0.6)
  })
})
