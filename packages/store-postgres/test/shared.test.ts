/**
 * `store.shared` across two store instances on one database, as two `indiepm serve`
 * processes would hold them: lock exclusion (and release on error, and when the holder's
 * connection is killed), rate-limit hits counted across both, work notifications reaching
 * the other instance, also after its LISTEN connection was cut.
 */
import { type FreshDatabase, freshDatabase, postgresForTests } from "@indiepm/test-support";
import type { Doc } from "@indiepm/core";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

/** A document with any fields. */
type Row = Doc & Record<string, unknown>;

const server = await postgresForTests();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `check` holds, polling; fails after `ms`. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Not within ${ms} ms.`);
    await sleep(10);
  }
}

describe.skipIf(server.skipReason)("shared: two instances on one database", () => {
  let database: FreshDatabase;
  let a: PostgresStore;
  let b: PostgresStore;
  let admin: pg.Client;

  beforeEach(async () => {
    database = await freshDatabase();
    a = await openPostgresStore(database.url, { poolSize: 3 });
    b = await openPostgresStore(database.url, { poolSize: 3 });
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close(), admin.end()]);
    await database.drop();
  });

  it("each instance has its own name", () => {
    expect(a.shared.instance).not.toBe(b.shared.instance);
  });

  describe("withLock", () => {
    it("one holder at a time per key, across instances; other keys do not wait", async () => {
      const events: string[] = [];
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      const first = a.shared.withLock("pair 1", async () => {
        events.push("a in");
        entered();
        await held;
        events.push("a out");
      });
      await inside;
      const second = b.shared.withLock("pair 1", async () => {
        events.push("b in");
      });
      expect(await b.shared.withLock("pair 2", async () => "other key")).toBe("other key");
      await sleep(200);
      expect(events).toEqual(["a in"]);
      release();
      await Promise.all([first, second]);
      expect(events).toEqual(["a in", "a out", "b in"]);
    });

    it("is released when the task fails, and the task's error comes back", async () => {
      await expect(
        a.shared.withLock("k", async () => {
          throw new Error("task failed");
        }),
      ).rejects.toThrow("task failed");
      expect(await b.shared.withLock("k", async () => "got it")).toBe("got it");
    });

    it("is released when the holder's connection dies (pg_terminate_backend)", async () => {
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      let finish!: () => void;
      const running = new Promise<void>((resolve) => (finish = resolve));
      const first = a.shared.withLock("k", async () => {
        entered();
        await running;
      });
      await inside;
      const holders = await admin.query<{ pid: number }>("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted");
      expect(holders.rows).toHaveLength(1);
      let bIn = false;
      const second = b.shared.withLock("k", async () => {
        bIn = true;
      });
      await sleep(100);
      expect(bIn).toBe(false);
      await admin.query("SELECT pg_terminate_backend($1)", [holders.rows[0]?.pid]);
      const started = Date.now();
      await second;
      expect(bIn).toBe(true);
      expect(Date.now() - started).toBeLessThan(1000);
      // The first task, unaware its lock went, ends normally: its unlock fails on the dead connection, which is dropped.
      finish();
      await first;
      expect(await a.shared.withLock("k", async () => "again")).toBe("again");
    });

    it("close does not wait for ever for a task holding a lock, and the lock goes with it", async () => {
      const c = await openPostgresStore(database.url, { poolSize: 2, statementTimeoutMs: 200 });
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      void c.shared
        .withLock("k", async () => {
          entered();
          await new Promise<void>(() => undefined);
        })
        .catch(() => undefined);
      await inside;
      const started = Date.now();
      await c.close();
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(await b.shared.withLock("k", async () => "free")).toBe("free");
    });

    it("a wait longer than lockWaitMs fails with store_error rather than hanging", async () => {
      const c = await openPostgresStore(database.url, { poolSize: 2, lockWaitMs: 200 });
      try {
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        let entered!: () => void;
        const inside = new Promise<void>((resolve) => (entered = resolve));
        const first = a.shared.withLock("k", async () => {
          entered();
          await held;
        });
        await inside;
        await expect(c.shared.withLock("k", async () => "never")).rejects.toMatchObject({ name: "PmError", code: "store_error" });
        release();
        await first;
        expect(await c.shared.withLock("k", async () => "after")).toBe("after");
      } finally {
        await c.close();
      }
    });
  });

  describe("hit", () => {
    it("counts one window across instances, stops counting past cap, and starts a new window when it ended", async () => {
      expect(await a.shared.hit("client x", 60_000, 1000, 3)).toEqual({ start: 1000, count: 1 });
      expect(await b.shared.hit("client x", 60_000, 2000, 3)).toEqual({ start: 1000, count: 2 });
      expect(await a.shared.hit("client x", 60_000, 3000, 3)).toEqual({ start: 1000, count: 3 });
      expect(await b.shared.hit("client x", 60_000, 4000, 3)).toEqual({ start: 1000, count: 4 });
      expect(await a.shared.hit("client x", 60_000, 5000, 3)).toEqual({ start: 1000, count: 4 });
      expect(await b.shared.hit("client y", 60_000, 5000, 3)).toEqual({ start: 5000, count: 1 });
      expect(await b.shared.hit("client x", 60_000, 61_000, 3)).toEqual({ start: 61_000, count: 1 });
    });

    it("of 40 concurrent hits from two instances, each is counted once", async () => {
      await Promise.all(Array.from({ length: 40 }, (_, n) => (n % 2 === 0 ? a : b).shared.hit("busy", 60_000, 1000, 1000)));
      expect(await a.shared.hit("busy", 60_000, 1000, 1000)).toEqual({ start: 1000, count: 41 });
    });

    it("ended windows are removed", async () => {
      await a.shared.hit("old", 1000, 1000, 10);
      await b.shared.hit("new", 60_000, 1_000_000, 10);
      await eventually(async () => (await admin.query("SELECT key FROM indiepm.rate_windows")).rows.length === 1);
      expect((await admin.query("SELECT key FROM indiepm.rate_windows")).rows).toEqual([{ key: "new" }]);
    });
  });

  describe("onWork", () => {
    it("fires in the other instance within a second of new work, or of work made due sooner; not of work made due later", async () => {
      let calls = 0;
      const stop = b.shared.onWork(() => calls++);
      await sleep(200); // the LISTEN connection is up
      for (const collection of ["deliveries", "handshakes", "webhooks"] as const) {
        const before = calls;
        const started = Date.now();
        await a.insert(collection, { _id: "w1", status: "pending", nextAttemptAt: 5000 });
        await eventually(() => calls > before, 1000);
        expect(Date.now() - started).toBeLessThan(1000);
      }
      let before = calls;
      await a.update<Row>("deliveries", "w1", { set: { nextAttemptAt: 1000 } });
      await eventually(() => calls > before, 1000);
      before = calls;
      await a.update<Row>("deliveries", "w1", { set: { nextAttemptAt: 9000 } });
      await a.insert("inbox", { _id: "not work" });
      await sleep(300);
      expect(calls).toBe(before);
      stop();
      await a.insert("deliveries", { _id: "w2", nextAttemptAt: 1 });
      await sleep(300);
      expect(calls).toBe(before);
    });

    it("a burst of work makes few calls, not one per document", async () => {
      let calls = 0;
      b.shared.onWork(() => calls++);
      await sleep(200);
      await Promise.all(Array.from({ length: 50 }, (_, n) => a.insert("deliveries", { _id: `d${n}`, nextAttemptAt: n })));
      await eventually(() => calls > 0);
      await sleep(200);
      expect(calls).toBeLessThan(50);
    });

    it("after its LISTEN connection is cut, reconnects and calls the listeners once (notifications may have been missed)", async () => {
      let calls = 0;
      b.shared.onWork(() => calls++);
      const listening = async () =>
        (await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()")).rows;
      await eventually(async () => (await listening()).length === 1);
      const [{ pid } = { pid: 0 }] = await listening();
      await admin.query("SELECT pg_terminate_backend($1)", [pid]);
      await eventually(() => calls === 1, 3000);
      await eventually(async () => (await listening()).some((row) => row.pid !== pid), 3000);
      const before = calls;
      await a.insert("deliveries", { _id: "after", nextAttemptAt: 1 });
      await eventually(() => calls > before, 1000);
    });
  });
});
