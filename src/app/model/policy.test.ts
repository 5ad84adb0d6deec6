import { describe, expect, it } from 'vitest'
import { describeRule, moveRule, removeRule, ruleFromDraft } from './policy.js'
import type { RuleDraft } from './policy.js'

const PEER = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
const draft = (over: Partial<RuleDraft>): RuleDraft => ({ effect: 'allow', who: 'any', mesh: '', peer: '', skill: '', ...over })

describe('policy rules for people', () => {
  it('says a rule in words, naming meshes by their names', () => {
    expect(describeRule({ effect: 'allow', from: 'any' })).toBe('Allow anyone to send tasks')
    expect(describeRule({ effect: 'deny', from: { peer: PEER } })).toMatch(/^Refuse tasks from 12D3Ko…/)
    expect(describeRule({ effect: 'allow', from: { mesh: 'o/t' }, skill: 'echo' }, id => id === 'o/t' ? 'Team' : undefined))
      .toBe('Allow members of Team to send “echo” tasks')
    expect(describeRule({ effect: 'deny', from: { mesh: 'o/u' } })).toBe('Refuse tasks from members of o/u')
  })

  it('moves and removes rules, keeping the rest in order', () => {
    const rules = [{ effect: 'allow' as const, skill: 'a' }, { effect: 'allow' as const, skill: 'b' }, { effect: 'deny' as const, skill: 'c' }]
    expect(moveRule(rules, 2, -1).map(r => r.skill)).toEqual(['a', 'c', 'b'])
    expect(moveRule(rules, 0, -1).map(r => r.skill)).toEqual(['a', 'b', 'c'])
    expect(removeRule(rules, 1).map(r => r.skill)).toEqual(['a', 'c'])
  })

  it('builds a rule from the form, or says what is missing', () => {
    expect(ruleFromDraft(draft({ skill: ' echo ' }))).toEqual({ rule: { effect: 'allow', from: 'any', skill: 'echo' } })
    expect(ruleFromDraft(draft({ effect: 'deny', who: 'mesh', mesh: 'o/t' }))).toEqual({ rule: { effect: 'deny', from: { mesh: 'o/t' } } })
    expect(ruleFromDraft(draft({ who: 'mesh' }))).toEqual({ error: 'Choose a mesh.' })
    expect(ruleFromDraft(draft({ who: 'peer', peer: ` ${PEER} ` }))).toEqual({ rule: { effect: 'allow', from: { peer: PEER } } })
    expect(ruleFromDraft(draft({ who: 'peer', peer: 'bob' }))).toMatchObject({ error: expect.stringMatching(/not a PeerID/) })
  })
})
