import type { ReactNode } from 'react'
import { errorMessage } from '../../core/errors.js'
import { LinkBadge } from '../components/LinkBadge.js'
import { useDiscover, useKnownAgents, usePeerId, useRelayStatus } from '../node/hooks.js'
import { agentList } from '../model/agents.js'
import type { AgentListItem } from '../model/agents.js'
import { formatTime, shortPeerId } from '../model/format.js'
import { href } from '../routes.js'

/** The relay's registry (and agents seen before): who is out there, and how we reach them. */
export function AgentsScreen (): ReactNode {
  const self = usePeerId()
  const discover = useDiscover()
  const known = useKnownAgents()
  const reserved = useRelayStatus().data?.state === 'reserved'
  const agents = agentList(self, discover.data, known.data ?? [])

  return (
    <section aria-labelledby="agents-title">
      <div className="section-head">
        <h2 id="agents-title">Agents</h2>
        <button type="button" className="secondary" onClick={() => { void discover.refetch() }} disabled={!reserved || discover.isFetching}>
          {discover.isFetching ? 'Refreshing…' : 'Refresh'}
        </button>
      </div>
      {!reserved && <p className="muted">The registry is on the relay: agents show up once we are connected.</p>}
      {discover.error != null && <p role="alert" className="error">Could not ask the registry: {errorMessage(discover.error)}</p>}
      {agents.length === 0
        ? <p className="empty">No other agents yet. Open Starling in another browser (or start a native peer) and it shows up here.</p>
        : <ul className="cards">{agents.map(agent => <AgentCard key={agent.peerId} agent={agent} />)}</ul>}
    </section>
  )
}

function AgentCard ({ agent }: { agent: AgentListItem }): ReactNode {
  const { card } = agent
  const presence = agent.online === true ? 'online' : agent.online === false ? 'offline' : 'not in registry'
  return (
    <li className="card agent" data-testid="agent-card" data-peer-id={agent.peerId} aria-label={card.name}>
      <div className="card-head">
        <h3>{card.name}</h3>
        <span className={`presence presence-${agent.online === true ? 'online' : 'offline'}`} data-testid="agent-presence">{presence}</span>
      </div>
      {card.description !== '' && <p>{card.description}</p>}
      {card.skills.length > 0 && (
        <ul className="skills" aria-label="Skills">
          {card.skills.map(skill => <li key={skill.id} title={skill.description}>{skill.name !== '' ? skill.name : skill.id}</li>)}
        </ul>
      )}
      <p className="meta">
        <code title={agent.peerId}>{shortPeerId(agent.peerId)}</code>
        {' · '}<LinkBadge peerId={agent.peerId} />
        {agent.online === undefined && agent.seenAt != null && <> · last seen {formatTime(agent.seenAt)}</>}
      </p>
      <a className="button" href={href({ name: 'send', peerId: agent.peerId })} aria-label={`Send a task to ${card.name}`}>Send a task</a>
    </li>
  )
}
