/**
 * An MCP server (Model Context Protocol) over the control socket of a running `starling serve`:
 * what lets an LLM agent (Claude Code, Cursor, …) find agents on the mesh, send them tasks, wait
 * for the answers, and answer the tasks others send it. Each tool call is one request on a fresh
 * control connection, so the MCP server may start before the daemon and outlives its restarts.
 * Every failure (no daemon, unknown task, bad input) is a tool error (`isError`), never a crash.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import { StarlingError } from '../../core/errors.js'
import type { PartJson, TaskJson } from '../../core/a2a/json.js'
import { ControlClient } from '../control-client.js'
import type { ControlApi, ControlMethodName, FileInfo, TaskDetail } from '../control-api.js'
import { MAX_TTL_MS, MAX_TASKS_LIMIT } from '../control-api.js'

/** Reported to MCP clients as the server's version. */
export const MCP_SERVER_VERSION = '0.1.0'

/** Default and longest wait of `wait_task`, in seconds. */
export const DEFAULT_WAIT_SECONDS = 30
export const MAX_WAIT_SECONDS = 600

export interface StarlingMcpOptions {
  /** The home directory of the peer whose daemon the tools drive. */
  home: string
}

type Call = <M extends ControlMethodName>(method: M, params: ControlApi[M]['params'], signal?: AbortSignal) => Promise<ControlApi[M]['result']>

/** A tool's answer: its JSON, as text. */
function ok (value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }] }
}

/** A failure as a tool error the model can read. */
function failure (err: unknown): CallToolResult {
  const message = err instanceof Error ? err.message : String(err)
  const code = err instanceof StarlingError ? ` (${err.code})` : ''
  return { isError: true, content: [{ type: 'text', text: `${message}${code}` }] }
}

/** Runs a tool's work, turning any error into a tool error. */
async function guarded (work: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return ok(await work())
  } catch (err) {
    return failure(err)
  }
}

/** The files of a part list, without their bytes. */
function fileInfos (parts: PartJson[] | undefined): FileInfo[] {
  return (parts ?? []).filter(p => p.raw != null || p.url != null).map(p => ({
    ...(p.filename != null ? { filename: p.filename } : {}),
    ...(p.mediaType != null ? { mediaType: p.mediaType } : {}),
    size: p.raw != null ? Buffer.byteLength(p.raw, 'base64') : 0
  }))
}

/** A task for the model: the daemon's view of it, with the files named instead of their bytes. */
function taskForModel (detail: TaskDetail & { timedOut?: boolean }): Record<string, unknown> {
  const { task, ...view } = detail
  const files = [
    ...(task.artifacts ?? []).flatMap(a => fileInfos(a.parts)),
    ...fileInfos(task.status.message?.parts)
  ]
  return { ...view, ...(files.length > 0 ? { files, note: 'save the files with `starling show TASK-ID` or `starling wait TASK-ID`' } : {}), artifacts: artifactTexts(task) }
}

function artifactTexts (task: TaskJson): string[] {
  return (task.artifacts ?? []).flatMap(a => a.parts.filter(p => p.text != null).map(p => p.text ?? ''))
}

const taskId = z.string().min(1).describe('A task id of this peer (as send_task, list_inbox or get_task gave it).')

