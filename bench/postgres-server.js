/**
 * The PostgreSQL server of the `postgres-*` benchmarks (issue 11): env
 * INDIEPM_BENCH_DATABASE_URL (a server with rights to create databases, e.g. one kept
 * between runs so the seeded inboxes of bench/postgres-inbox.js are reused), else a
 * cluster of the bench's own started from the installed binaries by
 * `@indiepm/test-support`'s `startPostgresServer()` (fsync off, loopback only, removed
 * afterwards). Never the tests' server (INDIEPM_TEST_DATABASE_URL): a bench drops and
 * creates databases, and its load would slow the tests down.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..");
export const storePostgresModule = join(root, "packages", "store-postgres", "dist", "index.js");
export const coreModule = join(root, "packages", "core", "dist", "index.js");
const testSupportModule = join(root, "packages", "test-support", "dist", "postgres.js");

/** node-postgres, as the store resolves it (the same version and pool). */
export const pg = createRequire(join(root, "packages", "store-postgres", "package.json"))("pg");

export function checkPostgresBuilt() {
  for (const file of [coreModule, storePostgresModule, testSupportModule]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`pnpm build\` first.`);
  }
}

/** `{url, own, close()}`: `url` may create and drop databases. */
export async function benchServer() {
  checkPostgresBuilt();
  const url = process.env.INDIEPM_BENCH_DATABASE_URL;
  if (url) return { url, own: false, close: async () => {} };
  const { startPostgresServer } = await import(pathToFileURL(testSupportModule).href);
  const server = await startPostgresServer();
  return { url: server.url, own: true, close: () => server.close() };
}

/** `url` with its database replaced by `name`. */
export function databaseUrl(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.href;
}

/** Drops (when asked) and creates database `name` on the server of `url`; resolves its URL. */
export async function createDatabase(url, name, { drop = true } = {}) {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    if (drop) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return databaseUrl(url, name);
}

/** Whether database `name` exists. */
export async function databaseExists(url, name) {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    return (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1;
  } finally {
    await admin.end();
  }
}

/** The 1-, 5- and 15-minute load averages, for the write-up (the machine is shared). */
export async function loadAverage() {
  const { loadavg } = await import("node:os");
  return loadavg().map((x) => Number(x.toFixed(2)));
}

export const median = (xs) => {
  if (xs.some((x) => typeof x !== "number")) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
