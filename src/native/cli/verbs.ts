/**
 * Every verb of the `starling` CLI. `init` and `serve` work on the home directory themselves
 * (and load libp2p, lazily); every other verb is a request to the running daemon over its
 * control socket, so it starts fast and never touches the files a daemon owns.
 */
import { isAbsolute, relative, resolve } from 'node:path'
import { TaskStates } from '../../core/a2a/json.js'
import type { TaskStateName } from '../../core/a2a/json.js'
import { DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PARTS_BYTES, formatBytes } from '../../core/a2a/parts.js'
import type { MemberEntry } from '../../core/mesh/protocol.js'
import { ControlClient } from '../control-client.js'
import type { ControlApi, ControlMethodName, RespondState, SendResult } from '../control-api.js'
import { DEFAULT_TASKS_LIMIT, MAX_TASKS_LIMIT, MAX_TTL_MS, RESPOND_STATES } from '../control-api.js'
import { checkFiles } from './attach.js'
import { parseDuration } from './duration.js'
import { agentLine, cardText, deliveryWord, inboxLine, stateWord, statusText, taskLine, timeText } from './format.js'
import { DEFAULT_FILES_DIR, defaultFilesDir, saveTaskFiles } from './save.js'
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

/** A string flag's value (undefined when absent). */
function stringFlag (context: VerbContext, name: string): string | undefined {
  const value = context.values[name]
  return typeof value === 'string' ? value : undefined
}

/** A repeatable flag's values, in the order given. */
function listFlag (context: VerbContext, name: string): string[] {
  const value = context.values[name]
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : []
}

