/**
 * The control socket of a running native peer: how the CLI (and any local program) drives
 * `starling serve`.
 *
 * A unix socket at `<home>/control.sock`, mode 0600 inside a home of mode 0700, so only the
 * user who runs the peer can reach it. The protocol is newline-delimited JSON: each line is one
 * request `{ "id", "method", "params" }`, answered by one line `{ "id", "result" }` or
 * `{ "id", "error": { "code", "message" } }`. Requests on one connection run concurrently and
 * may take long (`wait`); answers come in the order they finish, matched by `id`.
 *
 * Whatever a client sends, the daemon stays up: a line that is not a request gets an error
 * answer (with `id: null` when there is no usable id), a line over the size limit closes that
 * client only, and a client that goes away aborts the requests it left running.
 */
import { connect, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { chmod, lstat, unlink } from 'node:fs/promises'
import { logger } from '@libp2p/logger'
import { errorMessage, InvalidInputError, StarlingError } from '../core/errors.js'

const log = logger('starling:control')

/** Largest request line, in bytes (without the newline): 1 MiB. A longer one closes its client. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024

/**
 * Largest answer line, in bytes: 160 MiB. Answers carry whole tasks, files included (32 MiB
 * each, 40 MiB per message, base64 adds a third), so they may be far larger than requests.
 */
export const DEFAULT_MAX_ANSWER_BYTES = 160 * 1024 * 1024

/** Requests one client may have running at once; more are refused with ERR_BUSY. */
export const DEFAULT_MAX_PENDING_REQUESTS = 256

/**
 * Bytes of answers queued for a client that does not read them before it is dropped: 128 MiB
 * (two of the largest answers). Keeps a stuck client from growing the daemon's memory without
 * bound.
 */
export const DEFAULT_MAX_WRITE_BUFFER_BYTES = 128 * 1024 * 1024

/** How long a client being hung up on has to read our last message, in ms. */
const CLOSE_GRACE_MS = 1_000

/** Time allowed to find out whether a daemon answers on an existing socket, in ms. */
export const DEFAULT_PROBE_TIMEOUT_MS = 2_000

/** Longest unix socket path, in bytes (sun_path holds 108 bytes on Linux, 104 on macOS, NUL included). */
export const MAX_SOCKET_PATH_BYTES = process.platform === 'darwin' ? 103 : 107

/** The `code` of the errors the protocol itself produces; methods add the codes of StarlingErrors. */
export const ControlErrorCode = {
  /** The line is not JSON. */
  Parse: 'ERR_PARSE',
  /** The line is JSON but not a request. */
  InvalidRequest: 'ERR_INVALID_REQUEST',
  UnknownMethod: 'ERR_UNKNOWN_METHOD',
  InvalidParams: 'ERR_INVALID_PARAMS',
  /** The line is longer than the limit; the connection is closed after this answer. */
  LineTooLong: 'ERR_LINE_TOO_LONG',
  /** Too many requests running on this connection. */
  Busy: 'ERR_BUSY',
  /** The daemon is stopping; the request did not finish. */
  ShuttingDown: 'ERR_SHUTTING_DOWN',
  /** Anything else that went wrong inside the daemon. */
  Internal: 'ERR_INTERNAL'
} as const

export type RequestId = string | number

export interface ControlRequest {
  id: RequestId
  method: string
  params?: unknown
}

export interface ControlErrorObject {
  code: string
  message: string
}

export type ControlResponse =
  | { id: RequestId | null, result: unknown, error?: undefined }
  | { id: RequestId | null, error: ControlErrorObject, result?: undefined }

export interface ControlContext {
  /** Aborted when the client disconnects or the daemon stops. */
  signal: AbortSignal
}

/** One method of the control protocol. Throw InvalidParamsError for bad params. */
export type ControlMethod = (params: unknown, context: ControlContext) => Promise<unknown>

/** A request's params were not what the method takes. */
export class InvalidParamsError extends StarlingError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, ControlErrorCode.InvalidParams, options)
  }
}

/** A line was longer than the limit. */
export class LineTooLongError extends StarlingError {
  constructor (limit: number) {
    super(`a line is longer than ${limit} bytes`, ControlErrorCode.LineTooLong)
  }
}

/** Another daemon already answers on the control socket of this home. */
export class DaemonRunningError extends StarlingError {
  readonly path: string

  constructor (path: string) {
    super(`another Starling peer is already serving on ${path}`, 'ERR_DAEMON_RUNNING')
    this.path = path
  }
}

/**
 * Splits a byte stream into lines, refusing any line longer than `maxBytes`. Bytes are kept
 * until a newline arrives, so a multi-byte character split between chunks decodes whole.
 */
export class LineSplitter {
  private readonly maxBytes: number
  private readonly onLine: (line: string) => void
  private pending: Buffer[] = []
  private pendingBytes = 0

  constructor (maxBytes: number, onLine: (line: string) => void) {
    this.maxBytes = maxBytes
    this.onLine = onLine
  }

