import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // A real Ghost takes minutes to install: `pnpm test:ghost` (vitest.ghost.config.ts) runs it.
    exclude: [...configDefaults.exclude, "test/ghost/real-ghost.test.ts"],
    // No retry, in CI or locally: a test that fails under load waits for the wrong thing
    // (a sleep, an event before the stored state); it is fixed, not tried again.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // PostgreSQL for the tests that need it, started on first use and stopped at the end (test-support/src/postgres.ts).
    globalSetup: ["packages/test-support/src/postgres-setup.ts"],
  },
});
