/**
 * A database that is not there, or goes away: one `store_error` sentence naming host,
 * port and database (never the password), given fast, and a store that works again by
 * itself when the server is back; a statement that waits too long is cancelled.
 */
import { type Doc, PmError } from "@indiepm/core";
import { closedPort, freshDatabase, postgresForTests, postgresServerSkipReason, startPostgresServer } from "@indiepm/test-support";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openPostgresStore } from "../src/index.js";

/** A document with any fields. */
type Row = Doc & Record<string, unknown>;

const server = await postgresForTests();

/** The error `promise` rejects with, and how long it took. */
async function failure(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return { error, ms: Date.now() - started };
}

describe("an unreachable database", () => {
  it("open fails within a second with one sentence naming host, port and database, never the password", async () => {
    const port = await closedPort();
    const { error, ms } = await failure(openPostgresStore(`postgres://indiepm:s3cret-pw@127.0.0.1:${port}/pm`));
    expect(ms).toBeLessThan(1000);
    expect(error).toBeInstanceOf(PmError);
    expect(error).toMatchObject({ code: "store_error" });
    const message = (error as Error).message;
    expect(message).toContain(`127.0.0.1:${port}/pm`);
    expect(message).toMatch(/unreachable/);
    expect(message).not.toContain("s3cret");
    expect(message).not.toContain("\n");
  });
});

describe.skipIf(server.skipReason)("a database that refuses", () => {
  it("a database that does not exist: one sentence saying so", async () => {
    const url = new URL(server.url as string);
    url.pathname = "/no_such_database_here";
    const { error } = await failure(openPostgresStore(url.toString()));
    expect(error).toMatchObject({ name: "PmError", code: "store_error" });
    expect((error as Error).message).toMatch(/no_such_database_here has no such database/);
  });

  it("a statement waiting longer than statementTimeoutMs is cancelled: store_error, no hang", async () => {
    const database = await freshDatabase();
    const store = await openPostgresStore(database.url, { statementTimeoutMs: 300 });
    const blocker = new pg.Client({ connectionString: database.url });
    try {
      await store.insert("deliveries", { _id: "d1", attempts: 0 });
      await blocker.connect();
      await blocker.query("BEGIN");
      await blocker.query("SELECT * FROM indiepm.deliveries WHERE _id = 'd1' FOR UPDATE");
      const { error, ms } = await failure(store.update<Row>("deliveries", "d1", { set: { attempts: 1 } }));
      expect(error).toMatchObject({ name: "PmError", code: "store_error" });
      expect((error as Error).message).toMatch(/statement_timeout/);
      expect(ms).toBeLessThan(2000);
      await blocker.query("ROLLBACK");
      expect(await store.update<Row>("deliveries", "d1", { set: { attempts: 1 } })).toBe(true);
    } finally {
      await blocker.end();
      await store.close();
      await database.drop();
    }
  });
});

describe.skipIf(postgresServerSkipReason())("a database that stops and comes back", () => {
  it("calls fail fast with store_error while it is down, and work again without reopening once it is back", async () => {
    const own = await startPostgresServer();
    const store = await openPostgresStore(own.url, { poolSize: 4 });
    let notified = 0;
    store.shared.onWork(() => notified++);
    try {
      await store.insert("outbox", { _id: "m1", content: "before" });
      await store.check();
      await own.stop();

      const calls: (() => Promise<unknown>)[] = [
        () => store.get("outbox", "m1"),
        () => store.insert("outbox", { _id: "m2" }),
        () => store.find("outbox", { where: { content: "before" } }),
        () => store.check(),
        () => store.shared.hit("k", 1000, 1, 5),
        () => store.shared.withLock("k", async () => "never"),
      ];
      for (const call of calls) {
        const { error, ms } = await failure(call());
        expect(error).toMatchObject({ name: "PmError", code: "store_error" });
        expect((error as Error).message).toContain(`127.0.0.1:${own.port}/postgres`);
        expect(ms).toBeLessThan(1000);
      }

      await own.start();
      // The first call after the restart may meet a pooled connection of the old server: then it fails, and the next works.
      const deadline = Date.now() + 5000;
      for (;;) {
        try {
          await store.check();
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      expect(await store.get("outbox", "m1")).toEqual({ _id: "m1", content: "before" });
      await store.insert("outbox", { _id: "m3" });
      expect(await store.count("outbox")).toBe(2);
      expect(await store.shared.withLock("k", async () => "again")).toBe("again");
      // The LISTEN connection came back too, and said so once (work may have been added meanwhile).
      const listenDeadline = Date.now() + 8000;
      while (notified === 0 && Date.now() < listenDeadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(notified).toBeGreaterThan(0);
    } finally {
      await store.close();
      await own.close();
    }
  });
});
