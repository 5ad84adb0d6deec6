import type { ReactNode } from 'react'
import type { TaskRecord } from '../../core/store/types.js'
import { formatTime, isoTime } from '../model/format.js'
import { cancelPending, DELIVERY_EXPLANATIONS, DELIVERY_LABELS, deliveryError, deliveryOf, pushPending, queuedUntil } from '../model/tasks.js'

/** How far an outbound task's latest request got, in a word (its meaning in the tooltip and for screen readers). */
export function DeliveryBadge ({ record }: { record: TaskRecord }): ReactNode {
  const delivery = deliveryOf(record)
  if (delivery == null) return null
  return (
    <span className={`delivery delivery-${delivery}`} data-testid="task-delivery" data-delivery={delivery}
      title={DELIVERY_EXPLANATIONS[delivery]}>
      {DELIVERY_LABELS[delivery]}
      {delivery === 'queued' && <span className="visually-hidden">: {DELIVERY_EXPLANATIONS.queued}</span>}
    </span>
  )
}

/**
 * The task view's account of delivery: the state and what it means, until when a queued task is
 * kept trying, a queued cancel, the last failed attempt; on an inbound task, whether the sender
 * has yet to hear of its latest state.
 */
export function DeliveryDetails ({ record }: { record: TaskRecord }): ReactNode {
  const delivery = deliveryOf(record)
  const until = queuedUntil(record)
  const lastError = delivery === 'delivered' ? undefined : deliveryError(record)
  return (
    <>
      {delivery != null && (
        <>
          <dt>Delivery</dt>
          <dd>
            <DeliveryBadge record={record} />{' '}
            <span className="muted" data-testid="delivery-explanation">{DELIVERY_EXPLANATIONS[delivery]}</span>
          </dd>
        </>
      )}
      {until != null && (
        <>
          <dt>Expires</dt>
          <dd data-testid="task-expires">
            Kept trying until <time dateTime={isoTime(until)}>{formatTime(until)}</time>; if the agent is still unreachable then, the task fails.
          </dd>
        </>
      )}
      {lastError != null && record.direction === 'outbound' && (
        <>
          <dt>Last attempt</dt>
          <dd className="muted" data-testid="delivery-error">{lastError}</dd>
        </>
      )}
      {record.direction === 'inbound' && pushPending(record) && (
        <>
          <dt>Sender</dt>
          <dd data-testid="push-pending">
            Not told of the latest state yet: retried until it confirms{lastError != null ? ` (last attempt: ${lastError})` : ''}.
          </dd>
        </>
      )}
      {cancelPending(record) && (
        <>
          <dt>Cancel</dt>
          <dd data-testid="cancel-pending">
            Requested{record.delivery === 'queued' ? `, queued: ${DELIVERY_EXPLANATIONS.queued}` : ', waiting for the agent to confirm'}.
          </dd>
        </>
      )}
    </>
  )
}
