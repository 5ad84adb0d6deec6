/**
 * config.json's network settings (mdns, lanPort, iceServers), STARLING_ICE_SERVERS, and the ICE
 * servers a relay at a URL gives native peers.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, iceServerList, iceServersFromEnv, readConfig, switchFromEnv, writeConfig } from './config.js'
import { homePaths } from './home.js'
import { fetchRelayInfo } from './relay-addrs.js'
import { tempDir, testRelay } from './test-helpers.js'

const profile = { name: 'configured', description: '', skills: [] }

describe('config.json network settings', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  beforeAll(async () => { dir = await tempDir() })
  afterAll(async () => { await dir.remove() })

  it('reads mdns, lanPort and iceServers, and names a wrong one', async () => {
    const path = homePaths(dir.path).config
    await writeFile(path, JSON.stringify({ relay: 'http://127.0.0.1:8080', profile, mdns: false, lanPort: 4002, webrtc: false, iceServers: ['stun:stun.example.org', { urls: 'turn:turn.example.org', username: 'u', credential: 'c' }] }))
    const config = await readConfig(dir.path)
    expect(config).toMatchObject({ mdns: false, lanPort: 4002, webrtc: false })
    expect(iceServerList(config?.iceServers ?? [])).toEqual([
      { urls: ['stun:stun.example.org'] },
      { urls: 'turn:turn.example.org', username: 'u', credential: 'c' }
    ])

    await writeFile(path, JSON.stringify({ relay: 'http://127.0.0.1:8080', profile, iceServers: ['https://stun.example.org'] }))
    await expect(readConfig(dir.path)).rejects.toThrow(/iceServers\[0\]/)
    await writeFile(path, JSON.stringify({ relay: 'http://127.0.0.1:8080', profile, lanPort: 70000 }))
    await expect(readConfig(dir.path)).rejects.toThrow(/lanPort/)
    await writeFile(path, JSON.stringify({ relay: 'http://127.0.0.1:8080', profile, mdns: 'no' }))
    await expect(readConfig(dir.path)).rejects.toThrow(ConfigError)
  })

  it('keeps settings added by hand when the relay or profile is written again', async () => {
    const path = homePaths(dir.path).config
    await writeFile(path, JSON.stringify({ relay: 'http://127.0.0.1:8080', profile, mdns: false, iceServers: [] }))
    await writeConfig(dir.path, { relay: 'http://127.0.0.1:9090', profile: { ...profile, name: 'renamed' } })
    const written = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
    expect(written).toMatchObject({ relay: 'http://127.0.0.1:9090', profile: { name: 'renamed' }, mdns: false, iceServers: [] })
    await writeConfig(dir.path, { relay: 'http://127.0.0.1:9090', profile, mdns: undefined })
    expect(JSON.parse(await readFile(path, 'utf8'))).not.toHaveProperty('mdns')
  })
})

describe('STARLING_ICE_SERVERS', () => {
  it('is a comma-separated list of STUN/TURN URLs, or none', () => {
    expect(iceServersFromEnv({})).toBeUndefined()
    expect(iceServersFromEnv({ STARLING_ICE_SERVERS: 'none' })).toEqual([])
    expect(iceServersFromEnv({ STARLING_ICE_SERVERS: 'stun:a.example:3478, turn:b.example' })).toEqual([{ urls: ['stun:a.example:3478', 'turn:b.example'] }])
    expect(() => iceServersFromEnv({ STARLING_ICE_SERVERS: 'stun:a.example,http://b.example' })).toThrow(/http:\/\/b\.example/)
  })
})

describe('STARLING_MDNS and STARLING_WEBRTC', () => {
  it('are on or off, unset is undefined, and anything else is refused by name', () => {
    expect(switchFromEnv('STARLING_MDNS', {})).toBeUndefined()
    expect(switchFromEnv('STARLING_MDNS', { STARLING_MDNS: 'off' })).toBe(false)
    expect(switchFromEnv('STARLING_MDNS', { STARLING_MDNS: ' ON ' })).toBe(true)
    expect(switchFromEnv('STARLING_WEBRTC', { STARLING_WEBRTC: '0' })).toBe(false)
    expect(() => switchFromEnv('STARLING_WEBRTC', { STARLING_WEBRTC: 'of' })).toThrow(/STARLING_WEBRTC: "of" is neither on nor off/)
  })
})

describe('a relay at a URL', () => {
  it('gives native peers its TCP addresses and the ICE servers it gives browsers', async () => {
    const relay = await testRelay({ iceServers: ['stun:stun.example.org:3478'] })
    try {
      const info = await fetchRelayInfo(relay.url, AbortSignal.timeout(5_000))
      expect(info.addrs.every(a => a.includes('/tcp/') && a.endsWith(`/p2p/${relay.peerId}`))).toBe(true)
      expect(info.iceServers).toEqual([{ urls: ['stun:stun.example.org:3478'] }])
    } finally {
      await relay.stop()
    }
  })
})
