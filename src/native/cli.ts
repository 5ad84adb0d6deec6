/**
 * The `starling` command (bin/starling runs it with the Node 20 polyfill):
 *
 *   starling [--home DIR] VERB [ARGS…] [--json] [--help]
 *
 * Exit codes (see ./cli/verb.ts): 0 ok, 1 error, 2 usage, and for `wait` 3 input required and
 * 124 timed out. Errors go to stderr as `starling VERB: message (CODE)`; stdout carries only
 * results, so `--json` output can always be parsed.
 */
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { StarlingError } from '../core/errors.js'
import { NotServingError } from './control-client.js'
import { resolveHome } from './home.js'
import { ExitCode, GLOBAL_OPTIONS, UsageError, verbHelp } from './cli/verb.js'
import type { Verb, VerbContext } from './cli/verb.js'
import { VERBS } from './cli/verbs.js'

/** Reported by `--version`; kept in step with package.json. */
export const CLI_VERSION = '0.1.0'

function topHelp (): string {
  const width = Math.max(...VERBS.map(v => v.name.length))
  return [
    'Usage: starling [--home DIR] VERB [ARGS…] [--json] [--help]',
    '',
    'Starling: a peer-to-peer mesh where AI agents send each other A2A tasks.',
    '',
    'Verbs:',
    ...VERBS.map(v => `  ${v.name.padEnd(width)}  ${v.summary}`),
    '',
    'Every verb takes --home DIR (default: $STARLING_HOME, else ~/.starling), --json and --help.',
    'All verbs but init, serve and install-service talk to the peer that `starling serve` runs.',
    '',
    'Exit status: 0 ok, 1 error, 2 wrong usage; `wait` also 3 (input required) and 124 (timed out).',
    'Start with: starling init --name NAME --skills a,b'
  ].join('\n')
}

/** Runs the CLI on `argv` (without `node cli.js`) and resolves with the exit code. */
export async function main (argv: string[]): Promise<number> {
  // the verb is the first word that is neither a flag nor the value of --home
  let index = 0
  while (index < argv.length && (argv[index] ?? '').startsWith('-')) index += argv[index] === '--home' ? 2 : 1
  const name = argv[index]
  const rest = [...argv.slice(0, index), ...argv.slice(index + 1)]

  if (name == null || name === 'help') {
    const topic = name === 'help' ? rest.find(a => !a.startsWith('-')) : undefined
    const verb = VERBS.find(v => v.name === topic)
    if (verb != null) {
      process.stdout.write(verbHelp(verb) + '\n')
      return ExitCode.Ok
    }
    if (topic != null || (name == null && !argv.some(a => a === '--help' || a === '-h' || a === '--version'))) {
      process.stderr.write((topic != null ? `starling: unknown verb "${topic}"\n\n` : '') + topHelp() + '\n')
      return ExitCode.Usage
    }
    if (argv.includes('--version')) {
      process.stdout.write(`starling ${CLI_VERSION}\n`)
      return ExitCode.Ok
    }
    process.stdout.write(topHelp() + '\n')
    return ExitCode.Ok
  }

  const verb = VERBS.find(v => v.name === name)
  if (verb == null) {
    process.stderr.write(`starling: unknown verb "${name}"\n\n${topHelp()}\n`)
    return ExitCode.Usage
  }

  let context: VerbContext
  try {
    context = parse(verb, rest)
  } catch (err) {
    return usageFailure(verb, err)
  }
  if (context.values.help === true) {
    process.stdout.write(verbHelp(verb) + '\n')
    return ExitCode.Ok
  }
  try {
    return await verb.run(context)
  } catch (err) {
    if (err instanceof UsageError) return err.showUsage ? usageFailure(verb, err) : refused(verb, err)
    if (err instanceof NotServingError) {
      process.stderr.write(`${err.message}\n`)
      return ExitCode.Error
    }
    const code = err instanceof StarlingError ? ` (${err.code})` : ''
    process.stderr.write(`starling ${verb.name}: ${err instanceof Error ? err.message : String(err)}${code}\n`)
    if (!(err instanceof StarlingError) && process.env.STARLING_DEBUG_STACK === '1') process.stderr.write(`${(err as Error).stack ?? ''}\n`)
    return ExitCode.Error
  }
}

function parse (verb: Verb, args: string[]): VerbContext {
  const options: NonNullable<ParseArgsConfig['options']> = {}
  for (const [name, option] of Object.entries({ ...verb.options, ...GLOBAL_OPTIONS })) {
    options[name] = {
      type: option.type,
      ...(option.short != null ? { short: option.short } : {}),
      ...(option.multiple === true ? { multiple: true } : {})
    }
  }
  let parsed
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (err) {
    // parseArgs explains itself ("Unknown option '--x'"), but also talks of `--` for positionals
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''))
  }
  const values = parsed.values as VerbContext['values']
  const positionals = parsed.positionals
  if (values.help !== true) {
    const [min, max] = verb.positionals
    if (positionals.length < min) throw new UsageError(`missing arguments (usage: starling ${verb.synopsis})`)
    if (positionals.length > max) throw new UsageError(`unexpected argument "${positionals[max] ?? ''}"`)
  }
  return {
    home: resolveHome(values.home as string | undefined),
    json: values.json === true,
    values,
    positionals,
    print: (text) => { process.stdout.write(text + '\n') },
    printJson: (value) => { process.stdout.write(JSON.stringify(value, null, 2) + '\n') },
    note: (text) => { process.stderr.write(text + '\n') }
  }
}

/** A refused argument: the reason alone, with the exit status of wrong usage. */
function refused (verb: Verb, err: UsageError): number {
  process.stderr.write(`starling ${verb.name}: ${err.message}\n`)
  return ExitCode.Usage
}

function usageFailure (verb: Verb, err: unknown): number {
  process.stderr.write(`starling ${verb.name}: ${err instanceof Error ? err.message : String(err)}\n\n${verbHelp(verb)}\n`)
  return ExitCode.Usage
}

main(process.argv.slice(2)).then(
  (code) => {
    // let stdout drain (a pipe may be slow) instead of process.exit(), which would cut it
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`starling: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exitCode = ExitCode.Error
  }
)
