import { describe, expect, it } from 'vitest'
import { formatUptime, parseHealth, parseRegistry } from './relay-status.js'

describe('relay status', () => {
  it('reads /health, keeping what it knows and ignoring what is malformed', () => {
    expect(parseHealth({ status: 'degraded', reasons: ['reservations at 95 %', 7], peerId: '12D3KooWx', uptimeSeconds: 90, reservations: 'many' }))
      .toEqual({ status: 'degraded', reasons: ['reservations at 95 %'], version: undefined, peerId: '12D3KooWx', uptimeSeconds: 90, connectedPeers: undefined, reservations: undefined, agents: undefined })
    expect(parseHealth({}).status).toBe('unknown')
    expect(() => parseHealth('up')).toThrow(/did not answer a JSON object/)
  })

  it('reads the registry, skipping entries that are not agents', () => {
    const entries = parseRegistry([
      { peerId: 'p1', card: { name: 'Echo', description: 'echoes', skills: [{ id: 'echo' }, { nope: 1 }] }, online: true, expiresAt: '2026-11-21T12:00:00.000Z' },
      { peerId: 'p2' },
      'junk'
    ])
    expect(entries).toEqual([{ peerId: 'p1', name: 'Echo', description: 'echoes', skills: ['echo'], online: true, expiresAt: Date.parse('2026-11-21T12:00:00.000Z') }])
    expect(() => parseRegistry({})).toThrow(/JSON array/)
  })

  it('says how long the relay has been up in words a person reads at a glance', () => {
    expect(formatUptime(40)).toBe('40 s')
    expect(formatUptime(12 * 60 + 5)).toBe('12 min')
    expect(formatUptime(5 * 3600 + 120)).toBe('5 h 2 min')
    expect(formatUptime(3 * 86_400 + 4 * 3600)).toBe('3 d 4 h')
  })
})
