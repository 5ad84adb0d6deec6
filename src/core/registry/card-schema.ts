/**
 * What a registry accepts as an A2A v1.0 agent card, with the size limits that keep one
 * publisher from filling a relay. Unknown members (signatures, security schemes, …) are kept
 * as long as the whole card stays under MAX_CARD_BYTES. Relays check cards with it, and peers
 * check their own profile against the same limits before they publish.
 */
import { z } from 'zod'
import { A2A_BINDING_URI, interfaceUrl } from '../a2a/binding.js'
import type { AgentCardJson } from '../a2a/json.js'

/** Largest card accepted, serialised as JSON: 64 KiB. */
export const MAX_CARD_BYTES = 64 * 1024
/** Most skills one card may list. */
export const MAX_SKILLS = 64
/** Most tags one skill may carry. */
export const MAX_TAGS = 32
/** Longest agent or skill name, skill id, in characters. */
export const MAX_NAME_LENGTH = 128
/** Longest agent or skill description, in characters. */
export const MAX_DESCRIPTION_LENGTH = 2048
/** Longest tag, in characters. */
export const MAX_TAG_LENGTH = 64

const text = (max: number): z.ZodString => z.string().max(max, `must be at most ${max} characters`)
const nonEmpty = (max: number): z.ZodString => text(max).min(1, 'must not be empty')

const skill = z.looseObject({
  id: nonEmpty(MAX_NAME_LENGTH),
  name: nonEmpty(MAX_NAME_LENGTH),
  description: text(MAX_DESCRIPTION_LENGTH),
  tags: z.array(nonEmpty(MAX_TAG_LENGTH)).max(MAX_TAGS, `at most ${MAX_TAGS} tags`),
  examples: z.array(text(1024)).max(16).optional(),
  inputModes: z.array(text(128)).max(16).optional(),
  outputModes: z.array(text(128)).max(16).optional()
})

const agentInterface = z.looseObject({
  url: nonEmpty(512),
  protocolBinding: nonEmpty(256),
  protocolVersion: nonEmpty(16),
  tenant: text(128).optional()
})

export const agentCardSchema = z.looseObject({
  name: nonEmpty(MAX_NAME_LENGTH),
  description: text(MAX_DESCRIPTION_LENGTH),
  supportedInterfaces: z.array(agentInterface).min(1, 'must list at least one interface').max(8),
  version: nonEmpty(64),
  capabilities: z.looseObject({
    streaming: z.boolean().optional(),
    pushNotifications: z.boolean().optional(),
    extendedAgentCard: z.boolean().optional(),
    extensions: z.array(z.unknown()).max(16).optional()
  }),
  defaultInputModes: z.array(text(128)).max(16),
  defaultOutputModes: z.array(text(128)).max(16),
  skills: z.array(skill).max(MAX_SKILLS, `at most ${MAX_SKILLS} skills`),
  provider: z.looseObject({ organization: text(256), url: text(512) }).optional(),
  documentationUrl: text(512).optional(),
  iconUrl: text(512).optional()
})

export type CardCheck =
  | { ok: true, card: AgentCardJson }
  | { ok: false, reason: string, forbidden?: boolean }

/**
 * Checks that `value` is a card `publisher` may publish: well formed, small enough, and not
 * claiming to be reachable at another peer's PeerID over the libp2p binding.
 */
export function checkCard (value: unknown, publisher: string): CardCheck {
  const size = new TextEncoder().encode(JSON.stringify(value ?? null)).byteLength
  if (size > MAX_CARD_BYTES) return { ok: false, reason: `the card is ${size} bytes; the limit is ${MAX_CARD_BYTES}` }
  const parsed = agentCardSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = ['card', ...(issue?.path ?? [])].map(p => typeof p === 'number' ? `[${p}]` : `.${String(p)}`).join('').slice(1)
    return { ok: false, reason: `${path}: ${issue?.message ?? 'invalid'}` }
  }
  const card = parsed.data as AgentCardJson
  const own = interfaceUrl(publisher)
  const foreign = card.supportedInterfaces.find(i => i.protocolBinding === A2A_BINDING_URI && i.url !== own)
  if (foreign != null) {
    return { ok: false, forbidden: true, reason: `the card names ${foreign.url}, but you are ${own}: a peer can only publish its own card` }
  }
  const ids = new Set<string>()
  for (const s of card.skills) {
    if (ids.has(s.id)) return { ok: false, reason: `card.skills: the skill id "${s.id}" appears twice` }
    ids.add(s.id)
  }
  return { ok: true, card }
}
