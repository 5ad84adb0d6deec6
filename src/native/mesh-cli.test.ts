/**
 * `starling mesh` end to end: a relay process and three `starling serve` processes, driven only
 * through CLI verbs run as processes (the build in dist/node, refreshed first when a source file
 * is newer). An owner creates a mesh and invites; a second home joins with the link; the
 * member's task is answered, an outsider's is rejected with the reason `wait` prints; `members`
 * says the open relay keeps no list. Against a private relay, the operator (an admin of the
 * relay's own mesh, by its join link) lists the members the relay knows, a member is told why
 * it gets no list, and a revoked member leaves the list.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPeer, startRelay, starlingCli } from '../../e2e/harness/starling.js'
import type { CliResult, PeerHandle, RelayHandle } from '../../e2e/harness/starling.js'
import { testProcesses } from '../../e2e/harness/processes.js'
import { removeTempDirs, tempDir } from '../../e2e/harness/tmp.js'
import { ensureBuilt } from '../../e2e/harness/build.js'

interface MeshJson { meshId: string, name: string, role: string, expiresAt: number }
interface InviteJson { meshId: string, inviteId: string, role: string, token: string, link?: string, maxUses?: number }
interface MembersJson {
  mesh: MeshJson
  invites: Array<{ inviteId: string }>
  members: Array<{ peerId: string, role: string }>
  note: string
  relayMembers?: Array<{ peerId: string, role: string, expiresAt: number, reserved: boolean, listed: boolean }>
  relayTotal?: number
  relayError?: string
}

function expectExit (result: CliResult, code: number): void {
  // on failure, show what the command said
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code })
}

describe('starling mesh, with a relay and three peers in processes of their own', () => {
  let relay: RelayHandle
  const homes: Record<'owner' | 'member' | 'outsider', string> = { owner: '', member: '', outsider: '' }
  const peers: Partial<Record<keyof typeof homes, PeerHandle>> = {}

  beforeAll(async () => {
    await ensureBuilt()
    relay = await startRelay({ extraArgs: ['--ice-servers', 'none'] })
    for (const name of Object.keys(homes) as Array<keyof typeof homes>) {
      homes[name] = await tempDir(`mesh-${name}`)
      expectExit(await starlingCli(homes[name], ['init', '--name', name, '--skills', 'echo', '--relay', relay.url]), 0)
    }
    await Promise.all((Object.keys(homes) as Array<keyof typeof homes>).map(async (name) => {
      const peer = await startPeer(homes[name], name === 'owner' ? ['--echo'] : [], { name })
      await peer.process.waitForLine(/^Published card "/, { timeoutMs: 20_000 })
      peers[name] = peer
    }))
  }, 90_000)

  afterAll(async () => {
    await testProcesses.stopAll()
    testProcesses.clear()
    await removeTempDirs()
  })

  it('creates a mesh, invites, joins with the link; a member\'s task completes, an outsider\'s is rejected with the reason', async () => {
    const owner = peers.owner?.peerId ?? ''

    const created = await starlingCli<MeshJson>(homes.owner, ['mesh', 'create', 'build farm'], { json: true })
    expectExit(created, 0)
    expect(created.json).toMatchObject({ name: 'build farm', role: 'owner' })
    const meshId = created.json?.meshId ?? ''
    expect(meshId.startsWith(`${owner}/`)).toBe(true)

    const invite = await starlingCli<InviteJson>(homes.owner, ['mesh', 'invite', 'build farm', '--uses', '1', '--ttl', '1h'], { json: true })
    expectExit(invite, 0)
    expect(invite.json).toMatchObject({ meshId, role: 'member', maxUses: 1 })
    expect(invite.json?.link).toBe(`${relay.url.replace(/\/+$/, '')}/#join=${invite.json?.token ?? ''}`)

    // in text, the same verb prints the token and the link
    const inviteText = await starlingCli(homes.owner, ['mesh', 'invite', meshId])
    expectExit(inviteText, 0)
    expect(inviteText.stdout).toMatch(/^Token: \S+$/m)
    expect(inviteText.stdout).toMatch(/^Link: {2}http\S+#join=\S+$/m)

    // `starling join` is `mesh join` under the name the invite's output gives
    expect(inviteText.stdout).toMatch(/^Join with: starling join http\S+#join=\S+$/m)
    const joined = await starlingCli(homes.member, ['join', invite.json?.link ?? ''])
    expectExit(joined, 0)
    expect(joined.stdout).toContain(`Joined mesh "build farm" (${meshId}) as member`)

    const ownerList = await starlingCli<MeshJson[]>(homes.owner, ['mesh', 'list'], { json: true })
    expect(ownerList.json?.map(m => [m.meshId, m.role])).toEqual([[meshId, 'owner']])
    const memberList = await starlingCli<MeshJson[]>(homes.member, ['mesh', 'list'], { json: true })
    expect(memberList.json?.map(m => [m.meshId, m.name, m.role])).toEqual([[meshId, 'build farm', 'member']])
    const outsiderList = await starlingCli(homes.outsider, ['mesh', 'list'])
    expectExit(outsiderList, 0)
    expect(outsiderList.stderr).toContain('This peer is in no mesh')

    const sent = await starlingCli(homes.member, ['send', owner, 'hello from a member'])
    expectExit(sent, 0)
    const answered = await starlingCli(homes.member, ['wait', sent.stdout.trim(), '--timeout', '20'])
    expectExit(answered, 0)
    expect(answered.stdout).toBe('hello from a member\n')

    const intruded = await starlingCli(homes.outsider, ['send', owner, 'let me in'])
    expectExit(intruded, 0)
    const refused = await starlingCli(homes.outsider, ['wait', intruded.stdout.trim(), '--timeout', '20'])
    expectExit(refused, 1)
    expect(refused.stdout).toBe('not a member of any mesh this agent serves\n')

    const members = await starlingCli(homes.owner, ['mesh', 'members', 'build farm'])
    expectExit(members, 0)
    expect(members.stdout).toContain(`${owner}  owner (this peer)`)
    expect(members.stdout).toContain(`invite ${invite.json?.inviteId ?? ''}  member`)
    // an open relay keeps no list of members: said on stderr, and in the JSON
    expect(members.stderr).toMatch(/^No list from the relay: the relay does not list mesh members \(.*open mode/m)
    const membersJson = await starlingCli<MembersJson>(homes.owner, ['mesh', 'members', meshId], { json: true })
    expectExit(membersJson, 0)
    expect(membersJson.json?.members).toEqual([{ peerId: owner, role: 'owner' }])
    expect(membersJson.json?.relayMembers).toBeUndefined()
    expect(membersJson.json?.relayError).toMatch(/open mode/)

    const bad = await starlingCli(homes.outsider, ['mesh', 'join', 'not-a-token'])
    expectExit(bad, 1)
    expect(bad.stderr).toContain('this is not a Starling invite')

    const left = await starlingCli(homes.member, ['mesh', 'leave', meshId])
    expectExit(left, 0)
    expect((await starlingCli<MeshJson[]>(homes.member, ['mesh', 'list'], { json: true })).json).toEqual([])
  }, 120_000)
})

describe('starling mesh members, against a private relay in a process of its own', () => {
  let relay: RelayHandle
  let joinLink = ''
  const homes: Record<'operator' | 'member', string> = { operator: '', member: '' }
  const peers: Partial<Record<keyof typeof homes, PeerHandle>> = {}

  beforeAll(async () => {
    await ensureBuilt()
    relay = await startRelay({ extraArgs: ['--mode', 'private', '--ice-servers', 'none'] })
    // the operator's admin invite to the relay's own mesh, written before the relay says it is up
    joinLink = (await readFile(join(relay.dataDir, 'join-link.txt'), 'utf8')).trim()
    for (const name of Object.keys(homes) as Array<keyof typeof homes>) {
      homes[name] = await tempDir(`mesh-private-${name}`)
      expectExit(await starlingCli(homes[name], ['init', '--name', name, '--skills', 'echo', '--relay', relay.url]), 0)
      peers[name] = await startPeer(homes[name], [], { name })
    }
  }, 90_000)

  afterAll(async () => {
    await testProcesses.stopAll()
    testProcesses.clear()
    await removeTempDirs()
  })

  it('lists the relay\'s members to its operator (an admin); a member gets its own view and why; a revoked member leaves the list', async () => {
    const operator = peers.operator?.peerId ?? ''
    const memberId = peers.member?.peerId ?? ''

    // the operator joins with the relay's link: an admin of its own mesh, then reserved and listed
    const joined = await starlingCli<MeshJson>(homes.operator, ['mesh', 'join', joinLink], { json: true })
    expectExit(joined, 0)
    expect(joined.json?.role).toBe('admin')
    const meshId = joined.json?.meshId ?? ''
    await peers.operator?.process.waitForLine(/^Published card "operator"/, { timeoutMs: 20_000 })

    const invite = await starlingCli<InviteJson>(homes.operator, ['mesh', 'invite', meshId], { json: true })
    expectExit(invite, 0)
    expectExit(await starlingCli(homes.member, ['mesh', 'join', invite.json?.link ?? '']), 0)
    await peers.member?.process.waitForLine(/^Published card "member"/, { timeoutMs: 20_000 })

    const text = await starlingCli(homes.operator, ['mesh', 'members', meshId])
    expectExit(text, 0)
    expect(text.stdout).toContain(`Members of ${meshId} known to the relay: 2\n`)
    expect(text.stdout).toMatch(new RegExp(`^${operator}  admin  reserved, listed  until \\S.*  \\(this peer\\)$`, 'm'))
    expect(text.stdout).toMatch(new RegExp(`^${memberId}  member  reserved, listed  until \\S[^(]*$`, 'm'))
    expect(text.stdout).toContain(`invite ${invite.json?.inviteId ?? ''}  member`)
    expect(text.stderr).not.toContain('No list from the relay')

    const listed = await starlingCli<MembersJson>(homes.operator, ['mesh', 'members', meshId], { json: true })
    expectExit(listed, 0)
    expect(listed.json?.relayError).toBeUndefined()
    expect(listed.json?.relayTotal).toBe(2)
    expect(listed.json?.members).toEqual([{ peerId: operator, role: 'admin' }])
    expect(listed.json?.relayMembers?.map(m => [m.peerId, m.role, m.reserved, m.listed])).toEqual([
      [operator, 'admin', true, true],
      [memberId, 'member', true, true]
    ])
    expect(listed.json?.relayMembers?.every(m => m.expiresAt > Date.now())).toBe(true)

    // a member gets what it knows, and why there is no list
    const byMember = await starlingCli<MembersJson>(homes.member, ['mesh', 'members', meshId], { json: true })
    expectExit(byMember, 0)
    expect(byMember.json?.relayMembers).toBeUndefined()
    expect(byMember.json?.relayError).toBe(`only the owner or an admin of ${meshId} may list its members; this peer is a member`)
    const memberText = await starlingCli(homes.member, ['mesh', 'members', meshId])
    expect(memberText.stdout).toContain(`${memberId}  member (this peer)`)
    expect(memberText.stderr).toContain('No list from the relay: only the owner or an admin')

    // revoked, the member is gone from the relay's list at once
    const revoked = await starlingCli<{ relayAccepted: boolean }>(homes.operator, ['mesh', 'revoke', meshId, '--member', memberId], { json: true })
    expectExit(revoked, 0)
    expect(revoked.json?.relayAccepted).toBe(true)
    const after = await starlingCli<MembersJson>(homes.operator, ['mesh', 'members', meshId], { json: true })
    expectExit(after, 0)
    expect(after.json?.relayMembers?.map(m => m.peerId)).toEqual([operator])
    expect(after.json?.relayTotal).toBe(1)
  }, 120_000)
})
