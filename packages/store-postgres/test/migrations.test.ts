/**
 * The schema by numbered migrations (src/migrations.ts): created at the first open, left
 * alone at the next, every collection with its table, several instances opening one
 * empty database at once, a database newer than the code refused with one sentence, and
 * options refused at open.
 */
import { COLLECTIONS, PmError } from "@indiepm/core";
import { type FreshDatabase, freshDatabase, postgresForTests } from "@indiepm/test-support";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStoreOptions } from "../src/index.js";
import { MIGRATIONS } from "../src/migrations.js";
import { lockKey } from "../src/shared.js";

const server = await postgresForTests();

async function rows<R extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

describe.skipIf(server.skipReason)("migrations", () => {
  let database: FreshDatabase;
  beforeEach(async () => {
    database = await freshDatabase();
  });
  afterEach(async () => {
    await database.drop();
  });

  it("the first open applies every migration, in order, and gives each collection its table", async () => {
    const store = await openPostgresStore(database.url);
    await store.close();
    const versions = await rows<{ version: number }>(database.url, "SELECT version FROM indiepm.schema_migrations ORDER BY version");
    expect(versions.map((row) => row.version)).toEqual(MIGRATIONS.map((_, n) => n + 1));
    const tables = await rows<{ name: string }>(database.url, "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'indiepm'");
    const names = new Set(tables.map((row) => row.name));
    for (const collection of COLLECTIONS) expect(names, collection).toContain(collection);
  });

  it("a second open changes nothing and keeps the documents", async () => {
    const first = await openPostgresStore(database.url);
    await first.insert("outbox", { _id: "m1", content: "kept" });
    await first.close();
    const second = await openPostgresStore(database.url);
    expect(await second.get("outbox", "m1")).toEqual({ _id: "m1", content: "kept" });
    await second.close();
    const versions = await rows<{ n: number }>(database.url, "SELECT count(*)::int AS n FROM indiepm.schema_migrations");
    expect(versions).toEqual([{ n: MIGRATIONS.length }]);
  });

  it("another instance opening an up-to-date database does not wait for writes under way (it locks no table)", async () => {
    const first = await openPostgresStore(database.url);
    // A write under way on every table: a transaction holding each table's row-exclusive lock.
    const writer = new pg.Client({ connectionString: database.url });
    await writer.connect();
    await writer.query("BEGIN");
    for (const collection of COLLECTIONS) await writer.query(`INSERT INTO indiepm.${collection} (_id, doc) VALUES ('w', '{"_id":"w"}'::jsonb)`);
    try {
      // Before, each index's CREATE INDEX IF NOT EXISTS waited for that lock: this open hung until the writer ended.
      const second = await openPostgresStore(database.url, { warmConnections: 0 });
      await second.close();
    } finally {
      await writer.query("ROLLBACK");
      await writer.end();
      await first.close();
    }
  }, 20_000);

  it("several stores opening one empty database at once all succeed, migrating once", async () => {
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(database.url, { poolSize: 2 })));
    await stores[0]?.insert("inbox", { _id: "m1" });
    for (const store of stores) expect(await store.get("inbox", "m1")).toEqual({ _id: "m1" });
    await Promise.all(stores.map((store) => store.close()));
    const versions = await rows<{ n: number }>(database.url, "SELECT count(*)::int AS n FROM indiepm.schema_migrations");
    expect(versions).toEqual([{ n: MIGRATIONS.length }]);
  });

  it("an instance waits for another's migration however long it takes, beyond statementTimeoutMs", async () => {
    const other = new pg.Client({ connectionString: database.url });
    await other.connect();
    try {
      await other.query("SELECT pg_advisory_lock($1)", [lockKey("migrate indiepm")]);
      const opening = openPostgresStore(database.url, { statementTimeoutMs: 200 });
      await new Promise((resolve) => setTimeout(resolve, 600));
      await other.query("SELECT pg_advisory_unlock($1)", [lockKey("migrate indiepm")]);
      const store = await opening;
      await store.insert("outbox", { _id: "m1" });
      await store.close();
    } finally {
      await other.end();
    }
  });

  it("a database whose schema is newer than the code is refused with one sentence naming both versions, and left as it was", async () => {
    const store = await openPostgresStore(database.url);
    await store.close();
    const newer = MIGRATIONS.length + 5;
    await rows(database.url, "INSERT INTO indiepm.schema_migrations (version) VALUES ($1)", [newer]);
    const error = await openPostgresStore(database.url).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PmError);
    expect(error).toMatchObject({ code: "store_error" });
    const message = (error as Error).message;
    expect(message).toContain(`version ${newer}`);
    expect(message).toContain(`indiepm's ${MIGRATIONS.length}`);
    expect(message).toContain(new URL(database.url).port);
    expect(message.split(/(?<=[.;]) /).filter((s) => s.endsWith(".")).length).toBe(1);
    expect(message).not.toContain("\n");
    const versions = await rows<{ version: number }>(database.url, "SELECT max(version) AS version FROM indiepm.schema_migrations");
    expect(versions).toEqual([{ version: newer }]);
  });

  it("a database of version 2 is upgraded with its messages searchable from the stored columns (migration 3)", async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(
        "CREATE SCHEMA indiepm; CREATE TABLE indiepm.schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
      );
      for (const [n, migration] of MIGRATIONS.slice(0, 2).entries()) {
        await client.query(migration('"indiepm"', "indiepm"));
        await client.query("INSERT INTO indiepm.schema_migrations (version) VALUES ($1)", [n + 1]);
      }
      await client.query(`INSERT INTO indiepm.inbox (_id, doc) VALUES ('m1', '{"_id": "m1", "recipient": "https://bob.example/", "content": "the old kayak", "pageKey": "k1"}'),
        ('m2', '{"_id": "m2", "recipient": "https://bob.example/", "content": "another kayak", "pageKey": "k2"}'), ('m3', '{"_id": "m3", "recipient": "https://bob.example/", "content": "no boat"}')`);
    } finally {
      await client.end();
    }
    const store = await openPostgresStore(database.url);
    const found = await store.search!("inbox", { where: { recipient: "https://bob.example/" }, text: "kayak", limit: 10 });
    expect(found.map((doc) => doc._id)).toEqual(["m2", "m1"]);
    expect(await store.search!("inbox", { where: { recipient: "https://bob.example/" }, text: "kayak", limit: 10, before: "k2" })).toEqual([
      { _id: "m1", recipient: "https://bob.example/", content: "the old kayak", pageKey: "k1" },
    ]);
    await store.close();
    const stored = await rows<{ _id: string; search_site: string; search_key: string | null }>(
      database.url,
      "SELECT _id, search_site, search_key FROM indiepm.inbox WHERE search_text @@ 'kayak' OR search_key IS NULL ORDER BY _id",
    );
    expect(stored).toEqual([
      { _id: "m1", search_site: "https://bob.example/", search_key: "k1" },
      { _id: "m2", search_site: "https://bob.example/", search_key: "k2" },
      { _id: "m3", search_site: "https://bob.example/", search_key: null },
    ]);
  });

  it("a schema of its own (option schema) keeps two stores apart in one database", async () => {
    const a = await openPostgresStore(database.url, { schema: "site_a" });
    const b = await openPostgresStore(database.url, { schema: "site_b" });
    await a.insert("outbox", { _id: "m1", who: "a" });
    expect(await b.get("outbox", "m1")).toBeNull();
    await Promise.all([a.close(), b.close()]);
  });

  const refusals: { name: string; url?: string; options: PostgresStoreOptions; says: RegExp }[] = [
    { name: "not a URL", url: "localhost:5432", options: {}, says: /postgres:\/\// },
    { name: "another scheme", url: "mysql://u@127.0.0.1/db", options: {}, says: /starts with mysql:/ },
    { name: "an unknown option", options: { poolsize: 3 } as PostgresStoreOptions, says: /no option poolsize/ },
    { name: "a schema name needing quotes", options: { schema: 'a"; DROP' }, says: /schema must be a plain PostgreSQL name/ },
    { name: "a pool of 0", options: { poolSize: 0 }, says: /poolSize must be a whole number/ },
    { name: "a fractional statement timeout", options: { statementTimeoutMs: 1.5 }, says: /statementTimeoutMs/ },
  ];
  it.each(refusals)("refuses $name at open with one sentence", async ({ url, options, says }) => {
    const error = await openPostgresStore(url ?? database.url, options).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: "PmError", code: "store_error" });
    expect((error as Error).message).toMatch(says);
  });
});
