import { defineConfig } from '@playwright/test'

// End-to-end tests need the private network namespace that e2e/netns.sh creates: WebRTC ignores
// loopback and Chromium gathers ICE candidates only on the default-route interface, and the
// tests must never touch a real interface. Refuse to run outside it rather than fail obscurely.
if (process.env.STARLING_NETNS !== '1') {
  throw new Error(
    'The end-to-end tests must run inside the private network namespace created by e2e/netns.sh.\n' +
    '  Run them with:  npm run test:e2e  [-- <playwright args>]\n' +
    '  or directly:    sh e2e/netns.sh npx playwright test [<playwright args>]'
  )
}

const CI = !!process.env.CI

// Debian's Chromium (apt-get install -y chromium). `npx playwright install` cannot work on
// machines without internet access, so Playwright's own browser builds are never used.
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  outputDir: 'test-results',
  // Each test starts several browsers and Node processes; the machines have two cores.
  workers: 1,
  fullyParallel: false,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  // A failure must be visible, not hidden behind a retry.
  retries: 0,
  forbidOnly: CI,
  reporter: CI ? [['list']] : [['list'], ['html', { open: 'never' }]],
  use: {
    browserName: 'chromium',
    headless: true,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: chromiumPath,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // Host candidates must carry the namespace's real 10.77.0.x addresses, not mDNS names
        // that nothing in the namespace can resolve.
        '--disable-features=WebRtcHideLocalIpsWithMdns'
      ]
    }
  }
})
