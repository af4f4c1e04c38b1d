import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons and real child processes: separate processes, not worker threads.
    pool: 'forks',
    // A loaded 2-core CI machine: generous timeouts, tests never assert on speed.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
