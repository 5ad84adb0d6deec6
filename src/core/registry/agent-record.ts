/**
 * A signed agent record: an agent card sealed in a libp2p signed envelope (libp2p RFC 0002, the
 * format of signed peer records) by the agent's own key. Whoever holds the bytes can check who
 * published the card and that nobody changed it, without having received it from the agent: a
 * relay serving it to others, or another relay it is federated to later, cannot forge one.
 *
 * The payload is the JSON `{ peerId, card, seq }`. `seq` grows with every publication (ms since
 * the epoch), so an older record replayed by a third party never replaces a newer one.
 */
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { InvalidInputError } from '../errors.js'
import type { AgentCardJson } from '../a2a/json.js'
import { openJson, sealJson } from '../identity/signed-json.js'
import type { SignedJsonKind } from '../identity/signed-json.js'
import { MAX_CARD_BYTES } from './card-schema.js'

/** The envelope's signature domain: a signature made for anything else does not verify as one. */
export const AGENT_RECORD_DOMAIN = 'starling-agent-record'

/** The envelope's payload type. */
export const AGENT_RECORD_CODEC = new TextEncoder().encode('/starling/agent-record/1')

/** Largest sealed record, in bytes: a card at its limit, with room for the key and signature. */
export const MAX_AGENT_RECORD_BYTES = MAX_CARD_BYTES + 4 * 1024

const AGENT_RECORD: SignedJsonKind = { domain: AGENT_RECORD_DOMAIN, codec: AGENT_RECORD_CODEC, maxBytes: MAX_AGENT_RECORD_BYTES, name: 'record' }

export interface AgentRecordPayload {
  peerId: string
  card: AgentCardJson
  /** Grows with every publication: ms since the epoch. */
  seq: number
}

/** A record whose signature, signer or payload does not hold. */
export class InvalidAgentRecordError extends InvalidInputError {}

/** Seals `card` as `privateKey`'s agent record. */
export async function sealAgentRecord (card: AgentCardJson, privateKey: PrivateKey, seq = Date.now()): Promise<Uint8Array> {
  const peerId = peerIdFromPublicKey(privateKey.publicKey).toString()
  return await sealJson(AGENT_RECORD, { peerId, card, seq }, privateKey)
}

/**
 * Opens a sealed agent record: the signature must verify for AGENT_RECORD_DOMAIN and the payload
 * must name the key that signed it. Throws InvalidAgentRecordError saying what does not hold.
 */
export async function openAgentRecord (bytes: Uint8Array): Promise<AgentRecordPayload> {
  const { payload, signer } = await openJson(AGENT_RECORD, bytes, InvalidAgentRecordError)
  const p = payload as Partial<AgentRecordPayload> | null
  if (typeof p !== 'object' || p === null || typeof p.peerId !== 'string' || typeof p.card !== 'object' || p.card === null ||
    typeof p.seq !== 'number' || !Number.isFinite(p.seq)) {
    throw new InvalidAgentRecordError('the record\'s payload is not { peerId, card, seq }')
  }
  if (p.peerId !== signer) throw new InvalidAgentRecordError(`the record names ${p.peerId} but was signed by ${signer}`)
  return { peerId: p.peerId, card: p.card, seq: p.seq }
}
