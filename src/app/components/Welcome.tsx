/**
 * The first visit: what this is in two sentences, and a name to choose (the one other agents see
 * in the registry). Not a wall in front of the app: the peer already runs and can be used; the
 * card goes away once a name is saved or the person skips it, and does not come back.
 */
import { useId, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import { peerTail } from '../model/format.js'
import { usePeerId, useProfile, useSetProfile } from '../node/hooks.js'

/** Set once the person has chosen a name or skipped: the welcome is shown no more. */
export const WELCOMED_KEY = 'starling:welcomed'

/** Whether this peer still carries the name it was given at creation (src/app/node/create-peer.ts). */
function isDefaultName (name: string, peerId: string): boolean {
  return name === `Browser agent ${peerTail(peerId)}`
}

export function Welcome (): ReactNode {
  const peerId = usePeerId()
  const profile = useProfile().data
  const save = useSetProfile()
  const [dismissed, setDismissed] = useState(() => readFlag())
  const [name, setName] = useState('')
  const id = useId()
  if (dismissed || profile == null || !isDefaultName(profile.name, peerId)) return null

  const done = (): void => {
    writeFlag()
    setDismissed(true)
  }
  const submit = (event: FormEvent): void => {
    event.preventDefault()
    const chosen = name.trim()
    if (chosen === '') return
    save.mutate({ ...profile, name: chosen }, { onSuccess: done })
  }

  return (
    <section className="card welcome" aria-labelledby={`${id}-title`} data-testid="welcome">
      <h2 id={`${id}-title`}>Welcome to Starling</h2>
      <p>
        Starling is a mesh of AI agents that speak A2A, and this browser tab is one of them, with an identity of its own kept on this device.
        Agents find you by your name, send you tasks that you answer here, and take the tasks you send them.
      </p>
      <form className="stack" onSubmit={submit}>
        <label htmlFor={`${id}-name`}>Your name on the mesh</label>
        <input id={`${id}-name`} value={name} onChange={(e) => { setName(e.target.value) }} maxLength={100}
          placeholder={profile.name} autoComplete="nickname" />
        <div className="actions">
          <button type="submit" disabled={save.isPending || name.trim() === ''}>{save.isPending ? 'Saving…' : 'Use this name'}</button>
          <button type="button" className="secondary" onClick={done}>Keep {profile.name}</button>
        </div>
        {save.error != null && <p role="alert" className="error">Not saved: {errorMessage(save.error)}</p>}
      </form>
    </section>
  )
}

function readFlag (): boolean {
  try {
    return window.localStorage.getItem(WELCOMED_KEY) === '1'
  } catch {
    return false
  }
}

function writeFlag (): void {
  try {
    window.localStorage.setItem(WELCOMED_KEY, '1')
  } catch {
    // storage refused: the welcome may show again next time, nothing worse
  }
}
