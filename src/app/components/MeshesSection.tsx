/**
 * The private meshes this peer is in (src/core/mesh): each with its name, our role and when our
 * credential lapses; creating one; and, where we own or administer it, invites (a link and its
 * QR code, which carry the invite's key: anyone holding them may join until it expires), revoking
 * the invites we issued, and leaving. Everything goes through the mesh hooks of ../node/hooks.ts.
 */
import { useId, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import type { MeshInfo, RevokeResult } from '../../core/mesh/service.js'
import { formatTime, isoTime, shortPeerId } from '../model/format.js'
import { INVITE_DURATIONS, inviteLink, meshErrorText } from '../model/meshes.js'
import { useCreateMesh, useInviteToMesh, useLeaveMesh, useMeshes, useMeshInvites, useMeshMembers, usePeerId, useRevokeInvite, useRevokeMember } from '../node/hooks.js'
import { useCopy } from './use-copy.js'
import { useQrCode } from './use-qr-code.js'

const ROLE_LABELS: Record<MeshInfo['role'], string> = { owner: 'owner', admin: 'admin', member: 'member' }

export function MeshesSection (): ReactNode {
  const meshes = useMeshes().data ?? []
  const id = useId()
  return (
    <section className="card meshes" aria-labelledby={`${id}-title`} data-testid="meshes">
      <h3 id={`${id}-title`}>Meshes</h3>
      <p className="muted">
        A private mesh is a group of peers that trust each other. Members of your meshes reach your inbox directly;
        a task from anyone else waits under Requests until you accept or block its sender.
      </p>
      {meshes.length === 0
        ? <p data-testid="no-meshes">This browser is in no mesh.</p>
        : (
          <ul className="mesh-list">
            {meshes.map(mesh => <MeshItem key={mesh.meshId} mesh={mesh} />)}
          </ul>
          )}
      <CreateMesh />
    </section>
  )
}

function MeshItem ({ mesh }: { mesh: MeshInfo }): ReactNode {
  const id = useId()
  const manages = mesh.role === 'owner' || mesh.role === 'admin'
  return (
    <li className="mesh" data-testid="mesh-item" data-mesh-id={mesh.meshId} data-role={mesh.role}>
      <p className="mesh-head">
        <strong id={`${id}-name`} data-testid="mesh-name">{mesh.name}</strong>
        {' '}<span className="badge" data-testid="mesh-role">{ROLE_LABELS[mesh.role]}</span>
      </p>
      <p className="muted">
        Until <time dateTime={isoTime(mesh.expiresAt)}>{formatTime(mesh.expiresAt)}</time>
        {' · '}<code className="mesh-id" title={mesh.meshId}>{mesh.meshId}</code>
      </p>
      {manages && <InviteForm mesh={mesh} />}
      {manages && <IssuedInvites mesh={mesh} />}
      {manages && <MeshMembers mesh={mesh} />}
      {manages && <RevokeMember mesh={mesh} />}
      <LeaveMesh mesh={mesh} />
    </li>
  )
}

function CreateMesh (): ReactNode {
  const create = useCreateMesh()
  const [name, setName] = useState('')
  const id = useId()
  const submit = (event: FormEvent): void => {
    event.preventDefault()
    const chosen = name.trim()
    if (chosen === '') return
    create.mutate({ name: chosen }, { onSuccess: () => { setName('') } })
  }
  return (
    <form className="stack" onSubmit={submit} aria-label="Create a mesh">
      <label htmlFor={`${id}-name`}>New mesh's name</label>
      <input id={`${id}-name`} value={name} onChange={(e) => { setName(e.target.value) }} maxLength={128} required />
      <div className="actions">
        <button type="submit" disabled={create.isPending || name.trim() === ''}>{create.isPending ? 'Creating…' : 'Create mesh'}</button>
      </div>
      {create.isSuccess && <p role="status" className="ok">Created “{create.data.name}”: you own it.</p>}
      {create.error != null && <p role="alert" className="error">Not created: {meshErrorText(create.error)}</p>}
    </form>
  )
}

function InviteForm ({ mesh }: { mesh: MeshInfo }): ReactNode {
  const invite = useInviteToMesh()
  const id = useId()
  const [role, setRole] = useState<'member' | 'admin'>('member')
  const [ttlMs, setTtlMs] = useState(INVITE_DURATIONS[2]?.ms ?? 7 * 24 * 60 * 60 * 1000)
  const [uses, setUses] = useState('')
  const submit = (event: FormEvent): void => {
    event.preventDefault()
    const maxUses = uses.trim() === '' ? undefined : Number(uses)
    invite.mutate({ meshId: mesh.meshId, role, ttlMs, ...(maxUses != null ? { maxUses } : {}) })
  }
  return (
    <details>
      <summary>Invite to {mesh.name}</summary>
      <form className="stack" onSubmit={submit} aria-label={`Invite to ${mesh.name}`}>
        <label htmlFor={`${id}-role`}>Role</label>
        <select id={`${id}-role`} value={role} onChange={(e) => { setRole(e.target.value === 'admin' ? 'admin' : 'member') }}>
          <option value="member">member</option>
          <option value="admin">admin (may invite and revoke too)</option>
        </select>
        <label htmlFor={`${id}-ttl`}>Valid for</label>
        <select id={`${id}-ttl`} value={ttlMs} onChange={(e) => { setTtlMs(Number(e.target.value)) }}>
          {INVITE_DURATIONS.map(d => <option key={d.ms} value={d.ms}>{d.label}</option>)}
        </select>
        <label htmlFor={`${id}-uses`}>Peers who may join with it</label>
        <input id={`${id}-uses`} type="number" inputMode="numeric" min={1} step={1} value={uses}
          onChange={(e) => { setUses(e.target.value) }} aria-describedby={`${id}-uses-help`} />
        <p id={`${id}-uses-help`} className="muted">Empty: any number until it expires.</p>
        <div className="actions">
          <button type="submit" disabled={invite.isPending}>{invite.isPending ? 'Signing…' : 'Make invite link'}</button>
        </div>
        {invite.error != null && <p role="alert" className="error">No invite: {meshErrorText(invite.error)}</p>}
      </form>
      {invite.data != null && <InviteLink key={invite.data.inviteId} link={inviteLink(window.location.origin, invite.data.token)} expiresAt={invite.data.expiresAt} />}
    </details>
  )
}

/** The invite's link, a copy button and its QR code (drawn as in ./JoinLink.tsx). */
function InviteLink ({ link, expiresAt }: { link: string, expiresAt: number }): ReactNode {
  // an invite link is long (it carries the invite and its key): the lowest error correction keeps the code scannable
  const { src: qr, error } = useQrCode(link, 'L')
  const copied = useCopy(link)

  return (
    <div className="invite join" data-testid="invite-link">
      <p className="muted">
        Anyone with this link or QR code can join until <time dateTime={isoTime(expiresAt)}>{formatTime(expiresAt)}</time>: send it only to
        whom you mean to let in.
      </p>
      {qr != null && <img className="qr" src={qr} width={240} height={240} alt="QR code of the invite link" data-testid="invite-qr" />}
      <p><a href={link} data-testid="invite-url">{link}</a></p>
      <div className="actions">
        <button type="button" onClick={copied.copy}>{copied.state === 'copied' ? 'Copied' : 'Copy invite link'}</button>
      </div>
      {copied.state === 'failed' && <p role="alert" className="error">Cannot copy here: select the link instead.</p>}
      {error != null && <p role="alert" className="error">{error}</p>}
    </div>
  )
}

function IssuedInvites ({ mesh }: { mesh: MeshInfo }): ReactNode {
  const invites = useMeshInvites(mesh.meshId).data ?? []
  const revoke = useRevokeInvite()
  if (invites.length === 0 && revoke.data == null) return null
  return (
    <div className="issued">
      {invites.length > 0 && (
        <>
          <p className="muted">Invites you issued:</p>
          <ul className="issued-list">
            {invites.map(i => (
              <li key={i.inviteId} data-testid="issued-invite" data-invite-id={i.inviteId}>
                <span>
                  <code>{i.inviteId.slice(0, 8)}</code> {i.role}, until <time dateTime={isoTime(i.expiresAt)}>{formatTime(i.expiresAt)}</time>
                  {i.maxUses != null && `, ${i.maxUses} peer(s)`}
                </span>
                {i.revoked
                  ? <span className="badge" data-testid="invite-revoked">revoked</span>
                  : (
                    <button type="button" className="secondary small" disabled={revoke.isPending}
                      aria-label={`Revoke invite ${i.inviteId}`}
                      onClick={() => { revoke.mutate({ meshId: mesh.meshId, inviteId: i.inviteId }) }}>
                      Revoke
                    </button>
                    )}
              </li>
            ))}
          </ul>
        </>
      )}
      <RevokeOutcome revoke={revoke} accepted="Revoked: the relay refuses it from now on." testId="revoke-result" />
    </div>
  )
}

/**
 * The members the mesh's relay knows now (connected or listed there), asked when the list is
 * opened: each with its role, whether it holds a slot and is listed, and a Revoke button.
 */
function MeshMembers ({ mesh }: { mesh: MeshInfo }): ReactNode {
  const [open, setOpen] = useState(false)
  const members = useMeshMembers(mesh.meshId, open)
  const revoke = useRevokeMember()
  const self = usePeerId()
  return (
    <details onToggle={(e) => { setOpen(e.currentTarget.open) }} data-testid="mesh-members">
      <summary>Members of {mesh.name}</summary>
      {members.isPending && open && <p className="muted">Asking the relay…</p>}
      {members.error != null && <p role="alert" className="error">No list: {meshErrorText(members.error)}</p>}
      {members.data != null && (
        <>
          <p className="muted">
            {members.data.total} known to the relay now (connected or listed there)
            {members.data.total > members.data.members.length ? `; the first ${members.data.members.length} shown` : ''}.
          </p>
          <ul className="issued-list">
            {members.data.members.map(m => (
              <li key={m.peerId} data-testid="mesh-member" data-peer-id={m.peerId} data-role={m.role}>
                <span>
                  <code title={m.peerId}>{shortPeerId(m.peerId)}</code>{m.peerId === self ? ' (you)' : ''} {m.role}
                  {m.reserved ? ', online' : ', offline'}{m.listed ? ', listed' : ''}, until <time dateTime={isoTime(m.expiresAt)}>{formatTime(m.expiresAt)}</time>
                </span>
                {m.role !== 'owner' && m.peerId !== self && (
                  <button type="button" className="secondary small" disabled={revoke.isPending}
                    aria-label={`Revoke member ${m.peerId}`}
                    onClick={() => { revoke.mutate({ meshId: mesh.meshId, peerId: m.peerId }) }}>
                    Revoke
                  </button>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
      <RevokeOutcome revoke={revoke} accepted="Revoked: the relay has dropped them, and your mesh's peers refuse their tasks." testId="revoke-member-result" />
    </details>
  )
}

/** Revokes a member by its PeerID: the relay enforces it at once, and members' peers learn it from the relay. */
function RevokeMember ({ mesh }: { mesh: MeshInfo }): ReactNode {
  const revoke = useRevokeMember()
  const [peerId, setPeerId] = useState('')
  const id = useId()
  const submit = (event: FormEvent): void => {
    event.preventDefault()
    const target = peerId.trim()
    if (target === '') return
    revoke.mutate({ meshId: mesh.meshId, peerId: target }, { onSuccess: () => { setPeerId('') } })
  }
  return (
    <details>
      <summary>Revoke a member of {mesh.name}</summary>
      <form className="stack" onSubmit={submit} aria-label={`Revoke a member of ${mesh.name}`}>
        <label htmlFor={`${id}-peer`}>Member's PeerID</label>
        <input id={`${id}-peer`} value={peerId} onChange={(e) => { setPeerId(e.target.value) }} spellCheck={false} autoComplete="off" required />
        <div className="actions">
          <button type="submit" className="danger" disabled={revoke.isPending || peerId.trim() === ''}>{revoke.isPending ? 'Revoking…' : 'Revoke member'}</button>
        </div>
        <RevokeOutcome revoke={revoke} accepted="Revoked: the relay has dropped them, and your mesh's peers refuse their tasks." testId="revoke-member-result" />
      </form>
    </details>
  )
}

/** What came of a revocation: whether the relay took it too (it enforces it then), or why not. */
function RevokeOutcome ({ revoke, accepted, testId }: { revoke: { data?: RevokeResult, error: Error | null }, accepted: string, testId: string }): ReactNode {
  return (
    <>
      {revoke.data != null && (
        <p role="status" className={revoke.data.relayAccepted ? 'ok' : 'warn'} data-testid={testId}>
          {revoke.data.relayAccepted ? accepted : `Revoked here, but ${revoke.data.relayError ?? 'the relay did not take the revocation'}.`}
        </p>
      )}
      {revoke.error != null && <p role="alert" className="error">Not revoked: {meshErrorText(revoke.error)}</p>}
    </>
  )
}

function LeaveMesh ({ mesh }: { mesh: MeshInfo }): ReactNode {
  const leave = useLeaveMesh()
  const [confirming, setConfirming] = useState(false)
  return (
    <div className="actions">
      {confirming
        ? (
          <div className="confirm" role="group" aria-label={`Leave ${mesh.name}?`}>
            <p className="warn">
              {mesh.role === 'owner'
                ? `You own “${mesh.name}”: leaving forgets it and the invites you issued in this browser. Its members stay members until their credentials lapse.`
                : `Leaving forgets your credential for “${mesh.name}”: you need a new invite to come back.`}
            </p>
            <div className="actions">
              <button type="button" className="danger" disabled={leave.isPending} onClick={() => { leave.mutate({ meshId: mesh.meshId }) }}>
                Yes, leave {mesh.name}
              </button>
              <button type="button" className="secondary" onClick={() => { setConfirming(false) }}>Stay</button>
            </div>
          </div>
          )
        : <button type="button" className="secondary" onClick={() => { setConfirming(true) }}>Leave {mesh.name}…</button>}
      {leave.error != null && <p role="alert" className="error">Not left: {meshErrorText(leave.error)}</p>}
    </div>
  )
}
