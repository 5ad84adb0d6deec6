import { describe, expect, it } from 'vitest'
import * as varint from 'uint8-varint'
import { FrameTooLargeError } from '../errors.js'
import { encodeFrame, FrameDecoder } from './frame.js'

function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of parts) { out.set(p, offset); offset += p.byteLength }
  return out
}

describe('frames', () => {
  it('round-trips JSON values, including several frames in one chunk', () => {
    const values = [{ a: 1 }, 'ünïcødé ✓', [1, 2, 3], null]
    const decoder = new FrameDecoder()
    const out = [...decoder.push(concat(...values.map(v => encodeFrame(v))))]
    expect(out).toEqual(values.map(value => ({ ok: true, value })))
  })

  it('reassembles a frame split across chunks at every byte boundary', () => {
    const frame = encodeFrame({ text: 'x'.repeat(300) })
    for (let cut = 1; cut < frame.byteLength; cut++) {
      const decoder = new FrameDecoder()
      const first = [...decoder.push(frame.subarray(0, cut))]
      const second = [...decoder.push(frame.subarray(cut))]
      expect(first).toEqual([])
      expect(second).toEqual([{ ok: true, value: { text: 'x'.repeat(300) } }])
    }
  })

  it('refuses to encode a frame over the limit', () => {
    expect(() => encodeFrame({ big: 'y'.repeat(100) }, 64)).toThrow(FrameTooLargeError)
  })

  it('throws FrameTooLargeError as soon as a length prefix announces too much', () => {
    const decoder = new FrameDecoder(1024)
    const prefix = varint.encode(10 * 1024 * 1024)
    expect(() => [...decoder.push(prefix)]).toThrow(/exceeds the limit of 1024 bytes/)
  })

  it('throws on a length prefix that is not a varint', () => {
    const decoder = new FrameDecoder(1024)
    expect(() => [...decoder.push(new Uint8Array(12).fill(0xff))]).toThrow(FrameTooLargeError)
  })

  it('reports frames that are not JSON or not UTF-8, and goes on with the next', () => {
    const bad = new TextEncoder().encode('{not json')
    const notUtf8 = new Uint8Array([0xc3, 0x28])
    const decoder = new FrameDecoder()
    const out = [...decoder.push(concat(
      varint.encode(bad.byteLength), bad,
      varint.encode(notUtf8.byteLength), notUtf8,
      encodeFrame({ ok: 1 })
    ))]
    expect(out[0]).toMatchObject({ ok: false, error: { code: 'ERR_MALFORMED_FRAME', message: 'frame is not valid JSON' } })
    expect(out[1]).toMatchObject({ ok: false, error: { message: 'frame is not valid UTF-8' } })
    expect(out[2]).toEqual({ ok: true, value: { ok: 1 } })
  })
})
