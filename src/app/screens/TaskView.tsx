import type { ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import type { TaskDirection, TaskRecord } from '../../core/store/types.js'
import { AnswerForm } from '../components/AnswerForm.js'
import { Conversation } from '../components/Conversation.js'
import { DeliveryDetails } from '../components/Delivery.js'
import { LinkBadge } from '../components/LinkBadge.js'
import { PeerName } from '../components/PeerName.js'
import { InputPrompt } from '../components/ReplyForm.js'
import { StateBadge } from '../components/StateBadge.js'
import { useCancelTask, useTask } from '../node/hooks.js'
import { formatTime, isoTime } from '../model/format.js'
import { canAnswer, canCancel, needsInput } from '../model/tasks.js'
import { href } from '../routes.js'

/** One task: its state, delivery and times, the whole conversation, and what we can do with it now. */
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
  const outbound = record.direction === 'outbound'
  const status = record.task.status
  return (
    <article className="card task" data-testid="task-view" data-task-id={record.id} data-remote-id={record.remoteId} data-direction={record.direction}>
      <div className="card-head">
        <h2 id="task-title">{outbound ? 'Task to' : 'Task from'} <PeerName peerId={record.peerId} /></h2>
        <StateBadge state={record.state} />
      </div>
      <dl className="facts">
        <dt>{outbound ? 'Agent' : 'Sender'}</dt>
        <dd><code>{record.peerId}</code> · <LinkBadge peerId={record.peerId} /></dd>
        <DeliveryDetails record={record} />
        <dt>Created</dt>
        <dd><time dateTime={isoTime(record.createdAt)}>{formatTime(record.createdAt)}</time></dd>
        <dt>Last change</dt>
        <dd><time dateTime={isoTime(status.timestamp ?? record.updatedAt)}>{formatTime(status.timestamp ?? record.updatedAt)}</time></dd>
        <dt>Task</dt>
        <dd><code>{record.id}</code>{record.remoteId != null && record.remoteId !== record.id && <> (the agent's id: <code>{record.remoteId}</code>)</>}</dd>
      </dl>
      {record.localError != null && record.localError !== '' && (
        <p role="alert" className="error" data-testid="task-local-error">Failed here: {record.localError}</p>
      )}
      <Conversation record={record} />
      {needsInput(record) && <InputPrompt record={record} />}
      {record.direction === 'inbound' && record.state === 'TASK_STATE_INPUT_REQUIRED' && (
        <p className="muted" data-testid="waiting-for-sender">You asked for input: the task waits for <PeerName peerId={record.peerId} /> to reply.</p>
      )}
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
