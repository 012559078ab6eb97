/** The test-support PostgreSQL helper the other PostgreSQL tests stand on: a shared server, fresh databases, a private restartable server. */
import { freshDatabase, postgresForTests, postgresServerSkipReason, startPostgresServer } from "@indiepm/test-support";
import pg from "pg";
import { describe, expect, it } from "vitest";

const server = await postgresForTests();

async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe.skipIf(server.skipReason)("test-support: postgresForTests, freshDatabase", () => {
  it("gives a database of its own, empty, dropped by drop()", async () => {
    const a = await freshDatabase();
    const b = await freshDatabase();
    expect(a.name).not.toBe(b.name);
    await query(a.url, "CREATE TABLE t (x int)");
    expect(await query(b.url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 't'")).toEqual([{ n: 0 }]);
    const [{ db } = { db: "" }] = await query<{ db: string }>(a.url, "SELECT current_database() AS db");
    expect(db).toBe(a.name);
    await a.drop();
    await a.drop();
    await b.drop();
    const left = await query(server.url as string, `SELECT datname FROM pg_database WHERE datname IN ('${a.name}', '${b.name}')`);
    expect(left).toEqual([]);
  });
});

describe.skipIf(postgresServerSkipReason())("test-support: startPostgresServer", () => {
  it("stops, starts and restarts a server of the test's own, keeping its data", async () => {
    const own = await startPostgresServer();
    try {
      await query(own.url, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)");
      await own.stop();
      await expect(query(own.url, "SELECT 1")).rejects.toThrow();
      await own.start();
      expect(await query(own.url, "SELECT x FROM kept")).toEqual([{ x: 7 }]);
      await own.restart();
      expect(await query(own.url, "SELECT x FROM kept")).toEqual([{ x: 7 }]);
    } finally {
      await own.close();
      await own.close();
    }
    await expect(query(own.url, "SELECT 1")).rejects.toThrow();
  });
});
