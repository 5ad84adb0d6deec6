/**
 * The agents the person pinned, kept in this browser (localStorage: a preference of the page,
 * not the peer's state, so it is not in the peer's database). A small external store for
 * useSyncExternalStore: the agents screen and anything else stay in step.
 */

/** Where the pinned PeerIDs (or HTTP agents' URLs) are kept. */
export const FAVOURITES_KEY = 'starling:favourite-agents'

/** Pins kept at most; a list longer than anyone scrolls through. */
export const MAX_FAVOURITES = 500

export interface FavouritesStore {
  /** The same Set until the favourites change. */
  get: () => ReadonlySet<string>
  subscribe: (listener: () => void) => () => void
  toggle: (agent: string) => void
}

export function createFavouritesStore (storage: Pick<Storage, 'getItem' | 'setItem'> | undefined): FavouritesStore {
  let current: ReadonlySet<string> = new Set(read(storage))
  const listeners = new Set<() => void>()
  return {
    get: () => current,
    subscribe: (listener) => {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    toggle: (agent) => {
      const next = new Set(current)
      if (next.has(agent)) next.delete(agent)
      else next.add(agent)
      current = new Set([...next].slice(-MAX_FAVOURITES))
      try {
        storage?.setItem(FAVOURITES_KEY, JSON.stringify([...current]))
      } catch {
        // storage refused: the pin holds for this visit
      }
      for (const listener of listeners) listener()
    }
  }
}

function read (storage: Pick<Storage, 'getItem'> | undefined): string[] {
  try {
    const value: unknown = JSON.parse(storage?.getItem(FAVOURITES_KEY) ?? '[]')
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
  } catch {
    return []
  }
}

/** The page's store, over its localStorage. */
export const favourites = createFavouritesStore(typeof localStorage !== 'undefined' ? localStorage : undefined)
