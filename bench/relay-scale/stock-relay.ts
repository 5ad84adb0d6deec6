/**
 * The baseline of the relay-scale section: a js-libp2p circuit relay with libp2p's defaults
 * (TCP, Noise, Yamux, identify, ping, the connection monitor pinging every 10 s), as a project
 * that takes the libraries off the shelf would run it. Only what the benchmark needs differs:
 * enough reservations and connections for the clients, and no per-host rate limit since every
 * client comes from 127.0.0.1.
 *
 *   node --import bin/polyfill.mjs dist/node/bench/relay-scale/stock-relay.js <max-reservations> <max-connections>
 *
 * Prints `listening <multiaddr>` once it listens; stops on SIGTERM.
 */
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'

const maxReservations = Number(process.argv[2] ?? 1000)
const maxConnections = Number(process.argv[3] ?? 2000)

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionManager: { maxConnections, inboundConnectionThreshold: 100_000, maxIncomingPendingConnections: 256 },
  services: {
    identify: identify(),
    ping: ping(),
    relay: circuitRelayServer({ reservations: { maxReservations } })
  }
})

console.log(`listening ${node.getMultiaddrs()[0]!.toString()}`)

const stop = (): void => {
  Promise.resolve(node.stop()).then(() => process.exit(0), () => process.exit(1))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
