/**
 * What needs the person: inbound tasks waiting for their answer, requests from unknown senders
 * waiting for them to accept or block the sender, and answers to their own tasks
 * they have not looked at yet. The count goes into the page's title and the installed app's
 * badge; while the app is in the background, each new task and each answer is also a system
 * notification (when the person allowed them). Knows nothing of React: ./AttentionProvider
 * tells it what is on screen.
 */
import type { StarlingPeer } from '../../core/peer.js'
import type { TaskStateName } from '../../core/a2a/json.js'
import type { TaskRecord } from '../../core/store/types.js'
import type { InboundTask } from '../../core/tasks/executor.js'
import { answerText } from '../model/tasks.js'
import { href } from '../routes.js'

/** The page's title when nothing waits. */
export const BASE_TITLE = 'Starling'

/** Answers to our tasks kept as unseen, at most (the oldest are forgotten first). */
export const MAX_UNSEEN = 200

/** Where the unseen answers are kept across reloads. */
export const UNSEEN_STORAGE_KEY = 'starling:unseen-answers'

/** States of an outbound task that the person should hear about. */
const NEWS_STATES: readonly TaskStateName[] = ['TASK_STATE_COMPLETED', 'TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_FAILED', 'TASK_STATE_REJECTED']

export interface AttentionNotice {
  title: string
  body: string
  /** One notification per task: a newer one replaces the older. */
  tag: string
  /** Where a click on it leads, a hash route. */
  url: string
}

export interface AttentionInit {
  peer: StarlingPeer
  /** Names a peer for people (the agent's card name when known). */
  nameOf: (peerId: string) => string
  /** Shows a system notification; the platform's way (./notify.ts). */
  notify: (notice: AttentionNotice) => Promise<void>
  /** Whether the page is in front of the person now. */
  visible: () => boolean
  /** Whether notifications may be shown (the person allowed them). */
  allowed: () => boolean
  /** Where the unseen set is kept (localStorage in the app). */
  storage?: Pick<Storage, 'getItem' | 'setItem'>
  /** Writes the count out: title and badge (./notify.ts). */
  show: (count: number) => void
}

export class Attention {
  private readonly init: AttentionInit
  private readonly states = new Map<string, TaskStateName>()
  private readonly unseen: Set<string>
  private waiting = 0
  /** The outbound task on screen, if any: its news is seen as it arrives. */
  private viewing?: string
  private running = false

  constructor (init: AttentionInit) {
    this.init = init
    this.unseen = new Set(this.load())
  }

  /** Listens to the peer; call stop() to let go. */
  async start (): Promise<void> {
    this.running = true
    this.init.peer.addEventListener('task', this.onTask)
    this.init.peer.addEventListener('inbound', this.onInbound)
    this.init.peer.addEventListener('request', this.onRequest)
    for (const record of await this.init.peer.tasks({ direction: 'outbound' })) this.states.set(record.id, record.state)
    await this.refresh()
  }

  stop (): void {
    this.running = false
    this.init.peer.removeEventListener('task', this.onTask)
    this.init.peer.removeEventListener('inbound', this.onInbound)
    this.init.peer.removeEventListener('request', this.onRequest)
  }

  /** The count of things that wait for the person. */
  get count (): number {
    return this.waiting + this.unseen.size
  }

  /** Answers to our tasks not looked at yet. */
  get unseenAnswers (): number {
    return this.unseen.size
  }

  /** The person is looking at this outbound task (or at none): its answers are seen. */
  setViewing (taskId: string | undefined): void {
    this.viewing = taskId
    if (taskId != null && this.init.visible() && this.unseen.delete(taskId)) this.changed()
  }

  /** The page came to the front: what is on screen is seen. */
  onVisible (): void {
    this.setViewing(this.viewing)
  }

  private readonly onTask = (evt: CustomEvent<TaskRecord>): void => {
    const record = evt.detail
    if (record.direction === 'inbound') {
      // an answer sent or a task declined leaves the inbox
      void this.refresh()
      return
    }
    const before = this.states.get(record.id)
    this.states.set(record.id, record.state)
    if (before === record.state || !NEWS_STATES.includes(record.state)) return
    const seenNow = this.viewing === record.id && this.init.visible()
    if (!seenNow) {
      this.unseen.add(record.id)
      this.trim()
      this.changed()
    }
    if (!this.init.visible()) void this.tell(answerNotice(record, this.init.nameOf(record.peerId)))
  }

  private readonly onInbound = (evt: CustomEvent<InboundTask>): void => {
    const { taskId, from, text } = evt.detail
    void this.refresh()
    if (this.init.visible()) return
    void this.tell({
      title: `New task from ${this.init.nameOf(from)}`,
      body: text,
      tag: `inbound:${taskId}`,
      url: href({ name: 'task', direction: 'inbound', id: taskId })
    })
  }

  private readonly onRequest = (evt: CustomEvent<InboundTask>): void => {
    const { from, text } = evt.detail
    void this.refresh()
    if (this.init.visible()) return
    void this.tell({
      title: `${this.init.nameOf(from)} asks to send you tasks`,
      body: text,
      tag: `request:${from}`,
      url: href({ name: 'inbox' })
    })
  }

  private async tell (notice: AttentionNotice): Promise<void> {
    if (!this.init.allowed()) return
    try {
      await this.init.notify(notice)
    } catch (err) {
      console.warn('starling: a notification could not be shown', err)
    }
  }

  private async refresh (): Promise<void> {
    const [inbox, requests] = await Promise.all([this.init.peer.inbox(), this.init.peer.requests()])
    const waiting = inbox.length + requests.length
    if (!this.running) return
    this.waiting = waiting
    this.changed()
  }

  private changed (): void {
    this.save()
    this.init.show(this.count)
  }

  private trim (): void {
    for (const id of this.unseen) {
      if (this.unseen.size <= MAX_UNSEEN) break
      this.unseen.delete(id)
    }
  }

  private load (): string[] {
    try {
      const value: unknown = JSON.parse(this.init.storage?.getItem(UNSEEN_STORAGE_KEY) ?? '[]')
      return Array.isArray(value) ? value.filter((id): id is string => typeof id === 'string').slice(-MAX_UNSEEN) : []
    } catch {
      return []
    }
  }

  private save (): void {
    try {
      this.init.storage?.setItem(UNSEEN_STORAGE_KEY, JSON.stringify([...this.unseen]))
    } catch {
      // storage full or refused: the count still shows for this session
    }
  }
}

/** The title with the count in front, as mail and chat apps do: "(3) Starling". */
export function titleWithCount (count: number): string {
  return count > 0 ? `(${count}) ${BASE_TITLE}` : BASE_TITLE
}

function answerNotice (record: TaskRecord, name: string): AttentionNotice {
  const url = href({ name: 'task', direction: 'outbound', id: record.id })
  const tag = `outbound:${record.id}`
  switch (record.state) {
    case 'TASK_STATE_INPUT_REQUIRED': return { title: `${name} asks for your input`, body: answerText(record), tag, url }
    case 'TASK_STATE_FAILED': return { title: `${name}: the task failed`, body: record.localError ?? answerText(record), tag, url }
    case 'TASK_STATE_REJECTED': return { title: `${name} declined the task`, body: answerText(record), tag, url }
    default: return { title: `${name} answered`, body: answerText(record), tag, url }
  }
}
