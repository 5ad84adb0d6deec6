/**
 * @libp2p/tcp with one write per message.
 *
 * Noise hands each encrypted message to the TCP connection as two buffers (its 2-byte length,
 * then the ciphertext), and @libp2p/tcp writes every buffer with its own `socket.write`: two
 * syscalls and, with Nagle off, two TCP segments per message. ChainSafe/js-libp2p-noise#387 once
 * joined them; the stream refactor of libp2p 3 split them again. Corking the socket around each
 * send makes Node write the buffers with one `writev`. Measured on a task round trip between two
 * native peers: about half the write syscalls, and the CPU that went with them.
 */
import { tcp } from '@libp2p/tcp'
import type { TCPOptions } from '@libp2p/tcp'
import type { MultiaddrConnection, Upgrader } from '@libp2p/interface'
import type { Socket } from 'node:net'
import type { TransportFactory } from '../core/node/create-node.js'

interface SocketConnection {
  socket?: Socket
  sendData?: (data: unknown) => unknown
}

/** Makes `maConn` write each send with one corked write, when it is a TCP connection we can see into. */
function corkSends (maConn: MultiaddrConnection): void {
  const conn = maConn as unknown as SocketConnection
  const socket = conn.socket
  const sendData = conn.sendData
  if (socket == null || typeof socket.cork !== 'function' || typeof sendData !== 'function') return
  conn.sendData = (data: unknown) => {
    socket.cork()
    try {
      return sendData.call(conn, data)
    } finally {
      socket.uncork()
    }
  }
}

function corkingUpgrader (upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get (target, property, receiver) {
      if (property === 'upgradeOutbound' || property === 'upgradeInbound') {
        const upgrade = Reflect.get(target, property, receiver) as (maConn: MultiaddrConnection, ...rest: unknown[]) => unknown
        return (maConn: MultiaddrConnection, ...rest: unknown[]) => {
          corkSends(maConn)
          return upgrade.call(target, maConn, ...rest)
        }
      }
      return Reflect.get(target, property, receiver)
    }
  })
}

/** The TCP transport, each message written with one syscall. */
export function corkedTcp (init?: TCPOptions): TransportFactory {
  const factory = tcp(init)
  return (components) => {
    const transport = factory(components)
    const dial = transport.dial.bind(transport)
    const createListener = transport.createListener.bind(transport)
    transport.dial = async (ma, options) => await dial(ma, { ...options, upgrader: corkingUpgrader(options.upgrader) })
    transport.createListener = (options) => createListener({ ...options, upgrader: corkingUpgrader(options.upgrader) })
    return transport
  }
}
