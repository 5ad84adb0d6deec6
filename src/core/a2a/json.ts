/**
 * The A2A v1.0 data model in its JSON form, as it travels on the wire and as Starling stores
 * it. @a2a-js/sdk works with protobuf-shaped objects internally (`Task.fromJSON` /
 * `Task.toJSON` convert); UIs, stores and the CLI read these plain shapes.
 */

export const TaskStates = [
  'TASK_STATE_SUBMITTED',
  'TASK_STATE_WORKING',
  'TASK_STATE_INPUT_REQUIRED',
  'TASK_STATE_AUTH_REQUIRED',
  'TASK_STATE_COMPLETED',
  'TASK_STATE_FAILED',
  'TASK_STATE_CANCELED',
  'TASK_STATE_REJECTED'
] as const

export type TaskStateName = typeof TaskStates[number]

export type RoleName = 'ROLE_USER' | 'ROLE_AGENT'

export interface PartJson {
  text?: string
  /** Bytes, base64 encoded. */
  raw?: string
  url?: string
  data?: unknown
  mediaType?: string
  filename?: string
  metadata?: Record<string, unknown>
}

export interface MessageJson {
  messageId: string
  contextId?: string
  taskId?: string
  role: RoleName
  parts: PartJson[]
  metadata?: Record<string, unknown>
  extensions?: string[]
  referenceTaskIds?: string[]
}

export interface TaskStatusJson {
  state: TaskStateName
  message?: MessageJson
  timestamp?: string
}

export interface ArtifactJson {
  artifactId: string
  name?: string
  description?: string
  parts: PartJson[]
  metadata?: Record<string, unknown>
  extensions?: string[]
}

export interface TaskJson {
  id: string
  contextId: string
  status: TaskStatusJson
  artifacts?: ArtifactJson[]
  history?: MessageJson[]
  metadata?: Record<string, unknown>
}

export interface TaskStatusUpdateEventJson {
  taskId: string
  contextId: string
  status: TaskStatusJson
  metadata?: Record<string, unknown>
}

export interface TaskArtifactUpdateEventJson {
  taskId: string
  contextId: string
  artifact: ArtifactJson
  append?: boolean
  lastChunk?: boolean
  metadata?: Record<string, unknown>
}

/** One item of a streaming response: exactly one member is set. */
export interface StreamResponseJson {
  task?: TaskJson
  message?: MessageJson
  statusUpdate?: TaskStatusUpdateEventJson
  artifactUpdate?: TaskArtifactUpdateEventJson
}

export interface AgentSkillJson {
  id: string
  name: string
  description: string
  tags: string[]
  examples?: string[]
  inputModes?: string[]
  outputModes?: string[]
}

export interface AgentInterfaceJson {
  url: string
  protocolBinding: string
  protocolVersion: string
  tenant?: string
}

export interface AgentCardJson {
  name: string
  description: string
  supportedInterfaces: AgentInterfaceJson[]
  provider?: { organization: string, url: string }
  version: string
  documentationUrl?: string
  capabilities: {
    streaming?: boolean
    pushNotifications?: boolean
    extendedAgentCard?: boolean
    extensions?: unknown[]
  }
  defaultInputModes: string[]
  defaultOutputModes: string[]
  skills: AgentSkillJson[]
  iconUrl?: string
  [extra: string]: unknown
}

/** The text of a message or artifact: its text parts joined by newlines. */
export function textOf (parts: PartJson[] | undefined): string {
  return (parts ?? []).filter(p => typeof p.text === 'string').map(p => p.text).join('\n')
}
