/**
 * The agents list's helpers with plain HTTP agents among mesh ones: an HTTP agent (named by its
 * card URL) is reached over HTTP, shown by its host, and offers no skill to a send by skill.
 */
import { describe, expect, it } from 'vitest'
import { buildAgentCard } from '../../core/a2a/binding.js'
import { agentList, linkTo, searchAgents, skillIds } from './agents.js'
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

describe('searching the agents', () => {
  const agent = (peerId: string, name: string, skills: Array<{ id: string, description?: string, tags?: string[] }>, description = '') =>
    ({ peerId, online: true, card: buildAgentCard(peerId, { name, description, skills }) })
  const agents = [
    agent('a', 'Weather Wendy', [{ id: 'forecast', description: 'Rain or shine, anywhere', tags: ['weather', 'meteo'] }]),
    agent('b', 'Translator Tom', [{ id: 'translate', tags: ['french', 'german'] }], 'Fast and careful'),
    agent('c', 'Echo', [{ id: 'echo' }])
  ]

  it('matches every word in names, descriptions, skill ids and tags, ignoring case', () => {
    expect(searchAgents(agents, '').map(a => a.peerId)).toEqual(['a', 'b', 'c'])
    expect(searchAgents(agents, 'wendy').map(a => a.peerId)).toEqual(['a'])
    expect(searchAgents(agents, 'FRENCH').map(a => a.peerId)).toEqual(['b'])
    expect(searchAgents(agents, 'careful translate').map(a => a.peerId)).toEqual(['b'])
    expect(searchAgents(agents, 'rain anywhere').map(a => a.peerId)).toEqual(['a'])
    expect(searchAgents(agents, 'rain german')).toEqual([])
  })

  it('puts favourites first, keeping the order within each group', () => {
    expect(searchAgents(agents, '', new Set(['c'])).map(a => a.peerId)).toEqual(['c', 'a', 'b'])
    expect(searchAgents(agents, '', new Set(['c', 'b'])).map(a => a.peerId)).toEqual(['b', 'c', 'a'])
  })
})
