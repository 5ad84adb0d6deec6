/**
 * Every verb of the `starling` CLI. `init` and `serve` work on the home directory themselves
 * (and load libp2p, lazily); every other verb is a request to the running daemon over its
 * control socket, so it starts fast and never touches the files a daemon owns.
 */
import { ControlClient } from '../control-client.js'
import type { ControlApi, ControlMethodName, RespondState } from '../control-api.js'
import { RESPOND_STATES } from '../control-api.js'
import { agentLine, cardText, inboxLine, stateWord, statusText, taskLine } from './format.js'
import { ExitCode, UsageError } from './verb.js'
import type { Verb, VerbContext } from './verb.js'

/** Calls one method on the daemon serving the context's home. */
async function call<M extends ControlMethodName> (context: VerbContext, method: M, params?: ControlApi[M]['params']): Promise<ControlApi[M]['result']> {
  const client = await ControlClient.connect(context.home)
  try {
    return await client.request(method, params)
  } finally {
    client.close()
  }
}

/** The text of a verb: its positionals from `from` on, joined; `-` reads standard input. */
async function textArg (context: VerbContext, from: number, what: string): Promise<string> {
  const words = context.positionals.slice(from)
  let text = words.length === 1 && words[0] === '-' ? await readStdin() : words.join(' ')
  text = text.replace(/\n$/, '')
  if (text.trim() === '') throw new UsageError(`${what} is missing`)
  return text
}

