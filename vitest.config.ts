import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__test__/**/*.spec.ts'],
    // Native addons are safest in forked workers (threads can crash on exit).
    pool: 'forks',
    testTimeout: 120_000,
    // A focused or skipped test fails the run (no-skips.ts): CI must run them all.
    allowOnly: false,
    reporters: ['default', './__test__/no-skips.ts'],
  },
})
