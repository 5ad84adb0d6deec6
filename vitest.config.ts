import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'relay/**/*.test.ts'],
    // libp2p 3 needs Promise.withResolvers; the same polyfill every Node entry point loads.
    setupFiles: ['./bin/polyfill.mjs'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real relay and peer processes; two cores, so keep it modest.
    maxWorkers: 2,
    // A failure must be visible, not hidden behind a retry.
    retry: 0
  }
})
