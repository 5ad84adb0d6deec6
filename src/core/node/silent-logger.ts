import type { ComponentLogger, Logger } from '@libp2p/interface'

/**
 * A logger that discards everything, for when DEBUG is unset (libp2p's logger then prints
 * nothing either). libp2p makes loggers for every connection and every stream, each a handful
 * of closures and a terminal check, whether or not anything is enabled.
 */
export function silentLogger (): ComponentLogger {
  const log: Logger = Object.assign(() => {}, {
    error: () => {},
    trace: () => {},
    enabled: false,
    newScope: () => log
  })
  return { forComponent: () => log }
}

