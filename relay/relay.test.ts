import { afterEach, describe, expect, it } from 'vitest'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError, loadConfig, usage } from './config.js'
import { preferFor, startRelay } from './relay.js'
import type { RunningRelay } from './relay.js'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { tcpAddr, tempDir, testRelay } from '../src/native/test-helpers.js'

describe('relay configuration', () => {
  it('takes flags over environment over defaults', () => {
    const config = loadConfig(['--port', '9000'], { STARLING_PORT: '7000', STARLING_TCP_PORT: '7001' })
    expect(config).toMatchObject({ port: 9000, tcpPort: 7001, host: '127.0.0.1', maxReservations: 4096 })
  })

  it('refuses a bad value, naming it and where it came from', () => {
    expect(() => loadConfig(['--port', 'eighty'], {})).toThrow(new ConfigError('--port: port must be a port number (0-65535), got "eighty"', { option: 'port', source: '--port' }))
    expect(() => loadConfig([], { STARLING_MAX_RESERVATIONS: '-3' })).toThrow(/STARLING_MAX_RESERVATIONS: max-reservations must be a positive whole number/)
    expect(() => loadConfig(['--no-such-flag'], {})).toThrow(/no-such-flag/)
  })

  it('lists every option with its default in --help', () => {
    expect(loadConfig(['--help'], {})).toBe('help')
    for (const flag of ['--host', '--port', '--tcp-port', '--data-dir', '--max-reservations', '--relay-data-limit', '--relay-duration-limit', '--ice-servers']) {
      expect(usage()).toContain(flag)
    }
  })

  it('lets the ICE server list be empty', () => {
    expect(loadConfig(['--ice-servers', 'none'], {})).toMatchObject({ iceServers: [] })
  })
})

describe('relay addresses for a client', () => {
  it('puts the WebSocket address on the host the client reached first', () => {
    const addrs = ['/ip4/127.0.0.1/tcp/4001/p2p/R', '/ip4/10.0.0.2/tcp/8080/ws/p2p/R', '/ip4/127.0.0.1/tcp/8080/ws/p2p/R']
    expect(preferFor('127.0.0.1:8080', addrs)).toEqual([
      '/ip4/127.0.0.1/tcp/8080/ws/p2p/R', '/ip4/10.0.0.2/tcp/8080/ws/p2p/R', '/ip4/127.0.0.1/tcp/4001/p2p/R'
    ])
    expect(preferFor('10.0.0.2:8080', addrs)[0]).toBe('/ip4/10.0.0.2/tcp/8080/ws/p2p/R')
  })
})

