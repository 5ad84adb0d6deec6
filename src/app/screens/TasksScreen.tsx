import type { ReactNode } from 'react'
import { TaskList } from '../components/TaskList.js'
import { useTasks } from '../node/hooks.js'

/** Tasks shown at most; older ones stay in the store. */
const SHOWN = 100

/** Every task, sent and received, newest first, with its state changing live. */
export function TasksScreen (): ReactNode {
  const tasks = useTasks({ limit: SHOWN })
  return (
    <section aria-labelledby="tasks-title">
      <h2 id="tasks-title">Tasks</h2>
      {tasks.isPending
        ? <p className="muted">Loading…</p>
        : (tasks.data?.length ?? 0) === 0
            ? <p className="empty">No tasks yet. Pick an agent and send it one.</p>
            : <TaskList records={tasks.data ?? []} />}
    </section>
  )
}
