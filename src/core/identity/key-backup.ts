/**
 * Passphrase-protected backups of a peer's private key, so a person can move their identity
 * (their PeerID: what other agents know them by) to another browser or machine, or keep it
 * safe before clearing site data.
 *
 * The file is JSON (docs/protocol.md, "Key backups"):
 *
 *   { format: "starling-key-backup", version: 1, peerId, createdAt,
 *     kdf: { name: "PBKDF2", hash: "SHA-256", iterations, salt },
 *     cipher: { name: "AES-GCM", iv }, ciphertext }
 *
 * The key is the libp2p protobuf encoding of the private key, encrypted with AES-256-GCM under a
 * key derived from the passphrase by PBKDF2-SHA-256; salt, iv and ciphertext are base64. Every
 * other field is bound to the ciphertext as GCM's additional data, so a file whose PeerID or
 * KDF settings were edited does not open. Only WebCrypto is used: the same code runs in the PWA
 * and in Node, and nothing here needs WASM.
 */
import { privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { fromString, toString } from 'uint8arrays'
import { InvalidInputError, StarlingError } from '../errors.js'

export const KEY_BACKUP_FORMAT = 'starling-key-backup'
export const KEY_BACKUP_VERSION = 1

/**
 * PBKDF2-SHA-256 iterations for new backups: OWASP's 2023 figure for this hash. About half a
 * second on a phone, once per export or import.
 */
export const DEFAULT_KDF_ITERATIONS = 600_000

/** Fewest iterations a backup may claim; fewer would make its passphrase cheap to guess. */
export const MIN_KDF_ITERATIONS = 100_000

/** Most iterations a backup may claim: a file cannot make an import spin for minutes. */
export const MAX_KDF_ITERATIONS = 10_000_000

/** Shortest passphrase accepted for a new backup, in characters. */
export const MIN_PASSPHRASE_LENGTH = 8

/** Largest backup file read, in bytes (a real one is well under 1 KiB). */
export const MAX_KEY_BACKUP_BYTES = 16 * 1024

export interface KeyBackup {
  format: typeof KEY_BACKUP_FORMAT
  version: typeof KEY_BACKUP_VERSION
  /** The identity inside: shown before the passphrase is asked, checked after decryption. */
  peerId: string
  /** ISO 8601 */
  createdAt: string
  kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: number, salt: string }
  cipher: { name: 'AES-GCM', iv: string }
  ciphertext: string
}

/** The passphrase does not open this backup (or the file was changed). */
export class WrongPassphraseError extends StarlingError {
  constructor () {
    super('the passphrase does not open this backup (or the file was changed)', 'ERR_WRONG_PASSPHRASE')
  }
}

/** The file is not a Starling key backup this version can read. */
export class InvalidKeyBackupError extends InvalidInputError {}

export interface ExportKeyOptions {
  /** PBKDF2 iterations (default DEFAULT_KDF_ITERATIONS, at least MIN_KDF_ITERATIONS). */
  iterations?: number
  /** The time written into the file; tests pin it. */
  now?: Date
}

/** Encrypts `privateKey` under `passphrase` into a backup file's contents (JSON text). */
export async function exportKeyBackup (privateKey: PrivateKey, passphrase: string, options: ExportKeyOptions = {}): Promise<string> {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new InvalidInputError(`the passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`)
  }
  const iterations = options.iterations ?? DEFAULT_KDF_ITERATIONS
  checkIterations(iterations, InvalidInputError)
  const salt = crypto.getRandomValues(new Uint8Array(16))
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const header: Omit<KeyBackup, 'ciphertext'> = {
    format: KEY_BACKUP_FORMAT,
    version: KEY_BACKUP_VERSION,
    peerId: peerIdFromPrivateKey(privateKey).toString(),
    createdAt: (options.now ?? new Date()).toISOString(),
    kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations, salt: toString(salt, 'base64') },
    cipher: { name: 'AES-GCM', iv: toString(iv, 'base64') }
  }
  const key = await deriveKey(passphrase, salt, iterations)
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: headerBytes(header) },
    key,
    owned(privateKeyToProtobuf(privateKey))
  )
  const backup: KeyBackup = { ...header, ciphertext: toString(new Uint8Array(sealed), 'base64') }
  return JSON.stringify(backup, null, 2) + '\n'
}

/**
 * Reads a backup file's contents without decrypting it: its PeerID and date can be shown before
 * the passphrase is asked. Throws InvalidKeyBackupError saying what is wrong.
 */
