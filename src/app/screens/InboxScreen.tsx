import type { ReactNode } from 'react'
import type { TaskRecord } from '../../core/store/types.js'
import { AnswerForm } from '../components/AnswerForm.js'
import { Parts } from '../components/Parts.js'
import { PeerName } from '../components/PeerName.js'
import { Requests } from '../components/Requests.js'
import { useInbox } from '../node/hooks.js'
import { formatTime, isoTime } from '../model/format.js'
import { conversation, questionText } from '../model/tasks.js'
import { href } from '../routes.js'

/** Tasks other agents sent us that wait for our answer, and requests from agents we do not know. */
export function InboxScreen (): ReactNode {
  const inbox = useInbox()
  return (
    <section aria-labelledby="inbox-title">
      <h2 id="inbox-title">Inbox</h2>
      <Requests />
      {inbox.isPending
        ? <p className="muted">Loading…</p>
        : (inbox.data?.length ?? 0) === 0
            ? <p className="empty">Nothing waits for an answer.</p>
            : <ul className="cards">{(inbox.data ?? []).map(record => <InboxItem key={record.id} record={record} />)}</ul>}
    </section>
  )
}

/**
 * One task waiting for us: the sender's question with its files, what was said since (our
 * questions, their replies), and the answer form.
 */
function InboxItem ({ record }: { record: TaskRecord }): ReactNode {
  const [first, ...later] = conversation(record).filter(e => e.kind === 'message')
  return (
    <li className="card" data-testid="inbox-item" data-task-id={record.id}>
      <div className="card-head">
        <h3>From <PeerName peerId={record.peerId} /></h3>
        <a href={href({ name: 'task', direction: 'inbound', id: record.id })} aria-label="Open the whole task">
          <time dateTime={isoTime(record.createdAt)}>{formatTime(record.createdAt)}</time>
        </a>
      </div>
      <p className="question" data-testid="inbox-question">{questionText(record)}</p>
      {first != null && <Parts parts={first.parts.filter(p => p.kind !== 'text')} />}
      {later.length > 0 && (
        <ol className="conversation compact" aria-label="Since then">
          {later.map(entry => (
            <li key={entry.key} className={`bubble ${entry.role === 'agent' ? 'mine' : 'theirs'}`} data-testid="inbox-message" data-role={entry.role}>
              <span className="who">{entry.role === 'agent' ? 'You asked' : 'They replied'}</span>
              <Parts parts={entry.parts} />
            </li>
          ))}
        </ol>
      )}
      <AnswerForm record={record} />
    </li>
  )
}
