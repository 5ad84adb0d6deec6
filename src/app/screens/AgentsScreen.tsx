import { useId, useState, useSyncExternalStore } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import type { KnownAgent } from '../../core/store/types.js'
import { isAgentUrl } from '../../core/tasks/http-agents.js'
import { LinkBadge } from '../components/LinkBadge.js'
import { PeerName } from '../components/PeerName.js'
import { useAddHttpAgent, useDiscover, useKnownAgents, usePeerId, useRelayStatus, useSendToSkill } from '../node/hooks.js'
import { favourites } from '../data/favourites.js'
import { agentList, searchAgents, skillIds } from '../model/agents.js'
import type { AgentListItem } from '../model/agents.js'
import { formatTime, shortPeerId } from '../model/format.js'
import { href } from '../routes.js'

/**
 * The relay's registry (and agents seen before): who is out there, and how we reach them. Also
 * a task to any agent with a skill (the peer picks a live one, and another when one fails), and
 * plain HTTP A2A agents added by the URL of their card.
 */
export function AgentsScreen (): ReactNode {
  const self = usePeerId()
  const discover = useDiscover()
  const known = useKnownAgents()
  const reserved = useRelayStatus().data?.state === 'reserved'
  const agents = agentList(self, discover.data, known.data ?? [])
  const [skill, setSkill] = useState('')
  const [query, setQuery] = useState('')
  const pinned = useSyncExternalStore(favourites.subscribe, favourites.get)
  const shown = searchAgents(agents, query, pinned)
  const searchId = useId()

  return (
    <section aria-labelledby="agents-title">
      <div className="section-head">
        <h2 id="agents-title">Agents</h2>
        {/* one label whatever it does: a label that changes width every poll shifts the layout */}
        <button type="button" className="secondary" onClick={() => { void discover.refetch() }} disabled={!reserved || discover.isFetching} aria-busy={discover.isFetching}>
          Refresh
        </button>
      </div>
      {!reserved && <p className="muted">The registry is on the relay: agents show up once we are connected.</p>}
      {discover.error != null && <p role="alert" className="error">Could not ask the registry: {errorMessage(discover.error)}</p>}
      <SendBySkill skill={skill} onSkill={setSkill} skills={skillIds(agents)} />
      {agents.length > 0 && (
        <div className="search" role="search">
          <label htmlFor={searchId}>Search agents</label>
          <input id={searchId} type="search" value={query} onChange={(e) => { setQuery(e.target.value) }}
            placeholder="name, skill or tag" data-testid="agent-search" />
        </div>
      )}
      {agents.length === 0
        ? <p className="empty">No other agents yet. Open Starling in another browser (or start a native peer) and it shows up here.</p>
        : shown.length === 0
          ? <p className="empty" data-testid="agent-search-empty">No agent matches “{query}”.</p>
          : <ul className="cards">{shown.map(agent => <AgentCard key={agent.peerId} agent={agent} onSkill={setSkill} pinned={pinned.has(agent.peerId)} />)}</ul>}
      <AddHttpAgent />
    </section>
  )
}

function AgentCard ({ agent, onSkill, pinned }: { agent: AgentListItem, onSkill: (skill: string) => void, pinned: boolean }): ReactNode {
  const { card } = agent
  const http = isAgentUrl(agent.peerId)
  const presence = http ? 'HTTP agent' : agent.online === true ? 'online' : agent.online === false ? 'offline' : 'not in registry'
  return (
    <li className="card agent" data-testid="agent-card" data-peer-id={agent.peerId} aria-label={card.name}>
      <div className="card-head">
        <h3>{card.name}</h3>
        <span className="badges">
          <span className={`presence presence-${agent.online === true ? 'online' : 'offline'}`} data-testid="agent-presence">{presence}</span>
          <button type="button" className={`pin${pinned ? ' pinned' : ''}`} aria-pressed={pinned} data-testid="agent-pin"
            aria-label={`Favourite: ${card.name}`} title={pinned ? 'Pinned to the top: unpin' : 'Pin to the top'}
            onClick={() => { favourites.toggle(agent.peerId) }}>
            <span aria-hidden="true">{pinned ? '★' : '☆'}</span>
          </button>
        </span>
      </div>
      {card.description !== '' && <p>{card.description}</p>}
      {card.skills.length > 0 && (
        <ul className="skills" aria-label="Skills">
          {card.skills.map(skill => (
            <li key={skill.id} title={skill.description}>
              {http
                ? (skill.name !== '' ? skill.name : skill.id)
                : (
                  <button type="button" className="secondary small" onClick={() => { onSkill(skill.id) }} aria-label={`Send to any agent with the skill ${skill.id}`}>
                    {skill.name !== '' ? skill.name : skill.id}
                  </button>
                  )}
            </li>
          ))}
        </ul>
      )}
      <p className="meta">
        <code title={agent.peerId}>{shortPeerId(agent.peerId)}</code>
        {' · '}<LinkBadge peerId={agent.peerId} />
        {agent.online === undefined && !http && agent.seenAt != null && <> · last seen {formatTime(agent.seenAt)}</>}
      </p>
      <CardDetails card={card} />
      <a className="button" href={href({ name: 'send', peerId: agent.peerId })} aria-label={`Send a task to ${card.name}`}>Send a task</a>
    </li>
  )
}

