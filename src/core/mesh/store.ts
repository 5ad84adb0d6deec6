/**
 * What a peer keeps of its meshes: the credential it holds in each (its own owner credential in
 * the meshes it created), the invites it issued, and the revocations it signed. The PWA keeps
 * them in IndexedDB, a native peer in `meshes.json` in its home (src/native/store/meshes.ts).
 */
import type { CredentialBundle, MeshRole, RevocationPayload } from './credentials.js'

export interface HeldMesh {
  meshId: string
  /** A name for people, from the invite or given at creation; not authoritative. */
  name: string
  role: MeshRole | 'owner'
  /** Our credential in the mesh, with its proof. */
  credential: CredentialBundle
  /** ms since the epoch when the credential lapses. */
  expiresAt: number
  /** Relay URLs where the mesh meets (from the invite). */
  relays: string[]
  /** ms since the epoch */
  joinedAt: number
}

export interface IssuedInvite {
  meshId: string
  inviteId: string
  role: MeshRole
  /** ms since the epoch */
  expiresAt: number
  maxUses?: number
  /** ms since the epoch */
  createdAt: number
}

export interface SignedRevocation {
  meshId: string
  target: RevocationPayload['target']
  revocation: CredentialBundle
  /** ms since the epoch */
  revokedAt: number
}

export interface MeshData {
  meshes: HeldMesh[]
  invites: IssuedInvite[]
  revocations: SignedRevocation[]
}

/** Where a peer keeps its meshes. Writes are whole and atomic: a crash keeps the old or the new. */
export interface MeshStore {
  load: () => Promise<MeshData>
  save: (data: MeshData) => Promise<void>
}

/** A MeshStore in memory (tests, or a peer that keeps no meshes across restarts). */
export class MemoryMeshStore implements MeshStore {
  private data: MeshData = { meshes: [], invites: [], revocations: [] }

  async load (): Promise<MeshData> {
    return structuredClone(this.data)
  }

  async save (data: MeshData): Promise<void> {
    this.data = structuredClone(data)
  }
}
