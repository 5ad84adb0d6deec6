// `npm run dev`: what `npm start` runs (the relay and the demo agent, built when stale), plus
// Vite's dev server for the PWA with hot reload. Open the URL Vite prints (http://localhost:5173):
// it proxies /api and /health to the relay (STARLING_RELAY_URL, default http://127.0.0.1:8080),
// and the page then dials the relay's WebSocket address directly.
//
//   npm run dev [-- RELAY-OPTIONS…]
//
// Ctrl-C stops both; if either stops on its own, so does the other.

import { spawn } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const VITE = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js')

const children = [
  spawn(process.execPath, [join(ROOT, 'bin', 'start.mjs'), ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit' }),
  spawn(process.execPath, [VITE], { cwd: ROOT, stdio: 'inherit' })
]

let exitCode = 0
for (const child of children) {
  child.on('exit', (code) => {
    if (code != null && code !== 0) exitCode = code
    for (const other of children) if (other !== child && other.exitCode == null) other.kill('SIGTERM')
  })
}
process.on('SIGINT', () => { for (const child of children) child.kill('SIGINT') })
process.on('SIGTERM', () => { for (const child of children) child.kill('SIGTERM') })
process.on('beforeExit', () => { process.exitCode = exitCode })