/** The whole card, for reading before sending: each skill with its description, tags and examples, the interfaces. */
function CardDetails ({ card }: { card: AgentListItem['card'] }): ReactNode {
  return (
    <details className="card-details" data-testid="agent-card-details">
      <summary>Read the card</summary>
      {card.skills.length > 0 && (
        <dl className="facts">
          {card.skills.map(skill => (
            <div key={skill.id} className="skill-detail">
              <dt>{skill.name !== '' ? skill.name : skill.id}</dt>
              <dd>
                {skill.description !== '' ? skill.description : <span className="muted">no description</span>}
                {(skill.tags ?? []).length > 0 && <div className="muted">tags: {(skill.tags ?? []).join(', ')}</div>}
                {(skill.examples ?? []).length > 0 && <div className="muted">e.g. “{(skill.examples ?? [])[0]}”</div>}
              </dd>
            </div>
          ))}
        </dl>
      )}
      <dl className="facts">
        <dt>Version</dt><dd>{card.version}</dd>
        <dt>Takes</dt><dd>{card.defaultInputModes.join(', ')}</dd>
        <dt>Answers</dt><dd>{card.defaultOutputModes.join(', ')}</dd>
        <dt>Streaming</dt><dd>{card.capabilities.streaming === true ? 'yes' : 'no'}</dd>
        <dt>Reached at</dt><dd>{card.supportedInterfaces.map(i => <div key={`${i.protocolBinding} ${i.url}`}><code>{i.url}</code> <span className="muted">({i.protocolBinding})</span></div>)}</dd>
        {card.provider != null && (<><dt>Provider</dt><dd>{card.provider.organization}</dd></>)}
      </dl>
    </details>
  )
}

/**
 * A task to any live agent with a skill: the peer picks one (direct connections first) and tries
 * the next when one does not take it. What comes back says which agent took it.
 */
function SendBySkill ({ skill, onSkill, skills }: { skill: string, onSkill: (skill: string) => void, skills: string[] }): ReactNode {
  const send = useSendToSkill()
  const [text, setText] = useState('')
  const skillId = useId()
  const textId = useId()
  const listId = useId()
  const ready = skill.trim() !== '' && text.trim() !== ''

  const submit = (event: FormEvent): void => {
    event.preventDefault()
    if (!ready) return
    send.mutate({ skill: skill.trim(), text, files: [] }, { onSuccess: () => { setText('') } })
  }

  return (
    <form className="card composer" onSubmit={submit} aria-label="Send to any agent with a skill" data-testid="send-by-skill">
      <h3>Send to any agent with a skill</h3>
      <label htmlFor={skillId}>Skill</label>
      <input id={skillId} list={listId} value={skill} onChange={(e) => { onSkill(e.target.value) }} placeholder="e.g. translate" disabled={send.isPending} />
      <datalist id={listId}>{skills.map(s => <option key={s} value={s} />)}</datalist>
      <label htmlFor={textId}>Message</label>
      <textarea id={textId} value={text} onChange={(e) => { setText(e.target.value) }} rows={2} placeholder="What should the agent do?" disabled={send.isPending} />
      <div className="actions">
        <button type="submit" disabled={send.isPending || !ready}>{send.isPending ? 'Finding an agent…' : 'Send to any agent with this skill'}</button>
      </div>
      {send.error != null && <p role="alert" className="error">Not sent: {errorMessage(send.error)}</p>}
      {send.data != null && (
        <p role="status" data-testid="skill-taken-by" data-peer-id={send.data.peerId}>
          Taken by <PeerName peerId={send.data.peerId} />
          {' · '}<a href={href({ name: 'task', direction: 'outbound', id: send.data.id })}>Open the task</a>
        </p>
      )}
    </form>
  )
}

/**
 * A plain HTTP A2A agent, by the URL of its card: the card is fetched (the agent must allow this
 * page's origin: CORS) and shown, then tasks go to it like to any agent.
 */
function AddHttpAgent (): ReactNode {
  const add = useAddHttpAgent()
  const [url, setUrl] = useState('')
  const fieldId = useId()

  const submit = (event: FormEvent): void => {
    event.preventDefault()
    if (url.trim() === '') return
    add.mutate({ url: url.trim() })
  }

  return (
    <form className="card composer" onSubmit={submit} aria-label="Add an agent by card URL" data-testid="add-http-agent">
      <h3>Add an agent by card URL</h3>
      <p className="muted">A2A agents that are not on the mesh, over plain HTTP(S).</p>
      <label htmlFor={fieldId}>Agent card URL</label>
      <input id={fieldId} type="url" value={url} onChange={(e) => { setUrl(e.target.value) }}
        placeholder="https://agent.example/.well-known/agent-card.json" disabled={add.isPending} />
      <div className="actions">
        <button type="submit" disabled={add.isPending || url.trim() === ''}>{add.isPending ? 'Fetching the card…' : 'Fetch the card'}</button>
      </div>
      {add.error != null && <p role="alert" className="error">{errorMessage(add.error)}</p>}
      {add.data != null && <FetchedCard agent={add.data} />}
    </form>
  )
}

function FetchedCard ({ agent }: { agent: KnownAgent }): ReactNode {
  const { card } = agent
  return (
    <div data-testid="fetched-card" data-peer-id={agent.peerId}>
      <h4>{card.name}</h4>
      {card.description !== '' && <p>{card.description}</p>}
      {card.skills.length > 0 && (
        <ul className="skills" aria-label="Skills">
          {card.skills.map(skill => <li key={skill.id} title={skill.description}>{skill.name !== '' ? skill.name : skill.id}</li>)}
        </ul>
      )}
      <a className="button" href={href({ name: 'send', peerId: agent.peerId })} aria-label={`Send a task to ${card.name}`}>Send a task</a>
    </div>
  )
}