  /** Feeds bytes in; calls `onLine` for each complete line. Throws LineTooLongError. */
  push (chunk: Buffer): void {
    let start = 0
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start)
      const end = newline === -1 ? chunk.length : newline
      if (this.pendingBytes + end - start > this.maxBytes) throw new LineTooLongError(this.maxBytes)
      if (newline === -1) {
        this.pending.push(chunk.subarray(start))
        this.pendingBytes += chunk.length - start
        return
      }
      const piece = chunk.subarray(start, end)
      const line = this.pending.length === 0 ? piece : Buffer.concat([...this.pending, piece])
      this.pending = []
      this.pendingBytes = 0
      start = newline + 1
      this.onLine(line.toString('utf8'))
    }
  }
}

/** Encodes one message as a protocol line. */
export function encodeLine (message: unknown): string {
  return JSON.stringify(message) + '\n'
}

/** The error object that tells a client what went wrong with `err`. */
export function toErrorObject (err: unknown): ControlErrorObject {
  if (err instanceof StarlingError) return { code: err.code, message: err.message }
  return { code: ControlErrorCode.Internal, message: errorMessage(err) }
}

export interface ControlServerInit {
  /** The socket's path, `<home>/control.sock`. */
  path: string
  methods: Record<string, ControlMethod>
  maxLineBytes?: number
  maxAnswerBytes?: number
  maxPendingRequests?: number
  maxWriteBufferBytes?: number
}

interface Client {
  socket: Socket
  controller: AbortController
  /** Ids of the requests running for this client. */
  pending: Set<RequestId>
}

export class ControlServer {
  readonly path: string
  private readonly methods: Map<string, ControlMethod>
  private readonly maxLineBytes: number
  private readonly maxAnswerBytes: number
  private readonly maxPending: number
  private readonly maxWriteBuffer: number
  private readonly clients = new Set<Client>()
  private server?: Server
  private draining = false

  constructor (init: ControlServerInit) {
    this.path = init.path
    // a Map, so that a method named `constructor` or `__proto__` is just unknown
    this.methods = new Map(Object.entries(init.methods))
    this.maxLineBytes = init.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
    this.maxAnswerBytes = init.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES
    this.maxPending = init.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS
    this.maxWriteBuffer = init.maxWriteBufferBytes ?? DEFAULT_MAX_WRITE_BUFFER_BYTES
  }

