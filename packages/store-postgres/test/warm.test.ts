/**
 * The pool warmed at open (src/warm.ts): `warmConnections` connections are open, each
 * having planned a statement of every table, before `openPostgresStore` resolves, and
 * stay open; 0 leaves the pool to open connections on demand.
 * Proved able to fail: without the warmPool call in store.ts, the first test finds no
 * connection of the store open; without warmPool's `keep` argument there, the search over
 * the newest conversations runs on none and searches run where the finds did; without its
 * skipping of the owner's own site, it looks for bob.example.com; without the kept
 * connection's error listener, its termination is an unhandled error.
 */
import { type FreshDatabase, freshDatabase, postgresForTests } from "@indiepm/test-support";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { warmConversationSearch } from "../src/conversation-search.js";
import { openPostgresStore } from "../src/index.js";

// The warm-up's search, watched: each call and what it ran.
vi.mock("../src/conversation-search.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../src/conversation-search.js")>();
  return { ...actual, warmConversationSearch: vi.fn(actual.warmConversationSearch) };
});

const server = await postgresForTests();

describe.skipIf(server.skipReason)("the pool warmed at open", () => {
  let database: FreshDatabase;
  let client: pg.Client;
  beforeEach(async () => {
    database = await freshDatabase();
    client = new pg.Client({ connectionString: database.url, application_name: "warm-test" });
    await client.connect();
  });
  afterEach(async () => {
    await client.end();
    await database.drop();
  });

  /** The store's connections to this database (application_name indiepm): each one's state and last statement. */
  async function connections(): Promise<{ state: string; query: string }[]> {
    const { rows } = await client.query<{ state: string; query: string }>(
      "SELECT state, query FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'indiepm'",
    );
    return rows;
  }

  it("opens warmConnections connections, each having planned the tables' statements, before open resolves", async () => {
    const store = await openPostgresStore(database.url, { warmConnections: 3 });
    try {
      const open = await connections();
      expect(open).toHaveLength(3);
      for (const backend of open) {
        expect(backend.state).toBe("idle");
        expect(backend.query).toMatch(/^EXPLAIN SELECT/);
        // The last planned: a window of the search (search.ts searchWarmStatements), so a first search finds the connection ready too.
        expect(backend.query).toContain("websearch_to_tsquery");
      }
      await store.find("inbox", { limit: 1 });
      expect(await connections()).toHaveLength(3);
    } finally {
      await store.close();
    }
    // A backend leaves pg_stat_activity a moment after its client hangs up.
    await expect.poll(async () => (await connections()).length, { timeout: 5_000 }).toBe(0);
  });

  const BOB = "https://bob.example.com/";
  /** Two conversations of alice and carol, and a newer one last written by the owner. */
  async function seedConversations() {
    const seeding = await openPostgresStore(database.url, { warmConnections: 0 });
    for (const [i, sender] of ["https://alice.example/", "https://carol.example/"].entries()) {
      const pageKey = `00000000000000${i}.m${i}`;
      await seeding.insert("conversations", { _id: `c${i}`, site: BOB, lastKey: pageKey, lastSender: sender, messages: 1 });
      await seeding.insert("inbox", { _id: `m${i}`, message: `urn:m${i}`, sender, recipient: BOB, content: "hello", conversation: `c${i}`, pageKey });
    }
    // The owner's own site is not what the warm-up looks for.
    await seeding.insert("conversations", { _id: "c2", site: BOB, lastKey: "000000000000002.m2", lastSender: BOB, messages: 1 });
    await seeding.close();
  }

  it("runs a search over the newest conversations on the connection kept for searches before open resolves, each statement valid SQL", async () => {
    await seedConversations();
    const actual = await vi.importActual<typeof import("../src/conversation-search.js")>("../src/conversation-search.js");
    const words: unknown[] = [];
    const warm = vi.mocked(warmConversationSearch);
    warm.mockClear();
    warm.mockImplementation((run, sql, span) =>
      actual.warmConversationSearch(
        (text, params) => {
          if (text.startsWith("WITH hits")) words.push(params[1]);
          return run(text, params);
        },
        sql,
        span,
      ),
    );
    const store = await openPostgresStore(database.url, { warmConnections: 2 });
    try {
      expect(warm).toHaveBeenCalledTimes(1);
      // Through every statement: the newest summaries, the span, its hits for carol.example (the newest correspondent).
      expect(await warm.mock.results[0]!.value).toEqual([
        { kind: "newest", rows: 3 },
        { kind: "span", rows: 3 },
        { kind: "hits", rows: 1 },
        { kind: "search", rows: 1 },
      ]);
      // The walk's hits, then the search's own (direct, the words being rare).
      expect(words).toEqual(["carol.example", "carol.example"]);
    } finally {
      warm.mockImplementation(actual.warmConversationSearch);
      await store.close();
    }
  });

  it("opens when the warm-up search fails, its connection closed, and answers searches from the pool", async () => {
    await seedConversations();
    const warm = vi.mocked(warmConversationSearch);
    const actual = await vi.importActual<typeof import("../src/conversation-search.js")>("../src/conversation-search.js");
    warm.mockImplementationOnce(async (run) => {
      await run("SELECT pg_sleep(0.05)", []);
      throw new Error("canceling statement due to statement timeout");
    });
    const store = await openPostgresStore(database.url, { warmConnections: 2 });
    try {
      // The failed warm-up's connection closed; the other warmed one kept in the pool.
      expect(await connections()).toHaveLength(1);
      expect(await store.searchConversations!({ sites: [BOB], text: "hello", limit: 5 })).toHaveLength(2);
    } finally {
      warm.mockImplementation(actual.warmConversationSearch);
      await store.close();
    }
  });

  it("answers searches on the connection kept for them and other calls from the pool; once it is dropped, searches from the pool", async () => {
    await seedConversations();
    const store = await openPostgresStore(database.url, { warmConnections: 2 });
    const search = () => store.searchConversations!({ sites: [BOB], text: "hello", limit: 5 });
    try {
      // The pool hands out its last connection back first: without a kept one, the search would run where the find did.
      await store.find("inbox", { where: { recipient: BOB }, limit: 1 });
      expect(await search()).toHaveLength(2);
      await store.find("inbox", { where: { recipient: BOB }, limit: 1 });
      expect(await search()).toHaveLength(2);
      const last = (await connections()).map((backend) => backend.query);
      expect(last.filter((query) => query.startsWith("WITH hits"))).toHaveLength(1);
      expect(last.filter((query) => query.startsWith('SELECT doc::text AS doc FROM "indiepm"."inbox"'))).toHaveLength(1);
      // The kept connection dropped by the server (as in a restart): the next searches are answered from the pool.
      const { rows } = await client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'indiepm' AND query LIKE 'WITH hits%'",
      );
      await client.query("SELECT pg_terminate_backend($1)", [rows[0]!.pid]);
      // Its client learns of it a moment later, while idle: an error event, which must not go unhandled (the process would end).
      await expect.poll(async () => (await connections()).length).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // (Should the event come later still, the one search in between fails and drops it.)
      await expect
        .poll(() =>
          search().then(
            (found) => found.length,
            () => -1,
          ),
        )
        .toBe(2);
      expect(await search()).toHaveLength(2);
      expect(await connections()).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it("warmConnections 0 opens none before the first call; more than poolSize opens poolSize", async () => {
    const lazy = await openPostgresStore(database.url, { warmConnections: 0 });
    expect(await connections()).toHaveLength(0);
    await lazy.close();
    const capped = await openPostgresStore(database.url, { warmConnections: 8, poolSize: 2 });
    expect(await connections()).toHaveLength(2);
    await capped.close();
  });

  it("refuses a warmConnections that is not a whole number, 0 or more", async () => {
    await expect(openPostgresStore(database.url, { warmConnections: -1 })).rejects.toMatchObject({
      code: "store_error",
      message: expect.stringMatching(/warmConnections/),
    });
  });
});
