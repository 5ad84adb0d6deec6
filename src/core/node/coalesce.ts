/**
 * Transports that send each message as one piece.
 *
 * Noise hands every encrypted message to the raw connection as two buffers (its 2-byte length,
 * then the ciphertext), and the TCP and WebSocket transports send each buffer on its own: over
 * TCP two syscalls and, with Nagle off, two segments; over WebSockets two frames, each with its
 * own header, event and (in Node) syscall. ChainSafe/js-libp2p-noise#387 once joined them; the
 * stream refactor of libp2p 3 split them again. Joining the buffers before the connection sends
 * them costs a copy of a few hundred bytes per message; it halves the writes.
 */
import type { MultiaddrConnection, Upgrader } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import type { TransportFactory } from './create-node.js'

interface SendsData {
  sendData?: (data: Uint8ArrayList) => unknown
}

/** Makes `maConn` send what it is given as one buffer. */
function coalesceSends (maConn: MultiaddrConnection): void {
  const conn = maConn as unknown as SendsData
  const sendData = conn.sendData
  if (typeof sendData !== 'function') return
  // subarray() of a list holding one buffer returns that buffer: only split messages are copied
  conn.sendData = (data: Uint8ArrayList) => sendData.call(conn, new Uint8ArrayList(data.subarray()))
}

function coalescingUpgrader (upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get (target, property, receiver) {
      if (property === 'upgradeOutbound' || property === 'upgradeInbound') {
        const upgrade = Reflect.get(target, property, receiver) as (maConn: MultiaddrConnection, ...rest: unknown[]) => unknown
        return (maConn: MultiaddrConnection, ...rest: unknown[]) => {
          coalesceSends(maConn)
          return upgrade.call(target, maConn, ...rest)
        }
      }
      return Reflect.get(target, property, receiver)
    }
  })
}

/** `factory`'s transport, its raw connections sending each message in one write. */
export function coalescing (factory: TransportFactory): TransportFactory {
  return (components) => {
    const transport = factory(components)
    const dial = transport.dial.bind(transport)
    const createListener = transport.createListener.bind(transport)
    transport.dial = async (ma, options) => await dial(ma, { ...options, upgrader: coalescingUpgrader(options.upgrader) })
    transport.createListener = (options) => createListener({ ...options, upgrader: coalescingUpgrader(options.upgrader) })
    return transport
  }
}