function positiveInt (value: string | undefined, flag: string): number | undefined {
  if (typeof value !== 'string') return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${flag} must be a positive whole number, got "${value}"`)
  return n
}

function tagList (value: string | undefined): string[] | undefined {
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
  synopsis: 'serve [--echo | --on-task CMD [--on-task-timeout SECONDS]] [--bridge]',
  description: [
    'Prints `Starling peer <PeerID> is serving` once the control socket listens, then one line per',
    'change of the relay connection, of the published card and of tasks. Stops cleanly on SIGINT or',
    'SIGTERM. Without --echo or --on-task, inbound tasks wait in `starling inbox` for `starling respond`.',
    '',
    '--on-task CMD runs `/bin/sh -c CMD` for every inbound task (and every reply to a question it',
    'asked): the task\'s text on stdin; STARLING_TASK_ID, STARLING_CONTEXT_ID, STARLING_FROM (the',
    'sender\'s PeerID), STARLING_RESUMED (1 when the task is run again after a restart, else 0) and',
    'STARLING_HOME in its environment (`starling show "$STARLING_TASK_ID"` saves the sender\'s files).',
    'Exit 0: its stdout (one trailing newline removed, at most 1 MiB) is the answer. Exit 3: its',
    'stdout is a question back (input-required). Any other exit fails the task with the last lines',
    'of its stderr. After --on-task-timeout (default 600) or a cancel, the command\'s process group',
    'gets SIGTERM, then SIGKILL 3 s later, and the task fails (or stays canceled).',
    '',
    '--bridge makes this agent reachable over HTTP for this run: its card declares it, and the',
    'relay\'s A2A bridge then serves it to ordinary A2A clients at <relay>/a2a/<PeerID> (card at',
    '<relay>/a2a/<PeerID>/.well-known/agent-card.json). Every such caller reaches the agent as the',
    'relay. Without --bridge it is off.'
  ].join('\n'),
  json: 'one JSON object per line: { "event": "serving" | "relay" | "registry" | "inbound" | "task" | "lan" | "warning" | "stopped", … }',
  options: {
    echo: { type: 'boolean', help: 'a demo agent: answer every task with the text it got' },
    'on-task': { type: 'string', value: 'CMD', help: 'answer every task with a shell command (see above)' },
    'on-task-timeout': { type: 'string', value: 'SECONDS', help: 'stop a command that runs longer (default 600)' },
    bridge: { type: 'boolean', help: 'reachable over HTTP through the relay\'s A2A bridge for this run (see above)' },
    'no-mdns': { type: 'boolean', help: 'do not find or answer peers on the LAN (mDNS) nor listen there; for untrusted networks' }
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
      tags: tagList(stringFlag(context, 'tags')),
      limit: positiveInt(stringFlag(context, 'limit'), 'limit')
    })
    if (context.json) context.printJson(result)
    else if (result.length === 0) context.note(`No agent with the skill "${context.positionals[0] ?? ''}".`)
    else for (const agent of result) context.print(agentLine(agent))
    return ExitCode.Ok
  }
}

const send: Verb = {
  name: 'send',
  summary: 'Send a task to an agent, with text and files; prints the task id once it is stored.',
  synopsis: 'send PEER-ID [TEXT] [--file PATH]… [--ttl DURATION] [--context ID] [--task ID] | send --skill SKILL [TEXT] [--file PATH]… | send --url URL [TEXT] [--file PATH]…',
  description: [
    'TEXT is the rest of the command line; "-" reads it from standard input. Each --file becomes a',
    `part of the message, at most ${formatBytes(DEFAULT_MAX_FILE_BYTES)} a file and ${formatBytes(DEFAULT_MAX_PARTS_BYTES)} in all; a file over the limit`,
    'is refused at once (exit 2) and nothing is sent.',
    '',
    'The task is stored before it is sent. When the agent cannot be reached now it stays queued',
    'and this peer keeps trying while `starling serve` runs, until --ttl runs out (default 24h),',
    'when the task fails. Follow it with `starling wait TASK-ID` or `starling tasks`.',
    '',
    'To answer an agent that asked for input, send with --task TASK-ID.',
    '',
    'With --skill SKILL instead of a PeerID, the task goes to a connected agent that has the skill:',
    'one this peer has a direct connection to first, then the one that failed longest ago; when it',
    'does not take the task, the next one is tried. The agent chosen is printed on standard error.',
    '',
    'With --url URL the task goes to a plain HTTP A2A agent (one not on the mesh): URL is its agent',
    'card (or its base URL; the card is then at /.well-known/agent-card.json). The card is fetched',
    'and checked first; a URL that is not http(s) or a card that cannot be used is refused (exit 2)',
    'and nothing is stored. The task then lives with the others, its agent named by the card URL',
    '(a PEER-ID that is an http(s) URL means the same as --url, so `send URL --task ID` answers it).'
  ].join('\n'),
  json: '{ "taskId", "peerId", "contextId", "state", "delivery": "queued" | "sent" | "delivered", "expiresAt"?, "lastError"?, "localError"? } (times in ms since the epoch)',
  options: {
    file: { type: 'string', value: 'PATH', multiple: true, help: 'attach this file' },
    ttl: { type: 'string', value: 'DURATION', help: 'how long to keep trying to deliver it: 30s, 10m, 24h (default 24h, at most 7d)' },
    context: { type: 'string', value: 'ID', help: 'continue the conversation with this context id' },
    task: { type: 'string', value: 'ID', help: 'continue this task (answer the agent\'s question)' },
    skill: { type: 'string', value: 'SKILL', help: 'send to any connected agent with this skill, instead of PEER-ID' },
    url: { type: 'string', value: 'URL', help: 'send to the plain HTTP A2A agent with this agent card URL, instead of PEER-ID' }
  },
  positionals: [0, Infinity],
  run: async (context) => {
    const ttl = stringFlag(context, 'ttl')
    const ttlMs = ttl != null ? parseDuration(ttl, 'ttl', MAX_TTL_MS) : undefined
    const skill = stringFlag(context, 'skill')
    // an http(s) URL where the PeerID goes names an HTTP agent (what `wait` suggests to answer one)
    const first = context.positionals[0]
    const urlFlag = stringFlag(context, 'url')
    const url = urlFlag ?? (skill == null && first != null && /^[a-z][a-z0-9+.-]*:\/\//i.test(first) ? first : undefined)
    if (skill != null && urlFlag != null) throw new UsageError('give --skill or --url, not both')
    if (skill != null && stringFlag(context, 'task') != null) throw new UsageError('--task continues a task with its own agent: give its PEER-ID, not --skill')
    if (url != null) checkAgentUrl(url)
    if (skill == null && url == null && context.positionals.length === 0) throw new UsageError(`PEER-ID (or --skill SKILL, or --url URL) is missing (usage: starling ${send.synopsis})`)
    // with --skill or --url every positional is the text
    const textFrom = skill != null || urlFlag != null ? 0 : 1
    const text = context.positionals.length > textFrom ? await textArg(context, textFrom, 'TEXT') : undefined
    const paths = listFlag(context, 'file')
    if (text == null && paths.length === 0) throw new UsageError(`TEXT or --file is missing (usage: starling ${send.synopsis})`)
    const files = await checkFiles(paths)
    let result: SendResult
    try {
      result = await call(context, 'send', {
        ...(skill != null ? { skill } : url != null ? { url } : { peerId: context.positionals[0] ?? '' }),
        text,
        files: files.length > 0 ? files : undefined,
        contextId: stringFlag(context, 'context'),
        taskId: stringFlag(context, 'task'),
        ttlMs
      })
    } catch (err) {
      // a card that cannot be fetched or used is a wrong argument: nothing was stored
      if (url != null && (err as { code?: unknown }).code === 'ERR_AGENT_CARD') throw new UsageError((err as Error).message, { showUsage: false })
      throw err
    }
    if (context.json) context.printJson(result)
    else context.print(result.taskId)
    if (skill != null && !context.json) context.note(`sent to ${result.peerId}, which has the skill ${skill}`)
    const note = sendNote(result)
    if (note != null) context.note(note)
    return ExitCode.Ok
  }
}

const wait: Verb = {
  name: 'wait',
  summary: 'Wait for the answer to a task this peer sent; print it and save its files.',
  synopsis: 'wait TASK-ID [--timeout SECONDS] [--out DIR]',
  description: [
    'Prints the answer\'s text, then `Saved PATH` for each file the agent sent back (in its',
    `artifacts or its messages), saved in DIR (default ./${DEFAULT_FILES_DIR}/TASK-ID/). Existing files are`,
    'never overwritten: a name that is taken gets -1, -2, … before its extension.',
    '',
    'Exit status: 0 completed (stdout: the answer); 1 failed, canceled or rejected (stdout: the',
    'reason); 3 the agent needs input (stdout: its question; answer with `starling send PEER-ID',
    '--task TASK-ID TEXT` and wait again); 124 the timeout ran out (the task goes on).',
    'Without --timeout, waits as long as it takes.'
  ].join('\n'),
  json: 'the A2A v1.0 Task, whatever the exit status; each file part the agent sent is { "savedTo", "mediaType", "filename", "size" } instead of its bytes, each of ours { "mediaType", "filename", "size" }',
  options: {
    timeout: { type: 'string', value: 'SECONDS', help: 'give up after this long (exit 124)' },
    out: { type: 'string', value: 'DIR', help: `save files here (default ./${DEFAULT_FILES_DIR}/TASK-ID/)` }
  },
  positionals: [1, 1],
  run: async (context) => {
    const taskId = context.positionals[0] ?? ''
    let timeoutMs: number | undefined
    const timeout = stringFlag(context, 'timeout')
    if (timeout != null) {
      const seconds = Number(timeout)
      if (timeout.trim() === '' || !Number.isFinite(seconds) || seconds < 0 || seconds > 2_000_000) throw new UsageError(`--timeout must be a number of seconds, got "${timeout}"`)
      timeoutMs = Math.round(seconds * 1000)
    }
    const out = stringFlag(context, 'out')
    const result = await call(context, 'wait', { taskId, timeoutMs })
    const { task, saved } = await saveTaskFiles(result.task, out != null ? resolve(out) : defaultFilesDir(taskId))
    const state = stateWord(result.state)
    if (context.json) context.printJson(task)
    if (result.timedOut) {
      context.note(`task ${taskId} is still ${state} after ${timeout ?? ''} s${result.delivery === 'queued' ? ' (not delivered yet: the agent has not been reached)' : ''}`)
      return ExitCode.Timeout
    }
    if (!context.json) {
      const text = result.text !== '' ? result.text : result.localError ?? ''
      if (text !== '') context.print(text)
      for (const file of saved) context.print(`Saved ${displayPath(file.path)}`)
    }
    switch (result.state) {
      case 'TASK_STATE_COMPLETED':
        return ExitCode.Ok
      case 'TASK_STATE_INPUT_REQUIRED':
      case 'TASK_STATE_AUTH_REQUIRED':
        context.note(`task ${taskId} needs input: answer with \`starling send ${result.peerId} --task ${taskId} TEXT\`, then wait again`)
        return ExitCode.InputRequired
      default:
        context.note(`task ${taskId} ${state}${result.localError != null && result.text !== '' ? `: ${result.localError}` : ''}`)
        return ExitCode.Error
    }
  }
}

