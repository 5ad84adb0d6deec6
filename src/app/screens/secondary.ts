/** Every screen but the default one, as one lazily loaded chunk (see ./lazy.ts). */
export { InboxScreen } from './InboxScreen.js'
export { ProfileScreen } from './ProfileScreen.js'
export { RelayScreen } from './RelayScreen.js'
export { SendTaskScreen } from './SendTaskScreen.js'
export { TasksScreen } from './TasksScreen.js'
export { TaskView } from './TaskView.js'
