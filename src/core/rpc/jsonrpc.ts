/**
 * JSON-RPC 2.0 as Starling streams carry it, plus the two notifications the binding adds
 * (see docs/protocol.md): `$/cancel` (client → server) and `$/end` (server → client).
 */

export type JsonRpcId = string | number | null

export interface JsonRpcRequest {
  jsonrpc: '2.0'
  id?: JsonRpcId
  method: string
  params?: unknown
  /**
   * Service parameters of the call (A2A's `A2A-Version`, `A2A-Extensions`, …): what the HTTP
   * bindings carry as headers travels here, by the same names.
   */
  serviceParameters?: Record<string, string>
}

export interface JsonRpcErrorObject {
  code: number
  message: string
  data?: unknown
}

export interface JsonRpcSuccess {
  jsonrpc: '2.0'
  id: JsonRpcId
  result: unknown
}

export interface JsonRpcFailure {
  jsonrpc: '2.0'
  id: JsonRpcId
  error: JsonRpcErrorObject
}

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure

/** Standard JSON-RPC 2.0 error codes, and the implementation-defined ones Starling adds. */
export const RpcErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** The frame was larger than the protocol allows; the stream is closed after this error. */
  FrameTooLarge: -32080,
  /** Too many requests in flight on one stream. */
  TooManyRequests: -32081,
  /** The request was cancelled by the client (`$/cancel`) before it finished. */
  Cancelled: -32082,
  /** The caller is not allowed to do this (e.g. publish a card for another PeerID). */
  Forbidden: -32083,
  /** The server is shutting down. */
  Unavailable: -32084,
  /**
   * A message was larger than the receiver's message limit (or than what one stream may hold
   * in reassembly); it was dropped, and the stream goes on.
   */
  MessageTooLarge: -32085,
  /**
   * The answer does not fit what remains of the relayed connection the request came on (the
   * relay's data or time limit); it was not sent. `data: { size, remaining }`. Ask again on
   * another connection (a fresh circuit or a direct one).
   */
  TooLargeForRelay: -32086
} as const

/** Client → server: stop working on request `params.id`. */
export const CANCEL_METHOD = '$/cancel'
/** Server → client: the streaming request `params.id` produced its last result. */
export const END_METHOD = '$/end'

export function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function isValidId (value: unknown): value is JsonRpcId {
  return value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))
}

/** Why `value` is not a JSON-RPC 2.0 request, or undefined when it is one. */
export function requestProblem (value: unknown): string | undefined {
  if (!isObject(value)) return 'a request must be a JSON object'
  if (value.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"'
  if (typeof value.method !== 'string' || value.method.length === 0) return 'method must be a non-empty string'
  if ('id' in value && !isValidId(value.id)) return 'id must be a string, a number or null'
  if ('serviceParameters' in value && value.serviceParameters !== undefined) {
    const sp = value.serviceParameters
    if (!isObject(sp) || Object.values(sp).some(v => typeof v !== 'string')) {
      return 'serviceParameters must be an object of strings'
    }
  }
  return undefined
}

/** Whether `value` is a JSON-RPC 2.0 response (success or error). */
export function isResponse (value: unknown): value is JsonRpcResponse {
  if (!isObject(value) || value.jsonrpc !== '2.0' || !('id' in value) || !isValidId(value.id)) return false
  if ('error' in value) {
    const error = value.error
    return isObject(error) && typeof error.code === 'number' && typeof error.message === 'string'
  }
  return 'result' in value
}

export function errorResponse (id: JsonRpcId, code: number, message: string, data?: unknown): JsonRpcFailure {
  const error: JsonRpcErrorObject = { code, message }
  if (data !== undefined) error.data = data
  return { jsonrpc: '2.0', id, error }
}

export function successResponse (id: JsonRpcId, result: unknown): JsonRpcSuccess {
  return { jsonrpc: '2.0', id, result }
}

export function notification (method: string, params: unknown): JsonRpcRequest {
  return { jsonrpc: '2.0', method, params }
}
