/**
 * `--mode` and `--mesh`: flags, environment, the config file; a private relay needs a mesh, and
 * every mesh id is one.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../config.js'
import type { RelayConfig } from '../config.js'
import { tempDir } from '../../src/native/test-helpers.js'
import { testMesh } from './test-helpers.js'

describe('private mode configuration', () => {
  const dirs: Array<{ remove: () => Promise<void> }> = []
  afterEach(async () => { await Promise.all(dirs.splice(0).map(async d => { await d.remove() })) })

  const load = (argv: string[], env: NodeJS.ProcessEnv = {}): RelayConfig => loadConfig(['--data-dir', '/nonexistent/starling', ...argv], env) as RelayConfig

  it('is open by default, and takes meshes from a repeated flag, a comma-separated variable or the file', async () => {
    const [a, b] = await Promise.all([testMesh(), testMesh()])
    expect(load([])).toMatchObject({ mode: 'open', meshes: [] })
    expect(load(['--mode', 'private', '--mesh', a.meshId, '--mesh', b.meshId])).toMatchObject({ mode: 'private', meshes: [a.meshId, b.meshId] })
    expect(load([], { STARLING_MODE: 'private', STARLING_MESH: `${a.meshId}, ${b.meshId}` })).toMatchObject({ mode: 'private', meshes: [a.meshId, b.meshId] })
    // the flag wins over the variable
    expect(load(['--mesh', b.meshId], { STARLING_MODE: 'private', STARLING_MESH: a.meshId }).meshes).toEqual([b.meshId])
    const dir = await tempDir()
    dirs.push(dir)
    const file = join(dir.path, 'relay.json')
    writeFileSync(file, JSON.stringify({ mode: 'private', mesh: [a.meshId] }))
    expect(load(['--config', file])).toMatchObject({ mode: 'private', meshes: [a.meshId] })
  })

  it('refuses a private relay without meshes, a mesh id that is not one, and an unknown mode, naming the option', async () => {
    expect(() => load(['--mode', 'private'])).toThrow(/--mode private needs the meshes it serves: --mesh/)
    expect(() => load(['--mesh', 'not-a-mesh'])).toThrow(ConfigError)
    expect(() => load(['--mesh', 'nobody/abc'])).toThrow(/--mesh: "nobody\/abc" does not start with a PeerID/)
    expect(() => load(['--mode', 'secret'])).toThrow(/--mode: mode must be one of open\|private, got "secret"/)
  })
})
