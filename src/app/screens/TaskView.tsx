import type { ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import type { TaskDirection, TaskRecord } from '../../core/store/types.js'
import { AnswerForm } from '../components/AnswerForm.js'
import { LinkBadge } from '../components/LinkBadge.js'
import { PeerName, usePeerName } from '../components/PeerName.js'
import { StateBadge } from '../components/StateBadge.js'
import { useCancelTask, useTask } from '../node/hooks.js'
import { formatTime, isoTime } from '../model/format.js'
import { canAnswer, canCancel, conversation } from '../model/tasks.js'
import { href } from '../routes.js'

/** One task: its state, times, the conversation, and what we can do with it now. */
export function TaskView ({ direction, id }: { direction: TaskDirection, id: string }): ReactNode {
  const task = useTask(direction, id)
  return (
    <section aria-labelledby="task-title">
      <p><a href={href({ name: 'tasks' })} aria-label="Back to tasks">← Tasks</a></p>
      {task.isPending
        ? <p className="muted">Loading…</p>
        : task.data == null
          ? <p className="empty" id="task-title">This browser has no {direction} task {id}.</p>
          : <TaskDetails record={task.data} />}
    </section>
  )
}

function TaskDetails ({ record }: { record: TaskRecord }): ReactNode {
  const other = usePeerName(record.peerId)
  const outbound = record.direction === 'outbound'
  const status = record.task.status
  return (
    <article className="card task" data-testid="task-view" data-task-id={record.id} data-direction={record.direction}>
      <div className="card-head">
        <h2 id="task-title">{outbound ? 'Task to' : 'Task from'} <PeerName peerId={record.peerId} /></h2>
        <StateBadge state={record.state} />
      </div>
      <dl className="facts">
        <dt>{outbound ? 'Agent' : 'Sender'}</dt>
        <dd><code>{record.peerId}</code> · <LinkBadge peerId={record.peerId} /></dd>
        <dt>Created</dt>
        <dd><time dateTime={isoTime(record.createdAt)}>{formatTime(record.createdAt)}</time></dd>
        <dt>Last change</dt>
        <dd><time dateTime={isoTime(status.timestamp ?? record.updatedAt)}>{formatTime(status.timestamp ?? record.updatedAt)}</time></dd>
        <dt>Task</dt>
        <dd><code>{record.id}</code></dd>
      </dl>
      <ol className="conversation" aria-label="Conversation">
        {conversation(record).map(entry => {
          const mine = (entry.role === 'user') === outbound
          return (
            <li key={entry.key} className={`bubble ${mine ? 'mine' : 'theirs'} ${entry.kind}`}
              data-testid={entry.kind === 'answer' ? 'task-answer' : 'task-message'}>
              <span className="who">{mine ? 'You' : other}{entry.kind === 'answer' ? ' (answer)' : ''}</span>
              <span className="text">{entry.text}</span>
            </li>
          )
        })}
      </ol>
      {canCancel(record) && <CancelButton record={record} />}
      {canAnswer(record) && <AnswerForm record={record} />}
    </article>
  )
}

function CancelButton ({ record }: { record: TaskRecord }): ReactNode {
  const cancel = useCancelTask()
  return (
    <div className="actions">
      <button type="button" className="danger" onClick={() => { cancel.mutate({ taskId: record.id }) }} disabled={cancel.isPending}>
        {cancel.isPending ? 'Canceling…' : 'Cancel task'}
      </button>
      {cancel.error != null && <p role="alert" className="error">Not canceled: {errorMessage(cancel.error)}</p>}
    </div>
  )
}
