/**
 * The agents list's helpers with plain HTTP agents among mesh ones: an HTTP agent (named by its
 * card URL) is reached over HTTP, shown by its host, and offers no skill to a send by skill.
 */
import { describe, expect, it } from 'vitest'
import { buildAgentCard } from '../../core/a2a/binding.js'
import { agentList, linkTo, skillIds } from './agents.js'
import { shortPeerId } from './format.js'

const MESH = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
const HTTP = 'https://agents.example:8443/.well-known/agent-card.json'

describe('agents with plain HTTP agents among them', () => {
  it('says how each is reached and names it briefly', () => {
    const connections = [{ peerId: MESH, kind: 'relayed' as const, remoteAddr: '/p2p-circuit', relay: false }]
    expect(linkTo(MESH, connections)).toBe('relayed')
    expect(linkTo(HTTP, connections)).toBe('http')
    expect(shortPeerId(HTTP)).toBe('agents.example:8443')
    expect(shortPeerId(MESH)).toBe('12D3Ko…CVe2Xo')
  })

  it('lists HTTP agents from the directory, and offers only mesh agents\' skills for a send by skill', () => {
    const known = [
      { peerId: HTTP, card: buildAgentCard('x', { name: 'Plain', description: '', skills: [{ id: 'summarise' }] }), seenAt: 1 },
      { peerId: MESH, card: buildAgentCard(MESH, { name: 'Mesh', description: '', skills: [{ id: 'translate' }, { id: 'echo' }] }), seenAt: 2 }
    ]
    const list = agentList('self', [], known)
    expect(list.map(a => a.peerId)).toEqual([HTTP, MESH])
    expect(skillIds(list)).toEqual(['echo', 'translate'])
  })
})
