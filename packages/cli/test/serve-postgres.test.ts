/**
 * `indiepm serve --database URL` on a real PostgreSQL (CLI.md): the built bin, real
 * processes. Skipped with a sentence where no PostgreSQL can be had (failing in CI).
 */
import { readdir } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabase, postgresForTests, postgresServerSkipReason, startPostgresServer, type FreshDatabase } from "@indiepm/test-support";
import { cleanEnv, closedPort, ensureBuilt, runBin, spawnBin, tempDir, type Spawned } from "./helpers.js";

const TOKEN = "owner-token-for-tests-0123456789";
const SITE = "http://127.0.0.1:7/";
const sharedServer = await postgresForTests();

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  if (sharedServer.skipReason !== undefined) return;
  ensureBuilt();
  dir = await tempDir();
}, 180_000);
afterAll(async () => {
  await dir?.remove();
});

function oneSentence(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  expect(lines[0]).toMatch(/[.?!]$/);
  return lines[0]!;
}

async function listeningUrl(run: Spawned): Promise<string> {
  const line = await run.firstLine;
  const url = /^indiepm listening on (\S+)$/.exec(line)?.[1];
  if (url === undefined) throw new Error(`serve did not start: ${line}\n${(await run.done).stderr}`);
  return url;
}

async function stop(run: Spawned): Promise<number | null> {
  run.child.kill("SIGTERM");
  return (await run.done).code;
}

/** Polls `probe` every 100 ms until it answers true (the stored state, not a sleep). */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function health(url: string): Promise<{ status: number; body: unknown }> {
  const answer = await fetch(new URL("health", url), { signal: AbortSignal.timeout(15_000) });
  return { status: answer.status, body: await answer.json() };
}