const inbox: Verb = {
  name: 'inbox',
  summary: 'List the tasks other agents sent this peer that wait for an answer.',
  synopsis: 'inbox',
  description: [
    'One task per line, tab-separated: TASK-ID, sender PeerID, text (and the names of attached files).',
    'Save the files with `starling show TASK-ID`; answer with `starling respond`.'
  ].join('\n'),
  json: '[{ "taskId", "from", "text", "files": [{ "filename", "mediaType", "size" }], "state", "contextId", "createdAt", "updatedAt" }] (times in ms since the epoch)',
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

const show: Verb = {
  name: 'show',
  summary: 'Show one task, sent or received, and save the other side\'s files; does not wait.',
  synopsis: 'show TASK-ID [--out DIR]',
  description: [
    'Prints a line about the task (direction, other PeerID, state, delivery), then its text: for a',
    'task sent to this peer, the sender\'s latest message; for one this peer sent, the answer so far.',
    'Then `Saved PATH` for each file the other side sent (the sender\'s attachments, or the agent\'s),',
    `saved in DIR (default ./${DEFAULT_FILES_DIR}/TASK-ID/) as \`starling wait\` saves them, never over an`,
    'existing file.'
  ].join('\n'),
  json: 'the task as `starling tasks --json` lists it, with "task": the A2A Task, its file parts as `wait --json` shows them',
  options: {
    out: { type: 'string', value: 'DIR', help: `save files here (default ./${DEFAULT_FILES_DIR}/TASK-ID/)` }
  },
  positionals: [1, 1],
  run: async (context) => {
    const taskId = context.positionals[0] ?? ''
    const out = stringFlag(context, 'out')
    const result = await call(context, 'task', { taskId })
    const { task, saved } = await saveTaskFiles(result.task, out != null ? resolve(out) : defaultFilesDir(taskId), {
      theirs: result.direction === 'inbound' ? 'ROLE_USER' : 'ROLE_AGENT'
    })
    if (context.json) {
      context.printJson({ ...result, task })
      return ExitCode.Ok
    }
    const who = result.direction === 'inbound' ? `from ${result.peerId}` : `to ${result.peerId}`
    const delivery = deliveryWord(result)
    context.print(`Task ${result.taskId} ${who}: ${stateWord(result.state)}${delivery !== '-' ? ` (${delivery})` : ''}, last change ${timeText(result.updatedAt)}`)
    const text = result.text !== '' ? result.text : result.localError ?? ''
    if (text !== '') context.print(text)
    for (const file of saved) context.print(`Saved ${displayPath(file.path)}`)
    return ExitCode.Ok
  }
}

/** The flags that say how `respond` ends the turn, besides --state. */
const RESPOND_FLAGS: ReadonlyArray<[flag: string, state: RespondState]> = [
  ['input-required', 'input-required'],
  ['fail', 'failed'],
  ['reject', 'rejected']
]

const respond: Verb = {
  name: 'respond',
  summary: 'Answer a task from the inbox: complete it, ask a question, fail or reject it.',
  synopsis: 'respond TASK-ID [TEXT] [--file PATH]… [--input-required | --fail | --reject]',
  description: [
    'TEXT is the rest of the command line; "-" reads it from standard input. Without a flag the',
    'task completes: TEXT and the --file files are the answer (one artifact; either may be left',
    'out). --input-required asks the sender a question (TEXT, files beside it) and keeps the task',
    'open; --fail says what went wrong; --reject says why it is out of scope (TEXT only, for both).',
    '--state completed|input-required|failed|rejected does the same as the flags.',
    `Files: at most ${formatBytes(DEFAULT_MAX_FILE_BYTES)} each; one over the limit is refused at once (exit 2).`
  ].join('\n'),
  json: '{ "taskId", "state" }',
  options: {
    file: { type: 'string', value: 'PATH', multiple: true, help: 'attach this file to the answer' },
    'input-required': { type: 'boolean', help: 'ask the sender a question instead of answering' },
    fail: { type: 'boolean', help: 'the task failed: TEXT says what went wrong' },
    reject: { type: 'boolean', help: 'the task is out of scope: TEXT says why' },
    state: { type: 'string', value: 'STATE', help: 'completed (default), input-required, failed or rejected' }
  },
  positionals: [1, Infinity],
  run: async (context) => {
    const chosen = RESPOND_FLAGS.filter(([flag]) => context.values[flag] === true)
    const stateFlag = stringFlag(context, 'state')
    if (stateFlag != null && !(RESPOND_STATES as readonly string[]).includes(stateFlag)) throw new UsageError(`--state must be one of ${RESPOND_STATES.join(', ')}, got "${stateFlag}"`)
    const states = new Set<RespondState>([...chosen.map(([, state]) => state), ...(stateFlag != null ? [stateFlag as RespondState] : [])])
    if (states.size > 1) throw new UsageError(`choose one way to answer, not ${[...states].join(' and ')}`)
    const state: RespondState = [...states][0] ?? 'completed'
    const paths = listFlag(context, 'file')
    if (paths.length > 0 && (state === 'failed' || state === 'rejected')) throw new UsageError(`a ${state} answer carries TEXT only, not files`)
    const text = context.positionals.length > 1 ? await textArg(context, 1, 'TEXT') : undefined
    if (text == null && (state !== 'completed' || paths.length === 0)) {
      throw new UsageError(state === 'completed' ? 'TEXT or --file is missing' : `TEXT is missing: ${state === 'input-required' ? 'the question to ask' : 'the reason to give'}`)
    }
    const files = await checkFiles(paths)
    const result = await call(context, 'respond', {
      taskId: context.positionals[0] ?? '',
      text,
      files: files.length > 0 ? files : undefined,
      state
    })
    if (context.json) context.printJson(result)
    else context.print(`Task ${result.taskId}: ${stateWord(result.state)}`)
    return ExitCode.Ok
  }
}

const tasks: Verb = {
  name: 'tasks',
  summary: 'List this peer\'s recent tasks, both directions, newest change first.',
  synopsis: 'tasks [--state S[,S…]] [--direction inbound|outbound] [--limit N]',
  description: [
    'One task per line, tab-separated: TASK-ID, inbound|outbound, other PeerID, state, delivery,',
    'last change (UTC), text. Delivery is how far our latest message got for an outbound task',
    '(queued: the agent not reached yet; sent; delivered), "cancel queued" when a cancel waits to',
    'reach the agent, "-" otherwise. The text is the answer (outbound) or the request (inbound), or',
    'why this peer failed the task.',
    `States: ${TaskStates.map(stateWord).join(', ')}.`
  ].join('\n'),
  json: '[{ "taskId", "direction", "peerId", "contextId", "state", "text", "createdAt", "updatedAt", "delivery"?, "remoteId"?, "expiresAt"?, "pending": ["message" | "cancel" | "push"], "lastError"?, "localError"? }] (times in ms since the epoch)',
  options: {
    state: { type: 'string', value: 'S[,S…]', help: 'only tasks in these states, e.g. working,input-required' },
    direction: { type: 'string', value: 'DIR', help: 'inbound (sent to us) or outbound (sent by us)' },
    limit: { type: 'string', value: 'N', help: `at most N tasks (default ${DEFAULT_TASKS_LIMIT}, at most ${MAX_TASKS_LIMIT})` }
  },
  positionals: [0, 0],
  run: async (context) => {
    const direction = stringFlag(context, 'direction')
    if (direction != null && direction !== 'inbound' && direction !== 'outbound') throw new UsageError(`--direction must be inbound or outbound, got "${direction}"`)
    const limit = positiveInt(stringFlag(context, 'limit'), 'limit')
    if (limit != null && limit > MAX_TASKS_LIMIT) throw new UsageError(`--limit must be at most ${MAX_TASKS_LIMIT}, got ${limit}`)
    const state = stringFlag(context, 'state')
    const result = await call(context, 'tasks', { direction, states: state != null ? stateList(state) : undefined, limit })
    if (context.json) context.printJson(result)
    else if (result.length === 0) context.note(state != null || direction != null ? 'No tasks match.' : 'No tasks yet.')
    else for (const task of result) context.print(taskLine(task))
    return ExitCode.Ok
  }
}

const cancel: Verb = {
  name: 'cancel',
  summary: 'Ask the agent of a task this peer sent to cancel it.',
  synopsis: 'cancel TASK-ID',
  description: [
    'Prints the task\'s state afterwards. When the agent cannot be reached now, the request is',
    'queued and sent as soon as it can be (until the task\'s time to live runs out); `starling',
    'tasks` shows "cancel queued" meanwhile. Exit status: 0 canceled or cancel queued; 1 the task',
    'could not be canceled (it had finished, or the agent refused).'
  ].join('\n'),
  json: 'the task as `starling tasks --json` lists it; "pending" holds "cancel" while the request is queued',
  options: {},
  positionals: [1, 1],
  run: async (context) => {
    const result = await call(context, 'cancel', { taskId: context.positionals[0] ?? '' })
    const queued = result.state !== 'TASK_STATE_CANCELED' && result.pending.includes('cancel')
    if (context.json) context.printJson(result)
    else context.print(`Task ${result.taskId}: ${queued ? `${stateWord(result.state)}, cancel queued` : stateWord(result.state)}`)
    if (queued) {
      context.note(`the agent cannot be reached now: the cancel request is queued and sent when it can be${result.lastError != null ? ` (last attempt: ${result.lastError})` : ''}`)
      return ExitCode.Ok
    }
    if (result.state === 'TASK_STATE_CANCELED') return ExitCode.Ok
    context.note(`task ${result.taskId} was not canceled: it is ${stateWord(result.state)}`)
    return ExitCode.Error
  }
}

/** Refuses (exit 2) an agent URL that is not an http(s) URL, before the peer is asked. */
function checkAgentUrl (url: string): void {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UsageError(`--url: "${url}" is not a URL; give the agent's card URL, like https://agent.example/.well-known/agent-card.json`, { showUsage: false })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`--url: ${parsed.protocol} URLs are not supported; an A2A agent card is fetched over http or https`, { showUsage: false })
  }
}

