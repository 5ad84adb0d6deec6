/**
 * The checks in front of plain HTTP agents: how a URL names an agent, and what `boundedFetch`
 * lets through to the SDK (real Response objects, no network).
 */
import { describe, expect, it } from 'vitest'
import { InvalidInputError } from '../errors.js'
import { agentCardUrl, boundedFetch, checkHttpAgentCard, InvalidAgentResponseError, isAgentUrl } from './http-agents.js'
import { buildAgentCard } from '../a2a/binding.js'

/** A fetch that answers every request with `response()`. */
function answering (response: () => Response): typeof fetch {
  return async () => response()
}

describe('naming an HTTP agent by its card URL', () => {
  it('normalises card and base URLs to one card URL', () => {
    expect(agentCardUrl('https://Agent.Example/.well-known/agent-card.json#x')).toBe('https://agent.example/.well-known/agent-card.json')
    expect(agentCardUrl('https://agent.example')).toBe('https://agent.example/.well-known/agent-card.json')
    expect(agentCardUrl('https://agent.example/a2a/?q=1')).toBe('https://agent.example/a2a/.well-known/agent-card.json')
    expect(agentCardUrl(' http://127.0.0.1:8080/cards/me.json?v=2 ')).toBe('http://127.0.0.1:8080/cards/me.json?v=2')
  })

  it('refuses what is not an http(s) URL', () => {
    expect(() => agentCardUrl('ftp://agent.example/card.json')).toThrow(InvalidInputError)
    expect(() => agentCardUrl('12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo')).toThrow(/is not a URL/)
    expect(() => agentCardUrl('https://user:secret@agent.example/')).toThrow(/user name or password/)
  })

  it('tells a card URL from a PeerID', () => {
    expect(isAgentUrl('https://agent.example/.well-known/agent-card.json')).toBe(true)
    expect(isAgentUrl('12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo')).toBe(false)
  })

  it('accepts a card only with an HTTP interface the SDK speaks', () => {
    const card = buildAgentCard('x', { name: 'Plain', description: '', skills: [] })
    expect(() => checkHttpAgentCard(card, 'https://a.example/c.json')).toThrow(/no http\(s\) interface/)
    const usable = { ...card, supportedInterfaces: [{ url: 'https://a.example/rpc', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }] }
    expect(checkHttpAgentCard(usable, 'https://a.example/c.json').name).toBe('Plain')
  })
})

describe('boundedFetch', () => {
  it('passes JSON through, whole', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { ok: true } })
    const response = await boundedFetch({ fetch: answering(() => new Response(body, { headers: { 'content-type': 'application/json' } })) })('http://a/rpc')
    expect(await response.json()).toEqual({ jsonrpc: '2.0', id: 1, result: { ok: true } })
  })

  it('refuses a body that is not JSON, and one over the limit (declared or not)', async () => {
    const html = boundedFetch({ fetch: answering(() => new Response('<html>oops</html>', { headers: { 'content-type': 'text/html' } })) })
    await expect(html('http://a/rpc')).rejects.toThrow(InvalidAgentResponseError)
    await expect(html('http://a/rpc')).rejects.toThrow(/not JSON .*starting "<html>oops<\/html>"/)

    const big = JSON.stringify({ padding: 'x'.repeat(2048) })
    const declared = boundedFetch({ maxBodyBytes: 1024, fetch: answering(() => new Response(big, { headers: { 'content-length': String(big.length) } })) })
    await expect(declared('http://a/rpc')).rejects.toThrow(/the limit is 1024/)
    const streamed = boundedFetch({
      maxBodyBytes: 1024,
      fetch: answering(() => new Response(new ReadableStream({
        start (controller) {
          for (let i = 0; i < 4; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(512)))
          controller.close()
        }
      })))
    })
    await expect(streamed('http://a/rpc')).rejects.toThrow(/passed 1024 bytes/)
  })

  it('leaves an HTTP error to the SDK, and cuts an event stream past its limit', async () => {
    const failing = await boundedFetch({ fetch: answering(() => new Response('Bad gateway', { status: 502 })) })('http://a/rpc')
    expect(failing.status).toBe(502)
    expect(await failing.text()).toBe('Bad gateway')

    const sse = await boundedFetch({
      maxStreamBytes: 100,
      fetch: answering(() => new Response(new ReadableStream({
        start (controller) {
          for (let i = 0; i < 3; i++) controller.enqueue(new TextEncoder().encode(`data: ${'x'.repeat(50)}\n\n`))
          controller.close()
        }
      }), { headers: { 'content-type': 'text/event-stream' } }))
    })('http://a/rpc')
    await expect(sse.text()).rejects.toThrow(/event stream passed 100 bytes/)
  })
})
