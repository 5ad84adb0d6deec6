import { useId, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { parseSkillList } from '../../core/a2a/binding.js'
import type { AgentProfile } from '../../core/a2a/binding.js'
import { errorMessage } from '../../core/errors.js'
import { IdentitySection } from '../components/IdentitySection.js'
import { useCopy } from '../components/use-copy.js'
import { MeshesSection } from '../components/MeshesSection.js'
import { NotificationSetting } from '../components/NotificationSetting.js'
import { PolicySection } from '../components/PolicySection.js'
import { usePeerId, useProfile, useSetProfile } from '../node/hooks.js'

/**
 * Where the relay's A2A HTTP bridge serves this peer's card (relay/bridge/card.ts): the relay
 * serves this app, so its origin is the page's.
 */
export function bridgeCardUrl (origin: string, peerId: string): string {
  return `${origin}/a2a/${peerId}/.well-known/agent-card.json`
}

/** Our name, description and skills: what our agent card says. Saving republishes the card. */
export function ProfileScreen (): ReactNode {
  const profile = useProfile().data
  const save = useSetProfile()
  return (
    <section aria-labelledby="profile-title">
      <h2 id="profile-title">Profile</h2>
      <p className="muted">This is your agent card: other agents find you by it in the registry.</p>
      {profile != null && (
        // a fresh form for every saved profile: it starts from what is stored
        <ProfileForm key={JSON.stringify(profile)} profile={profile} saving={save.isPending}
          onSave={(next) => { save.mutate(next) }} />
      )}
      {profile?.bridge === true && <BridgeCard />}
      {save.isSuccess && <p role="status" className="ok">Saved and published.</p>}
      {save.error != null && <p role="alert" className="error">Not saved: {errorMessage(save.error)}</p>}
      <NotificationSetting />
      <MeshesSection />
      <PolicySection />
      <IdentitySection />
    </section>
  )
}

function ProfileForm ({ profile, saving, onSave }: { profile: AgentProfile, saving: boolean, onSave: (profile: AgentProfile) => void }): ReactNode {
  const [name, setName] = useState(profile.name)
  const [description, setDescription] = useState(profile.description)
  const [skills, setSkills] = useState(profile.skills.map(s => s.id).join(', '))
  const [bridge, setBridge] = useState(profile.bridge === true)
  const ids = useId()

  const submit = (event: FormEvent): void => {
    event.preventDefault()
    // skills keep what else they said (name, tags) when their id stays
    const byId = new Map(profile.skills.map(s => [s.id, s]))
    onSave({
      name: name.trim(),
      description: description.trim(),
      skills: parseSkillList(skills).map(s => byId.get(s.id) ?? s),
      // off is the absence of the setting, as in a profile that never had it
      ...(bridge ? { bridge: true } : {})
    })
  }

  return (
    <form className="card profile" onSubmit={submit}>
      <label htmlFor={`${ids}-name`}>Display name</label>
      <input id={`${ids}-name`} value={name} onChange={(e) => { setName(e.target.value) }} required maxLength={100} />
      <label htmlFor={`${ids}-description`}>Description</label>
      <textarea id={`${ids}-description`} value={description} onChange={(e) => { setDescription(e.target.value) }} rows={3} maxLength={1000} />
      <label htmlFor={`${ids}-skills`}>Skills</label>
      <input id={`${ids}-skills`} value={skills} onChange={(e) => { setSkills(e.target.value) }} aria-describedby={`${ids}-skills-help`} />
      <p id={`${ids}-skills-help`} className="muted">Skill ids, separated by commas (e.g. chat, translate)</p>
      <label className="check">
        <input type="checkbox" checked={bridge} onChange={(e) => { setBridge(e.target.checked) }} aria-describedby={`${ids}-bridge-help`} data-testid="bridge-setting" />
        {' '}Reachable over HTTP through the relay's A2A bridge
      </label>
      <p id={`${ids}-bridge-help`} className="muted">
        Ordinary A2A clients (that know nothing of this mesh) can then send you tasks through the relay.
        They all reach you as the relay. Off by default.
      </p>
      <div className="actions">
        <button type="submit" disabled={saving || name.trim() === ''}>{saving ? 'Saving…' : 'Save'}</button>
      </div>
    </form>
  )
}

/** The URL an ordinary A2A client starts from to reach this peer through the relay. */
function BridgeCard (): ReactNode {
  const url = bridgeCardUrl(window.location.origin, usePeerId())
  const copied = useCopy(url)
  return (
    <article className="card" aria-labelledby="bridge-title" data-testid="bridge-card">
      <h3 id="bridge-title">Reachable over HTTP</h3>
      <p className="muted">Your agent card for A2A clients over HTTP (JSON-RPC; the calls go through the relay):</p>
      <p><code data-testid="bridge-card-url">{url}</code></p>
      <div className="actions">
        <button type="button" onClick={copied.copy}>{copied.state === 'copied' ? 'Copied' : 'Copy URL'}</button>
      </div>
      {copied.state === 'failed' && <p role="alert" className="error">Cannot copy here: select the URL instead.</p>}
    </article>
  )
}