describe('relay process', () => {
  const running: RunningRelay[] = []
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    await Promise.all(running.splice(0).map(async r => { await r.stop() }))
    await Promise.all(cleanups.splice(0).map(async c => { await c() }))
  })

  async function start (dataDir: string, appDir: string): Promise<RunningRelay> {
    const config = loadConfig(['--port', '0', '--tcp-port', '0', '--data-dir', dataDir, '--app-dir', appDir, '--ice-servers', 'stun:stun.example.org'], {})
    if (config === 'help') throw new Error('unreachable')
    const relay = await startRelay(config)
    running.push(relay)
    return relay
  }

  it('keeps its PeerID across restarts', async () => {
    const dir = await tempDir()
    cleanups.push(dir.remove)
    const first = await start(dir.path, dir.path)
    const id = first.peerId
    await first.stop()
    running.length = 0
    const second = await start(dir.path, dir.path)
    expect(second.peerId).toBe(id)
  })

  it('serves the app shell, its assets, the relay info and health, and nothing outside the app', async () => {
    const dir = await tempDir()
    cleanups.push(dir.remove)
    const app = join(dir.path, 'app')
    await mkdir(join(app, 'assets'), { recursive: true })
    await writeFile(join(app, 'index.html'), '<!doctype html><title>Starling</title>')
    await writeFile(join(app, 'assets', 'main-abc123.js'), 'console.log(1)')
    await writeFile(join(dir.path, 'secret.txt'), 'do not serve')
    const relay = await start(join(dir.path, 'data'), app)

    const shell = await fetch(`${relay.url}/`)
    expect(shell.headers.get('content-type')).toMatch(/text\/html/)
    expect(shell.headers.get('cache-control')).toBe('no-cache')
    expect(await shell.text()).toContain('<title>Starling</title>')
    // client-side routes get the shell too
    expect(await (await fetch(`${relay.url}/tasks/123`)).text()).toContain('<title>Starling</title>')
    const asset = await fetch(`${relay.url}/assets/main-abc123.js`)
    expect(asset.headers.get('cache-control')).toMatch(/immutable/)
    // text is sent compressed to clients that accept it (fetch decompresses on the fly)
    const big = 'console.log("a fairly long line of JavaScript that repeats");\n'.repeat(200)
    await writeFile(join(app, 'assets', 'big-def456.js'), big)
    const br = await fetch(`${relay.url}/assets/big-def456.js`, { headers: { 'Accept-Encoding': 'br' } })
    expect(br.headers.get('content-encoding')).toBe('br')
    expect(Number(br.headers.get('content-length'))).toBeLessThan(big.length / 10)
    expect(await br.text()).toBe(big)
    const gz = await fetch(`${relay.url}/assets/big-def456.js`, { headers: { 'Accept-Encoding': 'gzip' } })
    expect(gz.headers.get('content-encoding')).toBe('gzip')
    expect(await gz.text()).toBe(big)
    const plain = await fetch(`${relay.url}/assets/big-def456.js`, { headers: { 'Accept-Encoding': 'identity' } })
    expect(plain.headers.get('content-encoding')).toBeNull()
    expect(await plain.text()).toBe(big)
    expect((await fetch(`${relay.url}/../secret.txt`)).status).toBe(404)
    expect((await fetch(`${relay.url}/%2e%2e/secret.txt`)).status).toBe(404)
    expect((await fetch(`${relay.url}/missing.js`)).status).toBe(404)
    expect((await fetch(`${relay.url}/api/v1/nothing`)).status).toBe(404)
    expect((await fetch(`${relay.url}/api/v1/agents`, { method: 'POST' })).status).toBe(405)
    expect((await fetch(`${relay.url}/api/v1/agents?limit=-1`)).status).toBe(400)

    const info = await (await fetch(`${relay.url}/api/v1/relay`)).json() as { peerId: string, multiaddrs: string[], iceServers: unknown }
    expect(info.peerId).toBe(relay.peerId)
    const port = new URL(relay.url).port
    expect(info.multiaddrs[0]).toBe(`/ip4/127.0.0.1/tcp/${port}/ws/p2p/${relay.peerId}`)
    expect(info.multiaddrs.every(a => a.endsWith(`/p2p/${relay.peerId}`))).toBe(true)
    expect(info.iceServers).toEqual([{ urls: ['stun:stun.example.org'] }])

    const health = await (await fetch(`${relay.url}/health`)).json()
    expect(health).toMatchObject({ status: 'ok', peerId: relay.peerId, connectedPeers: 0, reservations: 0, agents: 0 })

    // pages of other origins (a PWA that lists this relay among its relays) may read the public
    // facts; nothing else is opened to them
    for (const path of ['/health', '/api/v1/relay', '/api/v1/agents']) {
      const response = await fetch(`${relay.url}${path}`, { headers: { Origin: 'https://another-relay.example' } })
      expect(response.headers.get('access-control-allow-origin'), path).toBe('*')
    }
    for (const path of ['/metrics', '/', '/assets/big-def456.js']) {
      const response = await fetch(`${relay.url}${path}`, { headers: { Origin: 'https://another-relay.example' } })
      expect(response.headers.get('access-control-allow-origin'), path).toBeNull()
    }
  })
})

describe('relay silence detection', () => {
  it('closes a connection that stays silent, and keeps one whose peer keeps pinging', async () => {
    const relay = await testRelay({ idleTimeout: 2 })
    const peer = async (keepAliveMs?: number) => await createLibp2p({
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux(keepAliveMs == null ? { enableKeepAlive: false } : { keepAliveInterval: keepAliveMs })],
      connectionMonitor: { enabled: false }
    })
    const silent = await peer()
    const lively = await peer(300)
    try {
      await Promise.all([silent.dial(multiaddr(tcpAddr(relay))), lively.dial(multiaddr(tcpAddr(relay)))])
      const relayId = relay.node.peerId
      await new Promise<void>((resolve) => {
        silent.addEventListener('peer:disconnect', (evt) => { if (evt.detail.equals(relayId)) resolve() })
      })
      // the silent peer has been dropped after its 2 s of silence; the pinging one, connected as long, is still there
      expect(lively.getConnections(relayId).length).toBe(1)
      expect(relay.node.getConnections(lively.peerId).length).toBe(1)
      expect(relay.node.getConnections(silent.peerId).length).toBe(0)
    } finally {
      await Promise.all([silent.stop(), lively.stop()])
      await relay.stop()
    }
  })
})
