/**
 * The client side of the control socket: what the CLI verbs use, and what a local program uses
 * to drive a running `starling serve`. One connection carries any number of concurrent
 * requests, matched to their answers by id. Imports nothing of libp2p, so a CLI verb starts fast.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { InvalidInputError, StarlingError } from '../core/errors.js'
import { DEFAULT_MAX_ANSWER_BYTES, DEFAULT_MAX_LINE_BYTES, encodeLine, LineSplitter } from './control.js'
import type { ControlErrorObject, ControlResponse } from './control.js'
import type { ControlApi, ControlMethodName } from './control-api.js'
import { homePaths } from './home.js'

/** Time allowed to connect to the daemon's socket, in ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000

/** No daemon answers on the control socket of this home. */
export class NotServingError extends StarlingError {
  readonly home: string

  constructor (home: string, options?: ErrorOptions) {
    super(`no Starling peer is serving in ${home}: run \`starling serve\``, 'ERR_NOT_SERVING', options)
    this.home = home
  }
}

/** The daemon answered a request with an error; `code` is the daemon's. */
export class ControlRequestError extends StarlingError {
  readonly method: string

  constructor (method: string, error: ControlErrorObject) {
    super(error.message, error.code)
    this.method = method
  }
}

/** The connection to the daemon closed before the answer came. */
export class ControlConnectionError extends StarlingError {
  constructor (message = 'the Starling peer closed the control connection', options?: ErrorOptions) {
    super(message, 'ERR_CONTROL_CLOSED', options)
  }
}

export interface ControlClientOptions {
  /** The socket path; default `<home>/control.sock`. */
  socketPath?: string
  signal?: AbortSignal
  connectTimeoutMs?: number
}

interface Pending {
  method: string
  resolve: (result: unknown) => void
  reject: (err: Error) => void
}

export class ControlClient {
  readonly home: string
  private readonly socket: Socket
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closedError?: Error

  /** Connects to the daemon serving `home`; throws NotServingError when none does. */
  static async connect (home: string, options: ControlClientOptions = {}): Promise<ControlClient> {
    const path = options.socketPath ?? homePaths(home).socket
    const signal = AbortSignal.any([
      AbortSignal.timeout(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
      ...(options.signal != null ? [options.signal] : [])
    ])
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path)
      const onAbort = (): void => {
        s.destroy()
        reject(new NotServingError(home, { cause: signal.reason }))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      s.once('connect', () => {
        signal.removeEventListener('abort', onAbort)
        resolve(s)
      })
      s.once('error', (err: NodeJS.ErrnoException) => {
        signal.removeEventListener('abort', onAbort)
        s.destroy()
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new NotServingError(home, { cause: err }))
        else reject(new ControlConnectionError(`could not connect to ${path}: ${err.message}`, { cause: err }))
      })
    })
    return new ControlClient(home, socket)
  }

  private constructor (home: string, socket: Socket) {
    this.home = home
    this.socket = socket
    const lines = new LineSplitter(DEFAULT_MAX_ANSWER_BYTES, (line) => { this.onLine(line) })
    socket.on('data', (chunk: Buffer) => {
      try {
        lines.push(chunk)
      } catch (err) {
        this.fail(new ControlConnectionError('the Starling peer sent a line that is too long', { cause: err }))
        socket.destroy()
      }
    })
    socket.on('error', (err) => { this.fail(new ControlConnectionError(`control connection error: ${err.message}`, { cause: err })) })
    socket.on('close', () => { this.fail(new ControlConnectionError()) })
  }

  /** Calls `method` on the daemon. Aborting `signal` stops waiting (the daemon may still finish). */
  async request<M extends ControlMethodName> (method: M, params?: ControlApi[M]['params'], options: { signal?: AbortSignal } = {}): Promise<ControlApi[M]['result']> {
    if (this.closedError != null) throw this.closedError
    options.signal?.throwIfAborted()
    const id = this.nextId++
    const line = encodeLine({ id, method, params })
    // the daemon drops a connection that sends a longer line; say so before that happens
    const size = Buffer.byteLength(line) - 1
    if (size > DEFAULT_MAX_LINE_BYTES) {
      throw new InvalidInputError(`the ${method} request is ${size} bytes; a Starling peer takes at most ${DEFAULT_MAX_LINE_BYTES} bytes per request`)
    }
    let onAbort = (): void => {}
    const answer = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { method, resolve, reject })
      onAbort = () => {
        this.pending.delete(id)
        reject(options.signal?.reason as Error)
      }
    })
    options.signal?.addEventListener('abort', onAbort, { once: true })
    this.socket.write(line)
    try {
      return await answer as ControlApi[M]['result']
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Closes the connection; requests still waiting fail with ControlConnectionError. */
  close (): void {
    this.fail(new ControlConnectionError('the control client was closed'))
    // destroy, not end: a write the daemon stopped reading would keep an ended socket open
    this.socket.destroy()
  }

  private onLine (line: string): void {
    let response: ControlResponse
    try {
      response = JSON.parse(line) as ControlResponse
    } catch {
      this.fail(new ControlConnectionError('the Starling peer sent a line that is not JSON'))
      this.socket.destroy()
      return
    }
    if (typeof response.id !== 'number') {
      // an answer about the connection itself (we sent something it could not read)
      if (response.error != null) this.fail(new ControlRequestError('(connection)', response.error))
      return
    }
    const pending = this.pending.get(response.id)
    if (pending == null) return
    this.pending.delete(response.id)
    if (response.error != null) pending.reject(new ControlRequestError(pending.method, response.error))
    else pending.resolve(response.result)
  }

  private fail (err: Error): void {
    this.closedError ??= err
    for (const pending of this.pending.values()) pending.reject(err)
    this.pending.clear()
  }
}
