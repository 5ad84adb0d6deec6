/**
 * What a CLI verb is: its flags, its positionals, its help, and what it runs. Exit codes are
 * part of the CLI's contract with scripts and LLM agents; docs and the onboarding prompt cite them.
 */
import { StarlingError } from '../../core/errors.js'

export const ExitCode = {
  Ok: 0,
  /** Something went wrong (the message is on stderr); for `wait`: the task failed, was canceled or rejected. */
  Error: 1,
  /** Wrong usage: an unknown verb or flag, a missing or bad argument. */
  Usage: 2,
  /** `wait`: the agent needs input from us (its question is on stdout). */
  InputRequired: 3,
  /** `wait`: the timeout ran out (as GNU timeout(1) reports it). */
  Timeout: 124
} as const

export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode]

/**
 * The command line is wrong; the CLI prints the message and exits 2. The verb's usage follows
 * unless `showUsage` is false: when the flags are right but an argument is refused (a file too
 * large to send), the usage would only bury the reason.
 */
export class UsageError extends StarlingError {
  readonly showUsage: boolean

  constructor (message: string, options: { showUsage?: boolean } = {}) {
    super(message, 'ERR_USAGE')
    this.showUsage = options.showUsage ?? true
  }
}

export interface VerbOption {
  type: 'string' | 'boolean'
  short?: string
  /** The flag may be given more than once; its value is then a list. */
  multiple?: boolean
  /** Shown in help: `--timeout SECONDS`. */
  value?: string
  help: string
}

export interface VerbContext {
  home: string
  json: boolean
  /** Flag values by long name (the verb's and the global ones); a list for `multiple` flags. */
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
  /** Writes a line (or a JSON value) to stdout. */
  print: (text: string) => void
  printJson: (value: unknown) => void
  /** Writes a line to stderr. */
  note: (text: string) => void
}

export interface Verb {
  name: string
  /** One line for the top-level help. */
  summary: string
  /** The synopsis after `starling `, e.g. `send PEER-ID TEXT [--context ID]`. */
  synopsis: string
  /** Paragraphs after the synopsis in `starling VERB --help`. */
  description: string
  /** What `--json` prints. */
  json: string
  options: Record<string, VerbOption>
  /** Fewest and most positionals after the verb. */
  positionals: [number, number]
  run: (context: VerbContext) => Promise<number>
}

/** Flags every verb takes. */
export const GLOBAL_OPTIONS: Record<string, VerbOption> = {
  home: { type: 'string', value: 'DIR', help: 'the peer\'s home directory (default: $STARLING_HOME, else ~/.starling)' },
  json: { type: 'boolean', help: 'print machine-readable JSON on stdout' },
  help: { type: 'boolean', short: 'h', help: 'show this help' }
}

/** `starling VERB --help`. */
export function verbHelp (verb: Verb): string {
  const lines = [`Usage: starling ${verb.synopsis}`, '', verb.summary, '']
  if (verb.description !== '') lines.push(verb.description, '')
  lines.push('Options:')
  for (const [name, option] of Object.entries({ ...verb.options, ...GLOBAL_OPTIONS })) {
    const flag = `${option.short != null ? `-${option.short}, ` : '    '}--${name}${option.value != null ? ` ${option.value}` : ''}`
    lines.push(`  ${flag.padEnd(28)} ${option.help}${option.multiple === true ? ' (repeatable)' : ''}`)
  }
  lines.push('', `With --json: ${verb.json}`)
  return lines.join('\n')
}
