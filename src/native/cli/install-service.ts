/**
 * `starling install-service`: writes a systemd user unit that runs `starling serve` for one
 * home, with the serve options given, so a workstation's agent stays on the mesh across logins
 * and reboots. It writes the file and says how to enable it; it never runs systemctl itself
 * (enabling a service is the person's decision, and the command may run where there is no
 * systemd at all, e.g. to prepare a unit for another machine with --print).
 *
 * The unit's command does not depend on PATH or on the working directory of the service: the
 * absolute Node binary running this CLI, `--import` of the polyfill (absolute), the CLI entry
 * (absolute) and `serve --home <absolute home>`.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readConfig } from '../config.js'
import { DEFAULT_HOME_DIR } from '../home.js'
import { writeFileAtomic } from '../key-file.js'
import { ExitCode, UsageError } from './verb.js'
import type { VerbContext, VerbOption } from './verb.js'

/** The unit of the default home (~/.starling). */
export const DEFAULT_UNIT_NAME = 'starling.service'

/** Hex digits of the home's SHA-256 in the unit name of a home that is not the default one. */
export const UNIT_HASH_LENGTH = 8

export interface ServiceUnitInit {
  /** Absolute home directory the service serves. */
  home: string
  /** `serve`'s options, as command-line words (after `serve --home HOME`). */
  serveArgs: string[]
  /** The Node binary; default the one running now. */
  node?: string
  /** The repository (or package) root, holding bin/polyfill.mjs and dist/node. */
  root?: string
  /** The service's working directory (relative --on-task commands run there). */
  workingDirectory?: string
}

/** The command line the unit runs, as words (before systemd quoting). */
export function serviceCommand (init: ServiceUnitInit): string[] {
  const root = init.root ?? packageRoot()
  return [
    init.node ?? process.execPath,
    '--import', join(root, 'bin', 'polyfill.mjs'),
    join(root, 'dist', 'node', 'src', 'native', 'cli.js'),
    'serve', '--home', init.home,
    ...init.serveArgs
  ]
}

/** The text of the unit file. */
export function serviceUnit (init: ServiceUnitInit): string {
  const lines = [
    `# Written by \`starling install-service\`: the Starling peer of ${oneLine(init.home)}.`,
    '# Change it by running install-service again with --force (or edit it, then daemon-reload).',
    '[Unit]',
    `Description=Starling peer (${escapeSpecifiers(oneLine(init.home))})`,
    // a user manager cannot order itself after network-online.target (a system unit); serve
    // does not need to: it redials its relay with back-off until the network is there
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${serviceCommand(init).map(quoteArg).join(' ')}`,
    // a path, not a command line: systemd takes the rest of the line as it is (no quotes)
    ...(init.workingDirectory != null ? [`WorkingDirectory=${escapeSpecifiers(oneLine(init.workingDirectory))}`] : []),
    'Restart=on-failure',
    'RestartSec=5',
    // serve stops cleanly on SIGTERM (task log closed, control socket removed) within 10 s
    'TimeoutStopSec=20',
    '',
    '[Install]',
    'WantedBy=default.target',
    ''
  ]
  return lines.join('\n')
}

/**
 * One word of a systemd command line: as it is when it needs no quoting, else in double quotes
 * with C escapes. `%` (specifiers) and `$` (environment variables) are doubled either way, so
 * systemd passes them on as they are.
 */
export function quoteArg (arg: string): string {
  const escaped = escapeSpecifiers(arg).replace(/\$/g, '$$$$')
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped
  return `"${escaped.replace(/[\\"]/g, c => `\\${c}`).replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`
}

function escapeSpecifiers (text: string): string {
  return text.replace(/%/g, '%%')
}

function oneLine (text: string): string {
  return text.replace(/[\r\n]+/g, ' ')
}

/** The unit's name: `--name`, else starling.service for ~/.starling, else one with the home's hash. */
export function unitName (home: string, name?: string): string {
  if (name != null) {
    const withSuffix = name.endsWith('.service') ? name : `${name}.service`
    if (!/^[A-Za-z0-9:_.\\-]+\.service$/.test(withSuffix) || withSuffix.startsWith('.')) {
      throw new UsageError(`--name must be a unit name (letters, digits, ":", "_", ".", "-"), got "${name}"`)
    }
    return withSuffix
  }
  if (home === join(homedir(), DEFAULT_HOME_DIR)) return DEFAULT_UNIT_NAME
  const hash = createHash('sha256').update(home).digest('hex').slice(0, UNIT_HASH_LENGTH)
  return `starling-${hash}.service`
}

/** Where systemd looks for a user's own units: `$XDG_CONFIG_HOME/systemd/user` (default ~/.config). */
export function userUnitDir (env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME != null && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config')
  return join(config, 'systemd', 'user')
}

/** The commands that enable the unit, in order; the last one is for running without a login. */
export function enableCommands (unit: string): { enable: string, linger: string } {
  return {
    enable: `systemctl --user daemon-reload && systemctl --user enable --now ${unit}`,
    linger: 'loginctl enable-linger $USER'
  }
}

/** `serve`'s flags given on this command line, as words, in the order of serve's options. */
export function forwardedServeArgs (context: VerbContext, serveOptions: Record<string, VerbOption>): string[] {
  const args: string[] = []
  for (const [name, option] of Object.entries(serveOptions)) {
    const value = context.values[name]
    if (value == null || value === false) continue
    if (option.type === 'boolean') {
      args.push(`--${name}`)
      continue
    }
    for (const one of Array.isArray(value) ? value : [String(value)]) args.push(`--${name}`, one)
  }
  return args
}

export async function runInstallService (context: VerbContext, serveOptions: Record<string, VerbOption>): Promise<number> {
  const { home } = context
  // a unit for a home that cannot serve would only fail at every start (as serve does: exit 1)
  if (await readConfig(home) == null) {
    context.note(`starling install-service: ${home} has no config.json: run \`starling init --name NAME --skills a,b\` first`)
    return ExitCode.Error
  }
  const unit = unitName(home, typeof context.values.name === 'string' ? context.values.name : undefined)
  const content = serviceUnit({ home, serveArgs: forwardedServeArgs(context, serveOptions), workingDirectory: process.cwd() })
  const path = join(userUnitDir(), unit)
  const commands = enableCommands(unit)

  if (context.values.print === true) {
    if (context.json) context.printJson({ unit, path, written: false, content, commands })
    else process.stdout.write(content)
    return ExitCode.Ok
  }

  const existing = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  const unchanged = existing === content
  if (existing != null && !unchanged && context.values.force !== true) {
    context.note(`starling install-service: ${path} exists and is different: run again with --force to replace it, or --name to write another unit`)
    return ExitCode.Error
  }
  if (!unchanged) {
    await mkdir(dirname(path), { recursive: true })
    await writeFileAtomic(path, content, 0o644)
  }

  if (context.json) {
    context.printJson({ unit, path, written: !unchanged, content, commands })
    return ExitCode.Ok
  }
  context.print(`${unchanged ? 'Unchanged' : 'Wrote'} ${path}`)
  context.print('Start it now and at every login:')
  context.print(`  ${commands.enable}`)
  context.print('Keep it running when you are not logged in (and from boot):')
  context.print(`  ${commands.linger}`)
  context.print(`Its output: journalctl --user -u ${unit} -f`)
  return ExitCode.Ok
}

/** The directory holding bin/polyfill.mjs above this module (the checkout, or the installed package). */
export function packageRoot (from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from
  while (!existsSync(join(dir, 'bin', 'polyfill.mjs'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`no bin/polyfill.mjs above ${from}`)
    dir = parent
  }
  return dir
}
