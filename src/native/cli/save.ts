/**
 * The files of an answer, saved to disk for `starling wait`.
 *
 * Every file part (`raw`) of the task's artifacts and of the agent's messages is written into
 * one directory. The names come from the other agent, so they are cleaned first (no path
 * separators, no `..`, no hidden files, no control characters), and an existing file is never
 * overwritten: the next free name gets `-1`, `-2`, … before its extension. A file already there
 * with the very same bytes is the same answer saved by an earlier `wait`, and is used as it is,
 * so waiting twice does not make copies.
 */
import { lstat, mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import mime from 'mime'
import { base64Bytes } from '../../core/a2a/parts.js'
import type { MessageJson, PartJson, RoleName, TaskJson } from '../../core/a2a/json.js'

/** Where `wait` saves files unless told: `./starling-files/<task-id>/`. */
export const DEFAULT_FILES_DIR = 'starling-files'

/** Longest file name written, in bytes (file systems take 255; the rest is room for `-N`). */
export const MAX_FILENAME_BYTES = 200

/** Names tried for one file before giving up (`name`, `name-1`, … `name-9999`). */
const MAX_NAME_ATTEMPTS = 10_000

/** Extensions kept whole when a name gets its `-N`: `backup-1.tar.gz`, not `backup.tar-1.gz`. */
const DOUBLE_EXTENSION = /\.tar\.(gz|bz2|xz|zst|lz|lzma|z)$/i

/** A file part as `wait --json` shows it: where it was saved instead of its bytes. */
export interface SavedPart {
  savedTo: string
  mediaType?: string
  filename?: string
  /** Bytes. */
  size: number
  metadata?: Record<string, unknown>
}

/** A file part of our own (in the task's history, or our answer), shown without its bytes. */
export interface OwnFilePart {
  mediaType?: string
  filename?: string
  size: number
  metadata?: Record<string, unknown>
}

export interface SavedFile {
  /** Absolute path of the file written (or found identical). */
  path: string
  /** The name the agent gave it, if any. */
  filename?: string
  mediaType?: string
  size: number
}

export interface SaveResult {
  /** The task with file parts replaced by SavedPart (agent's) or OwnFilePart (ours). */
  task: TaskJson
  /** Each file once, in the order of the task: artifacts first, then messages. */
  saved: SavedFile[]
}

/** `./starling-files/<task-id>` under `cwd`. */
export function defaultFilesDir (taskId: string, cwd = process.cwd()): string {
  return resolve(cwd, DEFAULT_FILES_DIR, safeFilename(taskId, undefined, 'task'))
}

/**
 * A name that is safe to create inside a directory: the last component of `name` (so no
 * separator and no `..` survive), without control or reserved characters and leading dots, cut
 * to MAX_FILENAME_BYTES with its extension kept. An empty result becomes `fallback`, with the
 * extension of `mediaType` when one is known.
 */
export function safeFilename (name: string | undefined, mediaType?: string, fallback = 'file'): string {
  const last = (name ?? '').split(/[/\\]/).pop() ?? ''
  // eslint-disable-next-line no-control-regex
  let clean = last.normalize('NFC').replace(/[\u0000-\u001f\u007f-\u009f<>:"|?*]/g, '_').trim()
  clean = clean.replace(/^[.\s]+/, '').replace(/[.\s]+$/, '')
  if (clean === '') {
    const known = mediaType != null ? mime.getExtension(mediaType.split(';')[0]?.trim() ?? '') : null
    clean = known != null ? `${fallback}.${known}` : fallback
  }
  if (Buffer.byteLength(clean) > MAX_FILENAME_BYTES) {
    const { stem, ext } = splitExtension(clean)
    const room = MAX_FILENAME_BYTES - Buffer.byteLength(ext)
    let cut = stem
    // by code points, so a character is never cut in half
    while (Buffer.byteLength(cut) > room) cut = Array.from(cut).slice(0, -1).join('')
    clean = cut + ext
  }
  return clean
}

function splitExtension (name: string): { stem: string, ext: string } {
  const double = DOUBLE_EXTENSION.exec(name)
  if (double != null && double.index > 0) return { stem: name.slice(0, double.index), ext: name.slice(double.index) }
  const dot = name.lastIndexOf('.')
  // a leading dot is not an extension (but safeFilename strips those anyway)
  if (dot <= 0 || dot === name.length - 1) return { stem: name, ext: '' }
  return { stem: name.slice(0, dot), ext: name.slice(dot) }
}

export interface SaveOptions {
  /**
   * Whose files to save: the agent's (ROLE_AGENT, the default: a task we sent, whose artifacts
   * are the agent's too) or the sender's (ROLE_USER: a task sent to us). The other side's
   * files are ours, not written again, and shown by name and size only.
   */
  theirs?: RoleName
}

/**
 * Saves the file parts of `task` from the other side (see SaveOptions) into `dir`, created when
 * there is at least one.
 */
export async function saveTaskFiles (task: TaskJson, dir: string, options: SaveOptions = {}): Promise<SaveResult> {
  const theirs = options.theirs ?? 'ROLE_AGENT'
  const target = resolve(dir)
  const saved = new Map<string, SavedFile>()
  let made = false

  const saveParts = async (parts: PartJson[]): Promise<PartJson[]> => {
    const out: PartJson[] = []
    for (const part of parts) {
      if (typeof part.raw !== 'string') {
        out.push(part)
        continue
      }
      if (!made) {
        await mkdir(target, { recursive: true })
        made = true
      }
      // Buffer's decoder, not atob: answers may hold tens of MiB
      const bytes = Buffer.from(part.raw, 'base64')
      const path = await writeNew(target, safeFilename(part.filename, part.mediaType), bytes)
      if (!saved.has(path)) saved.set(path, { path, filename: part.filename, mediaType: part.mediaType, size: bytes.length })
      const shown: SavedPart = { savedTo: path, mediaType: part.mediaType, filename: part.filename, size: bytes.length, metadata: part.metadata }
      out.push(withoutUndefined(shown) as PartJson)
    }
    return out
  }

  const ownParts = (parts: PartJson[]): PartJson[] => parts.map((part) => {
    if (typeof part.raw !== 'string') return part
    const shown: OwnFilePart = { mediaType: part.mediaType, filename: part.filename, size: base64Bytes(part.raw), metadata: part.metadata }
    return withoutUndefined(shown) as PartJson
  })

  const message = async (m: MessageJson): Promise<MessageJson> => ({
    ...m,
    parts: m.role === theirs ? await saveParts(m.parts) : ownParts(m.parts)
  })

  const artifacts = []
  for (const artifact of task.artifacts ?? []) {
    artifacts.push({ ...artifact, parts: theirs === 'ROLE_AGENT' ? await saveParts(artifact.parts) : ownParts(artifact.parts) })
  }
  const history = []
  for (const m of task.history ?? []) history.push(await message(m))
  const status = task.status.message != null ? { ...task.status, message: await message(task.status.message) } : task.status

  const out: TaskJson = { ...task, status }
  if (task.artifacts != null) out.artifacts = artifacts
  if (task.history != null) out.history = history
  return { task: out, saved: [...saved.values()] }
}

/**
 * Writes `bytes` to `dir/name`, or to the first free `name-N` when that exists; a file there
 * with the same bytes is taken as already saved. `wx` makes "free" and "written" one step, so
 * two `wait`s saving at once never write the same file.
 */
async function writeNew (dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const { stem, ext } = splitExtension(name)
  for (let n = 0; n < MAX_NAME_ATTEMPTS; n++) {
    const path = join(dir, n === 0 ? name : `${stem}-${n}${ext}`)
    try {
      await writeFile(path, bytes, { flag: 'wx', mode: 0o644 })
      return path
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        // a file cut short (disk full) must not pass for the answer later
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') await unlink(path).catch(() => {})
        throw err
      }
      if (await sameBytes(path, bytes)) return path
    }
  }
  throw new Error(`${join(dir, name)} and ${MAX_NAME_ATTEMPTS - 1} numbered names next to it exist already`)
}

/** Whether `path` is a regular file (not a link) holding exactly `bytes`. */
async function sameBytes (path: string, bytes: Uint8Array): Promise<boolean> {
  const info = await lstat(path).catch(() => undefined)
  if (info?.isFile() !== true || info.size !== bytes.length) return false
  return Buffer.from(bytes).equals(await readFile(path))
}

function withoutUndefined<T extends object> (value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}
