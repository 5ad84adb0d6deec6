/**
 * `npm run relay` / the relay process: reads the configuration, starts the relay, prints where
 * to find it, and shuts down cleanly on SIGINT or SIGTERM.
 */
import { ConfigError, loadConfig, usage } from './config.js'
import { startRelay } from './relay.js'

async function main (): Promise<void> {
  let config
  try {
    config = loadConfig(process.argv.slice(2), process.env)
  } catch (err) {
    console.error(`starling-relay: ${(err as Error).message}`)
    if (!(err instanceof ConfigError)) console.error(usage())
    process.exit(2)
  }
  if (config === 'help') {
    console.log(usage())
    return
  }
  const relay = await startRelay(config)
  console.log('Starling relay')
  console.log(`  Open ${relay.url} in a browser`)
  console.log(`  PeerID ${relay.peerId}`)
  console.log('  Multiaddrs:')
  for (const addr of relay.multiaddrs()) console.log(`    ${addr}`)
  console.log(`  Limits: ${config.maxReservations} reservations, ${config.relayDataLimit} bytes and ${config.relayDurationLimit} s per relayed connection`)

  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    console.log(`Received ${signal}, stopping the relay`)
    relay.stop().then(() => process.exit(0), (err: unknown) => {
      console.error('error while stopping:', err)
      process.exit(1)
    })
  }
  process.on('SIGINT', () => { shutdown('SIGINT') })
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
}

main().catch((err: unknown) => {
  console.error('starling-relay failed to start:', err instanceof Error ? err.message : err)
  process.exit(1)
})
