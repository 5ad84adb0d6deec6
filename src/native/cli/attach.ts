/**
 * Files on this machine as A2A parts, for `send --file` and `respond --file`.
 *
 * Two steps, on two sides of the control socket. The CLI checks every file first (it exists, it
 * is a regular file, it is within the size limits) and refuses at once when one is not: nothing
 * is queued for a file that could never be sent. The serving peer then reads the bytes itself
 * (readFilePart): a request line on the control socket is at most 1 MiB, while a file may be
 * 32 MiB, and both run as the same user, so passing the path is enough.
 */
import { constants } from 'node:fs'
import { access, open, stat } from 'node:fs/promises'
import { basename, isAbsolute, resolve } from 'node:path'
import mime from 'mime'
import { DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PARTS_BYTES, filePart, formatBytes, InvalidPartError } from '../../core/a2a/parts.js'
import type { PartJson } from '../../core/a2a/json.js'
import { InvalidInputError } from '../../core/errors.js'
import type { FileRef } from '../control-api.js'
import { UsageError } from './verb.js'

/** Media type of a file whose name says nothing known. */
export const DEFAULT_MEDIA_TYPE = 'application/octet-stream'

/** Most files one message or answer may carry. */
export const MAX_FILES = 64

export interface FileLimits {
  /** Largest file, in bytes; default DEFAULT_MAX_FILE_BYTES (32 MiB). */
  maxFileBytes?: number
  /** Largest total of all the files, in bytes; default DEFAULT_MAX_PARTS_BYTES (40 MiB). */
  maxTotalBytes?: number
}

/** The media type a file's name suggests. */
export function mediaTypeOf (path: string): string {
  return mime.getType(path) ?? DEFAULT_MEDIA_TYPE
}

/**
 * The CLI's check of `--file` arguments: resolves each against `cwd` and throws UsageError (exit
 * 2, the reason alone) for a file that is missing, unreadable, not a regular file, or over the
 * limits. Returns the files as the daemon takes them: absolute paths.
 */
export async function checkFiles (paths: readonly string[], options: FileLimits & { cwd?: string } = {}): Promise<FileRef[]> {
  const maxFile = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES
  const maxTotal = options.maxTotalBytes ?? DEFAULT_MAX_PARTS_BYTES
  const refuse = (message: string): never => { throw new UsageError(`${message}; nothing was sent`, { showUsage: false }) }
  if (paths.length > MAX_FILES) refuse(`${paths.length} files, at most ${MAX_FILES} go in one message`)
  let total = 0
  const refs: FileRef[] = []
  for (const given of paths) {
    const path = resolve(options.cwd ?? process.cwd(), given)
    let size: number
    try {
      const info = await stat(path)
      if (!info.isFile()) refuse(`${given} is not a file`)
      size = info.size
      await access(path, constants.R_OK)
    } catch (err) {
      if (err instanceof UsageError) throw err
      const code = (err as NodeJS.ErrnoException).code
      refuse(code === 'ENOENT' ? `${given}: no such file` : code === 'EACCES' ? `${given}: permission denied` : `${given}: ${(err as Error).message}`)
      throw err
    }
    if (size > maxFile) refuse(`${given} is ${formatBytes(size)}, over the limit of ${formatBytes(maxFile)} for one file`)
    total += size
    refs.push({ path })
  }
  if (total > maxTotal) refuse(`the files come to ${formatBytes(total)}, over the limit of ${formatBytes(maxTotal)} for one message`)
  return refs
}

/**
 * The serving peer's side: reads `ref` into a part `{ raw, mediaType, filename }`. Throws
 * InvalidPartError for a file over `maxFileBytes` (checked before reading, so a huge file is
 * never loaded) and InvalidInputError for a path that is not a readable regular file.
 */
export async function readFilePart (ref: FileRef, options: { maxFileBytes?: number, signal?: AbortSignal } = {}): Promise<PartJson> {
  const maxFile = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES
  if (!isAbsolute(ref.path)) throw new InvalidInputError(`${ref.path}: the path must be absolute (the serving peer has its own working directory)`)
  let handle
  try {
    handle = await open(ref.path, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new InvalidInputError(code === 'ENOENT' ? `${ref.path}: no such file` : `${ref.path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    // the size of what was opened, not of whatever the path names by now
    const info = await handle.stat()
    if (!info.isFile()) throw new InvalidInputError(`${ref.path} is not a file`)
    if (info.size > maxFile) throw new InvalidPartError(`${ref.path} is ${formatBytes(info.size)}, over the limit of ${formatBytes(maxFile)} for one file`)
    const bytes = await handle.readFile({ signal: options.signal })
    // the file may have grown since stat(); checkParts would catch it too, but say which file
    if (bytes.length > maxFile) throw new InvalidPartError(`${ref.path} is ${formatBytes(bytes.length)}, over the limit of ${formatBytes(maxFile)} for one file`)
    const mediaType = ref.mediaType ?? mediaTypeOf(ref.filename ?? ref.path)
    const filename = ref.filename ?? basename(ref.path)
    // filePart's part, with Buffer's encoder: the portable one takes seconds for 32 MiB (4.4 s
    // measured here), all of it with the daemon's event loop, and so every peer's traffic, stalled
    return { ...filePart(new Uint8Array(0), mediaType, filename), raw: bytes.toString('base64') }
  } finally {
    await handle.close()
  }
}
