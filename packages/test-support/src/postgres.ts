/**
 * PostgreSQL for tests (issue 11). The whole API:
 *
 * - `postgresForTests()` → `{ url, skipReason }`: the server every test file of this run
 *   shares. `url` is env `INDIEPM_TEST_DATABASE_URL` when set; otherwise a private cluster
 *   started from the installed binaries (`/usr/lib/postgresql/<newest>/bin`, or env
 *   `INDIEPM_TEST_PG_BIN`) as the `postgres` user (PostgreSQL refuses root), in a temporary
 *   folder, on 127.0.0.1 and a free port: once per vitest run when the root
 *   vitest.config.ts's `globalSetup` (postgres-setup.ts) runs, which stops it at the end;
 *   once per test process otherwise. Where neither is possible, `url` is undefined and
 *   `skipReason` says what is missing — except with env `CI` set, where it throws instead.
 *   Use: `const pg = await postgresForTests(); describe.skipIf(pg.skipReason)(…)`.
 * - `freshDatabase()` → `{ url, name, drop() }`: a new, empty database on that server for
 *   one test file or test; `drop()` removes it (closing whatever is still connected).
 * - `startPostgresServer()` → `{ url, stop(), start(), restart(), close() }`: a cluster of
 *   the test's own, for tests that stop or restart PostgreSQL (the shared one must stay
 *   up for the other files running at the same time). It needs the binaries even when
 *   `INDIEPM_TEST_DATABASE_URL` is set; `postgresServerSkipReason()` says when they are
 *   missing (and throws in CI, like `postgresForTests`).
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { closedPort } from "./loopback.js";

const run = promisify(execFile);

export interface PostgresForTests {
  /** A connection URL with rights to create databases; undefined when no server can be had. */
  url: string | undefined;
  /** Why there is no server (a sentence naming what is missing); undefined when there is one. */
  skipReason: string | undefined;
}

export interface FreshDatabase {
  /** The connection URL of the new database. */
  url: string;
  name: string;
  /** Drops the database, ending its connections first. Idempotent. */
  drop(): Promise<void>;
}

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication, loopback only). */
  url: string;
  port: number;
  /** Stops the server (fast shutdown: connections are cut). */
  stop(): Promise<void>;
  /** Starts it again on the same port, with the same data. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** Stops it and removes its folder. Idempotent. */
  close(): Promise<void>;
}

/** Env set by postgres-setup.ts (the vitest globalSetup): the folder where the run's one cluster is started on first use. */
export const RUN_DIR_ENV = "INDIEPM_TEST_PG_RUN";

let shared: Promise<PostgresForTests> | undefined;

/** The server this test process uses (see the top of this file). */
export function postgresForTests(): Promise<PostgresForTests> {
  shared ??= findServer().then((found) => {
    if (found.skipReason !== undefined) {
      if (process.env.CI) throw new Error(`PostgreSQL tests cannot run in CI: ${found.skipReason}`);
      console.warn(`PostgreSQL tests skipped: ${found.skipReason}`);
    }
    return found;
  });
  return shared;
}

async function findServer(): Promise<PostgresForTests> {
  const fromEnv = process.env.INDIEPM_TEST_DATABASE_URL;
  if (fromEnv) return { url: fromEnv, skipReason: undefined };
  const missing = binariesMissing();
  if (missing !== undefined) return { url: undefined, skipReason: `set INDIEPM_TEST_DATABASE_URL, or install PostgreSQL (${missing})` };
  const runDir = process.env[RUN_DIR_ENV];
  if (runDir) return { url: await runClusterUrl(runDir), skipReason: undefined };
  // No globalSetup (another vitest config): a cluster for this process, stopped when it exits.
  const server = await startPostgresServer();
  return { url: server.url, skipReason: undefined };
}

/** The run's one cluster, started by the first process that asks (a folder lock orders them). */
async function runClusterUrl(runDir: string): Promise<string> {
  const info = join(runDir, "cluster.json");
  return withFolderLock(join(runDir, "lock"), async () => {
    if (existsSync(info)) return (JSON.parse(await readFile(info, "utf8")) as { url: string }).url;
    const server = await startCluster(join(runDir, "cluster"));
    // The run's vitest process (this worker's parent) stops it at the end; should it be killed first, the watchdog does.
    server.watch(process.ppid, runDir);
    await writeFile(info, JSON.stringify({ url: server.url, dir: server.dir }));
    return server.url;
  });
}

