/**
 * The relay's operational log: JSON lines (pino) on stdout, one object per event, so a log
 * shipper can index them. The start banner is not a log line (relay/main.ts prints it for people).
 *
 * The level is the relay's `--log-level` option (STARLING_LOG_LEVEL, relay/config.ts).
 */
import { pino } from 'pino'
import type { DestinationStream, Logger } from 'pino'
import type { LogLevel as ConfigLogLevel } from './config.js'

export type RelayLogger = Logger

/** The levels the configuration takes (relay/config.ts), and `silent` for in-process relays. */
export type LogLevel = ConfigLogLevel | 'silent'

/** Level when the configuration does not say. */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info'

/** A JSON-lines logger; `destination` is for tests (default: stdout). */
export function createRelayLogger (level: LogLevel = DEFAULT_LOG_LEVEL, destination?: DestinationStream): RelayLogger {
  return pino({
    level,
    base: { service: 'starling-relay' },
    // ISO time reads better in a shipped log than epoch ms, and costs little at relay log rates
    timestamp: pino.stdTimeFunctions.isoTime
  }, destination)
}

/** A logger that writes nothing: what in-process relays (tests, the CLI's own relay) get by default. */
export function silentRelayLogger (): RelayLogger {
  return pino({ level: 'silent' })
}
