import { useId, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import type { TaskRecord } from '../../core/store/types.js'
import { useRespond } from '../node/hooks.js'
import { usePeerName } from './PeerName.js'

/** The person's answer to an inbound task: completes it, or declines (rejects) it. */
export function AnswerForm ({ record }: { record: TaskRecord }): ReactNode {
  const [text, setText] = useState('')
  const respond = useRespond()
  const sender = usePeerName(record.peerId)
  const fieldId = useId()

  const answer = (event: FormEvent): void => {
    event.preventDefault()
    if (text.trim() === '') return
    respond.mutate({ taskId: record.id, outcome: { kind: 'completed', text } })
  }
  const decline = (): void => {
    respond.mutate({ taskId: record.id, outcome: { kind: 'rejected', text: text.trim() === '' ? 'declined' : text } })
  }

  return (
    <form className="answer-form" onSubmit={answer} aria-label={`Answer ${sender}`}>
      <label htmlFor={fieldId}>Answer</label>
      <textarea id={fieldId} value={text} onChange={(e) => { setText(e.target.value) }} rows={3} required
        placeholder="Type your answer" disabled={respond.isPending} />
      <div className="actions">
        <button type="submit" disabled={respond.isPending || text.trim() === ''}>Send answer</button>
        <button type="button" className="secondary" onClick={decline} disabled={respond.isPending}>Decline</button>
      </div>
      {respond.error != null && <p role="alert" className="error">{errorMessage(respond.error)}</p>}
    </form>
  )
}
