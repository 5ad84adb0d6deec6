/**
 * For tests that speak to a Starling stream frame by frame, the way a misbehaving peer would.
 */
import type { Stream } from '@libp2p/interface'
import { FrameDecoder } from './frame.js'

export interface FrameCollector {
  /** Every frame that decoded, in order. */
  frames: unknown[]
  /** Resolves once `n` frames have arrived. */
  received: (n: number) => Promise<void>
}

/** Collects the frames that arrive on `stream`. */
export function collectFrames (stream: Stream): FrameCollector {
  const frames: unknown[] = []
  const waiters: Array<{ n: number, resolve: () => void }> = []
  const decoder = new FrameDecoder()
  stream.addEventListener('message', (evt) => {
    for (const frame of decoder.push(evt.data)) if (frame.ok) frames.push(frame.value)
    for (const waiter of waiters.filter(w => frames.length >= w.n)) waiter.resolve()
  })
  return {
    frames,
    received: async (n) => {
      if (frames.length >= n) return
      await new Promise<void>(resolve => waiters.push({ n, resolve }))
    }
  }
}