async function readStdin (): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function positiveInt (value: string | boolean | undefined, flag: string): number | undefined {
  if (typeof value !== 'string') return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${flag} must be a positive whole number, got "${value}"`)
  return n
}

function tagList (value: string | boolean | undefined): string[] | undefined {
  if (typeof value !== 'string') return undefined
  const tags = value.split(',').map(t => t.trim()).filter(t => t !== '')
  return tags.length > 0 ? tags : undefined
}

const init: Verb = {
  name: 'init',
  summary: 'Set up this peer: its name, skills and relay; prints its PeerID and a prompt for your coding agent.',
  synopsis: 'init --name NAME [--skills a,b] [--description TEXT] [--relay ADDR]',
  description: [
    'Writes config.json in the home directory and creates the peer\'s key (identity.key) unless it',
    'exists: the PeerID never changes. Run it again to change any field; the others are kept. A',
    'running `starling serve` publishes the new card at once.',
    '',
    'The relay is a multiaddr (/ip4/…/tcp/…/p2p/…) or the http(s) URL of a relay, default',
    'http://127.0.0.1:8080 (what `npm start` runs).'
  ].join('\n'),
  json: '{ "peerId", "home", "relay", "profile", "prompt" }',
  options: {
    name: { type: 'string', value: 'NAME', help: 'the agent\'s name (required the first time)' },
    skills: { type: 'string', value: 'a,b', help: 'comma-separated skill ids other agents find you by' },
    description: { type: 'string', value: 'TEXT', help: 'what this agent does, in a sentence' },
    relay: { type: 'string', value: 'ADDR', help: 'relay multiaddr or URL' }
  },
  positionals: [0, 0],
  run: async (context) => {
    const { runInit } = await import('./init.js')
    return await runInit(context)
  }
}

const serve: Verb = {
  name: 'serve',
  summary: 'Run this peer in the foreground, with the control socket the other verbs use.',
  synopsis: 'serve [--echo]',
  description: [
    'Prints `Starling peer <PeerID> is serving` once the control socket listens, then one line per',
    'change of the relay connection, of the published card and of tasks. Stops cleanly on SIGINT or',
    'SIGTERM. Without --echo, inbound tasks wait in `starling inbox` for `starling respond`.'
  ].join('\n'),
  json: 'one JSON object per line: { "event": "serving" | "relay" | "registry" | "inbound" | "task" | "warning" | "stopped", … }',
  options: {
    echo: { type: 'boolean', help: 'a demo agent: answer every task with the text it got' }
  },
  positionals: [0, 0],
  run: async (context) => {
    const { runServe } = await import('./serve.js')
    return await runServe(context)
  }
}

const status: Verb = {
  name: 'status',
  summary: 'Whether the peer is connected to its relay and its card is published.',
  synopsis: 'status',
  description: '',
  json: '{ "peerId", "home", "relaySetting", "relay": { "state", "relayAddr", … }, "registry": { "expiresAt" | "error" }, "card", "echo" }',
  options: {},
  positionals: [0, 0],
  run: async (context) => {
    const result = await call(context, 'status')
    if (context.json) context.printJson(result)
    else context.print(statusText(result))
    return ExitCode.Ok
  }
}

const card: Verb = {
  name: 'card',
  summary: 'Show this peer\'s A2A agent card, as other agents see it.',
  synopsis: 'card',
  description: '',
  json: 'the A2A v1.0 AgentCard',
  options: {},
  positionals: [0, 0],
  run: async (context) => {
    const result = await call(context, 'card')
    if (context.json) context.printJson(result)
    else context.print(cardText(result))
    return ExitCode.Ok
  }
}

const agentListJson = '[{ "peerId", "card", "online", "expiresAt", "connected", "connection"?: "relayed" | "webrtc" | "direct" }]'

const peers: Verb = {
  name: 'peers',
  summary: 'List the agents in the relay\'s registry and whether this peer is connected to each.',
  synopsis: 'peers',
  description: 'One agent per line, tab-separated: PeerID, name, online|offline, connected (relayed|webrtc|direct)|not connected, skills.',
  json: agentListJson,
  options: {},
  positionals: [0, 0],
  run: async (context) => {
    const result = await call(context, 'peers')
    if (context.json) context.printJson(result)
    else if (result.length === 0) context.note('No other agents in the relay\'s registry.')
    else for (const agent of result) context.print(agentLine(agent))
    return ExitCode.Ok
  }
}

const discover: Verb = {
  name: 'discover',
  summary: 'Find agents with a skill in the relay\'s registry.',
  synopsis: 'discover SKILL [--tags a,b] [--limit N]',
  description: 'One agent per line, as `starling peers` prints them.',
  json: agentListJson,
  options: {
    tags: { type: 'string', value: 'a,b', help: 'only agents whose skill carries all these tags' },
    limit: { type: 'string', value: 'N', help: 'at most N agents' }
  },
  positionals: [1, 1],
  run: async (context) => {
    const result = await call(context, 'discover', {
      skill: context.positionals[0],
      tags: tagList(context.values.tags),
      limit: positiveInt(context.values.limit, 'limit')
    })
    if (context.json) context.printJson(result)
    else if (result.length === 0) context.note(`No agent with the skill "${context.positionals[0] ?? ''}".`)
    else for (const agent of result) context.print(agentLine(agent))
    return ExitCode.Ok
  }
}

const send: Verb = {
  name: 'send',
  summary: 'Send a task to an agent; prints the task id once the agent has accepted it.',
  synopsis: 'send PEER-ID TEXT [--context ID] [--task ID]',
  description: [
    'TEXT is the rest of the command line; "-" reads it from standard input. Follow the task with',
    '`starling wait TASK-ID`. To answer an agent that asked for input, send with --task TASK-ID.'
  ].join('\n'),
  json: '{ "taskId", "contextId", "state" }',
  options: {
    context: { type: 'string', value: 'ID', help: 'continue the conversation with this context id' },
    task: { type: 'string', value: 'ID', help: 'continue this task (answer the agent\'s question)' }
  },
  positionals: [2, Infinity],
  run: async (context) => {
    const result = await call(context, 'send', {
      peerId: context.positionals[0] ?? '',
      text: await textArg(context, 1, 'TEXT'),
      contextId: context.values.context as string | undefined,
      taskId: context.values.task as string | undefined
    })
    if (context.json) context.printJson(result)
    else context.print(result.taskId)
    return ExitCode.Ok
  }
}

const wait: Verb = {
  name: 'wait',
  summary: 'Wait for the answer to a task this peer sent, and print it.',
  synopsis: 'wait TASK-ID [--timeout SECONDS]',
  description: [
    'Exit status: 0 completed (stdout: the answer); 1 failed, canceled or rejected (stdout: the',
    'reason); 3 the agent needs input (stdout: its question; answer with `starling send PEER-ID',
    '--task TASK-ID TEXT` and wait again); 124 the timeout ran out (the task goes on).',
    'Without --timeout, waits as long as it takes.'
  ].join('\n'),
  json: 'the A2A v1.0 Task, whatever the exit status',
  options: {
    timeout: { type: 'string', value: 'SECONDS', help: 'give up after this long (exit 124)' }
  },
  positionals: [1, 1],
  run: async (context) => {
    const taskId = context.positionals[0] ?? ''
    let timeoutMs: number | undefined
    if (typeof context.values.timeout === 'string') {
      const seconds = Number(context.values.timeout)
      if (!Number.isFinite(seconds) || seconds < 0 || seconds > 2_000_000) throw new UsageError(`--timeout must be a number of seconds, got "${context.values.timeout}"`)
      timeoutMs = Math.round(seconds * 1000)
    }
    const result = await call(context, 'wait', { taskId, timeoutMs })
    const state = stateWord(result.state)
    if (context.json) context.printJson(result.task)
    if (result.timedOut) {
      context.note(`task ${taskId} is still ${state} after ${String(context.values.timeout)} s`)
      return ExitCode.Timeout
    }
    if (!context.json && result.text !== '') context.print(result.text)
    switch (result.state) {
      case 'TASK_STATE_COMPLETED':
        return ExitCode.Ok
      case 'TASK_STATE_INPUT_REQUIRED':
      case 'TASK_STATE_AUTH_REQUIRED':
        context.note(`task ${taskId} needs input: answer with \`starling send ${result.peerId} --task ${taskId} TEXT\`, then wait again`)
        return ExitCode.InputRequired
      default:
        context.note(`task ${taskId} ${state}`)
        return ExitCode.Error
    }
  }
}

