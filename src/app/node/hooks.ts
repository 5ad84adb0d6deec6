/**
 * The hooks components use: queries that read from the peer (kept fresh by ./events.ts) and
 * mutations that act through it. Use them below <PeerGate>.
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import type { UseMutationResult, UseQueryOptions, UseQueryResult } from '@tanstack/react-query'
import type { AgentProfile } from '../../core/a2a/binding.js'
import type * as MeshCredentials from '../../core/mesh/credentials.js'
import type { InvitePayload, MeshRole } from '../../core/mesh/credentials.js'
import type { InviteResult, MeshInfo, RevokeResult } from '../../core/mesh/service.js'
import type { IssuedInvite } from '../../core/mesh/store.js'
import type { MembersResult } from '../../core/mesh/protocol.js'
import type { PolicyRule } from '../../core/mesh/policy.js'
import type { RelayStatus } from '../../core/node/relay-link.js'
import type { PeerConnectionInfo, RegistryStatus } from '../../core/peer.js'
import type { AgentEntry } from '../../core/registry/protocol.js'
import type { KnownAgent, TaskDirection, TaskQuery, TaskRecord } from '../../core/store/types.js'
import type * as Compose from '../model/tasks.js'
import type { Draft, OutcomeKind } from '../model/tasks.js'
import { fetchRelayHealth } from '../model/relay-status.js'
import type { RelayHealth } from '../model/relay-status.js'
import { usePeer } from './context.js'
import { queryKeys } from './query-keys.js'

/** How often the registry is asked for agents while the agents list is on screen, in ms. */
export const DISCOVER_INTERVAL_MS = 5_000

// Values the peer pushes through events never go stale on their own. Those it holds in memory
// are there on the first render (initialData): nothing pops in a frame later and pushes the page
// down (Lighthouse measured a layout shift of 0.34 from the welcome card doing just that).
const pushed = { staleTime: Number.POSITIVE_INFINITY } as const

export function usePeerId (): string {
  return usePeer().peerId
}

export function useRelayStatus (): UseQueryResult<RelayStatus> {
  const peer = usePeer()
  return useQuery({ queryKey: queryKeys(peer.peerId).relay, queryFn: () => peer.relayStatus, initialData: () => peer.relayStatus, ...pushed })
}

export function useRegistryStatus (): UseQueryResult<RegistryStatus> {
  const peer = usePeer()
  return useQuery({ queryKey: queryKeys(peer.peerId).registry, queryFn: () => peer.registryStatus, initialData: () => peer.registryStatus, ...pushed })
}

export function useConnections (): UseQueryResult<PeerConnectionInfo[]> {
  const peer = usePeer()
  return useQuery({ queryKey: queryKeys(peer.peerId).connections, queryFn: () => peer.connections(), initialData: () => peer.connections(), ...pushed })
}

export function useProfile (): UseQueryResult<AgentProfile> {
  const peer = usePeer()
  return useQuery({ queryKey: queryKeys(peer.peerId).profile, queryFn: () => peer.profile, initialData: () => peer.profile, ...pushed })
}

/** Tasks from the store, newest first. */
export function useTasks (query: TaskQuery = {}): UseQueryResult<TaskRecord[]> {
  const peer = usePeer()
  return useQuery({ queryKey: queryKeys(peer.peerId).tasks(query), queryFn: async () => await peer.tasks(query), ...pushed })
}

/** One task, or null when this peer has no such task. */
export function useTask (direction: TaskDirection, id: string): UseQueryResult<TaskRecord | null> {
  const peer = usePeer()
  return useQuery({
    queryKey: queryKeys(peer.peerId).task(direction, id),
    queryFn: async () => (await peer.task(direction, id)) ?? null,
    ...pushed
  })
}

/** Inbound tasks waiting for our answer. */
export function useInbox (): UseQueryResult<TaskRecord[]> {
  const peer = usePeer()
  return useQuery({ queryKey: queryKeys(peer.peerId).inbox, queryFn: async () => await peer.inbox(), ...pushed })
}

/** Tasks from unknown senders that wait for the person to accept or block them. */
export function useRequests (): UseQueryResult<TaskRecord[]> {
  const peer = usePeer()
  return useQuery({ queryKey: queryKeys(peer.peerId).requests, queryFn: async () => await peer.requests(), ...pushed })
}

/** Who may send this peer which tasks, first match wins. */
export function usePolicy (): UseQueryResult<readonly PolicyRule[]> {
  const peer = usePeer()
  return useQuery({ queryKey: queryKeys(peer.peerId).policy, queryFn: () => peer.policyRules, initialData: () => peer.policyRules, ...pushed })
}

/** Replaces the policy's rules; held requests they now decide are settled. */
export function useSetPolicy (): UseMutationResult<void, Error, { rules: readonly PolicyRule[] }> {
  const peer = usePeer()
  return useMutation({ mutationFn: async ({ rules }) => { await peer.setPolicy(rules) } })
}

