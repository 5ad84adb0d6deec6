import { describe, expect, it } from 'vitest'
import { decide, HELD_REASON, PeerPolicy, skillOf } from './policy.js'
import type { PolicyRule } from './policy.js'
import { SenderRateLimit } from './rate-limit.js'

const A = 'owner-a/mesh-a'
const B = 'owner-b/mesh-b'
const alice = '12D3KooWAlice'
const bob = '12D3KooWBob'

const request = (sender: string, meshes: string[], skill?: string): Parameters<typeof decide>[2] =>
  ({ sender, senderMeshes: new Set(meshes), skill })

describe('the peer policy', () => {
  it('is open when the peer is in no mesh and has no rules', () => {
    expect(decide([], [], request(alice, []))).toEqual({ allowed: true })
    expect(new PeerPolicy({ meshes: () => [] }).active).toBe(false)
  })

  it('admits only members of its meshes by default once the peer is in one', () => {
    expect(decide([], [A], request(alice, [A]))).toEqual({ allowed: true })
    expect(decide([], [A], request(bob, [B]))).toEqual({ allowed: false, reason: 'not a member of any mesh this agent serves' })
    expect(decide([], [A, B], request(bob, [B]))).toEqual({ allowed: true })
    expect(new PeerPolicy({ meshes: () => [A] }).active).toBe(true)
  })

  it('asks the person about a sender no rule names and no mesh of ours vouches for, when told to ask', () => {
    const ask = { ask: true }
    expect(decide([], [], request(alice, []), ask)).toEqual({ allowed: false, held: true, reason: HELD_REASON })
    expect(decide([], [A], request(bob, [B]), ask)).toEqual({ allowed: false, held: true, reason: HELD_REASON })
    // a member of one of our meshes, and a rule, decide without asking
    expect(decide([], [A], request(alice, [A]), ask)).toEqual({ allowed: true })
    expect(decide([{ effect: 'deny', from: { peer: bob } }], [], request(bob, []), ask)).toMatchObject({ allowed: false, rule: 1 })
    expect(decide([{ effect: 'allow', from: { peer: bob } }], [], request(bob, []), ask)).toEqual({ allowed: true, rule: 1 })
    const policy = new PeerPolicy({ meshes: () => [], ask: true })
    expect(policy.active).toBe(true)
    policy.setRules([{ effect: 'allow', from: 'any' }])
    expect(policy.decide(request(bob, []))).toEqual({ allowed: true, rule: 1 })
  })

  it('lets the first matching rule decide', () => {
    const rules: PolicyRule[] = [
      { effect: 'deny', from: { peer: bob } },
      { effect: 'allow', from: 'any' }
    ]
    expect(decide(rules, [A], request(bob, [A]))).toEqual({ allowed: false, rule: 1, reason: `denied by rule 1: tasks are not allowed to peer ${bob}` })
    // the allow-all after it opens the peer to outsiders too
    expect(decide(rules, [A], request(alice, []))).toEqual({ allowed: true, rule: 2 })
    // the same rules the other way round: the allow comes first
    expect(decide([...rules].reverse(), [A], request(bob, [A]))).toEqual({ allowed: true, rule: 1 })
  })

  it('allows or denies a skill per mesh', () => {
    const rules: PolicyRule[] = [
      { effect: 'allow', from: { mesh: A }, skill: 'deploy' },
      { effect: 'deny', from: { mesh: B }, skill: 'deploy' }
    ]
    expect(decide(rules, [A, B], request(alice, [A], 'deploy'))).toEqual({ allowed: true, rule: 1 })
    expect(decide(rules, [A, B], request(bob, [B], 'deploy'))).toEqual({ allowed: false, rule: 2, reason: `denied by rule 2: skill deploy is not allowed to mesh ${B}` })
    // other skills (or none named) fall through to the default: members of either mesh
    expect(decide(rules, [A, B], request(bob, [B], 'echo'))).toEqual({ allowed: true })
    expect(decide(rules, [A, B], request(bob, [B]))).toEqual({ allowed: true })
  })

  it('matches a rule naming both a mesh and a peer only when both hold', () => {
    const rules: PolicyRule[] = [{ effect: 'allow', from: { mesh: B, peer: alice } }]
    expect(decide(rules, [A], request(alice, [B]))).toEqual({ allowed: true, rule: 1 })
    expect(decide(rules, [A], request(alice, [])).allowed).toBe(false)
    expect(decide(rules, [A], request(bob, [B])).allowed).toBe(false)
  })

  it('asks for the sender\'s meshes only when they can decide', () => {
    const policy = new PeerPolicy({ rules: [{ effect: 'allow', from: { peer: alice } }, { effect: 'deny', from: { mesh: B }, skill: 'deploy' }], meshes: () => [A] })
    expect(policy.needsMeshes(alice, undefined)).toBe(false)
    expect(policy.needsMeshes(bob, 'deploy')).toBe(true)
    expect(policy.relevantMeshes().sort()).toEqual([A, B].sort())
    expect(new PeerPolicy({ rules: [{ effect: 'allow' }], meshes: () => [A] }).needsMeshes(bob, undefined)).toBe(false)
  })

  it('reads the skill a task asks for from its message metadata only', () => {
    expect(skillOf({ metadata: { skill: 'deploy' } })).toBe('deploy')
    expect(skillOf({ metadata: { skill: 42 } })).toBeUndefined()
    expect(skillOf({})).toBeUndefined()
  })
})

describe('the per-sender rate limit', () => {
  it('lets a burst through, then refuses with the reason until the bucket refills', () => {
    let now = 0
    const limit = new SenderRateLimit({ perSecond: 2, burst: 3, now: () => now })
    for (let i = 0; i < 3; i++) expect(limit.take(alice)).toBeUndefined()
    expect(limit.take(alice)).toMatch(/^rate limit: more than 3 tasks at once or 2 a second from 12D3KooWAlice/)
    // another sender has its own bucket
    expect(limit.take(bob)).toBeUndefined()
    now += 500
    expect(limit.take(alice)).toBeUndefined()
    expect(limit.take(alice)).toBeDefined()
  })

  it('forgets the least recently seen sender when it tracks too many', () => {
    const limit = new SenderRateLimit({ perSecond: 1, burst: 1, maxSenders: 2, now: () => 0 })
    expect(limit.take(alice)).toBeUndefined()
    expect(limit.take(bob)).toBeUndefined()
    expect(limit.take('carol')).toBeUndefined()
    // alice was dropped: a full bucket again
    expect(limit.take(alice)).toBeUndefined()
    expect(limit.take('carol')).toBeDefined()
  })
})
