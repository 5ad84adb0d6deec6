/**
 * `meshes.json` in a peer's home: the meshes it belongs to (its credential in each, its owner
 * credential in those it created), the invites it issued and the revocations it signed
 * (src/core/mesh/store.ts). Rewritten whole and atomically on every change, like config.json.
 * A credential is a secret of sorts (it lets its holder prove membership): the file is 0600.
 */
import { join } from 'node:path'
import { z } from 'zod'
import { StarlingError } from '../../core/errors.js'
import type { MeshData, MeshStore } from '../../core/mesh/store.js'
import { JsonFile } from './json-file.js'

/** The file's name in the home. */
export const MESHES_FILE = 'meshes.json'

const bundle = z.object({ credential: z.string(), proof: z.array(z.string()) })
const role = z.enum(['member', 'admin'])
const target = z.union([z.object({ member: z.string() }), z.object({ invite: z.string() })])

const meshDataSchema = z.object({
  meshes: z.array(z.object({
    meshId: z.string(),
    name: z.string(),
    role: z.enum(['member', 'admin', 'owner']),
    credential: bundle,
    expiresAt: z.number(),
    relays: z.array(z.string()),
    joinedAt: z.number()
  })),
  invites: z.array(z.object({
    meshId: z.string(),
    inviteId: z.string(),
    role,
    expiresAt: z.number(),
    maxUses: z.number().optional(),
    createdAt: z.number()
  })),
  revocations: z.array(z.object({ meshId: z.string(), target, revocation: bundle, revokedAt: z.number() }))
})

/** meshes.json cannot be read; the peer does not start rather than forget its meshes. */
export class MeshFileError extends StarlingError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_MESH_FILE', options)
  }
}

export class FileMeshStore implements MeshStore {
  private readonly file: JsonFile

  constructor (home: string) {
    this.file = new JsonFile(join(home, MESHES_FILE))
  }

  async load (): Promise<MeshData> {
    let json: unknown
    try {
      json = await this.file.read()
    } catch (err) {
      throw new MeshFileError(`could not read ${this.file.path}: ${(err as Error).message}`, { cause: err })
    }
    if (json === undefined) return { meshes: [], invites: [], revocations: [] }
    const parsed = meshDataSchema.safeParse(json)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new MeshFileError(`${this.file.path}: ${(issue?.path ?? []).join('.')}: ${issue?.message ?? 'invalid'}`)
    }
    return parsed.data as MeshData
  }

  async save (data: MeshData): Promise<void> {
    await this.file.write(() => data)
  }
}