/** What `send` says on stderr about a task that was not simply delivered. */
function sendNote (result: SendResult): string | undefined {
  if (result.localError != null) return `the task failed here: ${result.localError}`
  if (result.delivery !== 'queued') return undefined
  const until = result.expiresAt != null ? ` until ${timeText(result.expiresAt)}` : ''
  const why = result.lastError != null ? ` (${result.lastError})` : ''
  return `the agent cannot be reached now${why}: the task is queued and this peer keeps trying${until} while \`starling serve\` runs`
}

/** `path` relative to the working directory when it is inside it, else as it is. */
function displayPath (path: string): string {
  const rel = relative(process.cwd(), path)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path
}

/** `working,input-required` (or TASK_STATE_ names) → the states, refusing unknown words. */
function stateList (value: string): TaskStateName[] {
  const words = value.split(',').map(w => w.trim()).filter(w => w !== '')
  if (words.length === 0) throw new UsageError('--state needs at least one state')
  return words.map((word) => {
    const name = TaskStates.find(s => s === word.toUpperCase() || stateWord(s) === word.toLowerCase())
    if (name == null) throw new UsageError(`--state: unknown state "${word}"; states: ${TaskStates.map(stateWord).join(', ')}`)
    return name
  })
}

const mcp: Verb = {
  name: 'mcp',
  summary: 'Serve MCP (stdio, or Streamable HTTP with --http) so an LLM agent can use this peer.',
  synopsis: 'mcp [--http PORT]',
  description: [
    'An MCP server for Claude Code, Cursor and other MCP clients, attached to the running',
    '`starling serve` of this home. Tools: get_card, list_peers, discover_agents, send_task,',
    'get_task, wait_task, list_inbox, list_tasks, respond_task, cancel_task. Without --http it',
    'speaks MCP on stdin/stdout; with --http PORT, Streamable HTTP on http://127.0.0.1:PORT/mcp.'
  ].join('\n'),
  json: 'nothing: stdout carries the MCP protocol on stdio',
  options: {
    http: { type: 'string', value: 'PORT', help: 'serve Streamable HTTP on 127.0.0.1:PORT instead of stdio' }
  },
  positionals: [0, 0],
  run: async (context) => {
    const { runMcp } = await import('../mcp/run.js')
    return await runMcp(context)
  }
}

