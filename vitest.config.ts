import { defineConfig } from 'vitest/config';

/**
 * Tests that load both cores for a minute (a real rsyslogd and logforward pushing hundreds of
 * thousands of lines): they run after all others, one at a time, so that they do not starve the
 * tests that measure time-dependent things (background compression, latencies).
 */
const HEAVY = ['test/integration/forward-resume.test.ts', 'test/integration/forward-stall.test.ts'];

export default defineConfig({
  test: {
    // Native addons and real child processes: separate processes, not worker threads.
    pool: 'forks',
    // A loaded 2-core CI machine: generous timeouts, tests never assert on speed.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'tests', include: ['test/**/*.test.ts'], exclude: HEAVY } },
      { extends: true, test: { name: 'heavy', include: HEAVY, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
