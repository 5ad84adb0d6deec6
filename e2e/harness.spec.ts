// Self-check of the end-to-end harness: the private network namespace (e2e/netns.sh), the
// process helpers, temporary directories, and WebRTC between two isolated Chromium pages over
// the namespace's veth interface. If this file fails, the other e2e tests cannot be trusted.

import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { existsSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { test, expect } from './harness/fixtures.js'
import { openPages } from './harness/browser.js'
import { spawnProcess, runProcess, ProcessRegistry, testProcesses } from './harness/processes.js'
import { pendingTempDirs, removeTempDirs, tempDir } from './harness/tmp.js'

const NODE = process.execPath

/** 'gone', or the state letter from /proc/<pid>/stat (R, S, Z, ...). */
function processState (pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '?'
  } catch {
    return 'gone'
  }
}

test.describe('network namespace', () => {
  test('is the private one from e2e/netns.sh, with a default route via veth0', async () => {
    expect(process.env.STARLING_NETNS).toBe('1')

    const route = await runProcess('ip', ['-4', 'route', 'show', 'default'])
    expect(route.code).toBe(0)
    expect(route.stdout.trim()).toMatch(/^default via 10\.77\.0\.2 dev veth0\b/)

    const addrs = await runProcess('ip', ['-4', '-o', 'addr', 'show'])
    expect(addrs.code).toBe(0)
    // A non-loopback IPv4 interface on the namespace's own subnet, and nothing else.
    expect(addrs.stdout).toMatch(/^\d+: veth0\s+inet 10\.77\.0\.1\/24 /m)
    const ifaces = addrs.stdout.trim().split('\n').map((l) => l.split(/\s+/)[1])
    expect(ifaces.sort()).toEqual(['lo', 'veth0', 'veth1'])
  })
})

test.describe('processes', () => {
  test('waitForLine resolves on the line, with the match, as soon as it is printed', async () => {
    // The child prints "ready 42" at once and "second line" only when it receives SIGUSR2, so
    // the second wait can only be satisfied by output that arrives after the call.
    const proc = spawnProcess(NODE, ['-e', `
      process.on('SIGUSR2', () => { console.log('second line'); });
      console.error('to stderr');
      console.log('ready 42');
      setInterval(() => {}, 1000);
    `], { name: 'printer' })
    const m = await proc.waitForLine(/^ready (\d+)$/)
    expect(m[1]).toBe('42')
    // Already printed lines count unless onlyNew.
    await expect(proc.waitForLine(/ready/)).resolves.toBeTruthy()
    await expect(proc.waitForLine(/to stderr/, { stream: 'stderr' })).resolves.toBeTruthy()

    const second = proc.waitForLine(/second line/, { onlyNew: true })
    proc.kill('SIGUSR2')
    await expect(second).resolves.toBeTruthy()
    expect(proc.stdout).toBe('ready 42\nsecond line\n')
    expect(proc.stderr).toBe('to stderr\n')

    const exit = await proc.stop()
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' })
    expect(proc.running).toBe(false)
  })

  test('waitForLine rejects with the output when the process exits first, or on timeout', async () => {
    const quitter = spawnProcess(NODE, ['-e', 'console.log("bye"); process.exit(3)'], { name: 'quitter' })
    await expect(quitter.waitForLine(/never/)).rejects.toThrow(/quitter exited \(code 3\)[\s\S]*out\| bye/)

    const silent = spawnProcess(NODE, ['-e', 'setInterval(() => {}, 1000)'], { name: 'silent' })
    await expect(silent.waitForLine(/never/, { timeoutMs: 200 })).rejects.toThrow(/silent printed no line matching \/never\/ on stdout within 200 ms/)
    await silent.stop()
  })

  test('a command that cannot start is reported, not thrown', async () => {
    const proc = spawnProcess('/nonexistent/command', [], { name: 'ghost' })
    expect(await proc.exited).toEqual({ code: null, signal: null })
    expect(proc.spawnError?.message).toMatch(/ENOENT/)
    await expect(proc.waitForLine(/x/)).rejects.toThrow(/ghost exited/)
  })

  test('stop() escalates to SIGKILL and reaches grandchildren', async () => {
    const registry = new ProcessRegistry()
    // A shell whose child ignores SIGTERM: only SIGKILL to the whole group ends both.
    const proc = spawnProcess('sh', ['-c', `${NODE} -e "process.on('SIGTERM', () => {}); console.log('pid ' + process.pid); setInterval(() => {}, 1000)"; echo shell-done`], {
      name: 'stubborn',
      registry
    })
    const m = await proc.waitForLine(/^pid (\d+)$/)
    const grandchild = Number(m[1])
    expect(registry.running).toEqual([proc])
    expect(testProcesses.running).not.toContain(proc)

    const started = Date.now()
    await registry.stopAll({ timeoutMs: 300 })
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    expect(proc.exitInfo?.signal).toMatch(/SIGTERM|SIGKILL/)
    expect(registry.running).toEqual([])
    // The grandchild was in the same process group: it is dead too. `exited` settles only once
    // every holder of the child's stdout has closed it, so it is gone or a zombie by now.
    expect(processState(grandchild)).toMatch(/^(gone|Z)$/)
  })

  test('tempDir makes a fresh directory under the temp dir, removed at clean-up', async () => {
    const a = await tempDir('check')
    const b = await tempDir('check')
    expect(a).not.toBe(b)
    expect(a.startsWith(join(tmpdir(), 'starling-e2e-check-'))).toBe(true)
    await writeFile(join(a, 'f'), 'x')
    expect(existsSync(join(a, 'f'))).toBe(true)
    expect(pendingTempDirs()).toEqual([a, b])
    // What the fixture does at the end of every test.
    await removeTempDirs()
    expect(existsSync(a)).toBe(false)
    expect(existsSync(b)).toBe(false)
    expect(pendingTempDirs()).toEqual([])
  })
})

