/**
 * The relay's own account of itself, read-only: `GET /health` and `GET /api/v1/agents` on the
 * origin that served the page (the relay, relay/http.ts). What a person looks at to tell "the
 * mesh is down" from "my connection is down". No React here: ../screens/RelayScreen.tsx shows it.
 */

/** `GET /health`, the fields this view shows; a newer relay may add more. */
export interface RelayHealth {
  /** ok, degraded (with `reasons`), or starting. */
  status: string
  reasons: string[]
  version?: string
  /** open: anyone may use it; private: members of the meshes it serves only. */
  mode?: 'open' | 'private'
  peerId?: string
  uptimeSeconds?: number
  connectedPeers?: number
  reservations?: number
  agents?: number
}

/** One entry of the relay's registry. */
export interface RegistryEntryView {
  peerId: string
  name: string
  description: string
  skills: string[]
  online: boolean
  /** ms since the epoch */
  expiresAt: number
}

export interface RelayStatus {
  health: RelayHealth
  /** Absent when the relay lists its agents only to members (private mode). */
  registry?: RegistryEntryView[]
  /** ms since the epoch */
  checkedAt: number
}

/** Reads health and registry from the relay at `origin`. Throws with a reason a person can read. */
export async function fetchRelayStatus (origin: string, options: { signal?: AbortSignal } = {}): Promise<RelayStatus> {
  const health = parseHealth(await getJson(new URL('/health', origin), options.signal))
  // a private relay lists its agents to members only, over libp2p: over HTTP it answers 403
  const registry = health.mode === 'private' ? undefined : parseRegistry(await getJson(new URL('/api/v1/agents', origin), options.signal))
  return { health, registry, checkedAt: Date.now() }
}

/** One relay's /health alone: enough to say whether it is up, and which PeerID it is. */
export async function fetchRelayHealth (origin: string, options: { signal?: AbortSignal } = {}): Promise<RelayHealth> {
  return parseHealth(await getJson(new URL('/health', origin), options.signal))
}

async function getJson (url: URL, signal?: AbortSignal): Promise<unknown> {
  let response: Response
  try {
    response = await fetch(url, { signal, cache: 'no-store', headers: { Accept: 'application/json' } })
  } catch (err) {
    throw new Error(`cannot reach ${url.host}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
  // a degraded relay may answer 503 with its health: still worth showing
  if (!response.ok && response.status !== 503) throw new Error(`${url.pathname} answered HTTP ${response.status}`)
  return await response.json()
}

export function parseHealth (body: unknown): RelayHealth {
  if (typeof body !== 'object' || body === null) throw new Error('/health did not answer a JSON object')
  const b = body as Record<string, unknown>
  const num = (v: unknown): number | undefined => typeof v === 'number' && Number.isFinite(v) ? v : undefined
  const reasons = Array.isArray(b.reasons) ? b.reasons.filter((r): r is string => typeof r === 'string') : []
  return {
    status: typeof b.status === 'string' ? b.status : 'unknown',
    reasons,
    version: typeof b.version === 'string' ? b.version : undefined,
    mode: b.mode === 'open' || b.mode === 'private' ? b.mode : undefined,
    peerId: typeof b.peerId === 'string' ? b.peerId : undefined,
    uptimeSeconds: num(b.uptimeSeconds),
    connectedPeers: num(b.connectedPeers),
    reservations: num(b.reservations),
    agents: num(b.agents)
  }
}

export function parseRegistry (body: unknown): RegistryEntryView[] {
  if (!Array.isArray(body)) throw new Error('/api/v1/agents did not answer a JSON array')
  const out: RegistryEntryView[] = []
  for (const item of body) {
    if (typeof item !== 'object' || item === null) continue
    const { peerId, card, online, expiresAt } = item as Record<string, unknown>
    if (typeof peerId !== 'string' || typeof card !== 'object' || card === null) continue
    const c = card as Record<string, unknown>
    const skills = Array.isArray(c.skills)
      ? c.skills.flatMap(s => typeof s === 'object' && s !== null && typeof (s as { id?: unknown }).id === 'string' ? [(s as { id: string }).id] : [])
      : []
    out.push({
      peerId,
      name: typeof c.name === 'string' ? c.name : peerId,
      description: typeof c.description === 'string' ? c.description : '',
      skills,
      online: online === true,
      expiresAt: typeof expiresAt === 'string' ? Date.parse(expiresAt) : Number.NaN
    })
  }
  return out
}

/** `3 d 4 h`, `5 h 2 min`, `12 min`, `40 s`. */
export function formatUptime (seconds: number): string {
  const d = Math.floor(seconds / 86_400)
  const h = Math.floor((seconds % 86_400) / 3_600)
  const m = Math.floor((seconds % 3_600) / 60)
  if (d > 0) return `${d} d ${h} h`
  if (h > 0) return `${h} h ${m} min`
  if (m > 0) return `${m} min`
  return `${Math.floor(seconds)} s`
}