  /**
   * Listens on the socket. A socket file left by a daemon that died is removed; one where a
   * daemon still answers makes this throw DaemonRunningError.
   */
  async start (): Promise<void> {
    if (Buffer.byteLength(this.path) > MAX_SOCKET_PATH_BYTES) {
      throw new InvalidInputError(`the control socket path ${this.path} is too long for a unix socket (${Buffer.byteLength(this.path)} bytes, at most ${MAX_SOCKET_PATH_BYTES}): choose a shorter home directory`)
    }
    await removeStaleSocket(this.path)
    const server = createServer({ allowHalfOpen: false }, (socket) => { this.accept(socket) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.path, () => {
        server.off('error', reject)
        resolve()
      })
    }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new DaemonRunningError(this.path)
      throw err
    })
    server.on('error', (err) => { log.error('control socket error - %e', err) })
    this.server = server
    await chmod(this.path, 0o600)
    log('listening on %s', this.path)
  }

  /**
   * Refuses new requests, tells clients with running ones that the daemon is stopping, and
   * closes them, but keeps the socket bound: a second daemon started meanwhile sees this one
   * and refuses to start while its peer is still stopping.
   */
  drain (): void {
    if (this.draining) return
    this.draining = true
    const reason = new StarlingError('the Starling peer is stopping', ControlErrorCode.ShuttingDown)
    for (const client of this.clients) {
      for (const id of client.pending) {
        this.send(client, { id, error: { code: ControlErrorCode.ShuttingDown, message: reason.message } })
      }
      client.pending.clear()
      client.controller.abort(reason)
      this.hangUp(client.socket)
    }
  }

  /** Drains, stops listening and removes the socket file. */
  async stop (): Promise<void> {
    const server = this.server
    if (server == null) return
    this.server = undefined
    this.drain()
    // close() waits for every connection to end; hangUp() sees to it that they do
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    await unlink(this.path).catch(() => {})
  }

  private accept (socket: Socket): void {
    if (this.draining) {
      this.hangUp(socket, { id: null, error: { code: ControlErrorCode.ShuttingDown, message: 'the Starling peer is stopping' } })
      return
    }
    const client: Client = { socket, controller: new AbortController(), pending: new Set() }
    this.clients.add(client)
    const lines = new LineSplitter(this.maxLineBytes, (line) => { this.onLine(client, line) })
    socket.on('data', (chunk: Buffer) => {
      try {
        lines.push(chunk)
      } catch (err) {
        log('closing a client - %s', errorMessage(err))
        // stop reading and say why: a client still writing the rest of its line would otherwise
        // wait for us to read it, for ever
        socket.pause()
        socket.removeAllListeners('data')
        this.hangUp(socket, { id: null, error: toErrorObject(err) })
      }
    })
    socket.on('error', (err) => { log('client socket error - %s', err.message) })
    socket.on('close', () => {
      this.clients.delete(client)
      client.controller.abort(new StarlingError('the control client disconnected', 'ERR_CLIENT_GONE'))
    })
  }

  /**
   * Ends a connection after a last message. The socket is destroyed once that is written, or
   * after CLOSE_GRACE_MS if the client does not read it: a client never holds the daemon up.
   */
  private hangUp (socket: Socket, last?: ControlResponse): void {
    const timer = setTimeout(() => { socket.destroy() }, CLOSE_GRACE_MS)
    timer.unref()
    socket.once('close', () => { clearTimeout(timer) })
    if (!socket.writable) {
      socket.destroy()
      return
    }
    const destroy = (): void => { socket.destroy() }
    if (last != null) socket.end(encodeLine(last), destroy)
    else socket.end(destroy)
  }

  private onLine (client: Client, line: string): void {
    if (line.trim() === '') return
    let message: unknown
    try {
      message = JSON.parse(line)
    } catch (err) {
      this.send(client, { id: null, error: { code: ControlErrorCode.Parse, message: `not JSON: ${errorMessage(err)}` } })
      return
    }
    const request = message as Partial<ControlRequest> | null
    const id = typeof request?.id === 'string' || (typeof request?.id === 'number' && Number.isFinite(request.id)) ? request.id : null
    if (id == null || typeof request?.method !== 'string' || Array.isArray(message)) {
      this.send(client, {
        id,
        error: { code: ControlErrorCode.InvalidRequest, message: 'a request is an object with an "id" (string or number) and a "method" (string)' }
      })
      return
    }
    const method = this.methods.get(request.method)
    if (method == null) {
      this.send(client, { id, error: { code: ControlErrorCode.UnknownMethod, message: `no method "${request.method}"; methods: ${[...this.methods.keys()].join(', ')}` } })
      return
    }
    if (client.pending.has(id)) {
      this.send(client, { id, error: { code: ControlErrorCode.InvalidRequest, message: `a request with id ${JSON.stringify(id)} is still running` } })
      return
    }
    if (client.pending.size >= this.maxPending) {
      this.send(client, { id, error: { code: ControlErrorCode.Busy, message: `more than ${this.maxPending} requests running on this connection` } })
      return
    }
    client.pending.add(id)
    const started = Date.now()
    method(request.params, { signal: client.controller.signal }).then(
      (result) => { this.answer(client, id, { id, result: result ?? null }) },
      (err: unknown) => { this.answer(client, id, { id, error: toErrorObject(err) }) }
    ).finally(() => { log('%s (%s) took %d ms', request.method, String(id), Date.now() - started) })
  }

  private answer (client: Client, id: RequestId, response: ControlResponse): void {
    // answered already (the daemon is stopping) or the client left
    if (!client.pending.delete(id)) return
    let line: string
    try {
      line = encodeLine(response)
    } catch (err) {
      line = encodeLine({ id, error: { code: ControlErrorCode.Internal, message: `the answer could not be encoded: ${errorMessage(err)}` } })
    }
    if (Buffer.byteLength(line) > this.maxAnswerBytes + 1) {
      line = encodeLine({ id, error: { code: ControlErrorCode.Internal, message: `the answer is larger than ${this.maxAnswerBytes} bytes` } })
    }
    this.write(client, line)
  }

  private send (client: Client, response: ControlResponse): void {
    this.write(client, encodeLine(response))
  }

  private write (client: Client, line: string): void {
    const socket = client.socket
    if (!socket.writable) return
    if (socket.writableLength > this.maxWriteBuffer) {
      log('dropping a client that does not read its answers')
      socket.destroy()
      return
    }
    socket.write(line)
  }
}

/** Removes a socket file no daemon answers on; throws when one does, or when the path is not a socket. */
async function removeStaleSocket (path: string): Promise<void> {
  let isSocket: boolean
  try {
    isSocket = (await lstat(path)).isSocket()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!isSocket) throw new InvalidInputError(`${path} exists and is not a socket: move it away`)
  if (await answers(path)) throw new DaemonRunningError(path)
  log('removing the stale socket %s', path)
  await unlink(path)
}

/** Whether something accepts connections on the unix socket at `path`. */
export async function answers (path: string, timeoutMs = DEFAULT_PROBE_TIMEOUT_MS): Promise<boolean> {
  return await new Promise<boolean>((resolve, reject) => {
    const socket = connect(path)
    const timer = setTimeout(() => {
      // accepted by the kernel but never by a process that stopped listening: treat as alive,
      // removing a socket someone may still own would be worse than asking the user
      socket.destroy()
      resolve(true)
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(true)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      socket.destroy()
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false)
      else reject(err)
    })
  })
}
