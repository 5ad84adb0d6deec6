/**
 * A peer's identity as a W3C `did:key` (https://w3c-ccg.github.io/did-method-key/): the same
 * Ed25519 public key as its PeerID, in the form that DID-aware tools and agent-identity schemes
 * read. `did:key:z6Mk…` is base58btc of the multicodec `ed25519-pub` (0xed, varint 0xed 0x01)
 * followed by the 32-byte key.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { base58btc } from 'multiformats/bases/base58'
import { InvalidInputError } from '../errors.js'

/** The multicodec prefix of an Ed25519 public key, as an unsigned varint. */
const ED25519_PUB_PREFIX = [0xed, 0x01]

/** The did:key of an Ed25519 PeerID. Throws InvalidInputError for other key types. */
export function didKeyOf (peerId: string): string {
  const id = peerIdFromString(peerId)
  if (id.type !== 'Ed25519') throw new InvalidInputError(`a did:key is made here from Ed25519 PeerIDs only; ${peerId} is ${id.type}`)
  const raw = id.publicKey.raw
  const bytes = new Uint8Array(ED25519_PUB_PREFIX.length + raw.length)
  bytes.set(ED25519_PUB_PREFIX)
  bytes.set(raw, ED25519_PUB_PREFIX.length)
  // base58btc's encoder writes the multibase prefix `z`
  return `did:key:${base58btc.encode(bytes)}`
}