const installService: Verb = {
  name: 'install-service',
  summary: 'Write a systemd user unit that runs `starling serve` for this home, and say how to enable it.',
  synopsis: 'install-service [serve\'s options…] [--name NAME] [--print] [--force]',
  description: [
    'Writes $XDG_CONFIG_HOME/systemd/user/starling.service (default ~/.config/systemd/user), which',
    'runs `starling serve --home HOME` with the serve options given here (--echo, --on-task CMD, …;',
    'see `starling serve --help`), restarts it when it fails, and starts it at login once enabled.',
    'A home other than ~/.starling gets starling-<hash of the home>.service, or the --name given, so',
    'several homes can each have one. The command uses absolute paths (this Node, this CLI, the home)',
    'and runs in the current directory. An existing unit of that name that differs is kept unless',
    '--force is given. Nothing is enabled: the commands to do it are printed.'
  ].join('\n'),
  json: '{ "unit", "path", "written", "content", "commands": { "enable", "linger" } }',
  options: {
    // serve's own, whatever they are, passed on to the unit's `serve`
    ...Object.fromEntries(Object.entries(serve.options).map(([flag, option]) => [flag, { ...option, help: option.help.replace('(see above)', '(see `starling serve --help`)') }])),
    name: { type: 'string', value: 'NAME', help: 'the unit\'s name (default starling.service, or starling-<hash>.service for another home)' },
    print: { type: 'boolean', help: 'print the unit instead of writing it' },
    force: { type: 'boolean', help: 'replace an existing unit of that name that differs' }
  },
  positionals: [0, 0],
  run: async (context) => {
    const { runInstallService } = await import('./install-service.js')
    return await runInstallService(context, serve.options)
  }
}

