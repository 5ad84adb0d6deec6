import { describe, expect, it } from 'vitest'
import { createFavouritesStore, FAVOURITES_KEY } from './favourites.js'

/** A Storage stand-in holding strings, as localStorage does. */
function memoryStorage (initial: Record<string, string> = {}): Pick<Storage, 'getItem' | 'setItem'> & { data: Record<string, string> } {
  const data = { ...initial }
  return { data, getItem: (key) => data[key] ?? null, setItem: (key, value) => { data[key] = value } }
}

describe('favourite agents', () => {
  it('toggles a pin, tells its listeners, and keeps the pins for the next visit', () => {
    const storage = memoryStorage()
    const store = createFavouritesStore(storage)
    let told = 0
    store.subscribe(() => { told++ })
    const before = store.get()
    store.toggle('12D3KooWA')
    expect(store.get().has('12D3KooWA')).toBe(true)
    expect(store.get()).not.toBe(before)
    expect(told).toBe(1)
    expect(createFavouritesStore(storage).get().has('12D3KooWA')).toBe(true)
    store.toggle('12D3KooWA')
    expect(createFavouritesStore(storage).get().size).toBe(0)
    expect(told).toBe(2)
  })

  it('reads garbage in storage as no pins, and keeps working when storage refuses writes', () => {
    expect(createFavouritesStore(memoryStorage({ [FAVOURITES_KEY]: '{not json' })).get().size).toBe(0)
    expect([...createFavouritesStore(memoryStorage({ [FAVOURITES_KEY]: '[1, "a", null]' })).get()]).toEqual(['a'])
    const full = { getItem: () => null, setItem: () => { throw new Error('QuotaExceededError') } }
    const store = createFavouritesStore(full)
    store.toggle('b')
    expect(store.get().has('b')).toBe(true)
  })
})
