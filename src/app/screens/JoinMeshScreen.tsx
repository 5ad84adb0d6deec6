/**
 * What an invite link (`#join=<token>`) opens: what the invite says — the mesh's name, the role
 * it grants, who issued it, until when — checked before anything is kept, and a button to join.
 * Joining needs nobody online: the link carries the invite's key, which signs our credential
 * here. A bad, tampered or expired invite says which rule it broke.
 */
import { useId } from 'react'
import type { ReactNode } from 'react'
import { formatTime, isoTime } from '../model/format.js'
import { meshErrorText } from '../model/meshes.js'
import { useJoinMesh, useMeshes, useReadInvite } from '../node/hooks.js'
import { href, navigate } from '../routes.js'

export function JoinMeshScreen ({ token }: { token: string }): ReactNode {
  const read = useReadInvite(token)
  const join = useJoinMesh()
  const meshes = useMeshes().data ?? []
  const id = useId()
  const summary = read.data
  const held = summary == null ? undefined : meshes.find(m => m.meshId === summary.invite.meshId)

  return (
    <section aria-labelledby={`${id}-title`} data-testid="join-mesh">
      <h2 id={`${id}-title`}>Join a private mesh</h2>
      {read.isPending && <p className="muted" role="status">Checking the invite…</p>}
      {read.error != null && (
        <>
          <p role="alert" className="error" data-testid="invite-error">This invite cannot be used: {meshErrorText(read.error)}</p>
          <p><a href={href({ name: 'profile' })}>Your meshes</a></p>
        </>
      )}
      {summary != null && (
        <article className="card" data-testid="invite-summary">
          <h3 data-testid="invite-mesh-name">{summary.invite.meshName}</h3>
          <dl className="facts">
            <dt>Role</dt>
            <dd data-testid="invite-role">{summary.invite.role}</dd>
            <dt>Issued by</dt>
            <dd><code data-testid="invite-issuer">{summary.issuer}</code> ({summary.issuerRole === 'owner' ? 'its owner' : 'an admin'})</dd>
            <dt>Invite valid until</dt>
            <dd><time dateTime={isoTime(summary.invite.expiresAt)}>{formatTime(summary.invite.expiresAt)}</time></dd>
            {summary.invite.maxUses != null && (
              <>
                <dt>Uses</dt>
                <dd>{summary.invite.maxUses} peer(s) at most</dd>
              </>
            )}
            <dt>Mesh</dt>
            <dd><code className="mesh-id">{summary.invite.meshId}</code></dd>
          </dl>
          <p className="muted">
            Once in a mesh, this browser accepts tasks only from members of its meshes.
            {held != null && ` You are in this mesh already, as ${held.role}: joining again replaces that credential.`}
          </p>
          <div className="actions">
            <button type="button" disabled={join.isPending || held?.role === 'owner'}
              onClick={() => { join.mutate({ token }, { onSuccess: () => { navigate({ name: 'profile' }) } }) }}>
              {join.isPending ? 'Joining…' : `Join ${summary.invite.meshName}`}
            </button>
            <a className="button secondary" href={href({ name: 'agents' })}>Not now</a>
          </div>
          {join.error != null && <p role="alert" className="error">Not joined: {meshErrorText(join.error)}</p>}
        </article>
      )}
    </section>
  )
}
