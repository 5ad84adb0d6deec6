import { useId, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import { isAgentUrl } from '../../core/tasks/http-agents.js'
import { AttachmentPicker, useAttachments } from '../components/Attachments.js'
import { LinkBadge } from '../components/LinkBadge.js'
import { usePeerName } from '../components/PeerName.js'
import { TaskList } from '../components/TaskList.js'
import { useKnownAgents, useSendTask, useTasks } from '../node/hooks.js'
import { href, navigate } from '../routes.js'

/**
 * Writing a task to one agent (text and files), with the tasks sent to it before. Sending
 * stores the task first: an agent that cannot be reached now gets it when it can (queued).
 */
export function SendTaskScreen ({ peerId }: { peerId: string }): ReactNode {
  const name = usePeerName(peerId)
  const card = useKnownAgents().data?.find(a => a.peerId === peerId)?.card
  const earlier = useTasks({ peerId })
  const send = useSendTask()
  const [text, setText] = useState('')
  const attachments = useAttachments()
  const fieldId = useId()
  const ready = text.trim() !== '' || attachments.files.length > 0

  const submit = (event: FormEvent): void => {
    event.preventDefault()
    if (!ready) return
    send.mutate({ peerId, text, files: attachments.files }, {
      onSuccess: (record) => { navigate({ name: 'task', direction: record.direction, id: record.id }) }
    })
  }

  return (
    <section aria-labelledby="send-title">
      <p><a href={href({ name: 'agents' })} aria-label="Back to agents">← Agents</a></p>
      <div className="card">
        <h2 id="send-title">Send a task to {name}</h2>
        {card?.description != null && card.description !== '' && <p>{card.description}</p>}
        <p className="meta"><code>{peerId}</code> · <LinkBadge peerId={peerId} /></p>
        {isAgentUrl(peerId) && (
          <p className="muted" data-testid="http-agent-note">
            A plain HTTP A2A agent, not on the mesh: it cannot reach this browser, so this browser asks it how the task is going.
          </p>
        )}
        <form className="composer" onSubmit={submit}>
          <label htmlFor={fieldId}>Message</label>
          <textarea id={fieldId} value={text} onChange={(e) => { setText(e.target.value) }} rows={4}
            placeholder="What should the agent do?" disabled={send.isPending} />
          <AttachmentPicker attachments={attachments} disabled={send.isPending} />
          <div className="actions">
            <button type="submit" disabled={send.isPending || !ready}>{send.isPending ? 'Sending…' : 'Send task'}</button>
          </div>
          {send.error != null && <p role="alert" className="error">Not sent: {errorMessage(send.error)}</p>}
        </form>
      </div>
      {(earlier.data?.length ?? 0) > 0 && (
        <>
          <h3>Earlier tasks with {name}</h3>
          <TaskList records={earlier.data ?? []} />
        </>
      )}
    </section>
  )
}
