/**
 * The screens other than the default one (Agents), loaded on demand so a first visit downloads
 * only what its first screen needs. They come in one small chunk (./secondary.ts); once the
 * peer runs, preloadScreens() fetches it in the background, so moving between sections never
 * waits for the network.
 */
import { lazy } from 'react'
import type * as Secondary from './secondary.js'

let loading: Promise<typeof Secondary> | undefined

async function load (): Promise<typeof Secondary> {
  loading ??= import('./secondary.js').catch((err: unknown) => {
    // a failed download is tried again the next time a screen needs it
    loading = undefined
    throw err
  })
  return await loading
}

export const SendTaskScreen = lazy(async () => ({ default: (await load()).SendTaskScreen }))
export const TasksScreen = lazy(async () => ({ default: (await load()).TasksScreen }))
export const TaskView = lazy(async () => ({ default: (await load()).TaskView }))
export const InboxScreen = lazy(async () => ({ default: (await load()).InboxScreen }))
export const ProfileScreen = lazy(async () => ({ default: (await load()).ProfileScreen }))
export const RelayScreen = lazy(async () => ({ default: (await load()).RelayScreen }))

/** Starts loading the lazy screens. */
export function preloadScreens (): void {
  load().catch(() => {})
}
