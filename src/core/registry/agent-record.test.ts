import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import { buildAgentCard } from '../a2a/binding.js'
import { InvalidAgentRecordError, MAX_AGENT_RECORD_BYTES, openAgentRecord, sealAgentRecord } from './agent-record.js'

describe('signed agent records', () => {
  it('opens to the card, its publisher and its sequence number, for anyone holding the bytes', async () => {
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    const card = buildAgentCard(peerId, { name: 'Echo', description: 'echoes', skills: [{ id: 'echo' }] })
    const sealed = await sealAgentRecord(card, key, 42)
    expect(await openAgentRecord(sealed)).toEqual({ peerId, card, seq: 42 })
  })

  it('refuses a record changed after it was signed, a record naming someone else, another domain, and an oversized one', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    const card = buildAgentCard(peerId, { name: 'Echo', description: '', skills: [{ id: 'echo' }] })
    const sealed = await sealAgentRecord(card, key)

    // one byte of the payload changed: the signature no longer holds
    const at = Buffer.from(sealed).indexOf('"name":"Echo"')
    expect(at).toBeGreaterThan(0)
    const tampered = Uint8Array.from(sealed)
    tampered[at + 8] = 'X'.charCodeAt(0)
    await expect(openAgentRecord(tampered)).rejects.toThrow(/signature does not verify/)

    // signed by `other` while naming `peerId`: the signer is not who the record claims
    // (sealing always names the signer, so a lie has to be built by hand)
    const lie = await RecordEnvelope.seal({
      domain: 'starling-agent-record',
      codec: new TextEncoder().encode('/starling/agent-record/1'),
      marshal: () => new TextEncoder().encode(JSON.stringify({ peerId, card, seq: 1 })),
      equals: () => false
    }, other)
    await expect(openAgentRecord(lie.marshal())).rejects.toThrow(new RegExp(`names ${peerId} but was signed by`))

    // a signed peer record of libp2p's own domain is not an agent record
    const foreign = await RecordEnvelope.seal({
      domain: 'libp2p-peer-record',
      codec: new Uint8Array([0x03, 0x01]),
      marshal: () => new Uint8Array([1, 2, 3]),
      equals: () => false
    }, key)
    await expect(openAgentRecord(foreign.marshal())).rejects.toBeInstanceOf(InvalidAgentRecordError)

    await expect(openAgentRecord(new Uint8Array(MAX_AGENT_RECORD_BYTES + 1))).rejects.toThrow(/over the limit/)
    await expect(openAgentRecord(new Uint8Array([1, 2, 3]))).rejects.toThrow(/signature does not verify/)
  })
})
