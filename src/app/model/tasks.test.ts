import { describe, expect, it } from 'vitest'
import type { MessageJson, TaskStateName } from '../../core/a2a/json.js'
import { base64ToBytes, bytesToBase64, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PARTS_BYTES, InvalidPartError } from '../../core/a2a/parts.js'
import type { TaskRecord } from '../../core/store/types.js'
import { applyStreamResponse } from '../../core/tasks/state.js'
import {
  answerText, attachmentProblem, blobType, canCancel, cancelPending, composeParts, conversation, deliveryOf,
  draftOutcome, needsInput, partViews, pushPending, questionSummary, questionText, queuedUntil, timelineOf
} from './tasks.js'
import type { ConversationEntry } from './tasks.js'

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5)
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='

function msg (id: string, role: 'ROLE_USER' | 'ROLE_AGENT', text: string, extra: MessageJson['parts'] = []): MessageJson {
  return { messageId: id, role, parts: [{ text }, ...extra] }
}

function record (over: Partial<TaskRecord> & { state: TaskStateName }): TaskRecord {
  const { state, ...rest } = over
  return {
    direction: 'outbound',
    id: 't1',
    peerId: 'peer-b',
    contextId: 'c1',
    state,
    task: { id: 't1', contextId: 'c1', status: { state }, history: [] },
    createdAt: T0,
    updatedAt: T0 + 10_000,
    ...rest
  }
}

/** A compact picture of a conversation: kind, role or state, and the text parts. */
function shape (entries: ConversationEntry[]): string[] {
  return entries.map(e => {
    if (e.kind === 'state') return `state:${e.state.replace('TASK_STATE_', '').toLowerCase()}`
    const texts = e.parts.map(p => p.kind === 'text' ? p.text : p.kind === 'file' ? `[${p.filename}]` : p.kind)
    if (e.kind === 'artifact') return `artifact:${texts.join('|')}`
    return `${e.role}${e.pending ? '(pending)' : ''}:${texts.join('|')}`
  })
}

