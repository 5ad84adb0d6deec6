import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'relay/**/*.test.ts'],
    // libp2p 3 needs Promise.withResolvers; the same polyfill every Node entry point loads.
    setupFiles: ['./bin/polyfill.mjs'],
    // Unit and integration tests run on the machine's own network, not in the private namespace
    // of the end-to-end tests: native peers (in-process, and the CLI processes they start, which
    // inherit this) send no mDNS onto the real LAN and gather no WebRTC candidates on its
    // interfaces. Tests that need either pass the SDK option; e2e/native-direct.spec.ts shows both.
    env: { STARLING_MDNS: 'off', STARLING_WEBRTC: 'off' },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real relay and peer processes; two cores, so keep it modest.
    maxWorkers: 2,
    // A failure must be visible, not hidden behind a retry.
    retry: 0
  }
})