// --- WebRTC between two isolated pages --------------------------------------------------------

interface RtcState {
  pc: RTCPeerConnection
  candidates: RTCIceCandidateInit[]
  gathered: Promise<RTCIceCandidateInit[]>
  open: Promise<void>
  channel: RTCDataChannel | undefined
  received: string[]
  nextMessage: () => Promise<string>
}

declare global {
  interface Window { rtc?: RtcState }
}

/** Runs in the page: an RTCPeerConnection without ICE servers, collecting its candidates. */
function setUpPeer (initiator: boolean): void {
  const pc = new RTCPeerConnection({ iceServers: [] })
  const candidates: RTCIceCandidateInit[] = []
  const received: string[] = []
  const waiters: Array<(m: string) => void> = []
  const gathered = new Promise<RTCIceCandidateInit[]>((resolve) => {
    pc.addEventListener('icecandidate', (e) => {
      if (e.candidate) candidates.push(e.candidate.toJSON())
      else resolve(candidates)
    })
  })
  let openResolve!: () => void
  const open = new Promise<void>((resolve) => { openResolve = resolve })
  const state: RtcState = {
    pc,
    candidates,
    gathered,
    open,
    channel: undefined,
    received,
    nextMessage: () => {
      const m = received.shift()
      if (m !== undefined) return Promise.resolve(m)
      return new Promise<string>((resolve) => { waiters.push(resolve) })
    }
  }
  const attach = (ch: RTCDataChannel): void => {
    state.channel = ch
    ch.addEventListener('message', (e) => {
      const w = waiters.shift()
      if (w) w(String(e.data))
      else received.push(String(e.data))
    })
    if (ch.readyState === 'open') openResolve()
    else ch.addEventListener('open', () => { openResolve() })
  }
  if (initiator) attach(pc.createDataChannel('harness'))
  else pc.addEventListener('datachannel', (e) => { attach(e.channel) })
  window.rtc = state
}

async function startStaticServer (): Promise<{ server: Server, url: string }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><meta charset="utf-8"><title>harness</title><p>harness</p>')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { resolve() })
  })
  const { port } = server.address() as AddressInfo
  return { server, url: `http://127.0.0.1:${port}/` }
}

