/**
 * `starling install-service`, run as a process (from the build in dist/node, refreshed first
 * when a source is newer): the unit it writes into a temporary XDG_CONFIG_HOME parses, and its
 * ExecStart, split as systemd splits it and run without systemd, starts a daemon that serves
 * in the given home and reaches a relay. That proves the unit's command works.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, ensureBuilt } from '../../e2e/harness/build.js'
import { REPO_ROOT, startRelay, starlingCli } from '../../e2e/harness/starling.js'
import type { RelayHandle } from '../../e2e/harness/starling.js'
import { runProcess, spawnProcess, testProcesses } from '../../e2e/harness/processes.js'
import { removeTempDirs, tempDir } from '../../e2e/harness/tmp.js'
import { quoteArg, unitName } from './cli/install-service.js'
import { homePaths } from './home.js'

/** A unit file as sections of key → values (a key may repeat), comments and blank lines left out. */
function parseUnit (text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | undefined
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[([A-Za-z]+)\]$/.exec(line)
    if (header != null) {
      current = new Map()
      sections.set(header[1] ?? '', current)
      continue
    }
    const pair = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (pair == null || current == null) throw new Error(`line ${index + 1} is neither a section nor key=value: ${raw}`)
    const [, key = '', value = ''] = pair
    current.set(key, [...(current.get(key) ?? []), value])
  }
  return sections
}

/**
 * Splits a command line the way systemd does (systemd.service, "Command lines"): words
 * separated by spaces; double- or single-quoted words with C escapes; then `%%` → `%` and
 * `$$` → `$` (our units use no other specifier or variable).
 */
function splitCommandLine (line: string): string[] {
  const words: string[] = []
  let i = 0
  const escapes: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', '"': '"', '\'': '\'', ' ': ' ' }
  while (i < line.length) {
    while (line[i] === ' ') i++
    if (i >= line.length) break
    let word = ''
    const quote = line[i] === '"' || line[i] === '\'' ? line[i] : undefined
    if (quote != null) i++
    while (i < line.length) {
      const c = line[i] ?? ''
      if (quote != null && c === quote) { i++; break }
      if (quote == null && c === ' ') break
      if (c === '\\') {
        const next = line[i + 1] ?? ''
        const value = escapes[next]
        if (value == null) throw new Error(`unknown escape \\${next} in ${line}`)
        word += value
        i += 2
        continue
      }
      word += c
      i++
    }
    words.push(word.replace(/%%/g, '%').replace(/\$\$/g, '$'))
  }
  return words
}

