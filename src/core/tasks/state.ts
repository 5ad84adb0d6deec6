/**
 * The A2A task state machine, as both ends of a task apply it.
 *
 *   submitted → working → completed | failed | canceled | rejected
 *        │          ↕
 *        │   input-required / auth-required (interrupted: waits for the sender)
 *        └→ rejected | canceled | failed
 *
 * Terminal states are final. A sender applies the updates it receives with `applyStreamResponse`,
 * which ignores anything that would move a task backwards or out of a terminal state, so a
 * replayed or reordered update (the outbox retries by id) cannot corrupt what a person sees.
 */
import type { ArtifactJson, StreamResponseJson, TaskJson, TaskStateName } from '../a2a/json.js'

export const TERMINAL_STATES: readonly TaskStateName[] = [
  'TASK_STATE_COMPLETED', 'TASK_STATE_FAILED', 'TASK_STATE_CANCELED', 'TASK_STATE_REJECTED'
]

export const INTERRUPTED_STATES: readonly TaskStateName[] = ['TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_AUTH_REQUIRED']

/** States a task can be in while it still expects something to happen. */
export const OPEN_STATES: readonly TaskStateName[] = [
  'TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING', 'TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_AUTH_REQUIRED'
]

const TRANSITIONS: Record<TaskStateName, readonly TaskStateName[]> = {
  TASK_STATE_SUBMITTED: ['TASK_STATE_WORKING', 'TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_AUTH_REQUIRED', ...TERMINAL_STATES],
  TASK_STATE_WORKING: ['TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_AUTH_REQUIRED', ...TERMINAL_STATES],
  TASK_STATE_INPUT_REQUIRED: ['TASK_STATE_WORKING', 'TASK_STATE_SUBMITTED', 'TASK_STATE_CANCELED', 'TASK_STATE_FAILED', 'TASK_STATE_REJECTED', 'TASK_STATE_COMPLETED'],
  TASK_STATE_AUTH_REQUIRED: ['TASK_STATE_WORKING', 'TASK_STATE_CANCELED', 'TASK_STATE_FAILED', 'TASK_STATE_REJECTED'],
  TASK_STATE_COMPLETED: [],
  TASK_STATE_FAILED: [],
  TASK_STATE_CANCELED: [],
  TASK_STATE_REJECTED: []
}

/**
 * Why a remote's update may not be applied to `task`, or undefined when it may. A repeat of the
 * task's current state is fine (retries repeat); a move out of a terminal state, or backwards,
 * is not.
 */
export function refusedTransition (task: TaskJson, item: StreamResponseJson): string | undefined {
  const to = item.task?.status.state ?? item.statusUpdate?.status.state
  if (to == null) {
    if (item.artifactUpdate != null && isTerminal(task.status.state)) {
      return `an artifact for a task that is already ${stateLabel(task.status.state)}`
    }
    return undefined
  }
  if (canTransition(task.status.state, to)) return undefined
  return `${stateLabel(task.status.state)} → ${stateLabel(to)} is not a valid transition`
}

export function isTerminal (state: TaskStateName): boolean {
  return TERMINAL_STATES.includes(state)
}

/** Whether a task may go from `from` to `to`. Staying in the same state is always allowed. */
export function canTransition (from: TaskStateName, to: TaskStateName): boolean {
  return from === to || TRANSITIONS[from].includes(to)
}

/** Human words for a state, for lists and the CLI. */
export function stateLabel (state: TaskStateName): string {
  return state.replace('TASK_STATE_', '').toLowerCase().replace('_', '-')
}

/**
 * Applies one item of a SendStreamingMessage / SubscribeToTask stream to the sender's copy of a
 * task. Returns the new task, or the same object when the item changes nothing or would be an
 * illegal transition.
 */
export function applyStreamResponse (task: TaskJson, item: StreamResponseJson): TaskJson {
  if (item.task != null) {
    if (item.task.id !== task.id) return task
    if (!canTransition(task.status.state, item.task.status.state)) return task
    if (isTerminal(task.status.state) && item.task.status.state === task.status.state) return task
    const history = [...((item.task.history?.length ?? 0) > 0 ? item.task.history ?? [] : task.history ?? [])]
    // a snapshot asked for without its history still says what the agent last said
    const said = item.task.status.message
    if (said != null && !history.some(m => m.messageId === said.messageId)) history.push(said)
    return {
      ...item.task,
      history,
      artifacts: mergeArtifactLists(task.artifacts ?? [], item.task.artifacts ?? [])
    }
  }
  if (item.statusUpdate != null) {
    const update = item.statusUpdate
    if (update.taskId !== task.id) return task
    if (!canTransition(task.status.state, update.status.state)) return task
    if (isTerminal(task.status.state)) return task
    const history = [...(task.history ?? [])]
    const message = update.status.message
    if (message != null && !history.some(m => m.messageId === message.messageId)) history.push(message)
    return { ...task, status: update.status, history }
  }
  if (item.artifactUpdate != null) {
    const update = item.artifactUpdate
    if (update.taskId !== task.id) return task
    return { ...task, artifacts: applyArtifact(task.artifacts ?? [], update.artifact, update.append === true) }
  }
  return task
}

/**
 * Metadata key of an artifact chunk's index (0, 1, 2…) in a chunked artifact. With it, a chunk
 * delivered twice (a push retried, a stream and a push both carrying it) is appended once.
 */
export const CHUNK_KEY = 'starling/chunk'
/** Metadata key, on a stored artifact, of how many indexed chunks it holds. */
export const CHUNKS_KEY = 'starling/chunks'

function chunkIndex (artifact: ArtifactJson): number | undefined {
  const value = artifact.metadata?.[CHUNK_KEY]
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined
}

function applyArtifact (artifacts: ArtifactJson[], artifact: ArtifactJson, append: boolean): ArtifactJson[] {
  const index = artifacts.findIndex(a => a.artifactId === artifact.artifactId)
  const chunk = chunkIndex(artifact)
  const counted = (a: ArtifactJson, chunks: number | undefined): ArtifactJson => {
    if (chunks == null) return a
    const { [CHUNK_KEY]: _, ...metadata } = a.metadata ?? {}
    return { ...a, metadata: { ...metadata, [CHUNKS_KEY]: chunks } }
  }
  if (index === -1) return [...artifacts, counted(artifact, chunk == null ? undefined : chunk + 1)]
  const out = [...artifacts]
  const existing = artifacts[index]
  if (existing == null) return artifacts
  if (!append) {
    out[index] = counted(artifact, chunk == null ? undefined : chunk + 1)
    return out
  }
  const held = existing.metadata?.[CHUNKS_KEY]
  if (chunk != null && typeof held === 'number') {
    // a chunk seen before is not appended again; a gap means a chunk is missing: refuse it too,
    // the whole artifact comes with the task's next snapshot
    if (chunk !== held) return artifacts
  }
  out[index] = counted({ ...existing, ...artifact, metadata: { ...existing.metadata, ...artifact.metadata }, parts: [...existing.parts, ...artifact.parts] }, chunk == null ? undefined : chunk + 1)
  return out
}

function mergeArtifactLists (known: ArtifactJson[], incoming: ArtifactJson[]): ArtifactJson[] {
  let out = known
  for (const artifact of incoming) {
    const index = out.findIndex(a => a.artifactId === artifact.artifactId)
    if (index === -1) out = [...out, artifact]
    else { out = [...out]; out[index] = artifact }
  }
  return out
}
