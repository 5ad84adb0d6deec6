/**
 * The weight section's yardstick: a minimal libp2p browser node with exactly the modules a
 * browser peer of the mesh needs (WebSockets to a relay, WebRTC between browsers, circuit relay,
 * noise, yamux, identify), and nothing of Starling. bench/weight.ts bundles it with Vite in the
 * same run as the app; it is never run.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'

export const node = await createLibp2p({
  addresses: { listen: ['/p2p-circuit', '/webrtc'] },
  transports: [webSockets(), webRTC(), circuitRelayTransport()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify() }
})