describe('starling install-service', () => {
  let relay: RelayHandle
  let home: string
  let xdg: string
  const env = (): NodeJS.ProcessEnv => ({ XDG_CONFIG_HOME: xdg })

  beforeAll(async () => {
    await ensureBuilt()
    relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
    home = await tempDir('service home')
    xdg = await tempDir('xdg')
    const init = await starlingCli(home, ['init', '--name', 'Always on', '--skills', 'echo', '--relay', relay.url])
    expect(init.code, init.stderr).toBe(0)
  }, 60_000)

  afterAll(async () => {
    await testProcesses.stopAll()
    testProcesses.clear()
    await removeTempDirs()
  })

  it('writes a unit whose ExecStart starts a daemon serving the home, which reaches the relay', async () => {
    // a command that needs every kind of quoting: spaces, quotes, a backslash, % and $
    const onTask = 'printf "%s\\n" "50% of $STARLING_TASK_ID"'
    // run where a relative --on-task command would be: a directory systemd must not misread
    const workDir = join(await tempDir('work'), '50% done')
    await mkdir(workDir)
    const result = await runProcess(process.execPath, ['--import', join(REPO_ROOT, 'bin', 'polyfill.mjs'), CLI, 'install-service', '--on-task', onTask, '--no-mdns'], {
      cwd: workDir,
      env: { ...env(), STARLING_HOME: home },
      name: 'starling install-service'
    })
    expect(result.code, result.stderr).toBe(0)
    const unit = unitName(home)
    expect(unit).toMatch(/^starling-[0-9a-f]{8}\.service$/)
    const path = join(xdg, 'systemd', 'user', unit)
    expect(result.stdout).toContain(`Wrote ${path}`)
    expect(result.stdout).toContain(`systemctl --user daemon-reload && systemctl --user enable --now ${unit}`)
    expect(result.stdout).toContain('loginctl enable-linger $USER')

    const sections = parseUnit(await readFile(path, 'utf8'))
    expect([...sections.keys()]).toEqual(['Unit', 'Service', 'Install'])
    expect(sections.get('Service')?.get('Restart')).toEqual(['on-failure'])
    expect(sections.get('Install')?.get('WantedBy')).toEqual(['default.target'])
    const execStart = sections.get('Service')?.get('ExecStart') ?? []
    expect(execStart).toHaveLength(1)
    const words = splitCommandLine(execStart[0] ?? '')
    expect(words).toEqual([
      process.execPath,
      '--import', join(REPO_ROOT, 'bin', 'polyfill.mjs'),
      CLI,
      'serve', '--home', home,
      '--on-task', onTask,
      '--no-mdns'
    ])
    // a path, taken as it is but for specifiers
    const cwd = sections.get('Service')?.get('WorkingDirectory')?.[0]?.replace(/%%/g, '%')
    expect(cwd).toBe(workDir)

    // what systemd would run, run here: no shell, no PATH, no STARLING_HOME
    const daemon = spawnProcess(words[0] ?? '', words.slice(1), { cwd, env: { STARLING_HOME: undefined }, name: 'service' })
    const serving = await daemon.waitForLine(/^Starling peer (\S+) is serving/)
    await daemon.waitForLine(/^ {2}Mode: {3}on-task/)
    await daemon.waitForLine(/^Published card "Always on"/)
    expect((await stat(homePaths(home).socket)).isSocket()).toBe(true)
    const status = await starlingCli<{ peerId: string, relay: { state: string } }>(home, ['status'], { json: true })
    expect(status.json).toMatchObject({ peerId: serving[1], relay: { state: 'reserved' } })

    expect(await daemon.stop()).toEqual({ code: 0, signal: null })
    expect(daemon.stdout).toMatch(/^Stopped$/m)
  }, 60_000)

  it('keeps a different unit unless --force, says when nothing changed, prints with --print, answers --json', async () => {
    const name = 'starling-test-keep'
    const path = join(xdg, 'systemd', 'user', `${name}.service`)
    const first = await starlingCli<{ unit: string, path: string, written: boolean, content: string, commands: { enable: string, linger: string } }>(home, ['install-service', '--name', name, '--echo'], { json: true, env: env() })
    expect(first.code, first.stderr).toBe(0)
    expect(first.json).toMatchObject({ unit: `${name}.service`, path, written: true })
    expect(first.json?.commands.enable).toBe(`systemctl --user daemon-reload && systemctl --user enable --now ${name}.service`)
    expect(await readFile(path, 'utf8')).toBe(first.json?.content)

    const again = await starlingCli<{ written: boolean }>(home, ['install-service', '--name', name, '--echo'], { json: true, env: env() })
    expect(again.json?.written).toBe(false)

    const printed = await starlingCli(home, ['install-service', '--name', name, '--print'], { env: env() })
    expect(printed.code).toBe(0)
    expect(printed.stdout).toContain('ExecStart=')
    expect(printed.stdout).not.toContain('--echo')
    expect(await readFile(path, 'utf8')).toBe(first.json?.content)

    const refused = await starlingCli(home, ['install-service', '--name', name], { env: env() })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('--force')
    expect(await readFile(path, 'utf8')).toBe(first.json?.content)

    await writeFile(path, '# edited by hand\n')
    const forced = await starlingCli(home, ['install-service', '--name', name, '--force'], { env: env() })
    expect(forced.code, forced.stderr).toBe(0)
    expect(await readFile(path, 'utf8')).toBe(printed.stdout)
  })

  it('refuses a home without config.json and a bad unit name', async () => {
    const empty = await tempDir('empty home')
    const none = await starlingCli(empty, ['install-service'], { env: env() })
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('starling init')
    const bad = await starlingCli(home, ['install-service', '--name', '../evil'], { env: env() })
    expect(bad.code).toBe(2)
  })

  it('names the default home\'s unit starling.service and quotes words systemd would change', () => {
    expect(unitName(join(homedir(), '.starling'))).toBe('starling.service')
    expect(unitName('/srv/agents/a')).not.toBe(unitName('/srv/agents/b'))
    expect(unitName('/srv/agents/a', 'work')).toBe('work.service')
    expect(quoteArg('/usr/bin/node')).toBe('/usr/bin/node')
    expect(splitCommandLine(['a b', '50%', '$HOME', 'say "hi"\\'].map(quoteArg).join(' '))).toEqual(['a b', '50%', '$HOME', 'say "hi"\\'])
  })
})
