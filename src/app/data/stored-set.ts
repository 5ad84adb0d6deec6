/**
 * A small set of strings kept in localStorage, as an external store for useSyncExternalStore:
 * the page's own preferences (pinned agents, extra relays), not the peer's state, which lives in
 * its database (./idb-storage.ts). Garbage in storage reads as an empty set; a refused write
 * keeps the change for this visit.
 */

export interface StoredSet {
  /** The same Set until the contents change, in the order the items were added. */
  get: () => ReadonlySet<string>
  subscribe: (listener: () => void) => () => void
  add: (item: string) => void
  delete: (item: string) => void
  toggle: (item: string) => void
}

export interface StoredSetInit {
  storage: Pick<Storage, 'getItem' | 'setItem'> | undefined
  key: string
  /** Items kept at most; the oldest go first. */
  max: number
}

export function createStoredSet (init: StoredSetInit): StoredSet {
  let current: ReadonlySet<string> = new Set(read(init).slice(-init.max))
  const listeners = new Set<() => void>()
  const replace = (next: Set<string>): void => {
    current = new Set([...next].slice(-init.max))
    try {
      init.storage?.setItem(init.key, JSON.stringify([...current]))
    } catch {
      // storage full or refused: the change holds for this visit
    }
    for (const listener of listeners) listener()
  }
  return {
    get: () => current,
    subscribe: (listener) => {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    add: (item) => { if (!current.has(item)) replace(new Set([...current, item])) },
    delete: (item) => {
      if (!current.has(item)) return
      const next = new Set(current)
      next.delete(item)
      replace(next)
    },
    toggle: (item) => {
      const next = new Set(current)
      if (next.has(item)) next.delete(item)
      else next.add(item)
      replace(next)
    }
  }
}

function read (init: StoredSetInit): string[] {
  try {
    const value: unknown = JSON.parse(init.storage?.getItem(init.key) ?? '[]')
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
  } catch {
    return []
  }
}

/** The page's localStorage, where there is one (none in Node tests). */
export function pageStorage (): Storage | undefined {
  try {
    return typeof localStorage !== 'undefined' ? localStorage : undefined
  } catch {
    // storage disabled by the browser's settings
    return undefined
  }
}
