import { useId, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { parseSkillList } from '../../core/a2a/binding.js'
import type { AgentProfile } from '../../core/a2a/binding.js'
import { errorMessage } from '../../core/errors.js'
import { useProfile, useSetProfile } from '../node/hooks.js'

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
      {save.isSuccess && <p role="status" className="ok">Saved and published.</p>}
      {save.error != null && <p role="alert" className="error">Not saved: {errorMessage(save.error)}</p>}
    </section>
  )
}

function ProfileForm ({ profile, saving, onSave }: { profile: AgentProfile, saving: boolean, onSave: (profile: AgentProfile) => void }): ReactNode {
  const [name, setName] = useState(profile.name)
  const [description, setDescription] = useState(profile.description)
  const [skills, setSkills] = useState(profile.skills.map(s => s.id).join(', '))
  const ids = useId()

  const submit = (event: FormEvent): void => {
    event.preventDefault()
    // skills keep what else they said (name, tags) when their id stays
    const byId = new Map(profile.skills.map(s => [s.id, s]))
    onSave({
      name: name.trim(),
      description: description.trim(),
      skills: parseSkillList(skills).map(s => byId.get(s.id) ?? s)
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
      <div className="actions">
        <button type="submit" disabled={saving || name.trim() === ''}>{saving ? 'Saving…' : 'Save'}</button>
      </div>
    </form>
  )
}
