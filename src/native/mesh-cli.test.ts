/**
 * `starling mesh` end to end: a relay process and three `starling serve` processes, driven only
 * through CLI verbs run as processes (the build in dist/node, refreshed first when a source file
 * is newer). An owner creates a mesh and invites; a second home joins with the link; the
 * member's task is answered, an outsider's is rejected with the reason `wait` prints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPeer, startRelay, starlingCli } from '../../e2e/harness/starling.js'
import type { CliResult, PeerHandle, RelayHandle } from '../../e2e/harness/starling.js'
import { testProcesses } from '../../e2e/harness/processes.js'
import { removeTempDirs, tempDir } from '../../e2e/harness/tmp.js'
import { ensureBuilt } from '../../e2e/harness/build.js'

interface MeshJson { meshId: string, name: string, role: string, expiresAt: number }
interface InviteJson { meshId: string, inviteId: string, role: string, token: string, link?: string, maxUses?: number }

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

    const joined = await starlingCli(homes.member, ['mesh', 'join', invite.json?.link ?? ''])
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

    const bad = await starlingCli(homes.outsider, ['mesh', 'join', 'not-a-token'])
    expectExit(bad, 1)
    expect(bad.stderr).toContain('this is not a Starling invite')

    const left = await starlingCli(homes.member, ['mesh', 'leave', meshId])
    expectExit(left, 0)
    expect((await starlingCli<MeshJson[]>(homes.member, ['mesh', 'list'], { json: true })).json).toEqual([])
  }, 120_000)
})
