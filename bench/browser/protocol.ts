/**
 * What the browser benchmark's page (bench/browser/page/main.tsx) offers the Node script that
 * drives it (bench/browser/netns-main.ts) on `window.starlingBench`. Shared by both, so it holds
 * types and constants only: no DOM, no Node.
 */

/** The bare echo protocol both pages handle: length-prefixed messages, sent back as they came. */
export const BENCH_ECHO_PROTOCOL = '/starling-bench/echo/1.0.0'

/** The text of every benchmark task (the echo agent answers it back). */
export const TASK_TEXT = 'What is the round trip of this task? Answer with this text.'

/** Bytes of each bare echo message (libp2p and WebSocket): about the task's text. */
export const ECHO_BYTES = 64

export type ConnectionKindName = 'direct' | 'webrtc' | 'relayed'

export interface PageStatus {
  peerId: string
  relay: string
  /** Whether our card is in the relay's registry. */
  published: boolean
  error?: string
}

export interface LinkInfo {
  kind: ConnectionKindName
  remoteAddr: string
  /** Protocols of the streams open on this connection. */
  protocols: string[]
}

export interface UpgradeResult {
  /** The kind of the connection the dial gave. */
  kind: ConnectionKindName
  /** Dial attempts it took (1 or 2). */
  attempts: number
  /** ms from the first dial to the connection. */
  ms: number
}

/** Samples are in ms, measured in the page with performance.now(). */
export interface StarlingBenchHandle {
  status: () => PageStatus
  /** Our connections to `peerId`, with their open streams. */
  links: (peerId: string) => LinkInfo[]
  /** Dials `peerId` over WebRTC, signalled through the relay (a second try if the first fails). */
  upgrade: (peerId: string) => Promise<UpgradeResult>
  /** `count` tasks one after another: SendMessage, then wait for the completed echo. */
  tasks: (peerId: string, count: number, warmup: number) => Promise<number[]>
  /** Bare length-prefixed echo on one stream over our connection of `kind` to `peerId`. */
  echo: (peerId: string, kind: ConnectionKindName, count: number, warmup: number) => Promise<number[]>
  /** WebSocket echo to `url` (a Node `ws` server). */
  wsEcho: (url: string, count: number, warmup: number) => Promise<number[]>
}
