/**
 * The browser benchmark's peer page (bench/browser/page.html, built with the app by
 * bench/browser/netns-main.ts and served by the relay next to it). It runs the PWA's own
 * browser peer (src/app/node/create-peer.ts, IndexedDB storage, WebSockets + WebRTC) with two
 * differences the benchmark needs and the app never has:
 *
 *   - it answers every task itself with the task's text (an echo agent), where the app waits
 *     for a person;
 *   - it does not upgrade to WebRTC on its own, so a round trip measured before `upgrade()`
 *     really crosses the relay's circuit.
 *
 * It also handles a bare length-prefixed echo protocol (on limited connections too), the
 * baseline of a round trip over the same libp2p connection. The Node script drives it through
 * `window.starlingBench` (see ../protocol.ts). The file is .tsx only so that tsconfig.node.json
 * (which compiles bench/**\/*.ts for Node) leaves this browser code alone; it is type-checked
 * with bench/browser/tsconfig.json.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Connection } from '@libp2p/interface'
import { connectionKind } from '../../../src/core/node/direct-upgrade.js'
import type { StarlingPeer } from '../../../src/core/peer.js'
import { openIdbStorage } from '../../../src/app/data/idb-storage.js'
import { createBrowserPeer } from '../../../src/app/node/create-peer.js'
import { answerText } from '../../../src/app/model/tasks.js'
import { BENCH_ECHO_PROTOCOL, ECHO_BYTES, TASK_TEXT } from '../protocol.js'
import type { LinkInfo, StarlingBenchHandle } from '../protocol.js'

declare global {
  interface Window {
    starlingBench?: StarlingBenchHandle
  }
}

const stateLine = document.getElementById('state')
const show = (text: string): void => { if (stateLine != null) stateLine.textContent = text }

async function main (): Promise<void> {
  const storage = await openIdbStorage('starling-bench')
  const peer = await createBrowserPeer(storage, window.location.origin, {
    handler: async (task) => ({ kind: 'completed', text: task.text }),
    directUpgrade: false,
    // the benchmark's native sender is a stranger to this page: it answers everyone, no person asked
    askUnknownSenders: false
  })
  await peer.node.handle(BENCH_ECHO_PROTOCOL, async (stream) => {
    const lp = lpStream(stream)
    try {
      for (;;) await lp.write((await lp.read()).subarray())
    } catch {
      // the other side closed the stream
    }
    await stream.close().catch(() => {})
  }, { runOnLimitedConnection: true })
  await peer.start()
  window.starlingBench = handle(peer)
  show(`running ${peer.peerId}`)
}

function handle (peer: StarlingPeer): StarlingBenchHandle {
  const connectionsTo = (peerId: string): Connection[] =>
    peer.node.getConnections(peerIdFromString(peerId)).filter(c => c.status === 'open')

  return {
    status: () => ({
      peerId: peer.peerId,
      relay: peer.relayStatus.state,
      published: peer.registryStatus.expiresAt != null,
      error: peer.relayStatus.error ?? peer.registryStatus.error
    }),

    links: (peerId) => connectionsTo(peerId).map((c): LinkInfo => ({
      kind: connectionKind(c),
      remoteAddr: c.remoteAddr.toString(),
      protocols: c.streams.map(s => s.protocol ?? '')
    })),

    upgrade: async (peerId) => {
      const relayAddr = peer.relayStatus.relayAddr
      if (relayAddr == null) throw new Error('not connected to the relay')
      const target = multiaddr(relayAddr).encapsulate(`/p2p-circuit/webrtc/p2p/${peerId}`)
      let last: unknown
      const start = performance.now()
      // about 1 in 15 first WebRTC dials needs a second try (see src/core/node/direct-upgrade.ts)
      for (let attempt = 1; attempt <= 2; attempt++) {
        try {
          const connection = await peer.node.dial(target, { signal: AbortSignal.timeout(8_000) })
          return { kind: connectionKind(connection), attempts: attempt, ms: performance.now() - start }
        } catch (err) {
          last = err
        }
      }
      throw last instanceof Error ? last : new Error(String(last))
    },

    tasks: async (peerId, count, warmup) => await timed(count, warmup, async () => {
      const sent = await peer.send(peerId, TASK_TEXT)
      const done = await peer.waitFor(sent.id)
      if (done.state !== 'TASK_STATE_COMPLETED' || answerText(done) !== TASK_TEXT) {
        throw new Error(`task ${done.id} ended ${done.state} with "${answerText(done)}"`)
      }
    }),

    echo: async (peerId, kind, count, warmup) => {
      const connection = connectionsTo(peerId).find(c => connectionKind(c) === kind)
      if (connection == null) throw new Error(`no ${kind} connection to ${peerId}`)
      const stream = await connection.newStream(BENCH_ECHO_PROTOCOL, { runOnLimitedConnection: true })
      const lp = lpStream(stream)
      const message = payload()
      try {
        return await timed(count, warmup, async () => {
          await lp.write(message)
          const back = await lp.read()
          if (back.byteLength !== message.byteLength) throw new Error(`echo came back with ${back.byteLength} bytes`)
        })
      } finally {
        await stream.close().catch(() => {})
      }
    },

    wsEcho: async (url, count, warmup) => {
      const socket = new WebSocket(url)
      socket.binaryType = 'arraybuffer'
      await new Promise<void>((resolve, reject) => {
        socket.onopen = () => { resolve() }
        socket.onerror = () => { reject(new Error(`cannot open ${url}`)) }
      })
      const message = payload()
      try {
        return await timed(count, warmup, async () => {
          const back = new Promise<void>((resolve, reject) => {
            socket.onmessage = (evt: MessageEvent<ArrayBuffer>) => {
              if (evt.data.byteLength === message.byteLength) resolve()
              else reject(new Error(`echo came back with ${evt.data.byteLength} bytes`))
            }
          })
          socket.send(message)
          await back
        })
      } finally {
        socket.close()
      }
    }
  }
}

/** Runs `op` `warmup` times untimed, then `count` times timed; the samples in ms. */
async function timed (count: number, warmup: number, op: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await op()
  const samples: number[] = []
  for (let i = 0; i < count; i++) {
    const start = performance.now()
    await op()
    samples.push(performance.now() - start)
  }
  return samples
}

function payload (): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(TASK_TEXT.padEnd(ECHO_BYTES, '.').slice(0, ECHO_BYTES))
}

main().catch((err: unknown) => {
  show(`failed: ${err instanceof Error ? err.message : String(err)}`)
  console.error('starling bench page: the peer did not start', err)
})