/** Accepts or blocks the sender of a request (and every task it has waiting). */
export function useDecideSender (): UseMutationResult<void, Error, { peerId: string, accept: boolean }> {
  const peer = usePeer()
  return useMutation({
    mutationFn: async ({ peerId, accept }) => { await (accept ? peer.acceptSender(peerId) : peer.blockSender(peerId)) }
  })
}

/**
 * `GET /health` of the relay at `origin` (the relay list's rows, the indicator's "why no slot"):
 * one cached query per origin, whoever asks. Never retried: a relay that does not answer says so.
 */
export function useRelayHealth (origin: string, options: Pick<UseQueryOptions<RelayHealth>, 'enabled' | 'refetchInterval' | 'staleTime'> = {}): UseQueryResult<RelayHealth> {
  return useQuery({
    queryKey: ['relay-health', origin],
    queryFn: async ({ signal }) => await fetchRelayHealth(origin, { signal }),
    retry: false,
    ...options
  })
}

/** Agents seen before (no network). */
export function useKnownAgents (): UseQueryResult<KnownAgent[]> {
  const peer = usePeer()
  return useQuery({ queryKey: queryKeys(peer.peerId).knownAgents, queryFn: () => peer.knownAgents(), initialData: () => peer.knownAgents(), ...pushed })
}

/** The relay's registry, asked again every DISCOVER_INTERVAL_MS while mounted and reserved. */
export function useDiscover (): UseQueryResult<AgentEntry[]> {
  const peer = usePeer()
  const relay = useRelayStatus()
  return useQuery({
    queryKey: queryKeys(peer.peerId).discover,
    queryFn: async ({ signal }) => await peer.discover({}, { signal }),
    enabled: relay.data?.state === 'reserved',
    refetchInterval: DISCOVER_INTERVAL_MS,
    retry: 1
  })
}

/**
 * Composing messages from what the person wrote (../model/tasks.ts) loads with the screens that
 * send; it is imported lazily here so the first screen's download does not carry it.
 */
const composing = async (): Promise<typeof Compose> => await import('../model/tasks.js')

/** Sends a new task; resolves with its record after the first delivery attempt (it may be queued). */
export function useSendTask (): UseMutationResult<TaskRecord, Error, { peerId: string } & Draft> {
  const peer = usePeer()
  return useMutation({ mutationFn: async ({ peerId, ...draft }) => await peer.send(peerId, await (await composing()).draftParts(draft)) })
}

/**
 * Sends a new task to any live agent with `skill` (anycast); resolves with its record, whose
 * `peerId` is the agent that took it.
 */
export function useSendToSkill (): UseMutationResult<TaskRecord, Error, { skill: string } & Draft> {
  const peer = usePeer()
  return useMutation({ mutationFn: async ({ skill, ...draft }) => await peer.sendToSkill(skill, await (await composing()).draftParts(draft)) })
}

/**
 * Fetches and checks the card of a plain HTTP A2A agent at a URL and keeps it in the directory
 * (its card URL then names it, like a PeerID names a mesh agent).
 */
export function useAddHttpAgent (): UseMutationResult<KnownAgent, Error, { url: string }> {
  const peer = usePeer()
  return useMutation({ mutationFn: async ({ url }) => await peer.addHttpAgent(url) })
}

/** Replies to an outbound task whose agent asked for input: a new message in the same task. */
export function useReply (): UseMutationResult<TaskRecord, Error, { record: TaskRecord } & Draft> {
  const peer = usePeer()
  return useMutation({
    mutationFn: async ({ record, ...draft }) => await peer.send(record.peerId, await (await composing()).draftParts(draft), { taskId: record.id, contextId: record.contextId })
  })
}

/** Ends the current turn of an inbound task: an answer (text and files), a question, a failure or a refusal. */
export function useRespond (): UseMutationResult<void, Error, { taskId: string, kind: OutcomeKind } & Draft> {
  const peer = usePeer()
  return useMutation({
    mutationFn: async ({ taskId, kind, ...draft }) => { await peer.respond(taskId, await (await composing()).draftOutcome(kind, draft)) }
  })
}

export function useCancelTask (): UseMutationResult<TaskRecord, Error, { taskId: string }> {
  const peer = usePeer()
  return useMutation({ mutationFn: async ({ taskId }) => await peer.cancel(taskId) })
}

export function useSetProfile (): UseMutationResult<void, Error, AgentProfile> {
  const peer = usePeer()
  return useMutation({ mutationFn: async (profile) => { await peer.setProfile(profile) } })
}

/** Every mesh query's key starts with this (the peer emits no mesh events: mutations refresh them). */
function meshKey (peerId: string): readonly unknown[] {
  return [...queryKeys(peerId).all, 'meshes']
}

/** The private meshes this peer is in (held in memory by the peer, read from its store at start). */
export function useMeshes (): UseQueryResult<MeshInfo[]> {
  const peer = usePeer()
  return useQuery({ queryKey: [...meshKey(peer.peerId), 'list'], queryFn: () => peer.meshes.list(), initialData: () => peer.meshes.list(), ...pushed })
}

/** An invite this peer issued, and whether it has revoked it since. */
export interface IssuedInviteState extends IssuedInvite {
  revoked: boolean
}

