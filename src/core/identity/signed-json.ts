/**
 * JSON signed by a peer's key, in a libp2p signed envelope (libp2p RFC 0002, the format of signed
 * peer records): agent records (src/core/registry/agent-record.ts) and mesh credentials
 * (src/core/mesh/credentials.ts). Each kind has its own signature domain, so a signature made
 * for one never verifies as another, and its own payload type.
 */
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import type { PrivateKey, PublicKey, Record } from '@libp2p/interface'
import { InvalidInputError } from '../errors.js'

/** What is signed, and how it is told apart from every other kind. */
export interface SignedJsonKind {
  /** The envelope's signature domain. */
  domain: string
  /** The envelope's payload type. */
  codec: Uint8Array
  /** Largest sealed envelope accepted, in bytes. */
  maxBytes: number
  /** Names the kind in errors ("agent record", "invite"…). */
  name: string
}

export interface OpenedJson {
  payload: unknown
  /** The signer's PeerID, as a string. */
  signer: string
  publicKey: PublicKey
}

/** A signed envelope that does not open as the kind asked for; `message` says why. */
export class InvalidSignedJsonError extends InvalidInputError {}

class JsonRecord implements Record {
  readonly domain: string
  readonly codec: Uint8Array
  private readonly bytes: Uint8Array

  constructor (kind: SignedJsonKind, payload: unknown) {
    this.domain = kind.domain
    this.codec = kind.codec
    this.bytes = new TextEncoder().encode(JSON.stringify(payload))
  }

  marshal (): Uint8Array {
    return this.bytes
  }

  equals (other: Record): boolean {
    return other.domain === this.domain && sameBytes(other.marshal(), this.bytes)
  }
}

/** Seals `payload` (JSON) as `kind`, signed by `privateKey`. */
export async function sealJson (kind: SignedJsonKind, payload: unknown, privateKey: PrivateKey): Promise<Uint8Array> {
  const envelope = await RecordEnvelope.seal(new JsonRecord(kind, payload), privateKey)
  return envelope.marshal()
}

/**
 * Opens a sealed `kind`: the signature must verify for its domain and the payload type must be
 * its codec. The payload is parsed JSON, not yet checked: the caller checks its shape. Throws
 * `ErrorType` (an InvalidSignedJsonError by default) saying what does not hold.
 */
export async function openJson (
  kind: SignedJsonKind,
  bytes: Uint8Array,
  ErrorType: new (message: string, options?: ErrorOptions) => Error = InvalidSignedJsonError
): Promise<OpenedJson> {
  if (bytes.byteLength > kind.maxBytes) {
    throw new ErrorType(`the ${kind.name} is ${bytes.byteLength} bytes, over the limit of ${kind.maxBytes}`)
  }
  let envelope: RecordEnvelope
  try {
    envelope = await RecordEnvelope.openAndCertify(bytes, kind.domain)
  } catch (err) {
    throw new ErrorType(`the ${kind.name}'s signature does not verify: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
  if (!sameBytes(envelope.payloadType, kind.codec)) throw new ErrorType(`the envelope does not hold a ${kind.name}`)
  let payload: unknown
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(envelope.payload))
  } catch (err) {
    throw new ErrorType(`the ${kind.name}'s payload is not JSON`, { cause: err })
  }
  return { payload, signer: peerIdFromPublicKey(envelope.publicKey).toString(), publicKey: envelope.publicKey }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
