import type { ReactNode } from 'react'
import type { TaskStateName } from '../../core/a2a/json.js'
import { stateLabel } from '../model/tasks.js'

/** A task's state in words: submitted, working, completed, ... */
export function StateBadge ({ state }: { state: TaskStateName }): ReactNode {
  const label = stateLabel(state)
  return <span className={`state state-${label}`} data-testid="task-state" data-state={state}>{label}</span>
}
