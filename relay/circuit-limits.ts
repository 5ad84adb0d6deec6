/**
 * Caps relayed connections (circuits): how many are open through the relay at once, and how many
 * one peer is an end of. js-libp2p's circuit relay server caps reservations, and streams per
 * connection per protocol (`maxInboundHopStreams`, `maxOutboundStopStreams`), but not circuits:
 * every reserving peer could be called by every other at once.
 *
 * The relay asks the connection gater (`denyOutboundRelayedConnection(source, destination)`)
 * before it sets up each circuit; a refused caller gets PERMISSION_DENIED. A circuit lives as
 * long as the caller's hop stream (the relay pipes that stream into the one it opens to the
 * destination, and closes neither before the circuit ends; a caller whose circuit could not be
 * set up aborts it), so a circuit is counted from its approval until that stream closes. The
 * gater is told only the peers, so the stream is found on the caller's connections: its newest
 * open inbound hop stream the relay has not answered on and that is not already counted. (A
 * reservation request in flight on the same connection at that very moment could be taken for
 * it; that circuit would then be counted only until the reservation's stream closes.)
 */
import { RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2'
import { PeerMap } from '@libp2p/peer-collections'
import type { ConnectionGater, Connection, PeerId, Stream } from '@libp2p/interface'

export interface CircuitLimitsInit {
  /** Circuits open at once through the relay. */
  maxCircuits: number
  /** Circuits open at once that one peer is an end of, calling or called. */
  maxCircuitsPerPeer: number
}

/** What the limits need from libp2p: a peer's connections. */
export interface ConnectionSource {
  getConnections: (peerId?: PeerId) => Connection[]
}

interface Circuit { source: PeerId, destination: PeerId }

export class CircuitLimits {
  private readonly init: CircuitLimitsInit
  private connections?: ConnectionSource
  private readonly circuits = new Map<Stream, Circuit>()
  private readonly perPeer = new PeerMap<number>()
  /** Circuits refused since start, by the cap that refused them. */
  readonly refused = { total: 0, perPeer: 0 }

  constructor (init: CircuitLimitsInit) {
    this.init = init
  }

  /** Gives the limits libp2p's connection manager; until then nothing is counted or refused. */
  bind (connections: ConnectionSource): void {
    this.connections = connections
  }

  /** Circuits open now. */
  get size (): number {
    return this.circuits.size
  }

  /** Circuits open now that `peer` is an end of. */
  countFor (peer: PeerId): number {
    return this.perPeer.get(peer) ?? 0
  }

  readonly denyOutboundRelayedConnection = (source: PeerId, destination: PeerId): boolean => {
    if (this.connections == null) return false
    if (this.circuits.size >= this.init.maxCircuits) {
      this.refused.total++
      return true
    }
    if (this.countFor(source) >= this.init.maxCircuitsPerPeer || this.countFor(destination) >= this.init.maxCircuitsPerPeer) {
      this.refused.perPeer++
      return true
    }
    const stream = this.hopStreamOf(source)
    // no hop stream to follow would be a change in libp2p: let the circuit through uncounted
    // rather than refuse every circuit
    if (stream == null) return false
    this.count(stream, { source, destination })
    return false
  }

  /** The gater hooks these limits need, to merge into the relay's gater. */
  gater (): Pick<ConnectionGater, 'denyOutboundRelayedConnection'> {
    return { denyOutboundRelayedConnection: this.denyOutboundRelayedConnection }
  }

  private hopStreamOf (peer: PeerId): Stream | undefined {
    let newest: Stream | undefined
    for (const connection of this.connections?.getConnections(peer) ?? []) {
      for (const stream of connection.streams) {
        if (stream.protocol !== RELAY_V2_HOP_CODEC || stream.direction !== 'inbound' || stream.status !== 'open') continue
        // the relay has answered on a stream it closed for writing: a reservation, not a circuit being set up
        if (stream.writeStatus !== 'writable') continue
        if (this.circuits.has(stream)) continue
        if (newest == null || stream.timeline.open > newest.timeline.open) newest = stream
      }
    }
    return newest
  }

  private count (stream: Stream, circuit: Circuit): void {
    this.circuits.set(stream, circuit)
    this.adjust(circuit.source, 1)
    if (!circuit.destination.equals(circuit.source)) this.adjust(circuit.destination, 1)
    stream.addEventListener('close', () => {
      this.circuits.delete(stream)
      this.adjust(circuit.source, -1)
      if (!circuit.destination.equals(circuit.source)) this.adjust(circuit.destination, -1)
    }, { once: true })
  }

  private adjust (peer: PeerId, by: number): void {
    const next = (this.perPeer.get(peer) ?? 0) + by
    if (next <= 0) this.perPeer.delete(peer)
    else this.perPeer.set(peer, next)
  }
}
