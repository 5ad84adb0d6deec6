/**
 * Whether an inbound task may run: the sender's rate (./rate-limit.ts), then the peer's policy
 * (./policy.ts) on what the sender proves of its meshes (./service.ts). A refusal is a reason
 * the sender reads in the rejected task's status message.
 *
 * A peer in no mesh and with no rules is open and unlimited, as peers were before meshes: only
 * a rate limit given explicitly applies to it.
 */
import { logger } from '@libp2p/logger'
import type { InboundTask } from '../tasks/executor.js'
import { PeerPolicy, skillOf } from './policy.js'
import type { PolicyRule } from './policy.js'
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
}

export class Admission {
  readonly policy: PeerPolicy
  private readonly meshes: MeshService
  private readonly rate: SenderRateLimit
  private readonly alwaysLimit: boolean

  constructor (init: AdmissionInit) {
    this.meshes = init.meshes
    this.policy = new PeerPolicy({ rules: init.rules, meshes: () => init.meshes.meshIds() })
    this.rate = new SenderRateLimit(init.rateLimit)
    this.alwaysLimit = init.rateLimit != null
  }

  /** Why `task` is refused; undefined when it may run. */
  async check (task: Pick<InboundTask, 'from' | 'message'>, options: { signal?: AbortSignal } = {}): Promise<string | undefined> {
    const active = this.policy.active
    if (!active && !this.alwaysLimit) return undefined
    const limited = this.rate.take(task.from)
    if (limited != null) return limited
    if (!active) return undefined
    const skill = skillOf(task.message)
    const senderMeshes = this.policy.needsMeshes(task.from, skill)
      ? await this.meshes.membershipsOf(task.from, this.policy.relevantMeshes(), options)
      : new Set<string>()
    const decision = this.policy.decide({ sender: task.from, senderMeshes, skill })
    if (decision.allowed) return undefined
    log('refused a task from %s - %s', task.from, decision.reason)
    return decision.reason
  }
}
