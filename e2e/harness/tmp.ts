// Temporary directories for end-to-end tests (relay data dirs, STARLING_HOMEs, ...).
//
// tempDir() creates a fresh directory under os.tmpdir(). The fixtures in ./fixtures.ts remove the
// directories made during a test when it ends (after its processes were stopped); whatever is
// left when the worker exits is removed there. STARLING_E2E_KEEP_TMP=1 keeps them for debugging.

import { mkdtempSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const pending = new Set<string>()
const keep = process.env.STARLING_E2E_KEEP_TMP === '1'

function checkPrefix (prefix: string): string {
  if (prefix.includes('/') || prefix.includes('\\')) throw new Error(`tempDir: the prefix must be a plain name, not a path: ${prefix}`)
  return `starling-e2e-${prefix}${prefix.endsWith('-') ? '' : '-'}`
}

/** Creates a new, empty directory `<os.tmpdir()>/starling-e2e-<prefix>-XXXXXX`; removed at the end of the test. */
export async function tempDir (prefix = 'tmp'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), checkPrefix(prefix)))
  pending.add(dir)
  return dir
}

/** The same, synchronously. */
export function tempDirSync (prefix = 'tmp'): string {
  const dir = mkdtempSync(join(tmpdir(), checkPrefix(prefix)))
  pending.add(dir)
  return dir
}

/** Directories created and not yet removed. */
export function pendingTempDirs (): readonly string[] {
  return [...pending]
}

/** Removes every directory created by tempDir() so far (stop the processes using them first). */
export async function removeTempDirs (): Promise<void> {
  const dirs = [...pending]
  pending.clear()
  if (keep) {
    if (dirs.length) console.log(`[tmp] kept (STARLING_E2E_KEEP_TMP=1): ${dirs.join(' ')}`)
    return
  }
  await Promise.all(dirs.map(async (dir) => {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 })
  }))
}

process.on('exit', () => {
  if (keep) return
  for (const dir of pending) {
    try { rmSync(dir, { recursive: true, force: true }) } catch { /* best effort */ }
  }
})