describe.skipIf(sharedServer.skipReason !== undefined)("indiepm serve --database", () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("three servers started at once on one new database all listen and share their state; nothing is written under --data's default", async () => {
    const work = await tempDir();
    try {
      const env = cleanEnv({ INDIEPM_TOKEN: TOKEN });
      const runs = [0, 1, 2].map(() => spawnBin(["serve", "--dev", "--port", "0", "--site", SITE, "--database", db.url], { cwd: work.path, env }));
      let urls: string[];
      try {
        urls = await Promise.all(runs.map(listeningUrl));
        for (const url of urls) expect(await health(url)).toEqual({ status: 200, body: { status: "ok" } });
        // A setting changed through one is what the others answer.
        const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
        const changed = await fetch(new URL(`api/settings?site=${encodeURIComponent(SITE)}`, urls[0]), {
          method: "PATCH",
          headers: auth,
          body: JSON.stringify({ policy: "contacts", addContacts: ["http://127.0.0.1:9/"] }),
        });
        expect(changed.status).toBe(200);
        for (const url of urls.slice(1)) {
          const seen = (await (await fetch(new URL(`api/settings?site=${encodeURIComponent(SITE)}`, url), { headers: auth })).json()) as {
            policy: string;
          };
          expect(seen.policy).toBe("contacts");
        }
      } finally {
        const codes = await Promise.all(runs.map(stop));
        expect(codes).toEqual([0, 0, 0]);
      }
      for (const run of runs) expect((await run.done).stderr).not.toMatch(/error/i);
      // No ./.indiepm (the default --data): with a database nothing is kept in a folder.
      expect(await readdir(work.path)).toEqual([]);
    } finally {
      await work.remove();
    }
  });

  it("GET /health is the PostgreSQL store's check(), a write: a database that reads but refuses that write answers 503", async () => {
    const run = spawnBin(["serve", "--dev", "--port", "0", "--site", SITE, "--database", db.url], { cwd: dir.path, env: cleanEnv({ INDIEPM_TOKEN: TOKEN }) });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const url = await listeningUrl(run);
      expect(await health(url)).toEqual({ status: 200, body: { status: "ok" } });
      await client.query("CREATE FUNCTION refuse_health() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no writes'; END $$");
      await client.query("CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON indiepm.health FOR EACH ROW EXECUTE FUNCTION refuse_health()");
      // Reads still work (the owner API answers); only the write of check() fails.
      const inbox = await fetch(new URL("api/inbox", url), { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(inbox.status).toBe(200);
      expect(await health(url)).toEqual({ status: 503, body: { status: "unavailable" } });
      await client.query("DROP TRIGGER refuse ON indiepm.health");
      expect(await health(url)).toEqual({ status: 200, body: { status: "ok" } });
    } finally {
      await client.query("DROP FUNCTION IF EXISTS refuse_health() CASCADE").catch(() => undefined);
      await client.end();
      expect(await stop(run)).toBe(0);
    }
  });

  it("a database that cannot be reached at start exits 1 with one sentence, never the password", async () => {
    const port = await closedPort();
    const started = Date.now();
    const { code, stdout, stderr } = await runBin(["serve", "--dev", "--port", "0", "--database", `postgres://pm:hunter2@127.0.0.1:${port}/pm`], {
      cwd: dir.path,
      env: cleanEnv({ INDIEPM_TOKEN: TOKEN }),
    });
    expect(code).toBe(1);
    expect(stdout).toBe("");
    const line = oneSentence(stderr);
    expect(line).toMatch(new RegExp(`^indiepm serve: .*127\\.0\\.0\\.1:${port}/pm.*[.?]$`));
    expect(stderr).not.toContain("hunter2");
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("a database that does not exist on a reachable server exits 1 with one sentence naming it", async () => {
    const url = new URL(db.url);
    url.pathname = "/indiepm_no_such_database";
    url.password = "hunter2";
    const { code, stdout, stderr } = await runBin(["serve", "--dev", "--port", "0", "--database", url.href], {
      cwd: dir.path,
      env: cleanEnv({ INDIEPM_TOKEN: TOKEN }),
    });
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(oneSentence(stderr)).toMatch(/^indiepm serve: .*indiepm_no_such_database.*\.$/);
    expect(stderr).not.toContain("hunter2");
  });

  it("takes the database from INDIEPM_DATABASE_URL (the settings the first test stored there)", async () => {
    const work = await tempDir();
    const run = spawnBin(["serve", "--dev", "--port", "0", "--site", SITE], {
      cwd: work.path,
      env: cleanEnv({ INDIEPM_TOKEN: TOKEN, INDIEPM_DATABASE_URL: db.url }),
    });
    try {
      const url = await listeningUrl(run);
      const seen = await fetch(new URL(`api/settings?site=${encodeURIComponent(SITE)}`, url), { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(((await seen.json()) as { policy: string }).policy).toBe("contacts");
    } finally {
      expect(await stop(run)).toBe(0);
    }
    expect(await readdir(work.path)).toEqual([]);
    await work.remove();
  });
});

const ownServerSkip = sharedServer.skipReason ?? postgresServerSkipReason();
describe.skipIf(ownServerSkip !== undefined)("GET /health while PostgreSQL stops and starts again", () => {
  it("answers 503 {status: unavailable} while the database is down and 200 again once it is back, without a restart", async () => {
    const server = await startPostgresServer();
    const run = spawnBin(["serve", "--dev", "--port", "0", "--site", SITE, "--database", server.url], {
      cwd: dir.path,
      env: cleanEnv({ INDIEPM_TOKEN: TOKEN }),
    });
    try {
      const url = await listeningUrl(run);
      expect(await health(url)).toEqual({ status: 200, body: { status: "ok" } });
      await server.stop();
      await until("503 from /health", async () => (await health(url)).status === 503, 20_000);
      expect(await health(url)).toEqual({ status: 503, body: { status: "unavailable" } });
      await server.start();
      await until("200 from /health", async () => (await health(url)).status === 200, 30_000);
      expect(await health(url)).toEqual({ status: 200, body: { status: "ok" } });
      expect(run.child.exitCode).toBeNull();
    } finally {
      const code = await stop(run);
      await server.close();
      expect(code).toBe(0);
    }
  }, 90_000);
});
