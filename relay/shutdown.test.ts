/**
 * The relay process and its signals: SIGTERM stops accepting connections, lets a request in
 * flight finish, and exits 0; a second signal exits at once. Runs the relay as operators do,
 * from a build of this code (into a temporary directory, so it races no other build).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { get } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { tempDir } from '../src/native/test-helpers.js'

const REPO_ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
/** Big enough that the response cannot sit whole in the sockets' buffers while unread, in bytes. */
const BIG_FILE_BYTES = 64 * 1024 * 1024

interface RelayProcess {
  child: ChildProcess
  url: string
  /** Resolves with the first JSON log line whose `event` is `event`. */
  logged: (event: string) => Promise<Record<string, unknown>>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

describe('relay process shutdown', () => {
  let build: { path: string, remove: () => Promise<void> }
  let work: { path: string, remove: () => Promise<void> }
  const children: ChildProcess[] = []

  beforeAll(async () => {
    build = await tempDir('starling-relay-build-')
    work = await tempDir('starling-relay-shutdown-')
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.node.json', '--outDir', build.path, '--declaration', 'false'], { cwd: REPO_ROOT })
      .catch((err: { stdout?: string }) => {
        // type errors elsewhere in the tree still emit JavaScript; only a missing entry point is fatal
        if (err.stdout == null) throw err
      })
    // the emitted files are ES modules and import the repository's packages
    await writeFile(join(build.path, 'package.json'), '{ "type": "module" }\n')
    await symlink(join(REPO_ROOT, 'node_modules'), join(build.path, 'node_modules'), 'dir')
    await mkdir(join(work.path, 'app'), { recursive: true })
    await writeFile(join(work.path, 'app', 'big.bin'), Buffer.alloc(BIG_FILE_BYTES, 7))
  }, 120_000)

  afterAll(async () => {
    for (const child of children) if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
    await build?.remove()
    await work?.remove()
  })

  async function startRelayProcess (): Promise<RelayProcess> {
    const child = spawn(process.execPath, [
      '--import', pathToFileURL(join(REPO_ROOT, 'bin/polyfill.mjs')).href, join(build.path, 'relay/main.js'),
      '--port', '0', '--tcp-port', '0', '--data-dir', join(work.path, 'data'), '--app-dir', join(work.path, 'app'), '--ice-servers', 'none'
    ], { cwd: work.path, env: { ...process.env, STARLING_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] })
    children.push(child)
    const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }))
    const lines: string[] = []
    const waiters: Array<() => void> = []
    let partial = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop() ?? ''
      lines.push(...parts)
      for (const wake of waiters.splice(0)) wake()
    })
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    const find = async <T>(pick: (line: string) => T | undefined): Promise<T> => {
      for (;;) {
        for (const line of lines) {
          const found = pick(line)
          if (found !== undefined) return found
        }
        const more = new Promise<void>(resolve => { waiters.push(resolve) })
        const ended = await Promise.race([more.then(() => false), exited.then(() => true)])
        if (ended) {
          for (const line of lines) {
            const found = pick(line)
            if (found !== undefined) return found
          }
          throw new Error(`the relay exited before printing what was awaited\n--- stdout ---\n${lines.join('\n')}\n--- stderr ---\n${stderr}`)
        }
      }
    }
    const url = await find(line => /Open (http:\/\/\S+) in a browser/.exec(line)?.[1])
    const logged = async (event: string): Promise<Record<string, unknown>> => await find(line => {
      if (!line.startsWith('{')) return undefined
      const entry = JSON.parse(line) as Record<string, unknown>
      return entry.event === event ? entry : undefined
    })
    return { child, url, logged, exited }
  }

  /** Starts a download of the big file and leaves its body unread: a request in flight. */
  async function startDownload (url: string): Promise<IncomingMessage> {
    return await new Promise((resolve, reject) => {
      const req = get(`${url}/big.bin`, (res) => {
        res.pause()
        resolve(res)
      })
      req.on('error', reject)
    })
  }

  async function bodyLength (res: IncomingMessage): Promise<number> {
    let total = 0
    for await (const chunk of res) total += (chunk as Buffer).length
    return total
  }

  it('on SIGTERM refuses new connections, finishes the request in flight, and exits 0', async () => {
    const relay = await startRelayProcess()
    const started = await relay.logged('relay.started')
    expect(started).toMatchObject({ level: 30, service: 'starling-relay', url: relay.url })
    const res = await startDownload(relay.url)
    expect(res.statusCode).toBe(200)

    relay.child.kill('SIGTERM')
    const stopping = await relay.logged('relay.stopping')
    expect(stopping.httpRequestsInFlight).toBe(1)
    // the listener is closed: a new client is refused
    await expect(fetch(`${relay.url}/health`)).rejects.toThrow()
    // the request that was in flight completes, whole
    expect(await bodyLength(res)).toBe(BIG_FILE_BYTES)
    expect(await relay.exited).toEqual({ code: 0, signal: null })
    await relay.logged('relay.stopped')
  })

  it('exits at once on a second signal, without waiting for requests in flight', async () => {
    const relay = await startRelayProcess()
    const res = await startDownload(relay.url)
    relay.child.kill('SIGTERM')
    await relay.logged('relay.stopping')
    relay.child.kill('SIGINT')
    expect(await relay.exited).toEqual({ code: 130, signal: null })
    // the unread download was cut short by the exit
    const received = await bodyLength(res).catch(() => -1)
    expect(received).toBeLessThan(BIG_FILE_BYTES)
  })
})