describe('conversation', () => {
  // the record an outbound task ends with after: question + image → the agent asks → we reply →
  // the agent answers with a file
  const history = [
    msg('m1', 'ROLE_USER', 'Please crop this', [{ raw: PNG, mediaType: 'image/png', filename: 'dot.png' }]),
    msg('m2', 'ROLE_AGENT', 'Square or round?'),
    msg('m3', 'ROLE_USER', 'Round')
  ]
  const done = record({
    state: 'TASK_STATE_COMPLETED',
    task: {
      id: 't1',
      contextId: 'c1',
      status: { state: 'TASK_STATE_COMPLETED' },
      history,
      artifacts: [{ artifactId: 'a1', name: 'answer', parts: [{ text: 'Here you are' }, { raw: 'AAEC', mediaType: 'application/octet-stream', filename: 'round.bin' }] }]
    },
    timeline: [
      { state: 'TASK_STATE_SUBMITTED', at: T0 },
      { state: 'TASK_STATE_INPUT_REQUIRED', at: T0 + 1000 },
      { state: 'TASK_STATE_WORKING', at: T0 + 2000 },
      { state: 'TASK_STATE_COMPLETED', at: T0 + 3000 }
    ]
  })

  it('puts messages, states and artifacts of both turns in order, artifacts before the final state', () => {
    expect(shape(conversation(done))).toEqual([
      'user:Please crop this|[dot.png]',
      'state:submitted',
      'state:input_required',
      'agent:Square or round?',
      'user:Round',
      'state:working',
      'artifact:Here you are|[round.bin]',
      'state:completed'
    ])
    const times = conversation(done).flatMap(e => e.kind === 'state' ? [e.at] : [])
    expect(times).toEqual([T0, T0 + 1000, T0 + 2000, T0 + 3000])
  })

  it('sums the question up for lists, with the names of its files', () => {
    expect(questionSummary(done)).toBe('Please crop this (attached: dot.png)')
    expect(questionSummary(record({ state: 'TASK_STATE_SUBMITTED', task: { id: 't1', contextId: 'c1', status: { state: 'TASK_STATE_SUBMITTED' }, history: [{ messageId: 'x', role: 'ROLE_USER', parts: [{ raw: 'AA==' }] }] } })))
      .toBe('Attached: file 1')
    // a first message still queued here is the question too
    const queued = record({ state: 'TASK_STATE_SUBMITTED', delivery: 'queued', outbox: [{ kind: 'message', message: msg('q', 'ROLE_USER', 'Anyone?'), attempts: 0 }] })
    expect(questionText(queued)).toBe('Anyone?')
    expect(shape(conversation(queued))).toEqual(['user(pending):Anyone?', 'state:submitted'])
  })

  it('gives every entry its own key', () => {
    const keys = conversation(done).map(e => e.key)
    expect(new Set(keys).size).toBe(keys.length)
  })

  it('shows the agent\'s question of a task waiting for input, and prompts for a reply', () => {
    const waiting = record({
      state: 'TASK_STATE_INPUT_REQUIRED',
      task: { id: 't1', contextId: 'c1', status: { state: 'TASK_STATE_INPUT_REQUIRED', message: history[1] }, history: history.slice(0, 1) },
      timeline: [{ state: 'TASK_STATE_SUBMITTED', at: T0 }, { state: 'TASK_STATE_INPUT_REQUIRED', at: T0 + 1000 }]
    })
    expect(shape(conversation(waiting))).toEqual(['user:Please crop this|[dot.png]', 'state:submitted', 'state:input_required', 'agent:Square or round?'])
    expect(needsInput(waiting)).toBe(true)
    expect(needsInput({ ...waiting, direction: 'inbound' })).toBe(false)

    // our reply waits in the outbox: it shows, marked pending, and the prompt is gone
    const replied: TaskRecord = { ...waiting, delivery: 'queued', outbox: [{ kind: 'message', message: history[2]!, attempts: 1 }] }
    expect(shape(conversation(replied)).at(-1)).toBe('user(pending):Round')
    expect(needsInput(replied)).toBe(false)
  })

  it('ends with the reason after a task ended without artifacts', () => {
    const rejected = record({
      state: 'TASK_STATE_REJECTED',
      task: { id: 't1', contextId: 'c1', status: { state: 'TASK_STATE_REJECTED', message: msg('r', 'ROLE_AGENT', 'I cannot') }, history: history.slice(0, 1) },
      timeline: [{ state: 'TASK_STATE_SUBMITTED', at: T0 }, { state: 'TASK_STATE_REJECTED', at: T0 + 1000 }]
    })
    expect(shape(conversation(rejected))).toEqual(['user:Please crop this|[dot.png]', 'state:submitted', 'state:rejected', 'agent:I cannot'])
    expect(answerText(rejected)).toBe('I cannot')
  })

  it('grows an artifact streamed in chunks as each chunk is stored', () => {
    let task = record({ state: 'TASK_STATE_WORKING', timeline: [{ state: 'TASK_STATE_SUBMITTED', at: T0 }, { state: 'TASK_STATE_WORKING', at: T0 + 1 }] }).task
    const seen: string[] = []
    for (const [i, chunk] of ['Hel', 'lo, ', 'world'].entries()) {
      task = applyStreamResponse(task, { artifactUpdate: { taskId: 't1', contextId: 'c1', artifact: { artifactId: 'a1', parts: [{ text: chunk }] }, append: i > 0, lastChunk: i === 2 } })
      const view = conversation(record({ state: 'TASK_STATE_WORKING', task }))
      seen.push(shape(view).at(-1)!)
    }
    expect(seen).toEqual(['artifact:Hel', 'artifact:Hello, ', 'artifact:Hello, world'])
  })

  it('makes a timeline for records stored before timelines existed', () => {
    const old = record({ state: 'TASK_STATE_COMPLETED', task: { id: 't1', contextId: 'c1', status: { state: 'TASK_STATE_COMPLETED', timestamp: new Date(T0 + 5000).toISOString() } } })
    expect(timelineOf(old)).toEqual([{ state: 'TASK_STATE_SUBMITTED', at: T0 }, { state: 'TASK_STATE_COMPLETED', at: T0 + 5000 }])
    expect(timelineOf(record({ state: 'TASK_STATE_SUBMITTED' }))).toEqual([{ state: 'TASK_STATE_SUBMITTED', at: T0 }])
  })
})

describe('delivery and cancel', () => {
  it('shows the TTL only while an open outbound task is queued', () => {
    const queued = record({ state: 'TASK_STATE_SUBMITTED', delivery: 'queued', expiresAt: T0 + 86_400_000 })
    expect(deliveryOf(queued)).toBe('queued')
    expect(queuedUntil(queued)).toBe(T0 + 86_400_000)
    expect(queuedUntil({ ...queued, delivery: 'delivered' })).toBeUndefined()
    expect(queuedUntil({ ...queued, state: 'TASK_STATE_FAILED' })).toBeUndefined()
    expect(deliveryOf({ ...queued, direction: 'inbound' })).toBeUndefined()
  })

  it('offers cancel on an open outbound task until a cancel is queued', () => {
    const open = record({ state: 'TASK_STATE_WORKING', delivery: 'delivered' })
    expect(canCancel(open)).toBe(true)
    const asked: TaskRecord = { ...open, delivery: 'queued', outbox: [{ kind: 'cancel', attempts: 0 }] }
    expect(cancelPending(asked)).toBe(true)
    expect(pushPending(asked)).toBe(false)
    expect(pushPending({ ...open, direction: 'inbound', outbox: [{ kind: 'push', attempts: 2, lastError: 'unreachable' }] })).toBe(true)
    expect(canCancel(asked)).toBe(false)
    expect(canCancel(record({ state: 'TASK_STATE_CANCELED' }))).toBe(false)
    expect(canCancel({ ...open, direction: 'inbound' })).toBe(false)
  })
})

