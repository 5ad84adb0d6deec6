/**
 * What a native peer keeps of its meshes (meshes.json in its home) and the policy in its
 * config.json: both survive a restart, and a wrong one is named rather than ignored.
 */
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, readConfig } from './config.js'
import { homePaths } from './home.js'
import { createNativePeer } from './sdk.js'
import { MESHES_FILE, MeshFileError } from './store/meshes.js'
import { tcpAddr, tempDir, testRelay } from './test-helpers.js'
import type { RunningRelay } from '../../relay/relay.js'

const profile = { name: 'mesh keeper', description: '', skills: [] }

describe('meshes.json and the policy of config.json', () => {
  let relay: RunningRelay
  let dir: Awaited<ReturnType<typeof tempDir>>
  beforeAll(async () => {
    relay = await testRelay()
    dir = await tempDir()
  })
  afterAll(async () => {
    await dir.remove()
    await relay.stop()
  })

  it('keeps the meshes a peer created and its invites across a restart, in a file only its user reads', async () => {
    const home = join(dir.path, 'keeper')
    const first = await createNativePeer({ home, profile, relay: tcpAddr(relay) })
    const mesh = await first.meshes.create('kept')
    const invite = await first.meshes.invite(mesh.meshId, { maxUses: 3 })
    await first.stop()

    expect((await stat(join(home, MESHES_FILE))).mode & 0o777).toBe(0o600)
    const again = await createNativePeer({ home, relay: tcpAddr(relay) })
    try {
      expect(again.meshes.list()).toEqual([mesh])
      expect(again.meshes.invites(mesh.meshId)).toMatchObject([{ inviteId: invite.inviteId, maxUses: 3 }])
      // still its owner: it can invite again
      await expect(again.meshes.invite(mesh.meshId)).resolves.toMatchObject({ meshId: mesh.meshId })
    } finally {
      await again.stop()
    }
  })

  it('does not start on a meshes.json it cannot read, rather than forget its meshes', async () => {
    const home = join(dir.path, 'broken')
    const peer = await createNativePeer({ home, profile, relay: tcpAddr(relay) })
    await peer.stop()
    await writeFile(join(home, MESHES_FILE), JSON.stringify({ meshes: [{ meshId: 42 }], invites: [], revocations: [] }))
    await expect(createNativePeer({ home, relay: tcpAddr(relay) })).rejects.toThrow(MeshFileError)
    await writeFile(join(home, MESHES_FILE), '{ not json')
    await expect(createNativePeer({ home, relay: tcpAddr(relay) })).rejects.toThrow(/could not read .*meshes\.json/)
  })

  it('reads policy rules and a rate limit from config.json, and names a wrong rule', async () => {
    const home = join(dir.path, 'policy')
    const peer = await createNativePeer({ home, profile, relay: tcpAddr(relay) })
    await peer.stop()
    const path = homePaths(home).config
    const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
    const policy = [
      { effect: 'allow', from: { mesh: 'someone/abc' }, skill: 'deploy' },
      { effect: 'deny', from: 'any', skill: 'deploy' },
      { effect: 'allow', from: { peer: '12D3KooWfriend' } }
    ]
    await writeFile(path, JSON.stringify({ ...config, policy, rateLimit: { perSecond: 2, burst: 10 } }))
    expect(await readConfig(home)).toMatchObject({ policy, rateLimit: { perSecond: 2, burst: 10 } })

    await writeFile(path, JSON.stringify({ ...config, policy: [{ effect: 'allow' }, { effect: 'maybe' }] }))
    await expect(readConfig(home)).rejects.toThrow(/policy\[1\]\.effect/)
    await writeFile(path, JSON.stringify({ ...config, policy: [{ effect: 'deny', from: {} }] }))
    await expect(readConfig(home)).rejects.toThrow(/must name a mesh or a peer/)
    await writeFile(path, JSON.stringify({ ...config, rateLimit: { perSecond: 0, burst: 1 } }))
    await expect(readConfig(home)).rejects.toThrow(ConfigError)
  })
})
