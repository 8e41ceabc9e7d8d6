import { defineConfig } from 'vitest/config';

/** The outside-in test of the packed package (npm ci of aws-cdk-lib, tsc, a synth): heavy on the CPU. */
const PACKAGE_TEST = 'test/packageFromOutside.e2e.test.ts';

export default defineConfig({
  test: {
    // Integration and end-to-end tests start real servers on loopback; give them room on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    globalSetup: ['test/globalSetup.ts'],
    setupFiles: ['test/setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: ['**/node_modules/**', PACKAGE_TEST],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // After the rest, alone: its load would otherwise push the timing-sensitive fault suite's batches
        // past their function timeout on a 2-core machine.
        extends: true,
        test: { name: 'package', include: [PACKAGE_TEST], sequence: { groupOrder: 1 } },
      },
    ],
  },
});
