/**
 * Forces a full garbage collection in another Node process through its inspector (the process
 * runs with `--inspect=127.0.0.1:0`), so its resident memory can be read without the garbage a
 * burst of work left behind. The session is attached only for that moment.
 */
import WebSocket from 'ws'

interface Reply {
  id?: number
  result?: { result?: { value?: unknown } }
  error?: { message: string }
}

export interface HeapFigures {
  heapUsed: number
  external: number
  arrayBuffers: number
}

/** The inspector's WebSocket URL, from what `node --inspect` printed. */
export function inspectorUrl (output: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1]
}

export async function collectGarbage (url: string, timeoutMs = 30_000): Promise<HeapFigures> {
  const socket = new WebSocket(url)
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => { resolve() })
      socket.once('error', reject)
    })
    let next = 0
    const waiting = new Map<number, (reply: Reply) => void>()
    socket.on('message', (data: Buffer) => {
      const reply = JSON.parse(data.toString()) as Reply
      if (reply.id != null) waiting.get(reply.id)?.(reply)
    })
    const call = async (method: string, params: Record<string, unknown> = {}): Promise<Reply> => {
      const id = ++next
      return await new Promise<Reply>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`inspector: ${method} took over ${timeoutMs} ms`)) }, timeoutMs)
        waiting.set(id, (reply) => {
          clearTimeout(timer)
          waiting.delete(id)
          if (reply.error != null) reject(new Error(`inspector: ${method}: ${reply.error.message}`))
          else resolve(reply)
        })
        socket.send(JSON.stringify({ id, method, params }))
      })
    }
    await call('HeapProfiler.collectGarbage')
    const reply = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })
    return JSON.parse(String(reply.result?.result?.value)) as HeapFigures
  } finally {
    socket.close()
  }
}
