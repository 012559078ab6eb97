/**
 * `indiepm migrate --data DIR --database URL` (CLI.md) on a real data folder written by a
 * real server and a real PostgreSQL: the folder of a running server is refused; then
 * everything is copied; a second run copies nothing; `serve --database` on the result
 * answers the same inbox, outbox, tokens and settings, and delivers the delivery that was
 * still pending; a failure part-way leaves the database as it was.
 * Skipped with a sentence where no PostgreSQL can be had (failing in CI).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryStore } from "@indiepm/core";
import { openPostgresStore } from "@indiepm/store-postgres";
import { freshDatabase, postgresForTests, type FreshDatabase } from "@indiepm/test-support";
import { startServer, type StandaloneServer } from "../src/index.js";
import { cleanEnv, ensureBuilt, runBin, spawnBin, tempDir, tinyServer, type Spawned, type TinyServer } from "./helpers.js";

const TOKEN = "owner-token-for-tests-0123456789";
const PEER_TOKEN = "peer-owner-token-0123456789abcdef";
const quiet = { info() {}, warn() {}, error() {} };
const postgres = await postgresForTests();

async function listeningUrl(run: Spawned): Promise<string> {
  const line = await run.firstLine;
  const url = /^indiepm listening on (\S+)$/.exec(line)?.[1];
  if (url === undefined) throw new Error(`serve did not start: ${line}\n${(await run.done).stderr}`);
  return url;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The owner API of a server at `url`. */