/** Joins the mesh an invite (its token, or a link with `#join=<token>`) is for. */
async function joinMesh (context: VerbContext, token: string): Promise<number> {
  const joined = await call(context, 'meshJoin', { token })
  if (context.json) context.printJson(joined)
  else context.print(`Joined mesh "${joined.name}" (${joined.meshId}) as ${joined.role}, until ${timeText(joined.expiresAt)}`)
  return ExitCode.Ok
}

/** `starling join TOKEN|LINK`: `mesh join` under the name an invite's recipient is told. */
const join: Verb = {
  name: 'join',
  summary: 'Join a private mesh with an invite: its token or its link (the same as `mesh join`).',
  synopsis: 'join TOKEN|LINK',
  description: [
    'Checks the invite (signatures down to the mesh\'s owner, expiry), makes this peer\'s membership',
    'credential from it and keeps it in meshes.json; the relay counts the invite\'s uses when this',
    'peer first shows the credential. Needs `starling serve` running in this home.'
  ].join('\n'),
  json: '{ "meshId", "name", "role", "expiresAt", "relays" }',
  options: {},
  positionals: [1, 1],
  run: async (context) => await joinMesh(context, context.positionals[0] ?? '')
}

/** One member as the relay lists it: PeerID, role, reserved/listed, until when its credential holds. */
function memberLine (m: MemberEntry, self: boolean): string {
  const presence = [m.reserved ? 'reserved' : '', m.listed ? 'listed' : ''].filter(w => w !== '').join(', ')
  return `${m.peerId}  ${m.role}  ${presence === '' ? 'connected' : presence}  until ${timeText(m.expiresAt)}${self ? '  (this peer)' : ''}`
}

