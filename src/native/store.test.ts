import { appendFile, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { TaskStateName } from '../core/a2a/json.js'
import type { TaskRecord } from '../core/store/types.js'
import { readConfig } from './config.js'
import { homePaths } from './home.js'
import { openFileStorage, TaskLog, TaskLogError } from './store/index.js'
import { tempDir } from './test-helpers.js'

function record (id: string, updatedAt: number, over: Partial<TaskRecord> = {}): TaskRecord {
  const state: TaskStateName = over.state ?? 'TASK_STATE_WORKING'
  const contextId = over.contextId ?? `ctx-${id}`
  return {
    direction: 'inbound',
    id,
    peerId: 'peer-a',
    contextId,
    state,
    createdAt: 1_000,
    updatedAt,
    ...over,
    task: {
      id,
      contextId,
      status: { state },
      history: [{ messageId: `m-${id}-${updatedAt}`, role: 'ROLE_USER', parts: [{ text: `text of ${id} at ${updatedAt}` }] }]
    }
  }
}

describe('file storage', () => {
  let dir: { path: string, remove: () => Promise<void> }
  const warnings: string[] = []
  const onWarning = (message: string): void => { warnings.push(message) }

  beforeEach(async () => {
    dir = await tempDir('starling-store-')
    warnings.length = 0
  })
  afterEach(async () => { await dir.remove() })

  it('keeps identity, profile, tasks and agents across a reopen', async () => {
    const storage = await openFileStorage(dir.path, { onWarning })
    const key = new Uint8Array([8, 1, 18, 64, ...new Array<number>(64).fill(7)])
    await storage.identity.save(key)
    await storage.profile.save({ name: 'Ada', description: 'counts', skills: [{ id: 'math', tags: ['numbers'] }] })
    await storage.tasks.put(record('t1', 10))
    await storage.tasks.put(record('t1', 20, { state: 'TASK_STATE_COMPLETED' }))
    await storage.tasks.put(record('t2', 15, { direction: 'outbound', peerId: 'peer-b' }))
    await storage.agents.put({ peerId: 'peer-b', card: { name: 'B', skills: [] } as never, seenAt: 5 })
    await storage.close()

    const paths = homePaths(dir.path)
    expect((await stat(paths.identity)).mode & 0o777).toBe(0o600)
    expect((await readConfig(dir.path))?.profile.name).toBe('Ada')

    const again = await openFileStorage(dir.path, { onWarning })
    expect(await again.identity.load()).toEqual(key)
    expect(await again.profile.load()).toEqual({ name: 'Ada', description: 'counts', skills: [{ id: 'math', tags: ['numbers'] }] })
    const t1 = await again.tasks.get('inbound', 't1')
    expect(t1?.state).toBe('TASK_STATE_COMPLETED')
    expect(t1?.task.history?.[0]?.parts[0]?.text).toBe('text of t1 at 20')
    expect(await again.tasks.get('outbound', 't1')).toBeUndefined()
    expect((await again.tasks.get('outbound', 't2'))?.peerId).toBe('peer-b')
    expect((await again.agents.list()).map(a => a.peerId)).toEqual(['peer-b'])
    expect(warnings).toEqual([])
    await again.close()
  })

  it('drops a torn last line with a warning and appends cleanly after it', async () => {
    const path = join(dir.path, 'tasks.jsonl')
    const log = await TaskLog.open(path, { onWarning })
    await log.put(record('a', 1))
    await log.put(record('b', 2))
    await log.close()
    // the process died half-way through writing a third record
    const third = JSON.stringify(record('c', 3))
    await appendFile(path, third.slice(0, third.length / 2))

    const reopened = await TaskLog.open(path, { onWarning })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/torn last line/)
    expect((await reopened.list()).map(r => r.id)).toEqual(['b', 'a'])
    await reopened.put(record('d', 4))
    await reopened.close()

    warnings.length = 0
    const third2 = await TaskLog.open(path, { onWarning })
    expect((await third2.list()).map(r => r.id)).toEqual(['d', 'b', 'a'])
    expect(warnings).toEqual([])
    const lines = (await readFile(path, 'utf8')).split('\n')
    expect(lines.at(-1)).toBe('')
    expect(lines.slice(0, -1).every(l => JSON.parse(l) != null)).toBe(true)
    await third2.close()
  })

  it('keeps a complete last line that only lacks its newline', async () => {
    const path = join(dir.path, 'tasks.jsonl')
    const log = await TaskLog.open(path, { onWarning })
    await log.close()
    await appendFile(path, JSON.stringify(record('a', 1)))
    const reopened = await TaskLog.open(path, { onWarning })
    await reopened.put(record('b', 2))
    expect((await reopened.list()).map(r => r.id)).toEqual(['b', 'a'])
    await reopened.close()
    expect(warnings).toEqual([])
  })

  it('never lets a read from disk that a put overtook bring the older record back', async () => {
    const path = join(dir.path, 'tasks.jsonl')
    const log = await TaskLog.open(path, { onWarning })
    await log.put(record('a', 1))
    await log.close()
    // reopened, nothing is cached: the get below reads the line from disk while the put lands
    const reopened = await TaskLog.open(path, { onWarning })
    const reading = reopened.get('inbound', 'a')
    await reopened.put(record('a', 2, { state: 'TASK_STATE_CANCELED' }))
    expect((await reading)?.state).toBe('TASK_STATE_CANCELED')
    expect((await reopened.get('inbound', 'a'))?.state).toBe('TASK_STATE_CANCELED')
    await reopened.close()
  })

  it('compacts a log of mostly superseded lines to the latest version of each record', async () => {
    const path = join(dir.path, 'tasks.jsonl')
    const log = await TaskLog.open(path, { onWarning, compactMinLines: 10 })
    for (let v = 1; v <= 10; v++) {
      for (const id of ['x', 'y', 'z']) await log.put(record(id, v * 10 + id.charCodeAt(0) % 3))
    }
    await log.put(record('y', 500, { state: 'TASK_STATE_COMPLETED' }))
    await log.close()
    const before = (await stat(path)).size

    const compacted = await TaskLog.open(path, { onWarning, compactMinLines: 10 })
    expect(compacted.stats).toMatchObject({ records: 3, lines: 3, compacted: true })
    expect((await stat(path)).size).toBeLessThan(before / 5)
    const y = await compacted.get('inbound', 'y')
    expect(y?.updatedAt).toBe(500)
    expect(y?.state).toBe('TASK_STATE_COMPLETED')
    expect((await compacted.get('inbound', 'x'))?.task.history?.[0]?.parts[0]?.text).toBe('text of x at 100')
    // appending after a compaction lands after the rewritten lines
    await compacted.put(record('w', 1))
    await compacted.close()

    const reopened = await TaskLog.open(path, { onWarning, compactMinLines: 10 })
    expect(reopened.stats).toMatchObject({ records: 4, lines: 4, compacted: false })
    expect((await reopened.list()).map(r => `${r.id}@${r.updatedAt}`)).toEqual(['y@500', 'z@102', 'x@100', 'w@1'])
    await reopened.close()
  })

  it('does not compact while most lines are current', async () => {
    const path = join(dir.path, 'tasks.jsonl')
    const log = await TaskLog.open(path, { compactMinLines: 4 })
    for (const id of ['a', 'b', 'c', 'd', 'e']) await log.put(record(id, 1))
    await log.put(record('a', 2))
    await log.close()
    const reopened = await TaskLog.open(path, { compactMinLines: 4 })
    expect(reopened.stats).toMatchObject({ records: 5, lines: 6, compacted: false })
    await reopened.close()
  })

  it('answers queries in newest-first order with every filter', async () => {
    const storage = await openFileStorage(dir.path, { onWarning })
    const tasks = storage.tasks
    await tasks.put(record('a', 100, { peerId: 'p1', contextId: 'c1' }))
    await tasks.put(record('b', 300, { peerId: 'p2', contextId: 'c1', state: 'TASK_STATE_COMPLETED' }))
    await tasks.put(record('c', 200, { direction: 'outbound', peerId: 'p1', contextId: 'c2' }))
    await tasks.put(record('d', 300, { peerId: 'p1', contextId: 'c2', state: 'TASK_STATE_INPUT_REQUIRED' }))
    await tasks.put(record('e', 50, { peerId: 'p2', contextId: 'c1' }))

    const ids = async (query: Parameters<typeof tasks.list>[0]): Promise<string[]> => (await tasks.list(query)).map(r => r.id)
    // ties on updatedAt: id descending
    expect(await ids({})).toEqual(['d', 'b', 'c', 'a', 'e'])
    expect(await ids({ direction: 'outbound' })).toEqual(['c'])
    expect(await ids({ direction: 'inbound', peerId: 'p1' })).toEqual(['d', 'a'])
    expect(await ids({ contextId: 'c1' })).toEqual(['b', 'a', 'e'])
    expect(await ids({ states: ['TASK_STATE_WORKING', 'TASK_STATE_INPUT_REQUIRED'] })).toEqual(['d', 'c', 'a', 'e'])
    expect(await ids({ limit: 2 })).toEqual(['d', 'b'])
    expect(await ids({ limit: 0 })).toEqual([])
    expect(await ids({ before: { updatedAt: 300, id: 'd' } })).toEqual(['b', 'c', 'a', 'e'])
    expect(await ids({ before: { updatedAt: 200, id: 'c' }, limit: 1 })).toEqual(['a'])
    // a changed record moves in the order and leaves its old state behind
    await tasks.put(record('e', 400, { peerId: 'p2', contextId: 'c1', state: 'TASK_STATE_COMPLETED' }))
    expect(await ids({ states: ['TASK_STATE_COMPLETED'] })).toEqual(['e', 'b'])
    expect(await ids({ states: ['TASK_STATE_WORKING'] })).toEqual(['c', 'a'])
    await storage.close()
  })

  it('writes concurrent puts together and keeps every one of them, in order per record', async () => {
    const path = join(dir.path, 'tasks.jsonl')
    const log = await TaskLog.open(path, { onWarning })
    // 200 records, each put three times, all at once: the writes are batched
    await Promise.all(Array.from({ length: 200 }, async (_, i) => {
      for (let v = 1; v <= 3; v++) await log.put(record(`t${i}`, 1_000 + v))
    }))
    expect(log.stats.lines).toBe(600)
    await log.close()
    const reopened = await TaskLog.open(path, { onWarning })
    expect(reopened.stats.records).toBe(200)
    for (const i of [0, 57, 199]) expect((await reopened.get('inbound', `t${i}`))?.updatedAt).toBe(1_003)
    expect(warnings).toEqual([])
    await reopened.close()
  })

  it('reads its own writes at once, and from disk once a record has left the cache', async () => {
    const path = join(dir.path, 'tasks.jsonl')
    const log = await TaskLog.open(path, { onWarning, cachedRecords: 2 })
    const pending = log.put(record('a', 2_000))
    expect((await log.get('inbound', 'a'))?.updatedAt).toBe(2_000)
    await pending
    for (const id of ['b', 'c', 'd']) await log.put(record(id, 3_000))
    // 'a' has been evicted: read back from the file, the same record
    expect(await log.get('inbound', 'a')).toEqual(record('a', 2_000))
    expect((await log.list()).map(r => r.id)).toEqual(['d', 'c', 'b', 'a'])
    await log.close()
  })

  it('refuses a file that is not a task log, and ignores corrupt lines in one', async () => {
    const path = join(dir.path, 'tasks.jsonl')
    await writeFile(path, 'hello\n')
    await expect(TaskLog.open(path)).rejects.toBeInstanceOf(TaskLogError)

    await writeFile(path, '{"format":"starling-task-log","version":1}\n' + JSON.stringify(record('a', 1)) + '\n{"oops":1}\n' + JSON.stringify(record('b', 2)) + '\n')
    const log = await TaskLog.open(path, { onWarning })
    expect((await log.list()).map(r => r.id)).toEqual(['b', 'a'])
    expect(warnings).toEqual([expect.stringMatching(/line 3, which is not a task record/)])
    await log.close()
  })

  it('refuses a broken config.json with a message that names the field', async () => {
    await writeFile(homePaths(dir.path).config, JSON.stringify({ relay: 'ftp://x', profile: { name: 'a', description: '', skills: [] } }))
    await expect(readConfig(dir.path)).rejects.toThrow(/config\.json: relay: must be a relay multiaddr or an http\(s\) URL/)
    await writeFile(homePaths(dir.path).config, '{"relay":')
    await expect(readConfig(dir.path)).rejects.toThrow(/config\.json is not valid JSON/)
    await writeFile(homePaths(dir.path).config, JSON.stringify({ relay: 'http://127.0.0.1:1', profile: { name: 'a', description: '', skills: [{ id: 'x y' }] } }))
    await expect(readConfig(dir.path)).rejects.toThrow(/profile\.skills\[0\]\.id: must not contain spaces/)
  })
})