test.describe('WebRTC in the namespace', () => {
  let server: Server | undefined
  test.afterEach(async () => {
    if (server) {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server!.close(() => { resolve() }) })
      server = undefined
    }
  })

  test('two isolated pages connect directly over 10.77.0.x and exchange messages', async ({ browser }) => {
    const started = await startStaticServer()
    server = started.server
    const [a, b] = await openPages(browser, 2, { url: started.url })
    const pageA = a!.page
    const pageB = b!.page

    // Isolated contexts, and a secure context (needed by the app; RTCPeerConnection is there).
    expect(a!.context).not.toBe(b!.context)
    expect(await pageA.evaluate(() => window.isSecureContext)).toBe(true)
    expect(await pageA.evaluate(() => typeof RTCPeerConnection)).toBe('function')

    await pageA.evaluate(setUpPeer, true)
    await pageB.evaluate(setUpPeer, false)

    // Offer / answer through the test.
    const offer = await pageA.evaluate(async () => {
      const pc = window.rtc!.pc
      await pc.setLocalDescription(await pc.createOffer())
      return pc.localDescription!.toJSON()
    })
    const answer = await pageB.evaluate(async (o) => {
      const pc = window.rtc!.pc
      await pc.setRemoteDescription(o)
      await pc.setLocalDescription(await pc.createAnswer())
      return pc.localDescription!.toJSON()
    }, offer)
    await pageA.evaluate(async (ans) => { await window.rtc!.pc.setRemoteDescription(ans) }, answer)

    // Candidates through the test: all of each side's, once its gathering is complete.
    const candidatesA = await pageA.evaluate(() => window.rtc!.gathered)
    const candidatesB = await pageB.evaluate(() => window.rtc!.gathered)
    const addCandidates = async (cands: RTCIceCandidateInit[]): Promise<void> => {
      for (const c of cands) await window.rtc!.pc.addIceCandidate(c)
    }
    expect(candidatesA.length).toBeGreaterThan(0)
    expect(candidatesB.length).toBeGreaterThan(0)
    // Host candidates carry real addresses (not mDNS .local names) on the veth subnet.
    for (const c of [...candidatesA, ...candidatesB]) expect(c.candidate).not.toMatch(/\.local /)
    expect(candidatesA.some((c) => / 10\.77\.0\.\d+ /.test(c.candidate ?? ''))).toBe(true)
    await pageB.evaluate(addCandidates, candidatesA)
    await pageA.evaluate(addCandidates, candidatesB)

    await Promise.all([
      pageA.evaluate(() => window.rtc!.open),
      pageB.evaluate(() => window.rtc!.open)
    ])

    // A message each way.
    const atB = pageB.evaluate(() => window.rtc!.nextMessage())
    await pageA.evaluate(() => { window.rtc!.channel!.send('hello from A') })
    expect(await atB).toBe('hello from A')
    const atA = pageA.evaluate(() => window.rtc!.nextMessage())
    await pageB.evaluate(() => { window.rtc!.channel!.send('hello from B') })
    expect(await atA).toBe('hello from B')

    // The selected candidate pair runs between addresses of the namespace's veth subnet.
    const selected = async (): Promise<{ local: string, remote: string, type: string }> => {
      const stats = await window.rtc!.pc.getStats()
      const byId = new Map<string, Record<string, unknown>>()
      stats.forEach((s: Record<string, unknown>) => { byId.set(String(s.id), s) })
      let pair: Record<string, unknown> | undefined
      for (const s of byId.values()) {
        if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(String(s.selectedCandidatePairId))
      }
      pair ??= [...byId.values()].find((s) => s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated)
      if (!pair) throw new Error('no succeeded candidate pair')
      const local = byId.get(String(pair.localCandidateId))
      const remote = byId.get(String(pair.remoteCandidateId))
      return {
        local: String(local?.address ?? local?.ip),
        remote: String(remote?.address ?? remote?.ip),
        type: `${pair.state}/${local?.candidateType}`
      }
    }
    const pairA = await pageA.evaluate(selected)
    const pairB = await pageB.evaluate(selected)
    for (const pair of [pairA, pairB]) {
      expect(pair.local).toMatch(/^10\.77\.0\.\d+$/)
      expect(pair.remote).toMatch(/^10\.77\.0\.\d+$/)
      expect(pair.type).toBe('succeeded/host')
    }

    expect(a!.errors).toEqual([])
    expect(b!.errors).toEqual([])
  })
})
