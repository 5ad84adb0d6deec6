import { describe, expect, it } from 'vitest'
import * as varint from 'uint8-varint'
import type { Uint8ArrayList } from 'uint8arraylist'
import { FrameTooLargeError, MalformedFrameError, MessageTooLargeError } from '../errors.js'
import { TransferAllowance } from './allowance.js'
import { encodeBody, encodeFrame, frame } from './frame.js'
import { abortFragment, continueFragment, MessageDecoder, startFragment } from './fragment.js'
import type { DecodedMessage } from './fragment.js'

function bytes (frame: Uint8Array | Uint8ArrayList): Uint8Array {
  return frame instanceof Uint8Array ? frame : frame.subarray()
}

function concat (...parts: Array<Uint8Array | Uint8ArrayList>): Uint8Array {
  const all = parts.map(bytes)
  const out = new Uint8Array(all.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of all) { out.set(p, offset); offset += p.byteLength }
  return out
}

/** The frames of `value` cut into fragments of `size` bytes, as a sender would write them. */
function fragments (message: number, id: number | string | null, value: unknown, size: number): Array<Uint8Array | Uint8ArrayList> {
  const body = encodeBody(value)
  const out: Array<Uint8Array | Uint8ArrayList> = [startFragment(message, body.byteLength, id, body.subarray(0, size))]
  for (let offset = size; offset < body.byteLength; offset += size) out.push(continueFragment(message, body.subarray(offset, offset + size)))
  return out
}

/** A raw frame with `body` as it is. */
function raw (...body: number[]): Uint8Array {
  return frame(Uint8Array.from(body))
}

function decodeAll (decoder: MessageDecoder, ...chunks: Array<Uint8Array | Uint8ArrayList>): DecodedMessage[] {
  return chunks.flatMap(chunk => [...decoder.push(chunk)])
}

const request = { jsonrpc: '2.0', id: 7, method: 'SendMessage', params: { text: 'z'.repeat(5000) } }

