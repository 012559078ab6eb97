import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // A real Ghost takes minutes to install: `pnpm test:ghost` (vitest.ghost.config.ts) runs it.
    exclude: [...configDefaults.exclude, "test/ghost/real-ghost.test.ts"],
    // CI runs the whole suite on 2 cores at once: a timing-sensitive end-to-end test gets
    // one more try there (a real failure fails twice). Locally, none.
    retry: process.env.CI ? 1 : 0,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
