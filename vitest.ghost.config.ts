/**
 * `pnpm test:ghost`: the end-to-end test against a real Ghost 5.130.6, installed from npm
 * into ~/.cache/indiepm-ghost (minutes the first time: sqlite3 and re2 compile), kept
 * out of `pnpm test`.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["test/ghost/real-ghost.test.ts"],
    testTimeout: 5 * 60_000,
    // The first run installs Ghost in beforeAll.
    hookTimeout: 30 * 60_000,
    pool: "forks",
  },
});
