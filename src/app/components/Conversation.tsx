import type { ReactNode } from 'react'
import type { TaskRecord } from '../../core/store/types.js'
import { formatTime, isoTime } from '../model/format.js'
import { conversation, DELIVERY_EXPLANATIONS, stateLabel } from '../model/tasks.js'
import { Parts } from './Parts.js'
import { usePeerName } from './PeerName.js'

/**
 * A task from start to now: both sides' messages, every state it went through with its time,
 * and its artifacts, in order. It re-renders whenever the stored record changes (an artifact
 * streamed in chunks grows as the chunks arrive).
 */
export function Conversation ({ record }: { record: TaskRecord }): ReactNode {
  const other = usePeerName(record.peerId)
  const outbound = record.direction === 'outbound'
  return (
    <ol className="conversation" aria-label="Conversation">
      {conversation(record).map(entry => {
        switch (entry.kind) {
          case 'state': {
            const label = stateLabel(entry.state)
            return (
              <li key={entry.key} className="event" data-testid="task-event" data-state={entry.state}>
                <span className={`event-state state-${label}`}>{label}</span>
                {' · '}<time dateTime={isoTime(entry.at)}>{formatTime(entry.at)}</time>
              </li>
            )
          }
          case 'message': {
            const mine = (entry.role === 'user') === outbound
            return (
              <li key={entry.key} className={`bubble ${mine ? 'mine' : 'theirs'}`} data-testid="task-message"
                data-role={entry.role} data-pending={entry.pending ? 'true' : undefined}>
                <span className="who">
                  {mine ? 'You' : other}
                  {entry.pending && <span className="pending"> · queued: {DELIVERY_EXPLANATIONS.queued}</span>}
                </span>
                <Parts parts={entry.parts} />
              </li>
            )
          }
          case 'artifact': {
            const mine = !outbound
            return (
              <li key={entry.key} className={`bubble artifact ${mine ? 'mine' : 'theirs'}`} data-testid="task-answer">
                <span className="who">
                  {mine ? 'You' : other} · {entry.name != null && entry.name !== '' ? entry.name : 'artifact'}
                </span>
                {entry.description != null && entry.description !== '' && <span className="muted">{entry.description}</span>}
                <Parts parts={entry.parts} />
              </li>
            )
          }
        }
        return null
      })}
    </ol>
  )
}
