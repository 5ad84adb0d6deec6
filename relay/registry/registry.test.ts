import { describe, expect, it } from 'vitest'
import { buildAgentCard } from '../../src/core/a2a/binding.js'
import type { AgentCardJson } from '../../src/core/a2a/json.js'
import { checkCard, MAX_CARD_BYTES } from '../../src/core/registry/card-schema.js'
import { clampTtl, MAX_TTL_SECONDS, MIN_TTL_SECONDS, Registry, RegistryFullError } from './registry.js'

const A = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'
const B = '12D3KooWRm8J3iL796zPFi2EtGGtUJn58AG67gcqzMFHZnnsTzqD'

function card (peerId: string, skills: Array<{ id: string, tags?: string[] }>): AgentCardJson {
  return buildAgentCard(peerId, { name: `agent ${peerId.slice(-4)}`, description: '', skills })
}

function clock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

describe('registry rules', () => {
  it('finds agents by skill id and by tags on that skill', () => {
    const registry = new Registry()
    registry.publish(A, card(A, [{ id: 'translate', tags: ['fr', 'en'] }, { id: 'echo' }]), { addresses: [], online: true })
    registry.publish(B, card(B, [{ id: 'translate', tags: ['de'] }]), { addresses: [], online: true })
    expect(registry.discover({ skill: 'translate' }).map(e => e.peerId).sort()).toEqual([A, B].sort())
    expect(registry.discover({ skill: 'translate', tags: ['fr'] }).map(e => e.peerId)).toEqual([A])
    expect(registry.discover({ skill: 'translate', tags: ['fr', 'de'] })).toEqual([])
    // tags belong to the skill asked for, not to any skill of the card
    expect(registry.discover({ skill: 'echo', tags: ['fr'] })).toEqual([])
    expect(registry.discover({ tags: ['de'] }).map(e => e.peerId)).toEqual([B])
    expect(registry.discover({ skill: 'nope' })).toEqual([])
    expect(registry.discover()).toHaveLength(2)
  })

  it('replaces an entry on renewal and re-indexes its skills', () => {
    const registry = new Registry()
    registry.publish(A, card(A, [{ id: 'old' }]), { addresses: [], online: true })
    registry.publish(A, card(A, [{ id: 'new' }]), { addresses: [], online: true })
    expect(registry.size).toBe(1)
    expect(registry.discover({ skill: 'old' })).toEqual([])
    expect(registry.discover({ skill: 'new' }).map(e => e.peerId)).toEqual([A])
  })

  it('lets an entry lapse at its TTL unless renewed', () => {
    const c = clock()
    const registry = new Registry({ now: c.now })
    registry.publish(A, card(A, [{ id: 'echo' }]), { addresses: [], online: true, ttlSeconds: 60 })
    c.advance(59_000)
    expect(registry.discover({ skill: 'echo' })).toHaveLength(1)
    registry.publish(A, card(A, [{ id: 'echo' }]), { addresses: [], online: true, ttlSeconds: 60 })
    c.advance(59_000)
    expect(registry.discover({ skill: 'echo' })).toHaveLength(1)
    c.advance(1_000)
    expect(registry.discover({ skill: 'echo' })).toEqual([])
    expect(registry.sweep()).toBe(1)
    expect(registry.size).toBe(0)
  })

  it('keeps a disconnected peer for the grace period only, and forgives a reconnect', () => {
    const c = clock()
    const registry = new Registry({ now: c.now, offlineGraceMs: 30_000 })
    registry.publish(A, card(A, [{ id: 'echo' }]), { addresses: [], online: true })
    registry.publish(B, card(B, [{ id: 'echo' }]), { addresses: [], online: true })
    registry.setOnline(A, false)
    registry.setOnline(B, false)
    c.advance(20_000)
    registry.setOnline(B, true)
    // still listed within grace, connected agents first
    expect(registry.discover({ skill: 'echo' }).map(e => e.peerId)).toEqual([B, A])
    c.advance(10_000)
    expect(registry.discover({ skill: 'echo' }).map(e => e.peerId)).toEqual([B])
    expect(registry.sweep()).toBe(1)
    expect(registry.get(A)).toBeUndefined()
  })

  it('removes only the entry asked for', () => {
    const registry = new Registry()
    registry.publish(A, card(A, [{ id: 'echo' }]), { addresses: [], online: true })
    registry.publish(B, card(B, [{ id: 'echo' }]), { addresses: [], online: true })
    expect(registry.remove(A)).toBe(true)
    expect(registry.remove(A)).toBe(false)
    expect(registry.discover({ skill: 'echo' }).map(e => e.peerId)).toEqual([B])
  })

  it('refuses new entries when full, but still takes renewals', () => {
    const registry = new Registry({ maxEntries: 1 })
    registry.publish(A, card(A, [{ id: 'echo' }]), { addresses: [], online: true })
    expect(() => registry.publish(B, card(B, [{ id: 'echo' }]), { addresses: [], online: true })).toThrow(RegistryFullError)
    expect(() => registry.publish(A, card(A, [{ id: 'echo' }]), { addresses: [], online: true })).not.toThrow()
  })

  it('caps discover at the limit asked for', () => {
    const registry = new Registry()
    const ids = [A, B]
    for (const id of ids) registry.publish(id, card(id, [{ id: 'echo' }]), { addresses: [], online: true })
    expect(registry.discover({ skill: 'echo', limit: 1 })).toHaveLength(1)
    expect(registry.discover({ skill: 'echo', limit: 0 })).toHaveLength(1)
  })

  it('finds agents by free text over name, description and skill names, every word a prefix, accents aside', () => {
    const registry = new Registry()
    registry.publish(A, buildAgentCard(A, { name: 'Café Übersetzer', description: 'translates menus', skills: [{ id: 'tr', name: 'Menu translation' }] }), { addresses: [], online: true })
    registry.publish(B, buildAgentCard(B, { name: 'Build bot', description: 'runs the tests', skills: [{ id: 'ci', name: 'Continuous integration' }] }), { addresses: [], online: true })
    expect(registry.discover({ text: 'cafe' }).map(e => e.peerId)).toEqual([A])
    expect(registry.discover({ text: 'UBERS menu' }).map(e => e.peerId)).toEqual([A])
    expect(registry.discover({ text: 'transl' }).map(e => e.peerId)).toEqual([A])
    expect(registry.discover({ text: 'integration tests' }).map(e => e.peerId)).toEqual([B])
    expect(registry.discover({ text: 'build menu' })).toEqual([])
    // with a skill, both must hold
    expect(registry.discover({ skill: 'ci', text: 'menu' })).toEqual([])
    // a renewal re-indexes the words
    registry.publish(B, buildAgentCard(B, { name: 'Deploy bot', description: '', skills: [{ id: 'ci' }] }), { addresses: [], online: true })
    expect(registry.discover({ text: 'build' })).toEqual([])
    expect(registry.discover({ text: 'deploy' }).map(e => e.peerId)).toEqual([B])
  })

  it('pages through answers in a stable order, connected agents first, each agent once', () => {
    const registry = new Registry()
    const ids = Array.from({ length: 7 }, (_, i) => `12D3KooW${'ABCDEFG'[i]!}${A.slice(9)}`)
    ids.forEach((id, i) => registry.publish(id, card(id, [{ id: 'echo' }]), { addresses: [], online: i % 2 === 0 }))
    const seen: string[] = []
    let after: string | undefined
    let pages = 0
    do {
      const page = registry.discoverPage({ skill: 'echo', limit: 3, after })
      expect(page.entries.length).toBeLessThanOrEqual(3)
      seen.push(...page.entries.map(e => e.peerId))
      after = page.next
      pages++
    } while (after != null)
    expect(pages).toBe(3)
    const online = ids.filter((_, i) => i % 2 === 0).sort()
    const offline = ids.filter((_, i) => i % 2 === 1).sort()
    expect(seen).toEqual([...online, ...offline])
    // a cursor that is not one of ours starts from the beginning
    expect(registry.discoverPage({ skill: 'echo', limit: 3, after: 'garbage' }).entries.map(e => e.peerId)).toEqual(seen.slice(0, 3))
  })

  it('clamps TTLs to the allowed range', () => {
    expect(clampTtl(undefined)).toBe(300)
    expect(clampTtl(1)).toBe(MIN_TTL_SECONDS)
    expect(clampTtl(10 ** 9)).toBe(MAX_TTL_SECONDS)
    expect(clampTtl(Number.NaN)).toBe(300)
  })
})

