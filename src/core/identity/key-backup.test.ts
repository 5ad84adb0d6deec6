import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { didKeyOf } from './did-key.js'
import {
  exportKeyBackup, importKeyBackup, InvalidKeyBackupError, MAX_KDF_ITERATIONS, MIN_KDF_ITERATIONS,
  readKeyBackup, WrongPassphraseError
} from './key-backup.js'

// the fewest iterations a backup may have keeps these tests fast; the format is the same
const iterations = MIN_KDF_ITERATIONS

describe('key backups', () => {
  it('a key exported with a passphrase imports back to the same key and PeerID', async () => {
    const key = await generateKeyPair('Ed25519')
    const text = await exportKeyBackup(key, 'correct horse battery', { iterations })
    const backup = readKeyBackup(text)
    expect(backup.peerId).toBe(peerIdFromPrivateKey(key).toString())
    // the private key is not in the file in the clear
    expect(text).not.toContain(Buffer.from(privateKeyToProtobuf(key)).toString('base64').slice(0, 40))
    const back = await importKeyBackup(text, 'correct horse battery')
    expect(privateKeyToProtobuf(back)).toEqual(privateKeyToProtobuf(key))
  })

  it('two exports of one key differ (fresh salt and iv)', async () => {
    const key = await generateKeyPair('Ed25519')
    const a = readKeyBackup(await exportKeyBackup(key, 'passphrase-1', { iterations }))
    const b = readKeyBackup(await exportKeyBackup(key, 'passphrase-1', { iterations }))
    expect(a.kdf.salt).not.toBe(b.kdf.salt)
    expect(a.ciphertext).not.toBe(b.ciphertext)
  })

  it('a wrong passphrase is refused as such', async () => {
    const key = await generateKeyPair('Ed25519')
    const text = await exportKeyBackup(key, 'the right one', { iterations })
    await expect(importKeyBackup(text, 'the wrong one')).rejects.toThrow(WrongPassphraseError)
  })

  it('a file whose PeerID, iterations or ciphertext were edited does not open', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const text = await exportKeyBackup(key, 'passphrase!', { iterations })
    interface Editable { peerId: string, createdAt: string, ciphertext: string, kdf: { iterations: number } }
    const edit = (change: (value: Editable) => void): string => {
      const value = JSON.parse(text) as Editable
      change(value)
      return JSON.stringify(value)
    }
    await expect(importKeyBackup(edit(v => { v.peerId = other }), 'passphrase!')).rejects.toThrow(WrongPassphraseError)
    await expect(importKeyBackup(edit(v => { v.kdf.iterations = iterations + 1 }), 'passphrase!')).rejects.toThrow(WrongPassphraseError)
    await expect(importKeyBackup(edit(v => { v.createdAt = '2000-01-01T00:00:00.000Z' }), 'passphrase!')).rejects.toThrow(WrongPassphraseError)
    await expect(importKeyBackup(edit(v => { v.ciphertext = 'A' + String(v.ciphertext).slice(1) }), 'passphrase!')).rejects.toThrow(WrongPassphraseError)
  })

  it('files that are not backups, or claim absurd settings, are refused with the reason', async () => {
    const key = await generateKeyPair('Ed25519')
    const good = JSON.parse(await exportKeyBackup(key, 'passphrase!', { iterations }))
    const cases: Array<[string, RegExp]> = [
      ['not json', /not JSON/],
      ['[]', /not a Starling key backup/],
      [JSON.stringify({ ...good, format: 'something' }), /not a Starling key backup/],
      [JSON.stringify({ ...good, version: 2 }), /version 2/],
      [JSON.stringify({ ...good, kdf: { ...good.kdf, hash: 'SHA-1' } }), /PBKDF2 with SHA-256/],
      [JSON.stringify({ ...good, kdf: { ...good.kdf, iterations: 1000 } }), /iterations/],
      [JSON.stringify({ ...good, kdf: { ...good.kdf, iterations: MAX_KDF_ITERATIONS + 1 } }), /iterations/],
      [JSON.stringify({ ...good, cipher: { name: 'AES-CBC', iv: good.cipher.iv } }), /AES-GCM/],
      [JSON.stringify({ ...good, ciphertext: undefined }), /ciphertext/],
      ['x'.repeat(100_000), /larger/]
    ]
    for (const [text, reason] of cases) {
      await expect(importKeyBackup(text, 'passphrase!'), text.slice(0, 60)).rejects.toThrow(InvalidKeyBackupError)
      await expect(importKeyBackup(text, 'passphrase!')).rejects.toThrow(reason)
    }
  })

  it('a short passphrase or too few iterations are refused at export', async () => {
    const key = await generateKeyPair('Ed25519')
    await expect(exportKeyBackup(key, 'short', { iterations })).rejects.toThrow(/at least 8/)
    await expect(exportKeyBackup(key, 'long enough', { iterations: 10 })).rejects.toThrow(/iterations/)
  })
})

describe('did:key', () => {
  it('is the Ed25519 public key of the PeerID as a z6Mk… did:key', async () => {
    const key = await generateKeyPair('Ed25519')
    const did = didKeyOf(peerIdFromPrivateKey(key).toString())
    expect(did).toMatch(/^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$/)
  })

  it('decodes (base58btc, read independently here) to 0xed 0x01 and the key\'s raw public key', async () => {
    const key = await generateKeyPair('Ed25519')
    const did = didKeyOf(peerIdFromPrivateKey(key).toString())
    const bytes = fromBase58(did.slice('did:key:z'.length))
    expect([...bytes.subarray(0, 2)]).toEqual([0xed, 0x01])
    expect([...bytes.subarray(2)]).toEqual([...key.publicKey.raw])
  })

  it('is refused for a PeerID that is not Ed25519', async () => {
    const key = await generateKeyPair('secp256k1')
    expect(() => didKeyOf(peerIdFromPrivateKey(key).toString())).toThrow(/Ed25519/)
  })
})

/** base58btc decoding, written out so that the test does not check the encoder against itself. */
function fromBase58 (text: string): Uint8Array {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let n = 0n
  for (const c of text) n = n * 58n + BigInt(alphabet.indexOf(c))
  let hex = n.toString(16)
  if (hex.length % 2 === 1) hex = '0' + hex
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}
