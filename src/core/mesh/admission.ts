/**
 * Whether an inbound task may run: the sender's rate (./rate-limit.ts), then the peer's policy
 * (./policy.ts) on what the sender proves of its meshes (./service.ts). A refusal is a reason
 * the sender reads in the rejected task's status message; a task held (a peer that asks its
 * person about unknown senders) waits, stored and unrun, until the person decides.
 *
 * A peer in no mesh and with no rules is open and unlimited, as peers were before meshes: only
 * a rate limit given explicitly applies to it.
 */
import { logger } from '@libp2p/logger'
import type { InboundTask } from '../tasks/executor.js'
import { PeerPolicy, skillOf } from './policy.js'
import type { PolicyRule } from './policy.js'
import type { AdmitDecision } from '../tasks/executor.js'
import { SenderRateLimit } from './rate-limit.js'
import type { RateLimitInit } from './rate-limit.js'
import type { MeshService } from './service.js'

const log = logger('starling:mesh:admission')

export interface AdmissionInit {
  meshes: MeshService
  rules?: PolicyRule[]
  /**
   * Per-sender limits. Absent: the defaults, applied once the peer is in a mesh or has rules;
   * given: applied to every sender, mesh or not.
   */
  rateLimit?: RateLimitInit
  /** Hold tasks from unknown senders for a person to decide (PeerPolicyInit.ask). */
  ask?: boolean
  /**
   * Whether a task from `sender` is a call an ordinary A2A client made through the relay's HTTP
   * bridge that this peer opted into: admitted, as the opt-in said (the relay limits its callers).
   */
  bridged?: (sender: string) => boolean
  /**
   * Whether the person knows `sender` already (this peer sent it a task): a sender it would
   * hold is admitted then. Who we asked something may ask us back.
   */
  known?: (sender: string, options: { signal?: AbortSignal }) => Promise<boolean>
}

export class Admission {
  readonly policy: PeerPolicy
  private readonly meshes: MeshService
  private readonly rate: SenderRateLimit
  private readonly alwaysLimit: boolean
  private readonly bridged: (sender: string) => boolean
  private readonly known: (sender: string, options: { signal?: AbortSignal }) => Promise<boolean>

  constructor (init: AdmissionInit) {
    this.meshes = init.meshes
    this.policy = new PeerPolicy({ rules: init.rules, meshes: () => init.meshes.meshIds(), ask: init.ask })
    this.rate = new SenderRateLimit(init.rateLimit)
    this.alwaysLimit = init.rateLimit != null
    this.bridged = init.bridged ?? (() => false)
    this.known = init.known ?? (async () => false)
  }

  /** Whether `task` may run, is refused (and why) or waits for the person; undefined: it may run. */
  async check (task: Pick<InboundTask, 'from' | 'message'>, options: { signal?: AbortSignal } = {}): Promise<AdmitDecision> {
    const active = this.policy.active
    if (!active && !this.alwaysLimit) return undefined
    if (this.bridged(task.from)) return undefined
    const limited = this.rate.take(task.from)
    if (limited != null) return { outcome: 'reject', reason: limited }
    if (!active) return undefined
    return await this.decide(task, options)
  }

  /**
   * The policy's decision alone, no rate taken: for a held task when the rules change (the
   * person accepted or blocked its sender, or edited the rules).
   */
  async decide (task: Pick<InboundTask, 'from' | 'message'>, options: { signal?: AbortSignal } = {}): Promise<AdmitDecision> {
    if (!this.policy.active) return undefined
    const skill = skillOf(task.message)
    const senderMeshes = this.policy.needsMeshes(task.from, skill)
      ? await this.meshes.membershipsOf(task.from, this.policy.relevantMeshes(), options)
      : new Set<string>()
    const decision = this.policy.decide({ sender: task.from, senderMeshes, skill })
    if (decision.allowed) return undefined
    if (decision.held === true) {
      if (await this.known(task.from, options)) return undefined
      return { outcome: 'hold', reason: decision.reason }
    }
    log('refused a task from %s - %s', task.from, decision.reason)
    return { outcome: 'reject', reason: decision.reason }
  }
}