export function readKeyBackup (text: string): KeyBackup {
  if (text.length > MAX_KEY_BACKUP_BYTES) throw new InvalidKeyBackupError(`the file is larger than a key backup can be (${MAX_KEY_BACKUP_BYTES} bytes)`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new InvalidKeyBackupError('the file is not a Starling key backup (not JSON)')
  }
  if (!isRecord(value) || value.format !== KEY_BACKUP_FORMAT) throw new InvalidKeyBackupError('the file is not a Starling key backup')
  if (value.version !== KEY_BACKUP_VERSION) throw new InvalidKeyBackupError(`this key backup has version ${String(value.version)}; this Starling reads version ${KEY_BACKUP_VERSION}`)
  const { peerId, createdAt, kdf, cipher, ciphertext } = value
  if (typeof peerId !== 'string' || typeof createdAt !== 'string' || typeof ciphertext !== 'string') {
    throw new InvalidKeyBackupError('the key backup lacks its peerId, createdAt or ciphertext')
  }
  if (!isRecord(kdf) || kdf.name !== 'PBKDF2' || kdf.hash !== 'SHA-256' || typeof kdf.iterations !== 'number' || typeof kdf.salt !== 'string') {
    throw new InvalidKeyBackupError('the key backup\'s kdf is not PBKDF2 with SHA-256')
  }
  checkIterations(kdf.iterations, InvalidKeyBackupError)
  if (!isRecord(cipher) || cipher.name !== 'AES-GCM' || typeof cipher.iv !== 'string') {
    throw new InvalidKeyBackupError('the key backup\'s cipher is not AES-GCM')
  }
  return {
    format: KEY_BACKUP_FORMAT,
    version: KEY_BACKUP_VERSION,
    peerId,
    createdAt,
    kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: kdf.iterations, salt: kdf.salt },
    cipher: { name: 'AES-GCM', iv: cipher.iv },
    ciphertext
  }
}

/**
 * Opens a backup with its passphrase. Throws WrongPassphraseError when it does not open, and
 * InvalidKeyBackupError when the file is malformed or holds a key of another PeerID than it says.
 */
export async function importKeyBackup (text: string, passphrase: string): Promise<PrivateKey> {
  const backup = readKeyBackup(text)
  const salt = base64(backup.kdf.salt, 'salt')
  const iv = base64(backup.cipher.iv, 'iv')
  const sealed = base64(backup.ciphertext, 'ciphertext')
  const { ciphertext: _, ...header } = backup
  const key = await deriveKey(passphrase, salt, backup.kdf.iterations)
  let plain: ArrayBuffer
  try {
    plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: headerBytes(header) }, key, sealed)
  } catch {
    throw new WrongPassphraseError()
  }
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(new Uint8Array(plain))
  } catch (err) {
    throw new InvalidKeyBackupError('the key backup opened but does not hold a private key', { cause: err })
  }
  const actual = peerIdFromPrivateKey(privateKey).toString()
  if (actual !== backup.peerId) throw new InvalidKeyBackupError(`the key backup says ${backup.peerId} but holds the key of ${actual}`)
  return privateKey
}

/** WebCrypto's CryptoKey, named without the DOM's types (core also compiles against Node's). */
type AesKey = Awaited<ReturnType<typeof crypto.subtle.deriveKey>>

async function deriveKey (passphrase: string, salt: Uint8Array<ArrayBuffer>, iterations: number): Promise<AesKey> {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(passphrase.normalize('NFC')), 'PBKDF2', false, ['deriveKey'])
  return await crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt']
  )
}

/** The header's bytes as bound to the ciphertext: its fields in one fixed order. */
function headerBytes (header: Omit<KeyBackup, 'ciphertext'>): Uint8Array<ArrayBuffer> {
  const fixed = [header.format, header.version, header.peerId, header.createdAt, header.kdf.name, header.kdf.hash, header.kdf.iterations, header.kdf.salt, header.cipher.name, header.cipher.iv]
  return new TextEncoder().encode(JSON.stringify(fixed))
}

function checkIterations (iterations: number, ErrorType: new (message: string) => Error): void {
  if (!Number.isSafeInteger(iterations) || iterations < MIN_KDF_ITERATIONS || iterations > MAX_KDF_ITERATIONS) {
    throw new ErrorType(`PBKDF2 iterations must be a whole number from ${MIN_KDF_ITERATIONS} to ${MAX_KDF_ITERATIONS}, got ${iterations}`)
  }
}

function base64 (value: string, field: string): Uint8Array<ArrayBuffer> {
  try {
    return owned(fromString(value, 'base64'))
  } catch {
    throw new InvalidKeyBackupError(`the key backup's ${field} is not base64`)
  }
}

/** A copy on a plain ArrayBuffer, as WebCrypto's types ask. */
function owned (bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return copy
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
