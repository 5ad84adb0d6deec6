/**
 * Random ids (message, task and artifact ids): RFC 4122 version 4 UUIDs. `crypto.randomUUID`
 * exists only in secure contexts, and a PWA opened over plain http on a LAN address is not one:
 * there it would throw at the first send. `crypto.getRandomValues` exists everywhere.
 */
export function randomId (): string {
  if (typeof globalThis.crypto.randomUUID === 'function') return globalThis.crypto.randomUUID()
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16))
  bytes[6] = (bytes[6]! & 0x0f) | 0x40
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
