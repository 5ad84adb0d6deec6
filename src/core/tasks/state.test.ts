import { describe, expect, it } from 'vitest'
import type { StreamResponseJson, TaskJson, TaskStateName } from '../a2a/json.js'
import { outcomeEvents } from './outcome.js'
import { applyStreamResponse, canTransition, CHUNK_KEY, isTerminal, refusedTransition, stateLabel, TERMINAL_STATES } from './state.js'

function task (state: TaskStateName, extra: Partial<TaskJson> = {}): TaskJson {
  return { id: 't1', contextId: 'c1', status: { state, timestamp: '2026-01-01T00:00:00.000Z' }, history: [], artifacts: [], ...extra }
}

const status = (state: TaskStateName, text?: string): StreamResponseJson => ({
  statusUpdate: {
    taskId: 't1',
    contextId: 'c1',
    status: { state, timestamp: '2026-01-01T00:00:01.000Z', ...(text != null ? { message: { messageId: `m-${state}`, role: 'ROLE_AGENT', parts: [{ text }] } } : {}) }
  }
})

describe('task state machine', () => {
  it('allows the A2A lifecycle and nothing out of a terminal state', () => {
    expect(canTransition('TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING')).toBe(true)
    expect(canTransition('TASK_STATE_WORKING', 'TASK_STATE_INPUT_REQUIRED')).toBe(true)
    expect(canTransition('TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_WORKING')).toBe(true)
    expect(canTransition('TASK_STATE_WORKING', 'TASK_STATE_COMPLETED')).toBe(true)
    expect(canTransition('TASK_STATE_WORKING', 'TASK_STATE_SUBMITTED')).toBe(false)
    for (const terminal of TERMINAL_STATES) {
      expect(isTerminal(terminal)).toBe(true)
      expect(canTransition(terminal, 'TASK_STATE_WORKING')).toBe(false)
      expect(canTransition(terminal, 'TASK_STATE_COMPLETED') === (terminal === 'TASK_STATE_COMPLETED')).toBe(true)
    }
    expect(stateLabel('TASK_STATE_INPUT_REQUIRED')).toBe('input-required')
  })

  it('applies status updates, keeping the agent\'s messages in the history once', () => {
    let t = task('TASK_STATE_SUBMITTED')
    t = applyStreamResponse(t, status('TASK_STATE_WORKING'))
    expect(t.status.state).toBe('TASK_STATE_WORKING')
    t = applyStreamResponse(t, status('TASK_STATE_INPUT_REQUIRED', 'which city?'))
    t = applyStreamResponse(t, status('TASK_STATE_INPUT_REQUIRED', 'which city?'))
    expect(t.history?.map(m => m.parts[0]?.text)).toEqual(['which city?'])
  })

  it('ignores updates that would move a task backwards or out of a terminal state', () => {
    const done = applyStreamResponse(task('TASK_STATE_WORKING'), status('TASK_STATE_COMPLETED'))
    expect(applyStreamResponse(done, status('TASK_STATE_WORKING'))).toBe(done)
    expect(applyStreamResponse(done, status('TASK_STATE_FAILED'))).toBe(done)
    expect(applyStreamResponse(done, { task: task('TASK_STATE_WORKING') })).toBe(done)
    // a replayed terminal update changes nothing either
    expect(applyStreamResponse(done, status('TASK_STATE_COMPLETED'))).toBe(done)
    // updates for another task are not ours
    expect(applyStreamResponse(done, { statusUpdate: { taskId: 'other', contextId: 'c1', status: { state: 'TASK_STATE_CANCELED' } } })).toBe(done)
  })

  it('adds, replaces and appends to artifacts by id', () => {
    let t = task('TASK_STATE_WORKING')
    const chunk = (text: string, append: boolean): StreamResponseJson => ({
      artifactUpdate: { taskId: 't1', contextId: 'c1', artifact: { artifactId: 'a1', parts: [{ text }] }, append }
    })
    t = applyStreamResponse(t, chunk('Hel', false))
    t = applyStreamResponse(t, chunk('lo', true))
    expect(t.artifacts?.[0]?.parts.map(p => p.text)).toEqual(['Hel', 'lo'])
    t = applyStreamResponse(t, chunk('Bye', false))
    expect(t.artifacts).toHaveLength(1)
    expect(t.artifacts?.[0]?.parts.map(p => p.text)).toEqual(['Bye'])
  })

  it('appends an indexed chunk once, however often it arrives, and refuses a chunk after a gap', () => {
    const chunk = (index: number, text: string, append = index > 0): StreamResponseJson => ({
      artifactUpdate: { taskId: 't', contextId: 'c', artifact: { artifactId: 'a', parts: [{ text }], metadata: { [CHUNK_KEY]: index } }, append }
    })
    let task: TaskJson = { id: 't', contextId: 'c', status: { state: 'TASK_STATE_WORKING' } }
    for (const item of [chunk(0, 'one'), chunk(1, 'two'), chunk(1, 'two'), chunk(0, 'one', true), chunk(3, 'four'), chunk(2, 'three')]) {
      task = applyStreamResponse(task, item)
    }
    expect(task.artifacts?.[0]?.parts.map(p => p.text)).toEqual(['one', 'two', 'three'])
    expect(task.artifacts?.[0]?.metadata?.['starling/chunks']).toBe(3)
  })

  it('says why a remote update is refused: out of a terminal state, or backwards', () => {
    const done: TaskJson = { id: 't', contextId: 'c', status: { state: 'TASK_STATE_COMPLETED' } }
    expect(refusedTransition(done, { statusUpdate: { taskId: 't', contextId: 'c', status: { state: 'TASK_STATE_WORKING' } } }))
      .toBe('completed → working is not a valid transition')
    expect(refusedTransition(done, { artifactUpdate: { taskId: 't', contextId: 'c', artifact: { artifactId: 'a', parts: [] } } }))
      .toBe('an artifact for a task that is already completed')
    const working: TaskJson = { ...done, status: { state: 'TASK_STATE_WORKING' } }
    expect(refusedTransition(working, { statusUpdate: { taskId: 't', contextId: 'c', status: { state: 'TASK_STATE_SUBMITTED' } } }))
      .toBe('working → submitted is not a valid transition')
    expect(refusedTransition(working, { statusUpdate: { taskId: 't', contextId: 'c', status: { state: 'TASK_STATE_COMPLETED' } } })).toBeUndefined()
  })

  it('turns each outcome into the events that end the turn', () => {
    const completed = outcomeEvents('t1', 'c1', { kind: 'completed', text: '42' })
    let t = task('TASK_STATE_WORKING')
    for (const e of completed) t = applyStreamResponse(t, e)
    expect(t.status.state).toBe('TASK_STATE_COMPLETED')
    expect(t.artifacts?.[0]?.parts).toEqual([{ text: '42' }])

    for (const [kind, state] of [['failed', 'TASK_STATE_FAILED'], ['rejected', 'TASK_STATE_REJECTED'], ['input-required', 'TASK_STATE_INPUT_REQUIRED']] as const) {
      const [event] = outcomeEvents('t1', 'c1', { kind, text: 'because' })
      const next = applyStreamResponse(task('TASK_STATE_WORKING'), event!)
      expect(next.status.state).toBe(state)
      expect(next.status.message?.parts[0]?.text).toBe('because')
    }
  })
})
