/**
 * Graceful close of the relay's HTTP server: stop accepting connections, let the requests in
 * flight finish (bounded), then cut what is left. Node's `server.close()` alone waits for every
 * keep-alive connection, and `closeAllConnections()` alone cuts responses half sent.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

/** How long requests in flight may take to finish once the relay is stopping, in ms. */
export const DEFAULT_HTTP_DRAIN_MS = 10_000

export class HttpDrain {
  private readonly server: Server
  private readonly inFlight = new Set<ServerResponse>()
  private draining = false
  private onIdle?: () => void

  constructor (server: Server) {
    this.server = server
    server.prependListener('request', this.onRequest)
  }

  /** Requests being answered now. */
  get requestsInFlight (): number {
    return this.inFlight.size
  }

  /**
   * Closes the listener and idle connections, waits up to `graceMs` for requests in flight, then
   * closes every connection. Resolves true when every request finished in time.
   */
  async drain (graceMs = DEFAULT_HTTP_DRAIN_MS): Promise<boolean> {
    this.draining = true
    this.server.close()
    this.server.closeIdleConnections()
    let timer: ReturnType<typeof setTimeout> | undefined
    const finished = this.inFlight.size === 0 || await new Promise<boolean>((resolve) => {
      this.onIdle = () => { resolve(true) }
      timer = setTimeout(() => { resolve(false) }, graceMs)
    })
    clearTimeout(timer)
    this.onIdle = undefined
    this.server.closeAllConnections()
    return finished
  }

  private readonly onRequest = (_req: IncomingMessage, res: ServerResponse): void => {
    // a keep-alive client must not start another request on a connection about to be cut
    if (this.draining) res.setHeader('Connection', 'close')
    this.inFlight.add(res)
    res.once('close', () => {
      this.inFlight.delete(res)
      if (!this.draining) return
      this.server.closeIdleConnections()
      if (this.inFlight.size === 0) this.onIdle?.()
    })
  }
}
