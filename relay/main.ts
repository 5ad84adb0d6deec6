/**
 * `npm run relay` / the relay process: reads the configuration, starts the relay, prints where
 * to find it, and shuts down gracefully on SIGINT or SIGTERM (a second signal exits at once).
 *
 * Two kinds of output on stdout: the start banner, for a person at a terminal (and the e2e
 * harness, which waits for its "Open http://..." line), and the operational log, JSON lines.
 */
import { ConfigError, isLoopback, loadConfig, OPTIONS, usage } from './config.js'
import { createRelayLogger } from './logger.js'
import { startRelay } from './relay.js'

/** Exit codes for a relay stopped by a second signal: 128 + the signal's number, as shells do. */
const SIGNAL_EXIT_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }

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
  const log = createRelayLogger(config.logLevel)
  if (config.configFile != null) log.info({ event: 'relay.config', file: config.configFile }, `configuration read from ${config.configFile}`)
  const relay = await startRelay(config, { log })
  console.log('Starling relay')
  // before "Open": bin/start.mjs reads the mode from these lines before it starts the demo agent
  if (relay.ownMesh != null) {
    const { meshId, invite } = relay.ownMesh
    console.log(`  Mode private: only members of the relay's own mesh ${meshId} may use it`)
    console.log(`  Operator join link (admin, ${invite.maxUses} use${invite.maxUses === 1 ? '' : 's'}, until ${new Date(invite.expiresAt).toISOString()}; kept in ${invite.file}):`)
    console.log(`    ${invite.link}`)
    console.log('  Open it in your browser to become the mesh\'s admin, then invite others from the Profile screen')
    // browsers give a plain-http page on another address than loopback no secure context, which
    // the PWA needs (WebCrypto's randomUUID, service workers): the link must be https there
    if (/^http:\/\//.test(invite.link) && !isLoopback(new URL(invite.link).hostname)) {
      console.log(`  Note: browsers treat http:// on ${new URL(invite.link).host} as insecure and the app needs https: put a TLS proxy in front and set --${OPTIONS.publicUrl.flag} https://… (docs/deploy.md)`)
    }
  } else if (config.mode === 'private') {
    console.log(`  Mode private: only members of ${config.meshes.join(', ')} may use it`)
  } else {
    console.log('  Mode open: anyone may reserve, publish and discover')
  }
  console.log(`  Open ${relay.url} in a browser`)
  console.log(`  PeerID ${relay.peerId}`)
  console.log('  Multiaddrs:')
  for (const addr of relay.multiaddrs()) console.log(`    ${addr}`)
  console.log(`  Limits: ${config.maxReservations} reservations, ${config.relayDataLimit} bytes and ${config.relayDurationLimit} s per relayed connection`)
  console.log(`  Metrics at ${relay.url}/metrics, health at ${relay.url}/health`)
  log.info({ event: 'relay.started', url: relay.url, peerId: relay.peerId, multiaddrs: relay.multiaddrs() }, 'relay started')

  let stopping = false
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // the operator asked twice: do not wait for anything
      log.warn({ event: 'relay.forced_exit', signal }, 'second signal, exiting now')
      log.flush()
      process.exit(SIGNAL_EXIT_CODES[signal] ?? 1)
    }
    stopping = true
    log.info({ event: 'relay.signal', signal }, `received ${signal}, stopping`)
    relay.stop().then(() => {
      log.flush()
      process.exit(0)
    }, (err: unknown) => {
      log.error({ event: 'relay.stop_failed', err }, 'error while stopping')
      log.flush()
      process.exit(1)
    })
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
}

main().catch((err: unknown) => {
  console.error('starling-relay failed to start:', err instanceof Error ? err.message : err)
  process.exit(1)
})
