import { describe, expect, it } from 'vitest'
import { relayOrigin } from './relays.js'
import { createStoredSet } from './stored-set.js'

const KEY = 'test:set'

/** A Storage stand-in holding strings, as localStorage does. */
function memoryStorage (initial: Record<string, string> = {}): Pick<Storage, 'getItem' | 'setItem'> {
  const data = { ...initial }
  return { getItem: (key) => data[key] ?? null, setItem: (key, value) => { data[key] = value } }
}

describe('sets kept in localStorage (pinned agents, added relays)', () => {
  it('toggles an item, tells its listeners, and keeps the set for the next visit', () => {
    const storage = memoryStorage()
    const store = createStoredSet({ storage, key: KEY, max: 3 })
    let told = 0
    store.subscribe(() => { told++ })
    const before = store.get()
    store.toggle('12D3KooWA')
    expect(store.get().has('12D3KooWA')).toBe(true)
    expect(store.get()).not.toBe(before)
    expect(told).toBe(1)
    expect(createStoredSet({ storage, key: KEY, max: 3 }).get().has('12D3KooWA')).toBe(true)
    store.toggle('12D3KooWA')
    expect(createStoredSet({ storage, key: KEY, max: 3 }).get().size).toBe(0)
    expect(told).toBe(2)
  })

  it('keeps the newest items up to its maximum, in the order added', () => {
    const store = createStoredSet({ storage: memoryStorage(), key: KEY, max: 3 })
    for (const item of ['a', 'b', 'c', 'd']) store.add(item)
    store.add('c')
    expect([...store.get()]).toEqual(['b', 'c', 'd'])
    store.delete('c')
    expect([...store.get()]).toEqual(['b', 'd'])
  })

  it('reads garbage in storage as empty, and keeps working when storage refuses writes', () => {
    expect(createStoredSet({ storage: memoryStorage({ [KEY]: '{not json' }), key: KEY, max: 3 }).get().size).toBe(0)
    expect([...createStoredSet({ storage: memoryStorage({ [KEY]: '[1, "a", null]' }), key: KEY, max: 3 }).get()]).toEqual(['a'])
    const full = { getItem: () => null, setItem: () => { throw new Error('QuotaExceededError') } }
    const store = createStoredSet({ storage: full, key: KEY, max: 3 })
    store.toggle('b')
    expect(store.get().has('b')).toBe(true)
  })
})

describe('relay addresses as people type them', () => {
  it('become origins, https by default', () => {
    expect(relayOrigin('relay.example')).toBe('https://relay.example')
    expect(relayOrigin(' https://relay.example:8443/some/path?x=1 ')).toBe('https://relay.example:8443')
    expect(relayOrigin('http://10.0.0.2:8080')).toBe('http://10.0.0.2:8080')
  })

  it('are refused with the reason when they cannot be a relay', () => {
    expect(() => relayOrigin('')).toThrow(/type the address/)
    expect(() => relayOrigin('ftp://relay.example')).toThrow(/not ftp:/)
    expect(() => relayOrigin('https://')).toThrow(/not a web address/)
  })
})
