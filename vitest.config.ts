import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two at once on a 2-core machine (Vitest's default there is one): an integration file mostly waits
    // on its moto_server (one per worker, test/support/moto-global-setup.ts), so two files overlap
    // instead of leaving a core idle.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // The property tests run hundreds of cases each, beside an integration file's moto on a
          // 2-core machine: 5 s (Vitest's default) was seen to time out under that load.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/moto-global-setup.ts'],
          setupFiles: ['test/support/moto-per-worker.ts'],
          // What every SDK client of the run signs with and where it is, as `npm start` sets them: moto
          // accepts any keys, and no developer's real keys ever sign a request here.
          env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      // 1,000 destinations through the API (issue 11): minutes on moto, so only with `npm run test:scale`.
      ...(process.env.PUSHRAIL_SCALE_TEST === '1'
        ? [
            {
              test: {
                name: 'scale',
                include: ['test/scale/**/*.test.ts'],
                environment: 'node',
                globalSetup: ['test/support/moto-global-setup.ts'],
                setupFiles: ['test/support/moto-per-worker.ts'],
                env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' },
                testTimeout: 3_600_000,
                hookTimeout: 120_000,
              },
            },
          ]
        : []),
      {
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
