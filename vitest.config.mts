import { defineConfig } from 'vitest/config';

// Two projects: unit tests need nothing but Node; integration tests mount a real
// FUSE filesystem (the daemon runs as a child process) and start real targets.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          pool: 'forks',
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
});
