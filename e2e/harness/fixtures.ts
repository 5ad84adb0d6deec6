// Playwright's `test` with the harness's clean-up: import { test, expect } from './harness/fixtures.js'
// (instead of from '@playwright/test') and every test, pass or fail:
//   1. gets the output of the processes it started attached to its report when it failed;
//   2. has the browser contexts opened with openPage(s) closed;
//   3. has the processes of the default registry stopped (SIGTERM, SIGKILL after 5 s);
//   4. has the directories made with tempDir() removed.
// At the end of the worker, everything still left is stopped and removed the same way; if the
// worker dies, its exit hook kills what is left (see processes.ts and tmp.ts).

import { test as base, expect } from '@playwright/test'
import type { TestInfo } from '@playwright/test'
import { closeContexts } from './browser.js'
import { testProcesses } from './processes.js'
import type { ProcessRegistry } from './processes.js'
import { removeTempDirs } from './tmp.js'

async function attachOutputs (registry: ProcessRegistry, testInfo: TestInfo): Promise<void> {
  const used = new Map<string, number>()
  for (const proc of registry.processes) {
    const n = (used.get(proc.name) ?? 0) + 1
    used.set(proc.name, n)
    const name = n === 1 ? proc.name : `${proc.name} #${n}`
    await testInfo.attach(`process ${name}`, { body: proc.describe(), contentType: 'text/plain' })
  }
}

export const test = base.extend<{ _harnessTestCleanup: void }, { _harnessWorkerCleanup: void }>({
  _harnessTestCleanup: [
    // eslint-disable-next-line no-empty-pattern -- Playwright requires an object pattern here
    async ({}, use, testInfo) => {
      await use()
      await closeContexts()
      await testProcesses.stopAll()
      if (testInfo.status !== testInfo.expectedStatus) await attachOutputs(testProcesses, testInfo)
      testProcesses.clear()
      await removeTempDirs()
    },
    { auto: true }
  ],
  _harnessWorkerCleanup: [
    // eslint-disable-next-line no-empty-pattern -- Playwright requires an object pattern here
    async ({}, use) => {
      await use()
      await closeContexts()
      await testProcesses.stopAll()
      await removeTempDirs()
    },
    { auto: true, scope: 'worker' }
  ]
})

export { expect }
