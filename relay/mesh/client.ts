/**
 * The relay asking a peer for its credentials: `Credentials { meshIds }` on
 * `/starling/mesh/1.0.0`, over the peer's own connection to the relay (a stream on it, so no dial
 * and no address is needed). The answer is only checked for shape here; ./membership.ts verifies.
 */
import type { Connection } from '@libp2p/interface'
import { isBundleList, MESH_MAX_FRAME_BYTES, MESH_PROTOCOL, MeshMethod } from '../../src/core/mesh/protocol.js'
import type { CredentialsParams } from '../../src/core/mesh/protocol.js'
import type { CredentialBundle } from '../../src/core/mesh/credentials.js'
import { RpcClient } from '../../src/core/rpc/client.js'
import { MeshAccessError } from './membership.js'

/** How long a peer has to show its credentials, in ms, before it is refused. */
export const DEFAULT_CREDENTIALS_TIMEOUT_MS = 5_000

export interface AskCredentialsOptions {
  signal?: AbortSignal
  /** Default DEFAULT_CREDENTIALS_TIMEOUT_MS. */
  timeoutMs?: number
}

/**
 * The credentials the peer at the other end of `connection` shows for `meshIds`. Throws
 * MeshAccessError (`no-credentials`) when it does not answer, in time or at all, or answers
 * something that is not a list of credentials.
 */
export async function askCredentials (connection: Connection, meshIds: readonly string[], options: AskCredentialsOptions = {}): Promise<CredentialBundle[]> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_CREDENTIALS_TIMEOUT_MS)
  const signal = options.signal == null ? timeout : AbortSignal.any([options.signal, timeout])
  let client: RpcClient | undefined
  try {
    const stream = await connection.newStream(MESH_PROTOCOL, { signal })
    client = new RpcClient(stream, { maxMessageBytes: MESH_MAX_FRAME_BYTES })
    const params: CredentialsParams = { meshIds: [...meshIds] }
    const result = await client.request(MeshMethod.Credentials, params, { signal }) as { credentials?: unknown } | null
    const credentials = result?.credentials
    if (!isBundleList(credentials)) throw new Error('its answer is not { credentials: CredentialBundle[] }')
    return credentials
  } catch (err) {
    const why = signal.aborted && timeout.aborted ? `no answer within ${options.timeoutMs ?? DEFAULT_CREDENTIALS_TIMEOUT_MS} ms` : (err as Error).message
    throw new MeshAccessError('no-credentials', `this relay serves private meshes and asked for your credentials on ${MESH_PROTOCOL}: ${why}`, { cause: err })
  } finally {
    // not awaited: a peer that never closes its side must not hold the relay here
    void client?.close().catch(() => {})
  }
}
