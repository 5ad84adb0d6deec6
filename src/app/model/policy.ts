/**
 * The policy's rules for people (src/app/components/PolicySection.tsx): each in words, and the
 * edits the section makes (move a rule, remove one, add one from the form's fields).
 */
import type { PolicyRule } from '../../core/mesh/policy.js'
import { shortPeerId } from './format.js'

/** A rule in words: "Allow members of Team to send echo tasks". `meshName` names a mesh by its id. */
export function describeRule (rule: PolicyRule, meshName: (meshId: string) => string | undefined = () => undefined): string {
  const from = rule.from ?? 'any'
  let who: string
  if (from === 'any') {
    who = 'anyone'
  } else {
    const parts: string[] = []
    if (from.mesh != null) parts.push(`members of ${meshName(from.mesh) ?? from.mesh}`)
    if (from.peer != null) parts.push(parts.length > 0 ? `who are ${shortPeerId(from.peer)}` : shortPeerId(from.peer))
    who = parts.join(' ')
  }
  const what = rule.skill != null ? `“${rule.skill}” tasks` : 'tasks'
  return rule.effect === 'allow' ? `Allow ${who} to send ${what}` : `Refuse ${what} from ${who}`
}

/** `rules` with the rule at `index` moved by `by` places (kept within the list). */
export function moveRule (rules: readonly PolicyRule[], index: number, by: number): PolicyRule[] {
  const next = [...rules]
  const to = Math.min(Math.max(index + by, 0), next.length - 1)
  const [rule] = next.splice(index, 1)
  if (rule != null) next.splice(to, 0, rule)
  return next
}

/** `rules` without the rule at `index`. */
export function removeRule (rules: readonly PolicyRule[], index: number): PolicyRule[] {
  return rules.filter((_, i) => i !== index)
}

/** What the add-a-rule form holds. */
export interface RuleDraft {
  effect: 'allow' | 'deny'
  who: 'any' | 'mesh' | 'peer'
  mesh: string
  peer: string
  skill: string
}

/** A PeerID as libp2p prints an Ed25519 one (what a person pastes). */
const PEER_ID = /^(12D3KooW|Qm)[1-9A-HJ-NP-Za-km-z]{20,120}$/

/** The rule a draft says, or why it says none. */
export function ruleFromDraft (draft: RuleDraft): { rule: PolicyRule } | { error: string } {
  const skill = draft.skill.trim()
  const base = { effect: draft.effect, ...(skill !== '' ? { skill } : {}) }
  switch (draft.who) {
    case 'any': return { rule: { ...base, from: 'any' } }
    case 'mesh':
      if (draft.mesh === '') return { error: 'Choose a mesh.' }
      return { rule: { ...base, from: { mesh: draft.mesh } } }
    case 'peer': {
      const peer = draft.peer.trim()
      if (!PEER_ID.test(peer)) return { error: 'That is not a PeerID (they start with 12D3KooW).' }
      return { rule: { ...base, from: { peer } } }
    }
  }
}
