/**
 * `--mode` and `--mesh`: flags, environment, the config file; the mode's default follows the bind
 * address (open on loopback, private elsewhere); a private relay given no mesh serves its own;
 * every mesh id is one.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, defaultMode, isLoopback, loadConfig, usage } from '../config.js'
import type { RelayConfig } from '../config.js'
import { tempDir } from '../../src/native/test-helpers.js'
import { testMesh } from './test-helpers.js'

describe('private mode configuration', () => {
  const dirs: Array<{ remove: () => Promise<void> }> = []
  afterEach(async () => { await Promise.all(dirs.splice(0).map(async d => { await d.remove() })) })

  const load = (argv: string[], env: NodeJS.ProcessEnv = {}): RelayConfig => loadConfig(['--data-dir', '/nonexistent/starling', ...argv], env) as RelayConfig

  it('is open by default, and takes meshes from a repeated flag, a comma-separated variable or the file', async () => {
    const [a, b] = await Promise.all([testMesh(), testMesh()])
    expect(load([])).toMatchObject({ host: '127.0.0.1', mode: 'open', meshes: [] })
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

  it('defaults to open on a loopback address and to private on any other, unless the mode is set', async () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      expect(isLoopback(host), host).toBe(true)
      expect(load(['--host', host]).mode, host).toBe('open')
    }
    for (const host of ['0.0.0.0', '10.77.0.1', '192.168.1.4', '::', '2001:db8::1', 'relay.example.com', '128.0.0.1', '127.0.0.1.example.com']) {
      expect(isLoopback(host), host).toBe(false)
      expect(load(['--host', host]).mode, host).toBe('private')
    }
    expect(defaultMode('0.0.0.0')).toBe('private')
    // the host from the environment or the file decides it the same way
    expect(load([], { STARLING_HOST: '0.0.0.0' }).mode).toBe('private')
    // private with no --mesh: the relay's own mesh, no error
    expect(load(['--host', '0.0.0.0'])).toMatchObject({ mode: 'private', meshes: [] })
    expect(load(['--mode', 'private'])).toMatchObject({ host: '127.0.0.1', mode: 'private', meshes: [] })

    // an explicit mode wins, from wherever it comes
    expect(load(['--host', '0.0.0.0', '--mode', 'open']).mode).toBe('open')
    expect(load(['--host', '0.0.0.0'], { STARLING_MODE: 'open' }).mode).toBe('open')
    const dir = await tempDir()
    dirs.push(dir)
    const file = join(dir.path, 'relay.json')
    writeFileSync(file, JSON.stringify({ host: '0.0.0.0', mode: 'open' }))
    expect(load(['--config', file])).toMatchObject({ host: '0.0.0.0', mode: 'open' })
    writeFileSync(file, JSON.stringify({ host: '10.0.0.5' }))
    expect(load(['--config', file])).toMatchObject({ host: '10.0.0.5', mode: 'private' })
    writeFileSync(file, JSON.stringify({ host: '0.0.0.0' }))
    expect(load(['--config', file, '--host', '127.0.0.1']).mode).toBe('open')

    // --help says so
    const help = usage().split('\n')
    const modeLine = help.findIndex(l => l.trimStart().startsWith('--mode '))
    expect(help[modeLine]).toContain('open on loopback, else private')
    expect(help[modeLine + 1]).toMatch(/open when --host is loopback .* private on any other address/)
    expect(help[help.findIndex(l => l.trimStart().startsWith('--mesh ')) + 1]).toMatch(/None given: a mesh of the relay's own/)
  })

  it('refuses a mesh id that is not one and an unknown mode, naming the option', async () => {
    expect(() => load(['--mesh', 'not-a-mesh'])).toThrow(ConfigError)
    expect(() => load(['--mesh', 'nobody/abc'])).toThrow(/--mesh: "nobody\/abc" does not start with a PeerID/)
    expect(() => load(['--mode', 'secret'])).toThrow(/--mode: mode must be one of open\|private, got "secret"/)
  })
})