const MESH_SUBCOMMANDS = ['create', 'invite', 'join', 'list', 'members', 'revoke', 'leave'] as const

/** `starling mesh SUBCOMMAND …`: private meshes, through the running daemon. */
const mesh: Verb = {
  name: 'mesh',
  summary: 'Private meshes: create one, invite (token, link, QR code), join, list, see members, revoke, leave.',
  synopsis: 'mesh create NAME | mesh invite MESH [--role member|admin] [--ttl 7d] [--uses N] | mesh join TOKEN|LINK | mesh list | mesh members MESH | mesh revoke MESH --member PEER-ID|--invite ID | mesh leave MESH',
  description: [
    'A mesh is owned by the key of the peer that creates it; its owner (and admins) invite others',
    'with a signed token that expires (--ttl, default 7d) and may be used --uses times. `invite`',
    'prints the token, a link `<relay URL>/#join=<token>` when the relay setting is a URL, and, on',
    'a terminal, a QR code of the link. `join` takes the token or the link, in another home.',
    'MESH is a mesh id (`mesh list` shows them) or the mesh\'s name.',
    '',
    'Once this peer is in a mesh, it accepts tasks only from members of its meshes, unless the',
    '`policy` rules of config.json say otherwise (see README, "Private meshes"); a task from',
    'anyone else is rejected with the reason, and its sender\'s `wait` exits 1 with it.',
    '',
    '`members` asks the relay this peer holds a reservation on for the members of the mesh it knows',
    'now (connected or listed): each with its role, whether it holds a reservation and is listed,',
    'and until when its credential holds. Only the mesh\'s owner or an admin gets that list, and only',
    'from a private relay; otherwise this peer itself and the invites it issued are shown, and why',
    'there is no list is said on stderr.',
    '',
    '`revoke` signs a revocation, enforces it here at once, and hands it to the relay, which',
    'enforces it for everyone it serves; when the relay does not take it, that is said on stderr.'
  ].join('\n'),
  json: 'create, join, leave: { "meshId", "name", "role", "expiresAt", "relays" }; list: a list of those; invite: { "meshId", "inviteId", "role", "expiresAt", "maxUses"?, "token", "link"? }; members: { "mesh", "invites", "members", "note", "relayMembers"?: [{ "peerId", "role", "expiresAt", "reserved", "listed" }], "relayTotal"?, "relayError"? } (relayMembers when the relay listed them, relayError when it did not); revoke: { "meshId", "target", "relayAccepted", "relayError"? }',
  options: {
    role: { type: 'string', value: 'ROLE', help: 'invite: member (default) or admin' },
    ttl: { type: 'string', value: 'DURATION', help: 'invite: how long the invite lasts: 1h, 7d (default 7d)' },
    uses: { type: 'string', value: 'N', help: 'invite: how many peers may join with it (default: any number until it expires)' },
    member: { type: 'string', value: 'PEER-ID', help: 'revoke: the member to revoke' },
    invite: { type: 'string', value: 'ID', help: 'revoke: the invite to revoke' }
  },
  positionals: [1, 2],
  run: async (context) => {
    const [sub, arg] = context.positionals
    const needArg = (what: string): string => {
      if (arg == null || arg.trim() === '') throw new UsageError(`mesh ${sub ?? ''}: ${what} is missing`)
      return arg
    }
    switch (sub) {
      case 'create': {
        const created = await call(context, 'meshCreate', { name: needArg('NAME') })
        if (context.json) context.printJson(created)
        else context.print(`Created mesh "${created.name}": ${created.meshId}`)
        return ExitCode.Ok
      }
      case 'invite': {
        const role = stringFlag(context, 'role')
        if (role != null && role !== 'member' && role !== 'admin') throw new UsageError(`--role must be member or admin, got "${role}"`)
        const ttl = stringFlag(context, 'ttl')
        const invite = await call(context, 'meshInvite', {
          mesh: needArg('MESH'),
          ...(role != null ? { role } : {}),
          ...(ttl != null ? { ttlMs: parseDuration(ttl, 'ttl') } : {}),
          ...(stringFlag(context, 'uses') != null ? { maxUses: positiveInt(stringFlag(context, 'uses'), 'uses') } : {})
        })
        if (context.json) {
          context.printJson(invite)
          return ExitCode.Ok
        }
        context.print(`Invite ${invite.inviteId} to ${invite.meshId} as ${invite.role}, until ${timeText(invite.expiresAt)}${invite.maxUses != null ? `, for ${invite.maxUses} peer(s)` : ''}`)
        context.print(`Token: ${invite.token}`)
        if (invite.link != null) context.print(`Link:  ${invite.link}`)
        context.print(`Join with: starling join ${invite.link ?? invite.token}`)
        if (process.stdout.isTTY) {
          const { toString } = await import('qrcode')
          context.print(await toString(invite.link ?? invite.token, { type: 'terminal', small: true }))
        }
        return ExitCode.Ok
      }
      case 'join': return await joinMesh(context, needArg('TOKEN or LINK'))
      case 'list': {
        const meshes = await call(context, 'meshList')
        if (context.json) context.printJson(meshes)
        else if (meshes.length === 0) context.note('This peer is in no mesh: it accepts tasks from anyone (unless config.json\'s policy says otherwise).')
        else for (const m of meshes) context.print(`${m.meshId}  "${m.name}"  ${m.role}  until ${timeText(m.expiresAt)}`)
        return ExitCode.Ok
      }
      case 'members': {
        // the daemon adds the relay's list (or why there is none) to MeshMembersResult
        const result = await call(context, 'meshMembers', { mesh: needArg('MESH') })
        if (context.json) {
          context.printJson(result)
          return ExitCode.Ok
        }
        if (result.relayMembers != null) {
          const self = result.members[0]?.peerId
          context.print(`Members of ${result.mesh.meshId} known to the relay: ${result.relayTotal ?? result.relayMembers.length}`)
          for (const m of result.relayMembers) context.print(memberLine(m, m.peerId === self))
        } else {
          for (const m of result.members) context.print(`${m.peerId}  ${m.role} (this peer)`)
        }
        for (const i of result.invites) context.print(`invite ${i.inviteId}  ${i.role}  until ${timeText(i.expiresAt)}${i.maxUses != null ? `  ${i.maxUses} use(s)` : ''}`)
        if (result.relayError != null) context.note(`No list from the relay: ${result.relayError}`)
        context.note(result.note)
        return ExitCode.Ok
      }
      case 'revoke': {
        const member = stringFlag(context, 'member')
        const invite = stringFlag(context, 'invite')
        if ((member == null) === (invite == null)) throw new UsageError('mesh revoke: give --member PEER-ID or --invite ID')
        const result = await call(context, 'meshRevoke', { mesh: needArg('MESH'), ...(member != null ? { member } : { invite }) })
        if (context.json) context.printJson(result)
        else context.print(`Revoked ${member != null ? `member ${member}` : `invite ${invite ?? ''}`} in ${result.meshId}`)
        if (!result.relayAccepted) context.note(`Warning: ${result.relayError ?? 'the relay did not take the revocation'}`)
        return ExitCode.Ok
      }
      case 'leave': {
        const left = await call(context, 'meshLeave', { mesh: needArg('MESH') })
        if (context.json) context.printJson(left)
        else context.print(`Left mesh "${left.name}" (${left.meshId})`)
        return ExitCode.Ok
      }
      default:
        throw new UsageError(`mesh: unknown subcommand "${sub ?? ''}"; one of ${MESH_SUBCOMMANDS.join(', ')}`)
    }
  }
}

/** In the order the top-level help lists them. */
export const VERBS: readonly Verb[] = [init, serve, status, card, peers, discover, send, wait, inbox, show, respond, tasks, cancel, mesh, join, mcp, installService]