function owner(url: string, token = TOKEN) {
  const call = async (method: string, path: string, body?: unknown): Promise<any> => {
    const answer = await fetch(new URL(path, url), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = await answer.json();
    if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(json)}`);
    return json;
  };
  return {
    get: (path: string) => call("GET", path),
    send: (body: unknown) => call("POST", "api/messages", body),
    patch: (path: string, body: unknown) => call("PATCH", path, body),
  };
}

/** The rows of every table the store made, by collection, read straight from PostgreSQL. */
async function countAll(url: string): Promise<Record<string, number>> {
  const store = await openPostgresStore(url);
  try {
    const { COLLECTIONS } = await import("@indiepm/core");
    const counts: Record<string, number> = {};
    for (const collection of COLLECTIONS) counts[collection] = await store.count(collection);
    return counts;
  } finally {
    await store.close();
  }
}

/** `indiepm migrate`'s per-collection lines: collection → [copied, already there]. */
function reported(stdout: string): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const line of stdout.split("\n")) {
    const m = /^(\w+)\s+(\d+) copied\s+(\d+) already there/.exec(line);
    if (m) out[m[1]!] = [Number(m[2]), Number(m[3])];
  }
  return out;
}

describe.skipIf(postgres.skipReason !== undefined)("indiepm migrate", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let db: FreshDatabase;
  let failing: FreshDatabase;
  const sites: TinyServer[] = [];
  let peer: StandaloneServer;
  let aliceEndpoint = "";
  let carolDown = true;

  beforeAll(async () => {
    ensureBuilt();
    dir = await tempDir();
    db = await freshDatabase();
    failing = await freshDatabase();
  }, 180_000);
  afterAll(async () => {
    await peer?.close(1_000);
    for (const site of sites) await site.close();
    await db?.drop();
    await failing?.drop();
    await dir?.remove();
  });

  it("moves a folder written by a real server into PostgreSQL, where serve --database carries on", async () => {
    // Three sites on loopback: alice's names the server under test, bob's and carol's the peer.
    const page = (endpoint: () => string) => (_req: unknown, res: import("node:http").ServerResponse) => {
      res.setHeader("content-type", "text/html");
      res.end(`<link rel="pm" href="${endpoint()}">`);
    };
    const alice = await tinyServer(page(() => aliceEndpoint));
    const bob = await tinyServer(page(() => peer.url));
    const carol = await tinyServer((req, res) => {
      if (carolDown) {
        res.statusCode = 503;
        res.end();
      } else page(() => peer.url)(req, res);
    });
    sites.push(alice, bob, carol);
    peer = await startServer({
      port: 0,
      dev: true,
      inbox: false,
      sites: [bob.url, carol.url],
      store: createMemoryStore(),
      ownerToken: PEER_TOKEN,
      logger: quiet,
    });

    const config = join(dir.path, "serve.json");
    await writeFile(config, JSON.stringify({ retry: { baseDelayMs: 300, maxDelayMs: 1_000 } }));
    const data = join(dir.path, "data");
    const env = cleanEnv({ INDIEPM_TOKEN: TOKEN });

    // 1. The embedded server writes a real folder: a message each way (token flow: a token
    //    granted each way), settings, and a delivery to carol still pending (her site is down).
    const first = spawnBin(["serve", "--dev", "--port", "0", "--site", alice.url, "--data", data, "--config", config], { cwd: dir.path, env });
    const url = await listeningUrl(first);
    aliceEndpoint = url;
    const port = new URL(url).port;
    const a = owner(url);
    const b = owner(peer.url, PEER_TOKEN);
    let before: { inbox: unknown; outbox: any[]; tokens: unknown; settings: unknown };
    try {
      await a.patch(`api/settings?site=${encodeURIComponent(alice.url)}`, { addContacts: [bob.url], block: ["http://127.0.0.1:5/"] });
      const toBob = await a.send({ from: alice.url, to: [bob.url], content: "Hello Bob, from the folder" });
      await until(
        "alice → bob delivered",
        async () => (await a.get(`api/messages/${encodeURIComponent(toBob.message)}`)).sent.deliveries[0].status === "delivered",
      );
      await b.send({ from: bob.url, to: [alice.url], content: "Hello Alice" });
      await until("bob → alice received", async () => (await a.get("api/inbox")).length === 1);
      const toCarol = await a.send({ from: alice.url, to: [carol.url], content: "Carol, are you there?" });
      await until("a failed try to carol", async () => {
        const { deliveries } = (await a.get(`api/messages/${encodeURIComponent(toCarol.message)}`)).sent;
        return deliveries[0].status === "pending" && typeof deliveries[0].detail === "string";
      });
      before = {
        inbox: await a.get("api/inbox"),
        outbox: await a.get("api/outbox"),
        tokens: await a.get("api/tokens"),
        settings: await a.get(`api/settings?site=${encodeURIComponent(alice.url)}`),
      };
      expect(before.outbox).toHaveLength(2);
      expect(before.tokens).toHaveLength(1);

      // 2. While the server holds the folder, migrate refuses it and writes nothing.
      const refused = await runBin(["migrate", "--data", data, "--database", db.url], { cwd: dir.path, env: cleanEnv() });
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toMatch(/^indiepm migrate: .*in use by another indiepm process \(pid \d+\).*\.\n$/);
    } finally {
      first.child.kill("SIGTERM");
      expect((await first.done).code).toBe(0);
    }
    expect(Object.values(await countAll(db.url)).every((n) => n === 0)).toBe(true);

    // 3. Stopped: everything is copied, and said per kind.
    const copied = await runBin(["migrate", "--data", data, "--database", db.url], { cwd: dir.path, env: cleanEnv() });
    expect(copied.stderr).toBe("");
    expect(copied.code).toBe(0);
    const firstRun = reported(copied.stdout);
    expect(firstRun.inbox).toEqual([1, 0]);
    expect(firstRun.outbox).toEqual([2, 0]);
    expect(firstRun.deliveries).toEqual([2, 0]);
    expect(firstRun.grants).toEqual([1, 0]);
    expect(firstRun.settings?.[0]).toBeGreaterThanOrEqual(1);
    expect(firstRun.secrets?.[0]).toBeGreaterThanOrEqual(1);
    const total = Object.values(firstRun).reduce((sum, [n]) => sum + n, 0);
    expect(copied.stdout).toContain(`indiepm migrate: ${total} copied, 0 already there, from ${data} into ${db.url}.`);
    const counts = await countAll(db.url);
    for (const [collection, [n]] of Object.entries(firstRun)) expect(counts[collection]).toBe(n);

    // 4. A second run copies nothing: every record is already there.
    const again = await runBin(["migrate", "--data", data, "--database", db.url], { cwd: dir.path, env: cleanEnv() });
    expect(again.code).toBe(0);
    const secondRun = reported(again.stdout);
    for (const [collection, [n]] of Object.entries(firstRun)) expect(secondRun[collection]).toEqual([0, n]);
    expect(again.stdout).toContain(`indiepm migrate: 0 copied, ${total} already there`);
    expect(await countAll(db.url)).toEqual(counts);

    // 5. serve --database on the same port (the endpoint alice's page names) carries on.
    carolDown = false;
    const second = spawnBin(["serve", "--dev", "--port", port, "--site", alice.url, "--database", db.url, "--config", config], { cwd: dir.path, env });
    try {
      expect(await listeningUrl(second)).toBe(url);
      expect(await a.get("api/inbox")).toEqual(before.inbox);
      expect(await a.get("api/tokens")).toEqual(before.tokens);
      expect(await a.get(`api/settings?site=${encodeURIComponent(alice.url)}`)).toEqual(before.settings);
      expect((await a.get("api/outbox")).map((m: any) => m.message)).toEqual(before.outbox.map((m) => m.message));
      // The delivery that was pending in the folder is delivered from the database.
      await until("alice → carol delivered", async () => (await a.get("api/outbox")).every((m: any) => m.deliveries[0].status === "delivered"));
      const atCarol = await owner(peer.url, PEER_TOKEN).get(`api/inbox?site=${encodeURIComponent(carol.url)}`);
      expect(atCarol.map((m: any) => m.content)).toEqual(["Carol, are you there?"]);
      // Bob writes again on the standing token alice's server granted in the folder: no new token.
      await b.send({ from: bob.url, to: [alice.url], content: "Still there?" });
      await until("bob → alice received again", async () => (await a.get("api/inbox")).length === 2);
      expect(await a.get("api/tokens")).toHaveLength(1);
    } finally {
      second.child.kill("SIGTERM");
      expect((await second.done).code).toBe(0);
    }
  }, 120_000);

  it("a failure part-way (the database refuses one received message) exits 1 with one sentence and leaves the database as it was", async () => {
    // The folder of the first test (stopped); a database whose inbox table refuses inserts.
    const data = join(dir.path, "data");
    const store = await openPostgresStore(failing.url);
    await store.close();
    const client = new pg.Client({ connectionString: failing.url });
    await client.connect();
    try {
      // COLLECTIONS copies outbox and deliveries before inbox: they are in the transaction when it fails.
      const { rows } = await client.query<{ table: string }>(
        "SELECT format('%I.%I', table_schema, table_name) AS table FROM information_schema.tables WHERE table_name = 'inbox' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
      );
      expect(rows).toHaveLength(1);
      await client.query(
        "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'this test refuses every received message'; END $$",
      );
      await client.query(`CREATE TRIGGER refuse BEFORE INSERT ON ${rows[0]!.table} FOR EACH ROW EXECUTE FUNCTION refuse_insert()`);
    } finally {
      await client.end();
    }
    const emptyBefore = await countAll(failing.url);
    expect(Object.values(emptyBefore).every((n) => n === 0)).toBe(true);

    const { code, stdout, stderr } = await runBin(["migrate", "--data", data, "--database", failing.url], { cwd: dir.path, env: cleanEnv() });
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^indiepm migrate: .*this test refuses every received message.*\.\n$/);
    expect(await countAll(failing.url)).toEqual(emptyBefore);
  }, 60_000);
});
