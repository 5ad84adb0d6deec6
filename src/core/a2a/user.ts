import type { User } from '@a2a-js/sdk/server'

/** The SDK's notion of a caller: a PeerID proven by the connection's Noise handshake. */
export class PeerUser implements User {
  readonly peerId: string
  constructor (peerId: string) { this.peerId = peerId }
  get isAuthenticated (): boolean { return true }
  get userName (): string { return this.peerId }
}