describe('parts', () => {
  it('pretty-prints data, sizes files, previews raster images only, links http(s) only', () => {
    const views = partViews([
      { data: { a: 1, b: [true] } },
      { raw: PNG, mediaType: 'image/png', filename: 'dot.png' },
      { raw: 'PHN2Zz4=', mediaType: 'image/svg+xml', filename: 'x.svg' },
      { raw: 'AAE=' },
      { url: 'https://example.org/f.pdf', filename: 'f.pdf' },
      { url: 'javascript:alert(1)' }
    ])
    expect(views[0]).toEqual({ kind: 'data', json: '{\n  "a": 1,\n  "b": [\n    true\n  ]\n}' })
    expect(views[1]).toMatchObject({ kind: 'file', filename: 'dot.png', image: true, size: base64ToBytes(PNG).length })
    expect(views[2]).toMatchObject({ kind: 'file', image: false })
    expect(views[3]).toMatchObject({ kind: 'file', filename: 'file-4', mediaType: 'application/octet-stream', size: 2 })
    expect(views[4]).toMatchObject({ kind: 'link', safe: true })
    expect(views[5]).toMatchObject({ kind: 'link', safe: false })
    // files that could run script in this origin are only ever downloaded
    expect(blobType('image/png')).toBe('image/png')
    expect(blobType('image/svg+xml')).toBe('application/octet-stream')
    expect(blobType('text/html')).toBe('application/octet-stream')
  })

  it('keeps separate text parts of a message apart, and joins an artifact\'s chunks', () => {
    expect(partViews([{ text: 'a' }, { text: 'b' }])).toHaveLength(2)
    expect(partViews([{ text: 'a' }, { text: 'b' }], { joinText: true })).toEqual([{ kind: 'text', text: 'ab' }])
  })
})

describe('composing', () => {
  it('makes a text part and file parts with name and media type', () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => i % 256)
    const parts = composeParts('hi', [{ name: 'b.bin', type: '', bytes }, { name: 'dot.png', type: 'image/png', bytes: base64ToBytes(PNG) }])
    expect(parts).toEqual([
      { text: 'hi', mediaType: 'text/plain' },
      { raw: bytesToBase64(bytes), mediaType: 'application/octet-stream', filename: 'b.bin' },
      { raw: PNG, mediaType: 'image/png', filename: 'dot.png' }
    ])
    expect(composeParts('  ', [{ name: 'a', type: 'text/plain', bytes: new Uint8Array([65]) }])).toHaveLength(1)
  })

  it('refuses files over the limits before anything is encoded or sent', () => {
    expect(attachmentProblem({ name: 'small.png', size: 1000 })).toBeUndefined()
    expect(attachmentProblem({ name: 'max.mov', size: DEFAULT_MAX_FILE_BYTES })).toBeUndefined()
    expect(attachmentProblem({ name: 'big.mov', size: DEFAULT_MAX_FILE_BYTES + 1 })).toMatch(/^big\.mov is /)
    expect(attachmentProblem({ name: 'huge.mov', size: 100 * 1024 * 1024 })).toBe('huge.mov is 100 MiB: files can be at most 32 MiB each.')
    const half = DEFAULT_MAX_PARTS_BYTES / 2
    expect(attachmentProblem({ name: 'third.bin', size: half }, [{ size: half }])).toBeUndefined()
    expect(attachmentProblem({ name: 'third.bin', size: half }, [{ size: half }, { size: 1 }])).toMatch(/^third\.bin would make 40 MiB of files: one message can carry at most 40 MiB\.$/)
    expect(() => composeParts('x', [{ name: 'big', type: 'video/mp4', bytes: new Uint8Array(DEFAULT_MAX_FILE_BYTES + 3) }])).toThrow(InvalidPartError)
  })

  it('turns a person\'s draft into the outcome of an inbound task', async () => {
    const file = new File([new Uint8Array([1, 2, 3])], 'r.bin', { type: 'application/octet-stream' })
    expect(await draftOutcome('completed', { text: 'done', files: [] })).toEqual({ kind: 'completed', text: 'done' })
    expect(await draftOutcome('completed', { text: 'done', files: [file] })).toEqual({
      kind: 'completed',
      parts: [{ text: 'done', mediaType: 'text/plain' }, { raw: 'AQID', mediaType: 'application/octet-stream', filename: 'r.bin' }]
    })
    expect(await draftOutcome('input-required', { text: 'Which one?', files: [] })).toEqual({ kind: 'input-required', text: 'Which one?' })
    expect(await draftOutcome('input-required', { text: 'This one?', files: [file] })).toEqual({
      kind: 'input-required', text: 'This one?', parts: [{ raw: 'AQID', mediaType: 'application/octet-stream', filename: 'r.bin' }]
    })
    expect(await draftOutcome('failed', { text: ' ', files: [] })).toEqual({ kind: 'failed', text: 'failed' })
    expect(await draftOutcome('rejected', { text: '', files: [] })).toEqual({ kind: 'rejected', text: 'declined' })
    expect(await draftOutcome('rejected', { text: 'No', files: [] })).toEqual({ kind: 'rejected', text: 'No' })
  })
})