/** The MCP server, with its tools, for the daemon serving `options.home`. */
export function createStarlingMcpServer (options: StarlingMcpOptions): McpServer {
  const call: Call = async (method, params, signal) => {
    const client = await ControlClient.connect(options.home, signal != null ? { signal } : {})
    try {
      return await client.request(method, params, signal != null ? { signal } : {})
    } finally {
      client.close()
    }
  }

  const server = new McpServer(
    { name: 'starling', version: MCP_SERVER_VERSION },
    {
      instructions: [
        'Starling connects this agent to a peer-to-peer mesh of A2A agents, through the local `starling serve` daemon.',
        'To get work done by another agent: discover_agents (by skill), send_task to its PeerID, then wait_task with the task id.',
        'To serve others: list_inbox, then respond_task for each task (complete it, ask for input, or fail it). Never invent results.'
      ].join(' ')
    }
  )

  server.registerTool('get_card', {
    title: 'This peer\'s agent card',
    description: 'The A2A agent card this peer publishes: its name, description, skills and PeerID URL.',
    inputSchema: {},
    annotations: { readOnlyHint: true }
  }, async (_args, { signal }) => await guarded(async () => await call('card', undefined, signal)))

  server.registerTool('list_peers', {
    title: 'List agents on the mesh',
    description: 'Every agent in the relay\'s registry: PeerID, card, whether it is online, and whether this peer is connected to it.',
    inputSchema: {},
    annotations: { readOnlyHint: true }
  }, async (_args, { signal }) => await guarded(async () => await call('peers', undefined, signal)))

  server.registerTool('discover_agents', {
    title: 'Find agents by skill',
    description: 'Agents in the relay\'s registry that have a skill (and, optionally, whose skill has all the given tags). Use a result\'s peerId with send_task.',
    inputSchema: {
      skill: z.string().min(1).optional().describe('Only agents with this skill id, e.g. "echo" or "translate".'),
      tags: z.array(z.string().min(1)).optional().describe('Only agents whose matching skill has all these tags.'),
      limit: z.number().int().min(1).max(1000).optional().describe('At most this many agents.')
    },
    annotations: { readOnlyHint: true }
  }, async ({ skill, tags, limit }, { signal }) => await guarded(async () => await call('discover', { skill, tags, limit }, signal)))

  server.registerTool('send_task', {
    title: 'Send a task to an agent',
    description: [
      'Sends a text message to the agent with this PeerID as a new A2A task (or continues one) and returns at once with the task id.',
      'Or give a skill instead of a PeerID: the task goes to a connected agent that has it (another one if the first does not take it); the result says which (peerId).',
      'Or give url: the agent card URL of a plain HTTP A2A agent (not on the mesh); its card is checked first, and the task\'s peerId is then that URL.',
      'If the agent is not reachable now, the task is queued and retried (delivery "queued").',
      'Then call wait_task with the task id for the answer. To answer an agent that asked for input, pass its taskId.'
    ].join(' '),
    inputSchema: {
      peerId: z.string().min(1).optional().describe('The PeerID of the agent (12D3KooW…), from discover_agents or list_peers. Give this or skill.'),
      skill: z.string().min(1).optional().describe('Instead of peerId: send to any connected agent with this skill id.'),
      url: z.string().min(1).optional().describe('Instead of peerId: the agent card URL (https://…/.well-known/agent-card.json) or base URL of a plain HTTP A2A agent.'),
      text: z.string().min(1).describe('The message: what you want the agent to do.'),
      contextId: z.string().min(1).optional().describe('Continue this conversation (a contextId from an earlier task).'),
      taskId: z.string().min(1).optional().describe('Continue this outbound task of ours, which waits for our input (state input-required).'),
      ttlSeconds: z.number().int().min(1).max(MAX_TTL_MS / 1000).optional().describe('How long the task may wait to be delivered (default 24 h).')
    }
  }, async ({ peerId, skill, url, text, contextId, taskId, ttlSeconds }, { signal }) => await guarded(async () =>
    await call('send', { peerId, skill, url, text, contextId, taskId, ttlMs: ttlSeconds != null ? ttlSeconds * 1000 : undefined }, signal)))

  server.registerTool('get_task', {
    title: 'Get a task',
    description: 'One task of this peer, sent or received, as it is now (does not wait): its state, the answer so far (outbound) or the request (inbound), delivery and errors.',
    inputSchema: { taskId },
    annotations: { readOnlyHint: true }
  }, async ({ taskId }, { signal }) => await guarded(async () => taskForModel(await call('task', { taskId }, signal))))

  server.registerTool('wait_task', {
    title: 'Wait for a task\'s answer',
    description: [
      'Waits until a task this peer sent completes, fails, is canceled or rejected, or the agent asks for input, or the timeout runs out, then returns the task:',
      '"text" is the answer (or the agent\'s question when state is TASK_STATE_INPUT_REQUIRED), "timedOut" says whether the timeout ran out first (the task goes on; wait again).',
      `Timeout in seconds, default ${DEFAULT_WAIT_SECONDS}, at most ${MAX_WAIT_SECONDS}.`
    ].join(' '),
    inputSchema: {
      taskId,
      timeoutSeconds: z.number().min(0).max(MAX_WAIT_SECONDS).optional().describe(`Give up waiting after this many seconds (default ${DEFAULT_WAIT_SECONDS}).`)
    },
    annotations: { readOnlyHint: true }
  }, async ({ taskId, timeoutSeconds }, { signal }) => await guarded(async () =>
    taskForModel(await call('wait', { taskId, timeoutMs: Math.round((timeoutSeconds ?? DEFAULT_WAIT_SECONDS) * 1000) }, signal))))

  server.registerTool('list_inbox', {
    title: 'List tasks waiting for our answer',
    description: 'The tasks other agents sent this peer that wait for an answer: taskId, the sender\'s PeerID (from), their latest message (text) and attached files. Answer each with respond_task.',
    inputSchema: {},
    annotations: { readOnlyHint: true }
  }, async (_args, { signal }) => await guarded(async () => await call('inbox', undefined, signal)))

  server.registerTool('list_tasks', {
    title: 'List recent tasks',
    description: 'This peer\'s recent tasks, both directions, newest change first: taskId, direction, other PeerID, state, delivery and text.',
    inputSchema: {
      direction: z.enum(['inbound', 'outbound']).optional().describe('inbound: sent to us; outbound: sent by us.'),
      limit: z.number().int().min(1).max(MAX_TASKS_LIMIT).optional().describe('At most this many tasks (default 20).')
    },
    annotations: { readOnlyHint: true }
  }, async ({ direction, limit }, { signal }) => await guarded(async () => await call('tasks', { direction, limit }, signal)))

  server.registerTool('respond_task', {
    title: 'Answer a task from the inbox',
    description: [
      'Answers a task from list_inbox. state "completed" (default): text is the answer.',
      '"input-required": text is a question to the sender; the task stays open for their reply.',
      '"failed": text says what went wrong. "rejected": text says why the task is out of scope.'
    ].join(' '),
    inputSchema: {
      taskId: z.string().min(1).describe('The task id from list_inbox.'),
      text: z.string().min(1).describe('The answer, the question, or the reason.'),
      state: z.enum(['completed', 'input-required', 'failed', 'rejected']).optional().describe('How to end this turn (default completed).')
    }
  }, async ({ taskId, text, state }, { signal }) => await guarded(async () => await call('respond', { taskId, text, state: state ?? 'completed' }, signal)))

  server.registerTool('cancel_task', {
    title: 'Cancel a task we sent',
    description: 'Asks the agent of a task this peer sent to cancel it; returns the task. If the agent cannot be reached now, the request is queued ("pending" holds "cancel").',
    inputSchema: { taskId },
    annotations: { destructiveHint: true }
  }, async ({ taskId }, { signal }) => await guarded(async () => await call('cancel', { taskId }, signal)))

  return server
}
