/**
 * Who may send which tasks to this peer: a pure policy engine, no I/O. The caller learns which
 * meshes the sender belongs to (./service.ts asks it for its credentials and verifies them) and
 * which skill the task asks for, and `decide` says whether the task may run, and if not, why.
 *
 * Rules are read in order and the first that matches decides. A rule matches when its `from`
 * matches the sender (absent or `'any'`: everyone; `{ mesh }`: a member of that mesh; `{ peer }`:
 * that PeerID; both: both) and its `skill` is the skill the task asks for (absent: any task; a
 * task that names no skill matches no rule with a skill).
 *
 * When no rule matches: a peer that belongs to at least one mesh accepts tasks only from members
 * of its meshes; a peer in no mesh stays open to everyone, as peers were before meshes existed.
 * A peer a person answers (the PWA) asks instead (`ask`): a sender no rule names and no mesh of
 * ours vouches for (nor the person's own tasks: see ./admission.ts `known`) is held, its task waiting under "requests" until the person accepts the
 * sender (an allow rule for its PeerID) or blocks it (a deny rule).
 *
 * Which skill a task asks for is the `skill` key of its message's metadata (A2A's Message
 * `metadata`), when it is a string: see skillOf().
 */
import type { MessageJson } from '../a2a/json.js'

export type PolicyEffect = 'allow' | 'deny'

/** Whom a rule is about: everyone, or the members of a mesh and/or one PeerID. */
export type PolicySender = 'any' | { mesh?: string, peer?: string }

export interface PolicyRule {
  effect: PolicyEffect
  /** Absent: any sender. */
  from?: PolicySender
  /** Absent: any task. */
  skill?: string
}

/** What is known of a task when it is checked. */
export interface PolicyRequest {
  /** PeerID of the sender. */
  sender: string
  /** Meshes the sender proved it belongs to (verified credentials). */
  senderMeshes: ReadonlySet<string>
  /** The skill the task asks for, if it names one. */
  skill?: string
}

export type PolicyDecision =
  | { allowed: true, /** 1-based; absent when the default decided. */ rule?: number }
  | { allowed: false, reason: string, rule?: number, /** The default asks the person (only with `ask`). */ held?: true }

/** The reason a held task's sender reads while it waits. */
export const HELD_REASON = 'waiting for the person to accept you as a sender'

/** The message metadata key naming the skill a task asks for. */
export const SKILL_METADATA_KEY = 'skill'

/** The skill a message asks for: its metadata's `skill`, when that is a non-empty string. */
export function skillOf (message: Pick<MessageJson, 'metadata'>): string | undefined {
  const skill = (message.metadata as Record<string, unknown> | undefined)?.[SKILL_METADATA_KEY]
  return typeof skill === 'string' && skill !== '' ? skill : undefined
}

export interface PeerPolicyInit {
  rules?: PolicyRule[]
  /** The meshes this peer belongs to (read on every decision: they change when it joins or leaves). */
  meshes: () => string[]
  /**
   * When no rule matches and no mesh of ours vouches for the sender, hold the task for a person
   * to decide (default false: the default of a peer in no mesh or in some, above).
   */
  ask?: boolean
}

export class PeerPolicy {
  private current: readonly PolicyRule[]
  private readonly meshes: () => string[]
  readonly ask: boolean

  constructor (init: PeerPolicyInit) {
    this.current = init.rules ?? []
    this.meshes = init.meshes
    this.ask = init.ask === true
  }

  /** The rules, in order. */
  get rules (): readonly PolicyRule[] {
    return this.current
  }

  /** Replaces the rules (a person edited them, or accepted or blocked a sender). */
  setRules (rules: readonly PolicyRule[]): void {
    this.current = [...rules]
  }

  /** Whether the policy can refuse (or hold) anyone: false for a peer in no mesh with no rules that does not ask (open). */
  get active (): boolean {
    return this.ask || this.current.length > 0 || this.meshes().length > 0
  }

  /**
   * The meshes whose membership decides something for a task: ours and those rules name. A
   * sender's credentials are asked for these only.
   */
  relevantMeshes (): string[] {
    const meshes = new Set(this.meshes())
    for (const rule of this.current) {
      if (typeof rule.from === 'object' && rule.from.mesh != null) meshes.add(rule.from.mesh)
    }
    return [...meshes]
  }

  /** Whether deciding may need the sender's meshes (false when its PeerID alone decides). */
  needsMeshes (sender: string, skill: string | undefined): boolean {
    for (const rule of this.current) {
      if (rule.skill != null && rule.skill !== skill) continue
      const from = rule.from ?? 'any'
      if (from === 'any') return false
      if (from.mesh != null) return true
      if (from.peer == null || from.peer === sender) return false
    }
    return this.meshes().length > 0
  }

  decide (request: PolicyRequest): PolicyDecision {
    return decide(this.current, this.meshes(), request, { ask: this.ask })
  }
}

/** The decision of `rules` (then the default for a peer in `ownMeshes`) on `request`. */
export function decide (rules: readonly PolicyRule[], ownMeshes: readonly string[], request: PolicyRequest, options: { ask?: boolean } = {}): PolicyDecision {
  for (const [index, rule] of rules.entries()) {
    if (!matches(rule, request)) continue
    const number = index + 1
    if (rule.effect === 'allow') return { allowed: true, rule: number }
    return { allowed: false, rule: number, reason: `denied by rule ${number}: ${describe(rule)}` }
  }
  if (ownMeshes.some(mesh => request.senderMeshes.has(mesh))) return { allowed: true }
  if (options.ask === true) return { allowed: false, held: true, reason: HELD_REASON }
  if (ownMeshes.length === 0) return { allowed: true }
  return { allowed: false, reason: 'not a member of any mesh this agent serves' }
}

function matches (rule: PolicyRule, request: PolicyRequest): boolean {
  if (rule.skill != null && rule.skill !== request.skill) return false
  const from = rule.from ?? 'any'
  if (from === 'any') return true
  if (from.peer != null && from.peer !== request.sender) return false
  if (from.mesh != null && !request.senderMeshes.has(from.mesh)) return false
  return true
}

/** A rule in words, for the reason a sender reads. */
function describe (rule: PolicyRule): string {
  const from = rule.from ?? 'any'
  const who = from === 'any'
    ? 'anyone'
    : [from.mesh != null ? `mesh ${from.mesh}` : undefined, from.peer != null ? `peer ${from.peer}` : undefined].filter(w => w != null).join(' and ')
  return rule.skill != null ? `skill ${rule.skill} is not allowed to ${who}` : `tasks are not allowed to ${who}`
}
