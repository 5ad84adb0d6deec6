// Draws the PWA's icons into public/icons: `node src/app/pwa/make-icons.mjs`.
//
// The icon is three linked nodes (a small mesh) on Starling's purple. The SVG is written as
// text; the PNGs are rasterised here (4x4 supersampling) and encoded with node:zlib, so no
// image tool or dependency is needed. The output is deterministic: run it again after a change.

import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deflateSync } from 'node:zlib'

const OUT = join(dirname(fileURLToPath(import.meta.url)), '../../../public/icons')
const BG = [0x4c, 0x3f, 0xb3]
const FG = [0xff, 0xff, 0xff]

// The design on a 100x100 canvas.
const NODES = [[50, 27], [27, 68], [73, 68]]
const LINKS = [[0, 1], [1, 2], [2, 0]]
const NODE_R = 11
const LINK_W = 6
const CORNER = 22

function svg () {
  const links = LINKS.map(([a, b]) => `<line x1="${NODES[a][0]}" y1="${NODES[a][1]}" x2="${NODES[b][0]}" y2="${NODES[b][1]}"/>`).join('')
  const nodes = NODES.map(([x, y]) => `<circle cx="${x}" cy="${y}" r="${NODE_R}"/>`).join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><rect width="100" height="100" rx="${CORNER}" fill="#4c3fb3"/>` +
    `<g stroke="#fff" stroke-width="${LINK_W}" stroke-linecap="round">${links}</g><g fill="#fff">${nodes}</g></svg>\n`
}

function distToSegment (px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax
  const dy = by - ay
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy))
}

function insideRoundedRect (x, y, r) {
  const cx = Math.min(Math.max(x, r), 100 - r)
  const cy = Math.min(Math.max(y, r), 100 - r)
  return Math.hypot(x - cx, y - cy) <= r
}

/** What covers the design point (x, y): 'fg', 'bg' or nothing. */
function sample (x, y, { corner, scale }) {
  if (x < 0 || y < 0 || x > 100 || y > 100) return null
  if (corner > 0 && !insideRoundedRect(x, y, corner)) return null
  // the mesh is drawn scaled around the centre (maskable icons keep it in the safe zone)
  const mx = 50 + (x - 50) / scale
  const my = 50 + (y - 50) / scale
  if (NODES.some(([nx, ny]) => Math.hypot(mx - nx, my - ny) <= NODE_R)) return 'fg'
  if (LINKS.some(([a, b]) => distToSegment(mx, my, NODES[a], NODES[b]) <= LINK_W / 2)) return 'fg'
  return 'bg'
}

function rasterise (size, options) {
  const S = 4
  const rows = []
  for (let py = 0; py < size; py++) {
    const row = Buffer.alloc(1 + size * 4) // filter byte 0, then RGBA
    for (let px = 0; px < size; px++) {
      let fg = 0
      let bg = 0
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const hit = sample(((px + (sx + 0.5) / S) / size) * 100, ((py + (sy + 0.5) / S) / size) * 100, options)
          if (hit === 'fg') fg++
          else if (hit === 'bg') bg++
        }
      }
      const covered = fg + bg
      const o = 1 + px * 4
      if (covered > 0) {
        for (let c = 0; c < 3; c++) row[o + c] = Math.round((FG[c] * fg + BG[c] * bg) / covered)
      }
      row[o + 3] = Math.round((covered / (S * S)) * 255)
    }
    rows.push(row)
  }
  return png(size, size, Buffer.concat(rows))
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32 (buf) {
  let c = 0xffffffff
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk (type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}

function png (width, height, raw) {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header[8] = 8 // bit depth
  header[9] = 6 // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0))
  ])
}

mkdirSync(OUT, { recursive: true })
writeFileSync(join(OUT, 'icon.svg'), svg())
const rounded = { corner: CORNER, scale: 1 }
writeFileSync(join(OUT, 'icon-192.png'), rasterise(192, rounded))
writeFileSync(join(OUT, 'icon-512.png'), rasterise(512, rounded))
// apple-touch-icon and maskable: full-bleed square (the platform applies its own mask)
writeFileSync(join(OUT, 'apple-touch-icon.png'), rasterise(180, { corner: 0, scale: 0.85 }))
writeFileSync(join(OUT, 'maskable-512.png'), rasterise(512, { corner: 0, scale: 0.7 }))
console.log(`icons written to ${OUT}`)
