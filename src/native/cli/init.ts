/**
 * `starling init`: writes config.json and the identity (an existing identity is kept), then
 * prints the PeerID and the onboarding prompt. Run again, it changes only what its flags say;
 * a daemon serving the home is told about the new profile so it publishes the new card at once.
 */
import { mkdir } from 'node:fs/promises'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { InvalidInputError } from '../../core/errors.js'
import { parseSkillList } from '../../core/a2a/binding.js'
import type { AgentProfile } from '../../core/a2a/binding.js'
import { checkProfile, checkRelaySetting, DEFAULT_RELAY, readConfig, writeConfig } from '../config.js'
import { ControlClient, NotServingError } from '../control-client.js'
import { homePaths } from '../home.js'
import { loadOrCreateKey } from '../key-file.js'
import { onboardingPrompt } from './prompt.js'
import { ExitCode, UsageError } from './verb.js'
import type { VerbContext } from './verb.js'

export async function runInit (context: VerbContext): Promise<number> {
  const { home, values } = context
  const existing = await readConfig(home)
  const name = values.name as string | undefined
  if (existing == null && name == null) throw new UsageError('--name is required the first time')

  let profile: AgentProfile
  let relay: string
  try {
    profile = checkProfile({
      name: name ?? existing?.profile.name,
      description: (values.description as string | undefined) ?? existing?.profile.description ?? '',
      skills: typeof values.skills === 'string' ? mergeSkills(parseSkillList(values.skills), existing?.profile.skills) : existing?.profile.skills ?? []
    })
    relay = checkRelaySetting((values.relay as string | undefined) ?? existing?.relay ?? DEFAULT_RELAY)
  } catch (err) {
    if (err instanceof InvalidInputError) throw new UsageError(err.message)
    throw err
  }

  const paths = homePaths(home)
  await mkdir(home, { recursive: true, mode: 0o700 })
  const key = await loadOrCreateKey(paths.identity)
  const peerId = peerIdFromPrivateKey(key).toString()
  await writeConfig(home, { relay, profile })

  const notes: string[] = []
  const running = await tellDaemon(home, profile)
  if (running) {
    notes.push('The running peer now publishes the new card.')
    if (existing != null && existing.relay !== relay) notes.push('Restart `starling serve` to use the new relay.')
  }

  const prompt = onboardingPrompt({ peerId, name: profile.name, skills: profile.skills.map(s => s.id), home, relay })
  if (context.json) {
    context.printJson({ peerId, home, relay, profile, prompt })
  } else {
    context.print(`Starling peer ${peerId} is set up in ${home}`)
    for (const note of notes) context.print(note)
    if (!running) context.print('Start it with `starling serve`.')
    context.print('')
    context.print('Give the following to your coding agent (Claude Code, Cursor, Codex, …), e.g. in AGENTS.md or CLAUDE.md:')
    context.print('')
    context.print(prompt)
  }
  return ExitCode.Ok
}

/** Skills named again keep the name, description and tags they had. */
function mergeSkills (ids: AgentProfile['skills'], previous: AgentProfile['skills'] | undefined): AgentProfile['skills'] {
  return ids.map(s => previous?.find(p => p.id === s.id) ?? s)
}

/** Gives a running daemon the new profile; false when none serves this home. */
async function tellDaemon (home: string, profile: AgentProfile): Promise<boolean> {
  let client: ControlClient
  try {
    client = await ControlClient.connect(home)
  } catch (err) {
    if (err instanceof NotServingError) return false
    throw err
  }
  try {
    await client.request('setProfile', profile)
    return true
  } finally {
    client.close()
  }
}
