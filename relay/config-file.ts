/**
 * The relay's JSON config file: one key per option, named like its flag, with a value of the
 * option's type (`{"port": 8080, "announce": ["/dns4/relay.example.com/tcp/443/wss"],
 * "log-level": "debug"}`). A key the relay does not know is refused rather than ignored: a
 * misspelt limit would otherwise silently keep its default.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ConfigError, OPTIONS, convertJson } from './config.js'
import type { Option, OptionKey } from './config.js'

export interface ConfigFile {
  /** Absolute path of the file read. */
  path: string
  /** The options the file sets, converted to their types; relative paths resolved against the file's directory. */
  values: Partial<Record<OptionKey, unknown>>
}

export interface ReadConfigFileInit {
  path: string
  /** Whether a missing file is an error (one named by --config) or means "no file" (the data directory's). */
  required: boolean
  /** What named the file, for messages: `--config`, `STARLING_CONFIG` or `data directory`. */
  named: string
  /** Options this file may not set. */
  forbid?: OptionKey[]
}

/** Reads and checks a config file; undefined when an optional file does not exist. */
export function readConfigFile (init: ReadConfigFileInit): ConfigFile | undefined {
  const where = `config file ${init.path}`
  let text: string
  try {
    text = readFileSync(init.path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && !init.required) return undefined
    throw new ConfigError(`${init.named}: cannot read ${init.path} (${code ?? (err as Error).message})`, { option: 'config', source: init.named })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${where}: not valid JSON (${(err as Error).message})`, { option: 'config', source: where })
  }
  if (json == null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ConfigError(`${where}: must be a JSON object of options, e.g. {"max-reservations": 2048}`, { option: 'config', source: where })
  }

  const byFlag = new Map<string, [OptionKey, Option]>(
    (Object.entries(OPTIONS) as Array<[OptionKey, Option]>).map(([key, option]) => [option.flag, [key, option]])
  )
  const values: Partial<Record<OptionKey, unknown>> = {}
  for (const [name, value] of Object.entries(json)) {
    const known = byFlag.get(name)
    if (known == null) {
      throw new ConfigError(`${where}: unknown option "${name}" (the keys are the flag names --help lists)`, { option: name, source: where })
    }
    const [key, option] = known
    if (init.forbid?.includes(key) === true) {
      throw new ConfigError(`${where}: ${option.flag} cannot be set in the file the data directory holds (use --${option.flag} or ${option.env})`, { option: option.flag, source: where })
    }
    const converted = convertJson(value, option, { kind: 'file', name: init.path })
    values[key] = option.kind === 'path' ? resolve(dirname(init.path), converted as string) : converted
  }
  return { path: init.path, values }
}
