// The built Node code that tests run as processes (the CLI, the relay), rebuilt when a source
// is newer than the build, so a test always runs the code beside it.

import { execFile } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { REPO_ROOT } from './starling.js'

/** The built `starling` CLI. */
export const CLI = join(REPO_ROOT, 'dist/node/src/native/cli.js')

/** The newest modification time of a .ts file (tests aside) under `dir`. */
async function newestSource (dir: string): Promise<number> {
  let newest = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs)
    }
  }
  return newest
}

/** Builds dist/node when it is missing or older than the sources, so the test runs this code. */
export async function ensureBuilt (): Promise<void> {
  const built = await stat(CLI).then(s => s.mtimeMs, () => 0)
  const sources = Math.max(...await Promise.all(['src/core', 'src/native', 'relay'].map(async d => await newestSource(join(REPO_ROOT, d)))))
  if (built >= sources) return
  await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.node.json'], { cwd: REPO_ROOT })
}
