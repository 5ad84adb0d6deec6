/**
 * Requests: tasks from senders this browser does not know (no rule names them, no mesh of ours
 * vouches for them), held unrun until the person decides. One card per sender with what it
 * sent; accepting lets all of them through and every later task from it, blocking rejects them
 * and every later one (src/core/peer.ts acceptSender / blockSender: a rule each, listed and
 * editable under Profile → Who may send you tasks).
 */
import type { ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import type { TaskRecord } from '../../core/store/types.js'
import { formatTime, isoTime } from '../model/format.js'
import { conversation, questionText } from '../model/tasks.js'
import { useDecideSender, useRequests } from '../node/hooks.js'
import { Parts } from './Parts.js'
import { PeerName, usePeerName } from './PeerName.js'

export function Requests (): ReactNode {
  const requests = useRequests().data ?? []
  if (requests.length === 0) return null
  const bySender = new Map<string, TaskRecord[]>()
  // oldest first within a sender: they read in the order they were sent
  for (const record of [...requests].reverse()) bySender.set(record.peerId, [...bySender.get(record.peerId) ?? [], record])
  return (
    <section aria-labelledby="requests-title" data-testid="requests">
      <h3 id="requests-title">Requests</h3>
      <p className="muted">
        Agents you do not know yet asked you to do something. Nothing is shown in your inbox or answered until you accept them.
      </p>
      <ul className="cards">
        {[...bySender].map(([peerId, records]) => <SenderRequests key={peerId} peerId={peerId} records={records} />)}
      </ul>
    </section>
  )
}

function SenderRequests ({ peerId, records }: { peerId: string, records: TaskRecord[] }): ReactNode {
  const decide = useDecideSender()
  const name = usePeerName(peerId)
  return (
    <li className="card" data-testid="request" data-peer-id={peerId}>
      <div className="card-head">
        <h4>From <PeerName peerId={peerId} /></h4>
        <code className="muted" title={peerId}>{peerId}</code>
      </div>
      <ul className="request-messages">
        {records.map(record => {
          const [first] = conversation(record).filter(e => e.kind === 'message')
          return (
            <li key={record.id} data-testid="request-message" data-task-id={record.id}>
              <time dateTime={isoTime(record.createdAt)}>{formatTime(record.createdAt)}</time>
              <p className="question">{questionText(record)}</p>
              {first != null && <Parts parts={first.parts.filter(p => p.kind !== 'text')} />}
            </li>
          )
        })}
      </ul>
      <div className="actions">
        <button type="button" disabled={decide.isPending} aria-label={`Accept ${name}`}
          onClick={() => { decide.mutate({ peerId, accept: true }) }}>Accept</button>
        <button type="button" className="danger" disabled={decide.isPending} aria-label={`Block ${name}`}
          onClick={() => { decide.mutate({ peerId, accept: false }) }}>Block</button>
      </div>
      {decide.error != null && <p role="alert" className="error">Not done: {errorMessage(decide.error)}</p>}
    </li>
  )
}
