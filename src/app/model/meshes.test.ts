/**
 * The PWA's invite links: the link the invite form shows opens the join screen with the token as
 * made, and core's decoder (what `starling mesh join LINK` uses) reads the same link; an invite's
 * refusal reads with its reason.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { createInvite, decodeInviteToken, encodeInviteToken, MeshCredentialError, newMeshId } from '../../core/mesh/credentials.js'
import { href, parseRoute } from '../routes.js'
import { inviteLink, meshErrorText } from './meshes.js'

describe('invite links', () => {
  it('open the join screen with the token, and core reads the same link', async () => {
    const owner = await generateKeyPair('Ed25519')
    const meshId = newMeshId(owner)
    const token = await createInvite(owner, undefined, { meshId, meshName: 'Build farm' })
    const encoded = encodeInviteToken(token)
    const link = inviteLink('https://relay.example', encoded)
    expect(link).toBe(`https://relay.example/#join=${encoded}`)
    const route = parseRoute(new URL(link).hash)
    expect(route).toEqual({ name: 'join', token: encoded })
    expect(href(route)).toBe(`#join=${encoded}`)
    expect(decodeInviteToken(link)).toEqual(token)
  })

  it('other hashes keep their routes', () => {
    expect(parseRoute('#/profile')).toEqual({ name: 'profile' })
    expect(parseRoute('#/joined')).toEqual({ name: 'agents' })
  })
})

describe('meshErrorText', () => {
  it('names the rule a refused invite broke', () => {
    expect(meshErrorText(new MeshCredentialError('expired', 'the invite to X expired'))).toBe('the invite to X expired (expired)')
    expect(meshErrorText(new Error('no relay'))).toBe('no relay')
  })
})
