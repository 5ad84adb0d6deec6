/**
 * The agents the person pinned to the top of the agents list, kept in this browser.
 */
import { createStoredSet, pageStorage } from './stored-set.js'

/** Where the pinned PeerIDs (or HTTP agents' URLs) are kept. */
export const FAVOURITES_KEY = 'starling:favourite-agents'

/** Pins kept at most; a list longer than anyone scrolls through. */
export const MAX_FAVOURITES = 500

export const favourites = createStoredSet({ storage: pageStorage(), key: FAVOURITES_KEY, max: MAX_FAVOURITES })
