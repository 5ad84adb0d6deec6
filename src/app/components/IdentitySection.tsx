/**
 * The browser peer's identity: its PeerID and did:key, a passphrase-protected backup of its key
 * (export and import, src/core/identity/key-backup.ts), and erasing the peer. Import and erase
 * stop the peer, change the storage, and reload the page: nothing of the old identity stays
 * in memory.
 */
import { useId, useMemo, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { errorMessage } from '../../core/errors.js'
import { didKeyOf } from '../../core/identity/did-key.js'
import { exportKeyBackup, importKeyBackup, MIN_PASSPHRASE_LENGTH, readKeyBackup } from '../../core/identity/key-backup.js'
import type { KeyBackup } from '../../core/identity/key-backup.js'
import { eraseBrowserPeer } from '../data/erase.js'
import type { BrowserPeerStorage } from '../data/idb-storage.js'
import { usePeerHost } from '../node/context.js'
import { usePeerId } from '../node/hooks.js'
import { peerTail } from '../model/format.js'

export function IdentitySection (): ReactNode {
  const peerId = usePeerId()
  const did = useMemo(() => didKeyOf(peerId), [peerId])
  return (
    <section className="card identity" aria-labelledby="identity-title">
      <h3 id="identity-title">Identity</h3>
      <p className="muted">Other agents know you by this PeerID. It is a key kept in this browser: back it up to keep it.</p>
      <dl className="facts">
        <dt>PeerID</dt>
        <dd><code data-testid="identity-peer-id">{peerId}</code></dd>
        <dt>did:key</dt>
        <dd><code data-testid="identity-did">{did}</code></dd>
      </dl>
      <ExportKey peerId={peerId} />
      <ImportKey peerId={peerId} />
      <ErasePeer />
    </section>
  )
}

function ExportKey ({ peerId }: { peerId: string }): ReactNode {
  const host = usePeerHost()
  const ids = useId()
  const [passphrase, setPassphrase] = useState('')
  const [again, setAgain] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string>()
  const [done, setDone] = useState(false)
  const mismatch = again !== '' && again !== passphrase

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    setDone(false)
    try {
      const stored = await host.storedIdentity()
      if (stored == null) throw new Error('this browser has no key yet')
      const text = await exportKeyBackup(privateKeyFromProtobuf(stored), passphrase)
      download(text, `starling-key-${peerTail(peerId)}.json`)
      setPassphrase('')
      setAgain('')
      setDone(true)
    } catch (err) {
      setError(errorMessage(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <details>
      <summary>Back up the key</summary>
      <form className="stack" onSubmit={(e) => { void submit(e) }} aria-label="Back up the key">
        <label htmlFor={`${ids}-p1`}>Passphrase</label>
        <input id={`${ids}-p1`} type="password" autoComplete="new-password" minLength={MIN_PASSPHRASE_LENGTH} required
          value={passphrase} onChange={(e) => { setPassphrase(e.target.value) }} />
        <label htmlFor={`${ids}-p2`}>Passphrase again</label>
        <input id={`${ids}-p2`} type="password" autoComplete="new-password" required aria-invalid={mismatch}
          value={again} onChange={(e) => { setAgain(e.target.value) }} />
        {mismatch && <p className="error">The two passphrases differ.</p>}
        <p className="muted">At least {MIN_PASSPHRASE_LENGTH} characters. Without it the file cannot be opened: nobody can recover it.</p>
        <div className="actions">
          <button type="submit" disabled={busy || passphrase.length < MIN_PASSPHRASE_LENGTH || passphrase !== again}>
            {busy ? 'Encrypting…' : 'Download backup'}
          </button>
        </div>
        {done && <p role="status" className="ok">Backup saved. Keep it and its passphrase apart.</p>}
        {error != null && <p role="alert" className="error">No backup: {error}</p>}
      </form>
    </details>
  )
}

function ImportKey ({ peerId }: { peerId: string }): ReactNode {
  const host = usePeerHost()
  const ids = useId()
  const [text, setText] = useState<string>()
  const [backup, setBackup] = useState<KeyBackup>()
  const [passphrase, setPassphrase] = useState('')
  const [confirming, setConfirming] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string>()

  const choose = async (file: File | undefined): Promise<void> => {
    setError(undefined)
    setBackup(undefined)
    setConfirming(false)
    if (file == null) return
    try {
      const read = await file.text()
      setBackup(readKeyBackup(read))
      setText(read)
    } catch (err) {
      setError(errorMessage(err))
    }
  }

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault()
    if (text == null || backup == null) return
    setError(undefined)
    setBusy(true)
    try {
      // decrypt first: a wrong passphrase changes nothing
      const key = await importKeyBackup(text, passphrase)
      if (backup.peerId !== peerId && !confirming) {
        setConfirming(true)
        return
      }
      if (backup.peerId === peerId) {
        setError('this backup holds the identity this browser already has')
        return
      }
      await host.shutDownFor(async (storage) => {
        await storage.identity.save(privateKeyToProtobuf(key))
        // credentials name the old PeerID, and meshes it owned need the old key: none of them is
        // this identity's (the old one can still restore them from its own backup)
        if ('meshes' in storage) await (storage as BrowserPeerStorage).meshes.save({ meshes: [], invites: [], revocations: [] })
      })
      window.location.reload()
    } catch (err) {
      setError(errorMessage(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <details>
      <summary>Restore a key from a backup</summary>
      <form className="stack" onSubmit={(e) => { void submit(e) }} aria-label="Restore a key">
        <label htmlFor={`${ids}-file`}>Backup file</label>
        <input id={`${ids}-file`} type="file" accept="application/json,.json" onChange={(e) => { void choose(e.target.files?.[0]) }} />
        {backup != null && (
          <>
            <p>It holds <code data-testid="backup-peer-id">{backup.peerId}</code>, saved {new Date(backup.createdAt).toLocaleString()}.</p>
            <label htmlFor={`${ids}-pass`}>Its passphrase</label>
            <input id={`${ids}-pass`} type="password" autoComplete="current-password" required
              value={passphrase} onChange={(e) => { setPassphrase(e.target.value); setConfirming(false) }} />
            {confirming && (
              <p role="alert" className="warn">
                This browser becomes {peerTail(backup.peerId)} instead of {peerTail(peerId)}. Its tasks and profile stay; its
                private meshes go (their credentials name {peerTail(peerId)}). Agents that knew {peerTail(peerId)} will not
                reach you under that PeerID again unless you keep a backup of it.
              </p>
            )}
            <div className="actions">
              <button type="submit" disabled={busy || passphrase === ''}>
                {busy ? 'Opening…' : confirming ? 'Replace this identity' : 'Restore'}
              </button>
            </div>
          </>
        )}
        {error != null && <p role="alert" className="error">Not restored: {error}</p>}
      </form>
    </details>
  )
}

function ErasePeer (): ReactNode {
  const host = usePeerHost()
  const [confirming, setConfirming] = useState(false)
  const [error, setError] = useState<string>()
  const erase = async (): Promise<void> => {
    try {
      await host.shutDownFor(async () => {})
      await eraseBrowserPeer()
      window.location.reload()
    } catch (err) {
      setError(errorMessage(err))
    }
  }
  return (
    <details>
      <summary>Erase this peer</summary>
      <p>Deletes the key, the profile, every task, the agent directory and the private meshes from this browser. The next start is a new peer with a new PeerID.</p>
      <div className="actions">
        {confirming
          ? (
            <>
              <button type="button" className="danger" onClick={() => { void erase() }}>Yes, erase everything</button>
              <button type="button" onClick={() => { setConfirming(false) }}>Keep it</button>
            </>
            )
          : <button type="button" onClick={() => { setConfirming(true) }}>Erase…</button>}
      </div>
      {error != null && <p role="alert" className="error">Not erased: {error}</p>}
    </details>
  )
}

function download (text: string, filename: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }))
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  a.click()
  // the download has started from the element; the URL is not needed after this turn
  setTimeout(() => { URL.revokeObjectURL(url) }, 0)
}
