import type { ReactNode } from 'react'
import { useInbox, useRequests } from '../node/hooks.js'
import { useAttentionCounts } from '../pwa/AttentionProvider.js'
import { href, useRoute } from '../routes.js'
import type { Route } from '../routes.js'

const SECTIONS: Array<{ route: Route, label: string, matches: Array<Route['name']> }> = [
  { route: { name: 'agents' }, label: 'Agents', matches: ['agents', 'send'] },
  { route: { name: 'tasks' }, label: 'Tasks', matches: ['tasks', 'task'] },
  { route: { name: 'inbox' }, label: 'Inbox', matches: ['inbox'] },
  { route: { name: 'profile' }, label: 'Profile', matches: ['profile'] },
  { route: { name: 'relay' }, label: 'Relay', matches: ['relay'] }
]

export function Nav (): ReactNode {
  const route = useRoute()
  // what waits for the person there: tasks to answer and senders to accept or block
  const waiting = (useInbox().data?.length ?? 0) + (useRequests().data?.length ?? 0)
  const { unseenAnswers } = useAttentionCounts()
  return (
    <nav className="nav" aria-label="Sections">
      {SECTIONS.map(section => (
        <a key={section.label} href={href(section.route)} aria-current={section.matches.includes(route.name) ? 'page' : undefined}>
          {section.label}
          {section.route.name === 'inbox' && waiting > 0 && (
            <span className="count" data-testid="inbox-count" aria-label={`${waiting} waiting`}>{waiting}</span>
          )}
          {section.route.name === 'tasks' && unseenAnswers > 0 && (
            <span className="count" data-testid="tasks-count" aria-label={`${unseenAnswers} new ${unseenAnswers === 1 ? 'answer' : 'answers'}`}>{unseenAnswers}</span>
          )}
        </a>
      ))}
    </nav>
  )
}
