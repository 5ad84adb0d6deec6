/**
 * Who may send this browser which tasks: the policy's rules in order (the first that matches a
 * task decides), with moving and removing, and a form to add one by sender (anyone, the members
 * of one of our meshes, one PeerID) and optionally by skill. Accepting or blocking a sender under
 * Requests adds a rule here too. What no rule decides: members of our meshes reach the inbox,
 * anyone else waits under Requests (src/core/mesh/policy.ts, `ask`).
 */
import { useId, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import type { PolicyRule } from '../../core/mesh/policy.js'
import { describeRule, moveRule, removeRule, ruleFromDraft } from '../model/policy.js'
import type { RuleDraft } from '../model/policy.js'
import { useMeshes, usePolicy, useSetPolicy } from '../node/hooks.js'

export function PolicySection (): ReactNode {
  const rules = usePolicy().data ?? []
  const meshes = useMeshes().data ?? []
  const save = useSetPolicy()
  const id = useId()
  const meshName = (meshId: string): string | undefined => meshes.find(m => m.meshId === meshId)?.name
  const change = (next: PolicyRule[]): void => { save.mutate({ rules: next }) }
  return (
    <section className="card policy" aria-labelledby={`${id}-title`} data-testid="policy">
      <h3 id={`${id}-title`}>Who may send you tasks</h3>
      <p className="muted">
        The first rule that matches a task decides. When none does, members of your meshes reach your inbox and anyone
        else waits under Requests in the Inbox until you accept or block them.
      </p>
      {rules.length === 0
        ? <p data-testid="no-rules">No rules yet.</p>
        : (
          <ol className="rule-list">
            {rules.map((rule, i) => {
              const words = describeRule(rule, meshName)
              return (
                <li key={`${i}:${JSON.stringify(rule)}`} data-testid="policy-rule" data-effect={rule.effect}>
                  <span title={typeof rule.from === 'object' ? rule.from.peer ?? rule.from.mesh : undefined}>{words}</span>
                  <span className="actions">
                    <button type="button" className="secondary small" disabled={save.isPending || i === 0}
                      aria-label={`Move up: ${words}`} onClick={() => { change(moveRule(rules, i, -1)) }}>↑</button>
                    <button type="button" className="secondary small" disabled={save.isPending || i === rules.length - 1}
                      aria-label={`Move down: ${words}`} onClick={() => { change(moveRule(rules, i, 1)) }}>↓</button>
                    <button type="button" className="secondary small" disabled={save.isPending}
                      aria-label={`Remove: ${words}`} onClick={() => { change(removeRule(rules, i)) }}>Remove</button>
                  </span>
                </li>
              )
            })}
          </ol>
          )}
      <AddRule meshes={meshes.map(m => ({ meshId: m.meshId, name: m.name }))} onAdd={(rule) => { change([...rules, rule]) }} pending={save.isPending} />
      {save.error != null && <p role="alert" className="error">Not saved: {errorMessage(save.error)}</p>}
    </section>
  )
}

function AddRule ({ meshes, onAdd, pending }: { meshes: Array<{ meshId: string, name: string }>, onAdd: (rule: PolicyRule) => void, pending: boolean }): ReactNode {
  const id = useId()
  const [draft, setDraft] = useState<RuleDraft>({ effect: 'allow', who: 'any', mesh: meshes[0]?.meshId ?? '', peer: '', skill: '' })
  const [error, setError] = useState<string>()
  const set = (change: Partial<RuleDraft>): void => { setDraft({ ...draft, ...change }); setError(undefined) }
  const submit = (event: FormEvent): void => {
    event.preventDefault()
    const made = ruleFromDraft({ ...draft, mesh: draft.mesh === '' ? meshes[0]?.meshId ?? '' : draft.mesh })
    if ('error' in made) {
      setError(made.error)
      return
    }
    onAdd(made.rule)
    setDraft({ ...draft, peer: '', skill: '' })
  }
  return (
    <details>
      <summary>Add a rule</summary>
      <form className="stack" onSubmit={submit} aria-label="Add a rule">
        <label htmlFor={`${id}-effect`}>Effect</label>
        <select id={`${id}-effect`} value={draft.effect} onChange={(e) => { set({ effect: e.target.value === 'deny' ? 'deny' : 'allow' }) }}>
          <option value="allow">Allow</option>
          <option value="deny">Refuse</option>
        </select>
        <label htmlFor={`${id}-who`}>From</label>
        <select id={`${id}-who`} value={draft.who} onChange={(e) => { set({ who: e.target.value as RuleDraft['who'] }) }}>
          <option value="any">anyone</option>
          <option value="mesh" disabled={meshes.length === 0}>the members of a mesh</option>
          <option value="peer">one agent (PeerID)</option>
        </select>
        {draft.who === 'mesh' && (
          <>
            <label htmlFor={`${id}-mesh`}>Mesh</label>
            <select id={`${id}-mesh`} value={draft.mesh} onChange={(e) => { set({ mesh: e.target.value }) }}>
              {meshes.map(m => <option key={m.meshId} value={m.meshId}>{m.name}</option>)}
            </select>
          </>
        )}
        {draft.who === 'peer' && (
          <>
            <label htmlFor={`${id}-peer`}>PeerID</label>
            <input id={`${id}-peer`} value={draft.peer} onChange={(e) => { set({ peer: e.target.value }) }} spellCheck={false} autoComplete="off" />
          </>
        )}
        <label htmlFor={`${id}-skill`}>Only tasks for the skill</label>
        <input id={`${id}-skill`} value={draft.skill} onChange={(e) => { set({ skill: e.target.value }) }} maxLength={100} aria-describedby={`${id}-skill-help`} />
        <p id={`${id}-skill-help`} className="muted">Empty: any task.</p>
        <div className="actions">
          <button type="submit" disabled={pending}>Add rule</button>
        </div>
        {error != null && <p role="alert" className="error">{error}</p>}
      </form>
    </details>
  )
}