/** The invites this peer issued in `meshId`. */
export function useMeshInvites (meshId: string): UseQueryResult<IssuedInviteState[]> {
  const peer = usePeer()
  const read = (): IssuedInviteState[] => peer.meshes.invites(meshId).map(i => ({ ...i, revoked: peer.meshes.isRevoked(meshId, { invite: i.inviteId }) }))
  return useQuery({ queryKey: [...meshKey(peer.peerId), 'invites', meshId], queryFn: read, initialData: read, ...pushed })
}

/** A mutation on the peer's meshes; every mesh query is read again once it is done. */
function useMeshMutation<T, V> (run: (meshes: ReturnType<typeof usePeer>['meshes'], variables: V) => Promise<T>): UseMutationResult<T, Error, V> {
  const peer = usePeer()
  const client = useQueryClient()
  return useMutation({
    mutationFn: async (variables: V) => await run(peer.meshes, variables),
    onSettled: async () => { await client.invalidateQueries({ queryKey: meshKey(peer.peerId) }) }
  })
}

export function useCreateMesh (): UseMutationResult<MeshInfo, Error, { name: string }> {
  // the relay that serves this app is where the mesh meets: its invites say so, for native joiners
  return useMeshMutation(async (meshes, { name }) => await meshes.create(name, { relays: [window.location.origin] }))
}

export interface InviteRequest {
  meshId: string
  role: MeshRole
  ttlMs: number
  maxUses?: number
}

/** Issues an invite; its `token` goes in a link's `#join=`. */
export function useInviteToMesh (): UseMutationResult<InviteResult, Error, InviteRequest> {
  return useMeshMutation(async (meshes, { meshId, ...options }) => await meshes.invite(meshId, options))
}

export function useJoinMesh (): UseMutationResult<MeshInfo, Error, { token: string }> {
  return useMeshMutation(async (meshes, { token }) => await meshes.join(token))
}

export function useLeaveMesh (): UseMutationResult<MeshInfo, Error, { meshId: string }> {
  return useMeshMutation(async (meshes, { meshId }) => await meshes.leave(meshId))
}

/** Revokes an invite this peer issued; the result says whether the relay took it too. */
export function useRevokeInvite (): UseMutationResult<RevokeResult, Error, { meshId: string, inviteId: string }> {
  return useMeshMutation(async (meshes, { meshId, inviteId }) => await meshes.revoke(meshId, { invite: inviteId }))
}

/**
 * The members of `meshId` its relay knows now (owner and admins only may ask); read while
 * `enabled` (the list is on screen), again after every mesh mutation, never retried on refusal.
 */
export function useMeshMembers (meshId: string, enabled: boolean): UseQueryResult<MembersResult> {
  const peer = usePeer()
  return useQuery({
    queryKey: [...meshKey(peer.peerId), 'members', meshId],
    queryFn: async ({ signal }) => await peer.meshes.members(meshId, { signal }),
    enabled,
    retry: false,
    staleTime: MEMBERS_STALE_MS
  })
}

/** How long a members list is shown before it is asked again, in ms. */
const MEMBERS_STALE_MS = 10_000

/** Revokes a member: the relay drops its reservation and entry, and peers reject its tasks. */
export function useRevokeMember (): UseMutationResult<RevokeResult, Error, { meshId: string, peerId: string }> {
  return useMeshMutation(async (meshes, { meshId, peerId }) => await meshes.revoke(meshId, { member: peerId }))
}

/** What an invite offers, checked (signatures, expiry), and who issued it. */
export interface InviteSummary {
  invite: InvitePayload
  /** The PeerID that signed the invite: the mesh's owner or one of its admins. */
  issuer: string
  issuerRole: 'owner' | 'admin'
}

/**
 * Reads and checks an invite token without joining. Fails with the MeshCredentialError that
 * says why (its `reason`) when the token is bad, tampered with or expired; never retried.
 */
export function useReadInvite (token: string): UseQueryResult<InviteSummary> {
  const peer = usePeer()
  return useQuery({
    queryKey: [...meshKey(peer.peerId), 'read-invite', token],
    queryFn: async () => {
      const invite = await peer.meshes.readInvite(token)
      return { invite, ...await inviteIssuer(token, invite) }
    },
    retry: false,
    staleTime: Number.POSITIVE_INFINITY
  })
}

/** The credentials module is loaded here only when an invite is read (it is in the peer's chunk anyway). */
const credentials = async (): Promise<typeof MeshCredentials> => await import('../../core/mesh/credentials.js')

/**
 * Who signed an invite that readInvite accepted: the owner when it carries no proof, else the
 * admin whose credential is the proof's first statement (verified again here to read its member).
 */
async function inviteIssuer (token: string, invite: InvitePayload): Promise<Pick<InviteSummary, 'issuer' | 'issuerRole'>> {
  const { decodeInviteToken, meshOwner, verifyCredential } = await credentials()
  const [admin, ...rest] = decodeInviteToken(token).proof
  if (admin == null) return { issuer: meshOwner(invite.meshId), issuerRole: 'owner' }
  const membership = await verifyCredential({ credential: admin, proof: rest })
  return { issuer: membership.member, issuerRole: 'admin' }
}