describe('card checks', () => {
  it('accepts a Starling card naming its publisher', () => {
    expect(checkCard(card(A, [{ id: 'echo' }]), A)).toMatchObject({ ok: true })
  })

  it('refuses a card that claims another peer\'s PeerID, with the reason', () => {
    const result = checkCard(card(B, [{ id: 'echo' }]), A)
    expect(result).toMatchObject({ ok: false, forbidden: true })
    expect(result.ok ? '' : result.reason).toMatch(/a peer can only publish its own card/)
  })

  it('names the field that is wrong', () => {
    const bad = { ...card(A, [{ id: 'echo' }]), skills: [{ id: '', name: 'x', description: '', tags: [] }] }
    expect(checkCard(bad, A)).toEqual({ ok: false, reason: 'card.skills[0].id: must not be empty' })
    expect(checkCard({ name: 'x' }, A)).toMatchObject({ ok: false, reason: expect.stringMatching(/^card\.description/) })
    expect(checkCard(null, A)).toMatchObject({ ok: false })
    expect(checkCard('a string', A)).toMatchObject({ ok: false })
  })

  it('refuses oversized cards and duplicate skill ids', () => {
    const big = { ...card(A, [{ id: 'echo' }]), padding: 'x'.repeat(MAX_CARD_BYTES) }
    expect(checkCard(big, A)).toMatchObject({ ok: false, reason: expect.stringMatching(/limit is 65536/) })
    expect(checkCard(card(A, [{ id: 'echo' }, { id: 'echo' }]), A)).toMatchObject({ ok: false, reason: expect.stringMatching(/appears twice/) })
  })
})
