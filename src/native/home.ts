/**
 * A native peer's home directory: everything one peer keeps — its key, its config.json, its
 * task log, the agents it has seen and, while `starling serve` runs, the control socket. It is
 * found from `--home`, else `STARLING_HOME`, else `~/.starling`.
 *
 * Node built-ins only: every CLI verb resolves the home, and most need nothing heavier.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** The home when neither `--home` nor `STARLING_HOME` says otherwise (under the user's home). */
export const DEFAULT_HOME_DIR = '.starling'

/** Environment variable naming the home directory. */
export const HOME_ENV = 'STARLING_HOME'

/** The files of a home directory. */
export interface HomePaths {
  home: string
  config: string
  identity: string
  tasks: string
  agents: string
  socket: string
}

/** The home directory: `flag`, else `$STARLING_HOME`, else `~/.starling`; always absolute. */
export function resolveHome (flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag != null && flag !== '') return resolve(flag)
  const fromEnv = env[HOME_ENV]
  if (fromEnv != null && fromEnv !== '') return resolve(fromEnv)
  return join(homedir(), DEFAULT_HOME_DIR)
}

export function homePaths (home: string): HomePaths {
  return {
    home,
    config: join(home, 'config.json'),
    identity: join(home, 'identity.key'),
    tasks: join(home, 'tasks.jsonl'),
    agents: join(home, 'agents.json'),
    socket: join(home, 'control.sock')
  }
}
