/**
 * How the CLI shows things to a person. Lists are one record per line, fields separated by
 * tabs (so `cut -f1` gives the ids); `--json` is the stable form for programs.
 */
import type { AgentCardJson } from '../../core/a2a/json.js'
import type { AgentInfo, InboxEntry, StatusResult, TaskView } from '../control-api.js'

/** Characters of a text shown in a list line. */
export const PREVIEW_LENGTH = 100

/** A text on one line, cut to `max` characters. */
export function oneLine (text: string, max = PREVIEW_LENGTH): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

/** `TASK_STATE_INPUT_REQUIRED` → `input-required`. */
export function stateWord (state: string): string {
  return state.replace(/^TASK_STATE_/, '').toLowerCase().replace(/_/g, '-')
}

export function agentLine (agent: AgentInfo): string {
  const skills = agent.card.skills.map(s => s.tags.length > 0 ? `${s.id}[${s.tags.join(',')}]` : s.id).join(',')
  const link = agent.connected ? `connected (${agent.connection ?? 'relayed'})` : 'not connected'
  return [agent.peerId, agent.card.name, agent.online ? 'online' : 'offline', link, skills].join('\t')
}

export function inboxLine (entry: InboxEntry): string {
  const files = entry.files.length > 0 ? ` [${entry.files.length === 1 ? 'file' : `${entry.files.length} files`}: ${entry.files.map(f => f.filename ?? '(unnamed)').join(', ')}]` : ''
  return [entry.taskId, entry.from, oneLine(entry.text) + files].join('\t')
}

/** ms since the epoch → `2026-11-02T10:11:12Z` (UTC, to the second). */
export function timeText (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** How far a task's latest message (or cancel request) got, as `tasks` shows it. */
export function deliveryWord (task: TaskView): string {
  if (task.pending.includes('cancel') && task.state !== 'TASK_STATE_CANCELED') return 'cancel queued'
  return task.delivery ?? '-'
}

export function taskLine (task: TaskView): string {
  const text = task.text !== '' ? task.text : task.localError ?? ''
  return [task.taskId, task.direction, task.peerId, stateWord(task.state), deliveryWord(task), timeText(task.updatedAt), oneLine(text)].join('\t')
}

export function cardText (card: AgentCardJson): string {
  const lines = [
    `Name:        ${card.name}`,
    `Description: ${card.description === '' ? '(none)' : card.description}`
  ]
  for (const i of card.supportedInterfaces) lines.push(`Interface:   ${i.url} (${i.protocolBinding})`)
  if (card.skills.length === 0) lines.push('Skills:      (none)')
  for (const [n, skill] of card.skills.entries()) {
    const tags = skill.tags.length > 0 ? ` [${skill.tags.join(', ')}]` : ''
    const description = skill.description !== '' ? ` — ${skill.description}` : ''
    lines.push(`${n === 0 ? 'Skills:     ' : '           '} ${skill.id}${tags}${description}`)
  }
  return lines.join('\n')
}

export function statusText (status: StatusResult): string {
  const relay = status.relay
  const relayLine = relay.state === 'reserved'
    ? `reservation held on ${relay.relayAddr ?? relay.relayPeerId ?? '?'}`
    : relay.state === 'offline'
      ? `offline: ${relay.error ?? 'disconnected'} (retrying)`
      : `${relay.state}${relay.relayAddr != null ? ` to ${relay.relayAddr}` : ''}`
  const card = status.registry.expiresAt != null
    ? `published until ${status.registry.expiresAt} (renewed automatically)`
    : status.registry.error != null ? `not published: ${status.registry.error}` : 'not published yet'
  return [
    `Starling peer ${status.peerId} ("${status.card.name}")`,
    `Home:   ${status.home}`,
    `Relay:  ${status.relaySetting}: ${relayLine}`,
    `Card:   ${card}`,
    `Mode:   ${status.echo ? 'echo (answers every task with its own text)' : 'manual (answer with starling inbox / starling respond)'}`
  ].join('\n')
}
