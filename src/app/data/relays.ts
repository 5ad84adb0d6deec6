/**
 * Relays the person added besides the one that served the app (its own origin, always first).
 * The peer tries them in order when it needs a relay (src/app/node/relay-info.ts).
 */
import { InvalidInputError } from '../../core/errors.js'
import { createStoredSet, pageStorage } from './stored-set.js'

/** Where the added relays' origins are kept. */
export const RELAYS_KEY = 'starling:relays'

/** Relays one may add: each is asked for its addresses before every connection attempt. */
export const MAX_EXTRA_RELAYS = 8

export const extraRelays = createStoredSet({ storage: pageStorage(), key: RELAYS_KEY, max: MAX_EXTRA_RELAYS })

/**
 * A relay's origin from what a person typed: a URL (a path is ignored) or a bare host, https by
 * default. Throws InvalidInputError saying what is wrong.
 */
export function relayOrigin (typed: string): string {
  const text = typed.trim()
  if (text === '') throw new InvalidInputError('type the address of a relay, e.g. https://relay.example')
  let url: URL
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`)
  } catch {
    throw new InvalidInputError(`“${text}” is not a web address`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InvalidInputError(`a relay is reached over https (or http), not ${url.protocol}`)
  return url.origin
}
