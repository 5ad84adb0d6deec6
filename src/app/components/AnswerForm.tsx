import { useId, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import type { TaskRecord } from '../../core/store/types.js'
import { useRespond } from '../node/hooks.js'
import type { OutcomeKind } from '../model/tasks.js'
import { AttachmentPicker, useAttachments } from './Attachments.js'
import { usePeerName } from './PeerName.js'

/**
 * The person's answer to an inbound task: complete it (text and files), ask the sender a
 * question (the task waits for their reply), report that it failed, or decline it.
 */
export function AnswerForm ({ record }: { record: TaskRecord }): ReactNode {
  const [text, setText] = useState('')
  const attachments = useAttachments()
  const respond = useRespond()
  const sender = usePeerName(record.peerId)
  const fieldId = useId()
  const hasText = text.trim() !== ''

  const send = (kind: OutcomeKind): void => {
    respond.mutate({ taskId: record.id, kind, text, files: attachments.files }, {
      onSuccess: () => {
        setText('')
        attachments.clear()
      }
    })
  }
  const answer = (event: FormEvent): void => {
    event.preventDefault()
    if (hasText || attachments.files.length > 0) send('completed')
  }

  return (
    <form className="answer-form" onSubmit={answer} aria-label={`Answer ${sender}`}>
      <label htmlFor={fieldId}>Answer</label>
      <textarea id={fieldId} value={text} onChange={(e) => { setText(e.target.value) }} rows={3}
        placeholder="Type your answer, or a question for the sender" disabled={respond.isPending} />
      <AttachmentPicker attachments={attachments} disabled={respond.isPending} />
      <div className="actions">
        <button type="submit" disabled={respond.isPending || (!hasText && attachments.files.length === 0)}>Send answer</button>
        <button type="button" className="secondary" onClick={() => { send('input-required') }} disabled={respond.isPending || !hasText}
          title="Send the text as a question; the task waits for the sender's reply">Ask for input</button>
        <button type="button" className="secondary" onClick={() => { send('failed') }} disabled={respond.isPending}
          title="You tried and could not do it">Report failure</button>
        <button type="button" className="secondary" onClick={() => { send('rejected') }} disabled={respond.isPending}
          title="You will not do it">Decline</button>
      </div>
      {respond.error != null && <p role="alert" className="error">Not sent: {errorMessage(respond.error)}</p>}
    </form>
  )
}
