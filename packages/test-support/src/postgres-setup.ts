/**
 * The vitest `globalSetup` of the root vitest.config.ts: gives the run one folder where the
 * first test that needs PostgreSQL starts the run's cluster (postgres.ts), and stops that
 * cluster when the run ends. Starts nothing itself, so a run without PostgreSQL tests pays
 * nothing; does nothing when INDIEPM_TEST_DATABASE_URL names a server.
 */
import { chmod, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RUN_DIR_ENV, stopRunCluster } from "./postgres.js";

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.INDIEPM_TEST_DATABASE_URL) return undefined;
  const runDir = await mkdtemp(join(tmpdir(), "indiepm-pg-run-"));
  // The cluster's folder inside is the postgres user's: it must be able to reach it.
  await chmod(runDir, 0o755);
  process.env[RUN_DIR_ENV] = runDir;
  return async () => {
    delete process.env[RUN_DIR_ENV];
    await stopRunCluster(runDir);
  };
}