describe('fragments', () => {
  it('reassembles a fragmented message cut anywhere, and leaves whole frames as they are', () => {
    const wire = concat(encodeFrame({ before: 1 }), ...fragments(1, 7, request, 1000), encodeFrame({ after: 2 }))
    for (const cut of [1, 2, 3, 7, 500, 1001, 1002, 2500, wire.byteLength - 1]) {
      const decoder = new MessageDecoder({ maxMessageBytes: 1 << 20 })
      const out = decodeAll(decoder, wire.subarray(0, cut), wire.subarray(cut))
      expect(out).toEqual([{ ok: true, value: { before: 1 } }, { ok: true, value: request }, { ok: true, value: { after: 2 } }])
      expect(decoder.bufferedBytes).toBe(0)
    }
  })

  it('interleaves two messages and whole frames, each delivered when its last byte is in', () => {
    const a = fragments(1, 1, { id: 1, big: 'a'.repeat(3500) }, 1024)
    const b = fragments(2, 'two', { id: 'two', big: 'b'.repeat(2000) }, 1024)
    const decoder = new MessageDecoder({ maxMessageBytes: 1 << 20 })
    const out = decodeAll(decoder, a[0]!, b[0]!, encodeFrame('small'), a[1]!, b[1]!, a[2]!, encodeFrame('small again'), a[3]!)
    expect(out.map(m => m.ok ? m.value : m)).toEqual(['small', { id: 'two', big: 'b'.repeat(2000) }, 'small again', { id: 1, big: 'a'.repeat(3500) }])
  })

  it('refuses a message over the limit at its start, by id, and drops its fragments without holding them', () => {
    const decoder = new MessageDecoder({ maxMessageBytes: 2000 })
    const [start, ...rest] = fragments(3, 42, request, 1000)
    const first = decodeAll(decoder, start!)
    expect(first).toHaveLength(1)
    expect(first[0]).toMatchObject({ ok: false, id: 42 })
    const error = (first[0] as { error: MessageTooLargeError }).error
    expect(error).toBeInstanceOf(MessageTooLargeError)
    expect(error.limit).toBe(2000)
    expect(error.size).toBe(encodeBody(request).byteLength)
    expect(decoder.bufferedBytes).toBe(0)
    expect(decodeAll(decoder, ...rest, encodeFrame('next'))).toEqual([{ ok: true, value: 'next' }])
    expect(decoder.unfinished).toBe(0)
  })

  it('holds at most the reassembly limit per stream: a message that would pass it is refused', () => {
    const decoder = new MessageDecoder({ maxMessageBytes: 6000, maxReassemblyBytes: 8000 })
    const a = fragments(1, 1, { id: 1, big: 'a'.repeat(5000) }, 1000)
    const b = fragments(2, 2, { id: 2, big: 'b'.repeat(5000) }, 1000)
    expect(decodeAll(decoder, a[0]!)).toEqual([])
    expect(decoder.bufferedBytes).toBeGreaterThan(5000)
    const refused = decodeAll(decoder, b[0]!)
    expect(refused).toMatchObject([{ ok: false, id: 2, error: { code: 'ERR_MESSAGE_TOO_LARGE' } }])
    expect(decodeAll(decoder, ...b.slice(1), ...a.slice(1))).toMatchObject([{ ok: true, value: { id: 1 } }])
    // room again once the first is done
    expect(decodeAll(decoder, ...fragments(3, 3, { id: 3, big: 'c'.repeat(5000) }, 1000))).toMatchObject([{ ok: true, value: { id: 3 } }])
    expect(decoder.bufferedBytes).toBe(0)
  })

  it('bounds the number of unfinished messages a stream may have', () => {
    const decoder = new MessageDecoder({ maxMessageBytes: 1 << 20, maxUnfinished: 3 })
    const starts = [1, 2, 3, 4].map(n => startFragment(n, 10, n, new Uint8Array(1)))
    const out = decodeAll(decoder, ...starts)
    expect(out).toMatchObject([{ ok: false, id: 4, error: { message: 'a stream may have at most 3 unfinished fragmented messages' } }])
    expect(decoder.unfinished).toBe(3)
  })

  it('drops a stalled message when its room is needed, and says so by its id', () => {
    const a = fragments(1, 1, { id: 1, big: 'a'.repeat(5000) }, 1000)
    const b = fragments(2, 2, { id: 2, big: 'b'.repeat(5000) }, 1000)
    const patient = new MessageDecoder({ maxMessageBytes: 6000, maxReassemblyBytes: 8000 })
    expect(decodeAll(patient, a[0]!, b[0]!)).toMatchObject([{ ok: false, id: 2, error: { code: 'ERR_MESSAGE_TOO_LARGE' } }])
    // with no patience at all, the first counts as abandoned as soon as the second needs room
    const hasty = new MessageDecoder({ maxMessageBytes: 6000, maxReassemblyBytes: 8000, stallMs: 0 })
    const out = decodeAll(hasty, a[0]!, ...b, ...a.slice(1))
    expect(out).toMatchObject([
      { ok: false, id: 1, error: { message: expect.stringMatching(/message 1 was dropped: no fragment of it for/) } },
      { ok: true, value: { id: 2 } }
    ])
    expect(hasty.bufferedBytes).toBe(0)
  })

  it('drops an aborted message and frees what it held', () => {
    const decoder = new MessageDecoder({ maxMessageBytes: 1 << 20 })
    const [start, next] = fragments(5, 5, request, 1000)
    expect(decodeAll(decoder, start!, next!, abortFragment(5))).toEqual([])
    expect(decoder.bufferedBytes).toBe(0)
    expect(decoder.unfinished).toBe(0)
    // its late fragments, and fragments of messages never started, are ignored
    expect(decodeAll(decoder, continueFragment(5, new Uint8Array(10)), continueFragment(99, new Uint8Array(10)), encodeFrame('ok'))).toEqual([{ ok: true, value: 'ok' }])
  })

  it('reports malformed fragments with the id of their message when it is known, and goes on', () => {
    const decoder = new MessageDecoder({ maxMessageBytes: 1 << 20 })
    const good = encodeFrame('still fine')
    const cases: Array<[string, Array<Uint8Array | Uint8ArrayList>, number | null | undefined]> = [
      ['a message longer than announced', [startFragment(1, 4, 11, new TextEncoder().encode('"ab')), continueFragment(1, new TextEncoder().encode('cd"'))], 11],
      ['a START carrying more than its total', [startFragment(2, 2, 12, new TextEncoder().encode('"abc"'))], undefined],
      ['a START of an empty message', [startFragment(3, 0, 13, new Uint8Array())], undefined],
      ['an id that is not JSON', [raw(0x01, 4, 10, 2, 0x7b, 0x7b)], undefined],
      ['an id that is not a JSON-RPC id', [raw(0x01, 4, 10, 2, 0x5b, 0x5d)], undefined],
      ['a message number that is not a varint', [raw(0x02, 0xff, 0xff)], undefined],
      ['an ABORT with more than its number', [startFragment(6, 10, 16, new Uint8Array(2)), raw(0x03, 6, 0)], 16],
      ['a message started twice', [startFragment(7, 10, 17, new Uint8Array(2)), startFragment(7, 10, 18, new Uint8Array(2))], 17],
      ['bytes that are not JSON', [startFragment(8, 4, 19, new TextEncoder().encode('{no')), continueFragment(8, new TextEncoder().encode('!'))], 19]
    ]
    for (const [what, frames, id] of cases) {
      const out = decodeAll(decoder, ...frames, good)
      const errors = out.filter(m => !m.ok)
      expect(errors.length, what).toBeGreaterThan(0)
      expect(errors[0]!.ok === false && errors[0]!.error, what).toBeInstanceOf(MalformedFrameError)
      if (id !== undefined) expect(errors[0], what).toMatchObject({ id })
      expect(out.at(-1), what).toEqual({ ok: true, value: 'still fine' })
      expect(decoder.bufferedBytes, what).toBe(0)
    }
  })

  it('still refuses a frame whose length prefix is over the frame limit: the stream is lost', () => {
    const decoder = new MessageDecoder({ maxMessageBytes: 1 << 30, maxFrameBytes: 1024 })
    expect(() => decodeAll(decoder, varint.encode(2048))).toThrow(FrameTooLargeError)
  })

  it('counts what the remote announced against a relayed connection until it has arrived', () => {
    const allowance = new TransferAllowance({ bytes: 1_000_000n })
    const decoder = new MessageDecoder({ maxMessageBytes: 1 << 20, allowance })
    const before = allowance.remainingBytes()!
    const [start, ...rest] = fragments(1, 1, request, 1000)
    decodeAll(decoder, start!)
    expect(allowance.remainingBytes()!).toBeLessThan(before - 4000)
    decodeAll(decoder, ...rest)
    expect(allowance.remainingBytes()).toBe(before)
    decodeAll(decoder, start!)
    decoder.clear()
    expect(allowance.remainingBytes()).toBe(before)
  })
})
