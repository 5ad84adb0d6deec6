import { useId, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import type { TaskRecord } from '../../core/store/types.js'
import { useReply } from '../node/hooks.js'
import { partViews, statusMessage } from '../model/tasks.js'
import { AttachmentPicker, useAttachments } from './Attachments.js'
import { Parts } from './Parts.js'
import { usePeerName } from './PeerName.js'

/**
 * The agent of an outbound task asks us something: its question, and a form to reply (text and
 * files). The reply continues the same task.
 */
export function InputPrompt ({ record }: { record: TaskRecord }): ReactNode {
  const agent = usePeerName(record.peerId)
  const question = statusMessage(record)
  const [text, setText] = useState('')
  const attachments = useAttachments()
  const reply = useReply()
  const ids = useId()
  const ready = text.trim() !== '' || attachments.files.length > 0

  const submit = (event: FormEvent): void => {
    event.preventDefault()
    if (!ready) return
    reply.mutate({ record, text, files: attachments.files }, {
      onSuccess: () => {
        setText('')
        attachments.clear()
      }
    })
  }

  return (
    <section className="prompt" aria-labelledby={`${ids}-title`} data-testid="input-prompt">
      <h3 id={`${ids}-title`}>{agent} needs your input</h3>
      {question != null && question.parts.length > 0
        ? <div className="question" data-testid="input-question"><Parts parts={partViews(question.parts)} /></div>
        : <p className="muted">The agent asked for more input without saying what.</p>}
      <form onSubmit={submit} aria-label={`Reply to ${agent}`}>
        <label htmlFor={`${ids}-reply`}>Reply</label>
        <textarea id={`${ids}-reply`} value={text} onChange={(e) => { setText(e.target.value) }} rows={3}
          placeholder="Your answer to the agent's question" disabled={reply.isPending} />
        <AttachmentPicker attachments={attachments} disabled={reply.isPending} />
        <div className="actions">
          <button type="submit" disabled={reply.isPending || !ready}>{reply.isPending ? 'Sending…' : 'Send reply'}</button>
        </div>
        {reply.error != null && <p role="alert" className="error">Not sent: {errorMessage(reply.error)}</p>}
      </form>
    </section>
  )
}