/** Runs `task` holding `lock` (a folder: mkdir is atomic) against the other test processes of the run. */
async function withFolderLock<T>(lock: string, task: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (Date.now() > deadline) throw new Error(`Waited 120 s for the lock ${lock} of the test PostgreSQL clusters.`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await task();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

const INITDB_ARGS = ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"];

/**
 * A new data folder at `data`: within a vitest run, a copy of one initdb'd once for the
 * run (a copy takes a fraction of initdb's time, which matters on a loaded machine);
 * otherwise initdb itself.
 */
async function initData(data: string): Promise<void> {
  const runDir = process.env[RUN_DIR_ENV];
  if (!runDir || !existsSync(runDir)) {
    await run(...pgCommand("initdb", ["-D", data, ...INITDB_ARGS]));
    return;
  }
  const template = join(runDir, "template");
  await withFolderLock(join(runDir, "template-lock"), async () => {
    if (existsSync(join(template, "data", "PG_VERSION"))) return;
    await mkdir(template, { recursive: true });
    await ownByPostgres(template);
    await run(...pgCommand("initdb", ["-D", join(template, "data"), ...INITDB_ARGS]));
  });
  // -a keeps the postgres user's ownership and the 0700 the server insists on.
  await run("cp", ["-a", join(template, "data"), data]);
}

async function ownByPostgres(dir: string): Promise<void> {
  if (!isRoot()) return;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  await chown(dir, uid, gid);
}

/** A new empty database on the shared server. Throws when there is none (check `skipReason` first). */
export async function freshDatabase(): Promise<FreshDatabase> {
  const { url, skipReason } = await postgresForTests();
  if (url === undefined) throw new Error(`No PostgreSQL server for tests: ${skipReason}`);
  const name = `indiepm_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  await admin(url, `CREATE DATABASE ${name}`);
  const dbUrl = new URL(url);
  dbUrl.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: dbUrl.toString(),
    name,
    drop: () => {
      dropped ??= admin(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      return dropped;
    },
  };
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Why `startPostgresServer` cannot run here, or undefined when it can (throws in CI, like `postgresForTests`). */
export function postgresServerSkipReason(): string | undefined {
  const missing = binariesMissing();
  if (missing === undefined) return undefined;
  const reason = `install PostgreSQL to run this test (${missing})`;
  if (process.env.CI) throw new Error(`PostgreSQL tests cannot run in CI: ${reason}`);
  console.warn(`PostgreSQL test skipped: ${reason}`);
  return reason;
}

/** A cluster of the caller's own, in a fresh temporary folder (see the top of this file). */
export async function startPostgresServer(): Promise<PostgresServer & { stopNow(): void }> {
  const dir = await mkdtemp(join(tmpdir(), "indiepm-pg-"));
  const cluster = await startCluster(dir);
  let closed: Promise<void> | undefined;
  // A test process that ends without close() (a failed hook, a crash, a signal) still stops its server.
  const onExit = () => cluster.stopNow();
  process.once("exit", onExit);
  cluster.watch(process.pid, dir);
  return {
    url: cluster.url,
    port: cluster.port,
    stop: () => cluster.stop(),
    start: () => cluster.start(),
    restart: async () => {
      await cluster.stop();
      await cluster.start();
    },
    close: () => {
      process.off("exit", onExit);
      closed ??= cluster.stop("immediate").then(() => rm(dir, { recursive: true, force: true }));
      return closed;
    },
    stopNow: () => cluster.stopNow(),
  };
}

// ---------------------------------------------------------------------------------------
// The cluster itself: initdb, pg_ctl start/stop, as the postgres user when we are root.

interface Cluster {
  url: string;
  port: number;
  dir: string;
  stop(mode?: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  /** Synchronous immediate stop, for process exit. */
  stopNow(): void;
  /** Stops the server and removes `remove` once process `pid` has ended. */
  watch(pid: number, remove: string): void;
}

/** The newest installed PostgreSQL's bin folder, or env INDIEPM_TEST_PG_BIN. */
function binDir(): string | undefined {
  const fromEnv = process.env.INDIEPM_TEST_PG_BIN;
  if (fromEnv) return existsSync(join(fromEnv, "initdb")) ? fromEnv : undefined;
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], "bin");
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** What is missing to start a cluster here, as words; undefined when nothing is. */
function binariesMissing(): string | undefined {
  if (binDir() === undefined) return "no initdb under /usr/lib/postgresql/*/bin nor in INDIEPM_TEST_PG_BIN";
  if (isRoot()) {
    try {
      execFileSync("id", ["-u", "postgres"], { stdio: "ignore" });
    } catch {
      return "running as root and there is no postgres user to run the server as";
    }
  }
  return undefined;
}

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
function pgCommand(bin: string, args: string[]): [string, string[]] {
  const path = join(binDir() as string, bin);
  return isRoot() ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, args];
}

async function startCluster(dir: string): Promise<Cluster> {
  await mkdir(dir, { recursive: true });
  await ownByPostgres(dir);
  const data = join(dir, "data");
  await initData(data);
  let port = 0;
  const start = async () => {
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`;
    await run(...pgCommand("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-w", "-t", "30", "-o", options, "start"]));
  };
  for (let attempt = 1; ; attempt++) {
    port = await closedPort();
    try {
      await start();
      break;
    } catch (error) {
      // Another process took the port between closedPort and the server's bind: try another.
      if (attempt >= 3) throw new Error(`The test PostgreSQL cluster in ${dir} did not start: ${String(error)}`);
    }
  }
  const stopArgs = (mode: string) => ["-D", data, "-m", mode, "-w", "-t", "30", "stop"];
  return {
    watch(pid: number, remove: string) {
      // A detached watchdog: when `pid` ends however it ends (a worker killed by a signal runs no exit handler),
      // the server is stopped and `remove` removed. After a normal close it finds nothing left to do.
      const script = 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; dir="$2"; shift 2; "$@" >/dev/null 2>&1; rm -rf "$dir"';
      spawn("sh", ["-c", script, "indiepm-pg-watchdog", String(pid), remove, ...pgCommand("pg_ctl", stopArgs("immediate")).flat()], {
        detached: true,
        stdio: "ignore",
      }).unref();
    },
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop: async (mode = "fast") => {
      await run(...pgCommand("pg_ctl", stopArgs(mode))).catch(() => undefined);
    },
    start,
    stopNow: () => {
      try {
        execFileSync(...pgCommand("pg_ctl", stopArgs("immediate")), { stdio: "ignore" });
      } catch {
        // already stopped
      }
    },
  };
}

/** For postgres-setup.ts: stops the run's cluster if one was started, and removes its folder. */
export async function stopRunCluster(runDir: string): Promise<void> {
  const info = join(runDir, "cluster.json");
  if (existsSync(info)) {
    const { dir } = JSON.parse(await readFile(info, "utf8")) as { dir: string };
    await run(...pgCommand("pg_ctl", ["-D", join(dir, "data"), "-m", "immediate", "-w", "stop"])).catch(() => undefined);
  }
  await rm(runDir, { recursive: true, force: true });
}
