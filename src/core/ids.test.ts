import { afterEach, describe, expect, it, vi } from 'vitest'
import { randomId } from './ids.js'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('random ids', () => {
  afterEach(() => { vi.unstubAllGlobals() })

  it('are version 4 UUIDs, also where crypto.randomUUID is missing (a page over plain http)', () => {
    expect(randomId()).toMatch(UUID_V4)
    const { getRandomValues } = globalThis.crypto
    vi.stubGlobal('crypto', { getRandomValues: getRandomValues.bind(globalThis.crypto) })
    expect(globalThis.crypto.randomUUID).toBeUndefined()
    const ids = new Set(Array.from({ length: 1000 }, () => randomId()))
    expect(ids.size).toBe(1000)
    for (const id of ids) expect(id).toMatch(UUID_V4)
  })
})
