import { defaultCrypto } from '@libp2p/noise/crypto'
import { createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@libp2p/noise'

/**
 * Noise's crypto with a faster X25519 for Node. @libp2p/noise imports both keys from DER for every
 * Diffie-Hellman, and OpenSSL 3 takes ~350 µs to decode one private key while the key agreement
 * itself takes ~35 µs. This keeps the key object of every key pair it generates (the ephemeral
 * keys and the static key), and imports the peer's public key from JWK (~6 µs). Keys it did not
 * generate take @libp2p/noise's own path. Same results, byte for byte.
 */
export function fastX25519 (): ICryptoInterface {
  const keyObjects = new WeakMap<Uint8Array, KeyObject>()
  return {
    ...defaultCrypto,
    generateX25519KeyPair: () => {
      const { privateKey } = generateKeyPairSync('x25519')
      const jwk = privateKey.export({ format: 'jwk' })
      const pair = { publicKey: Buffer.from(jwk.x ?? '', 'base64url'), privateKey: Buffer.from(jwk.d ?? '', 'base64url') }
      keyObjects.set(pair.privateKey, privateKey)
      return pair
    },
    generateX25519SharedKey: (privateKey, publicKey) => {
      const own = privateKey instanceof Uint8Array ? keyObjects.get(privateKey) : undefined
      if (own == null) return defaultCrypto.generateX25519SharedKey(privateKey, publicKey)
      const x = Buffer.from(publicKey.subarray()).toString('base64url')
      return diffieHellman({ privateKey: own, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' }) })
    }
  }
}

