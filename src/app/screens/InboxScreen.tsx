import type { ReactNode } from 'react'
import { AnswerForm } from '../components/AnswerForm.js'
import { PeerName } from '../components/PeerName.js'
import { useInbox } from '../node/hooks.js'
import { formatTime, isoTime } from '../model/format.js'
import { questionText } from '../model/tasks.js'
import { href } from '../routes.js'

/** Tasks other agents sent us that wait for our answer. */
export function InboxScreen (): ReactNode {
  const inbox = useInbox()
  return (
    <section aria-labelledby="inbox-title">
      <h2 id="inbox-title">Inbox</h2>
      {inbox.isPending
        ? <p className="muted">Loading…</p>
        : (inbox.data?.length ?? 0) === 0
            ? <p className="empty">Nothing waits for an answer.</p>
            : (
              <ul className="cards">
                {(inbox.data ?? []).map(record => (
                  <li key={record.id} className="card" data-testid="inbox-item" data-task-id={record.id}>
                    <div className="card-head">
                      <h3>From <PeerName peerId={record.peerId} /></h3>
                      <a href={href({ name: 'task', direction: 'inbound', id: record.id })}>
                        <time dateTime={isoTime(record.createdAt)}>{formatTime(record.createdAt)}</time>
                      </a>
                    </div>
                    <p className="question" data-testid="inbox-question">{questionText(record)}</p>
                    <AnswerForm record={record} />
                  </li>
                ))}
              </ul>
              )}
    </section>
  )
}
