import type { ReactNode } from 'react'
import type { TaskRecord } from '../../core/store/types.js'
import { formatTime, isoTime } from '../model/format.js'
import { answerText, questionSummary } from '../model/tasks.js'
import { href } from '../routes.js'
import { DeliveryBadge } from './Delivery.js'
import { PeerName } from './PeerName.js'
import { StateBadge } from './StateBadge.js'

/** Tasks as rows: direction and peer, state (and delivery of outbound ones), question, answer, last change. */
export function TaskList ({ records }: { records: TaskRecord[] }): ReactNode {
  return (
    <ul className="task-list">
      {records.map(record => <TaskRow key={`${record.direction}/${record.id}`} record={record} />)}
    </ul>
  )
}

function TaskRow ({ record }: { record: TaskRecord }): ReactNode {
  const answer = answerText(record)
  return (
    <li data-testid="task-row" data-task-id={record.id} data-direction={record.direction}>
      <a className="task-row" href={href({ name: 'task', direction: record.direction, id: record.id })}>
        <span className="task-peer">
          <span className="direction">{record.direction === 'outbound' ? 'To' : 'From'}</span> <PeerName peerId={record.peerId} />
        </span>
        <span className="badges">
          <DeliveryBadge record={record} />
          <StateBadge state={record.state} />
        </span>
        <span className="question">{questionSummary(record)}</span>
        {answer !== '' && <span className="answer" data-testid="task-answer">{answer}</span>}
        <time dateTime={isoTime(record.updatedAt)}>{formatTime(record.updatedAt)}</time>
      </a>
    </li>
  )
}
