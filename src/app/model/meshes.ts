/**
 * Small pure helpers for the private meshes' screens (src/app/components/MeshesSection.tsx,
 * src/app/screens/JoinMeshScreen.tsx).
 */
import { errorMessage } from '../../core/errors.js'
import { href } from '../routes.js'

/** The link that opens this app on the invite: the relay serves the app, so the page's origin is the relay's. */
export function inviteLink (origin: string, token: string): string {
  return `${origin}/${href({ name: 'join', token })}`
}

/** How long an invite may last, as offered in the invite form (the CLI's default is 7 days). */
export const INVITE_DURATIONS: ReadonlyArray<{ label: string, ms: number }> = [
  { label: '1 hour', ms: 60 * 60 * 1000 },
  { label: '1 day', ms: 24 * 60 * 60 * 1000 },
  { label: '7 days', ms: 7 * 24 * 60 * 60 * 1000 },
  { label: '30 days', ms: 30 * 24 * 60 * 60 * 1000 }
]

/**
 * An error of a mesh operation for a person: its message, and for a refused credential or
 * invite (MeshCredentialError) the rule it broke, e.g. "… (bad-signature)". Read by shape, so a
 * component need not import the credentials module (and libp2p's crypto with it).
 */
export function meshErrorText (err: unknown): string {
  const reason = typeof err === 'object' && err !== null ? (err as { reason?: unknown }).reason : undefined
  return typeof reason === 'string' ? `${errorMessage(err)} (${reason})` : errorMessage(err)
}
