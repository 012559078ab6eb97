/**
 * The pool warmed at open (src/warm.ts): `warmConnections` connections are open, each
 * having planned a statement of every table, before `openPostgresStore` resolves, and
 * stay open; 0 leaves the pool to open connections on demand.
 * Proved able to fail: without the warmPool call in store.ts, the first test finds no
 * connection of the store open.
 */
import { type FreshDatabase, freshDatabase, postgresForTests } from "@indiepm/test-support";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openPostgresStore } from "../src/index.js";

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