const inbox: Verb = {
  name: 'inbox',
  summary: 'List the tasks other agents sent this peer that wait for an answer.',
  synopsis: 'inbox',
  description: 'One task per line, tab-separated: TASK-ID, sender PeerID, text. Answer with `starling respond`.',
  json: '[{ "taskId", "from", "text", "state", "contextId", "createdAt", "updatedAt" }] (times in ms since the epoch)',
  options: {},
  positionals: [0, 0],
  run: async (context) => {
    const result = await call(context, 'inbox')
    if (context.json) context.printJson(result)
    else if (result.length === 0) context.note('No tasks wait for an answer.')
    else for (const entry of result) context.print(inboxLine(entry))
    return ExitCode.Ok
  }
}

const respond: Verb = {
  name: 'respond',
  summary: 'Answer a task from the inbox.',
  synopsis: 'respond TASK-ID TEXT [--state completed|rejected|failed|input-required]',
  description: [
    'TEXT is the rest of the command line; "-" reads it from standard input. --state says how the',
    'task ends: completed (the default: TEXT is the answer), rejected (out of scope: TEXT says why),',
    'failed (TEXT says what went wrong) or input-required (TEXT is a question to the sender).'
  ].join('\n'),
  json: '{ "taskId", "state" }',
  options: {
    state: { type: 'string', value: 'STATE', help: 'completed (default), rejected, failed or input-required' }
  },
  positionals: [2, Infinity],
  run: async (context) => {
    const state = (context.values.state as string | undefined) ?? 'completed'
    if (!(RESPOND_STATES as readonly string[]).includes(state)) throw new UsageError(`--state must be one of ${RESPOND_STATES.join(', ')}, got "${state}"`)
    const result = await call(context, 'respond', {
      taskId: context.positionals[0] ?? '',
      text: await textArg(context, 1, 'TEXT'),
      state: state as RespondState
    })
    if (context.json) context.printJson(result)
    else context.print(`Task ${result.taskId}: ${stateWord(result.state)}`)
    return ExitCode.Ok
  }
}

const tasks: Verb = {
  name: 'tasks',
  summary: 'List this peer\'s recent tasks, both directions, newest first.',
  synopsis: 'tasks [--direction inbound|outbound] [--limit N]',
  description: 'One task per line, tab-separated: TASK-ID, inbound|outbound, other PeerID, state, text.',
  json: '[{ "taskId", "direction", "peerId", "contextId", "state", "text", "createdAt", "updatedAt" }]',
  options: {
    direction: { type: 'string', value: 'DIR', help: 'inbound (sent to us) or outbound (sent by us)' },
    limit: { type: 'string', value: 'N', help: 'at most N tasks (default 20)' }
  },
  positionals: [0, 0],
  run: async (context) => {
    const direction = context.values.direction
    if (direction != null && direction !== 'inbound' && direction !== 'outbound') throw new UsageError(`--direction must be inbound or outbound, got "${String(direction)}"`)
    const result = await call(context, 'tasks', { direction, limit: positiveInt(context.values.limit, 'limit') })
    if (context.json) context.printJson(result)
    else if (result.length === 0) context.note('No tasks yet.')
    else for (const task of result) context.print(taskLine(task))
    return ExitCode.Ok
  }
}

const cancel: Verb = {
  name: 'cancel',
  summary: 'Ask the agent of a task this peer sent to cancel it.',
  synopsis: 'cancel TASK-ID',
  description: '',
  json: '{ "taskId", "direction", "peerId", "contextId", "state", "text", "createdAt", "updatedAt" }',
  options: {},
  positionals: [1, 1],
  run: async (context) => {
    const result = await call(context, 'cancel', { taskId: context.positionals[0] ?? '' })
    if (context.json) context.printJson(result)
    else context.print(`Task ${result.taskId}: ${stateWord(result.state)}`)
    return result.state === 'TASK_STATE_CANCELED' ? ExitCode.Ok : ExitCode.Error
  }
}

/** In the order the top-level help lists them. */
export const VERBS: readonly Verb[] = [init, serve, status, card, peers, discover, send, wait, inbox, respond, tasks, cancel]
