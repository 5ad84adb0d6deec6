/**
 * Lets browsers reach the relay's libp2p WebSocket listener through the relay's HTTP port.
 *
 * @libp2p/websockets always runs its own HTTP server, which answers plain requests with 400.
 * We let it listen on an internal loopback port and hand it the WebSocket upgrades that arrive
 * on our HTTP server (`listener.onUpgrade`, public on the listener), so the PWA, the API and
 * the mesh share one origin: one port to open, one TLS certificate behind a reverse proxy, and
 * the client's real address stays visible to libp2p.
 */
import { webSockets } from '@libp2p/websockets'
import type { Listener } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { TransportFactory } from '../src/core/node/create-node.js'

interface UpgradableListener extends Listener {
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void
}

export class WebSocketBridge {
  private listener?: UpgradableListener

  attach (listener: Listener): void {
    if (typeof (listener as Partial<UpgradableListener>).onUpgrade !== 'function') {
      throw new Error('this @libp2p/websockets listener cannot take upgrades from another HTTP server')
    }
    this.listener = listener as UpgradableListener
  }

  /** Hands a WebSocket upgrade to libp2p; refuses it when libp2p is not listening yet. */
  upgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.listener == null) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n')
      return
    }
    this.listener.onUpgrade(req, socket, head)
  }

  /** Whether `addr` is the internal listener's own address (never announced). */
  isInternal (addr: Multiaddr): boolean {
    const port = tcpPort(addr)
    return this.listener?.getAddrs().some(a => tcpPort(a) === port && addr.toString().includes('/ws')) ?? false
  }
}

function tcpPort (addr: Multiaddr): string | undefined {
  return addr.getComponents().find(c => c.name === 'tcp')?.value
}

/** The WebSockets transport, with its listener handed to `bridge`. */
export function webSocketsBehindHttp (bridge: WebSocketBridge): TransportFactory {
  const factory = webSockets()
  return (components) => {
    const transport = factory(components)
    const createListener = transport.createListener.bind(transport)
    transport.createListener = (options) => {
      const listener = createListener(options)
      bridge.attach(listener)
      return listener
    }
    return transport
  }
}
