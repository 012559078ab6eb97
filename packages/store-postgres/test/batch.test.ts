/**
 * Group commit (src/batch.ts): `writeAfter` and `writeIfUnchanged` calls made while one
 * statement of them is under way go to the database together, as one statement, each
 * keeping what it promises alone — its own `given`, its first write gating the rest, all
 * of its writes kept or none; merges of several calls into one row made as one merge,
 * equal to making them one after another; one call's failure its own; a slow statement
 * not holding the others up. Outcomes are compared with core's one-call-each fallback on
 * the memory store (store/together.ts), made one after another.
 */
import { createMemoryStore, type Doc, type Store, type Write } from "@indiepm/core";
import { writeAfter } from "../../core/src/store/together.js";
import { type FreshDatabase, freshDatabase, postgresForTests } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStore } from "../src/index.js";
import { retriedAlone } from "../src/batch.js";
import { Sql, writeStatement } from "../src/sql.js";

type Row = Doc & Record<string, unknown>;
const row = (doc: Row): Doc => doc;

const server = await postgresForTests();

/** A message and its chat's merge, as a `deliver` writes them (owner/chats.ts chatWriteOf). */
function delivery(id: string, chat: string, pageKey: string, extra: Record<string, unknown> = {}): [Write, Write[]] {
  return [
    { insert: "inbox", doc: row({ _id: id, chat, pageKey }) },
    [
      {
        merge: "chats",
        doc: row({ _id: chat, rev: 1, unread: 1, lastPageKey: pageKey, latest: id, ...extra }),
        add: { unread: 1, rev: 1 },
        newer: "lastPageKey",
      },
    ],
  ];
}

describe.skipIf(server.skipReason)("writes made at once, as one statement", () => {
  let database: FreshDatabase;
  let store: PostgresStore;
  let admin: pg.Client;
  const sent = { n: 0 };
  let restore = () => {};
  beforeAll(async () => {
    database = await freshDatabase();
    store = await openPostgresStore(database.url, { warmConnections: 0 });
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    // Statements the store's connections send (the driver's Client.query, counted).
    const query = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      if (this !== admin) sent.n++;
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
    restore = () => {
      pg.Client.prototype.query = query;
    };
  });
  afterAll(async () => {
    restore();
    await admin?.end();
    await store?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    await admin.query("DELETE FROM indiepm.inbox; DELETE FROM indiepm.chats; DELETE FROM indiepm.conversations; DELETE FROM indiepm.secrets");
  });

  it("40 calls at once go in fewer statements than calls, each answered as alone", async () => {
    const before = sent.n;
    const made = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        store.writeAfter({ insert: "inbox", doc: row({ _id: `m${i}` }) }, [{ insert: "conversations", doc: row({ _id: `c${i}`, rev: 1 }) }]),
      ),
    );
    const statements = sent.n - before;
    expect(made).toEqual(Array.from({ length: 40 }, () => [true, true]));
    expect(statements).toBeLessThan(40);
    expect(await store.count("inbox")).toBe(40);
    expect(await store.count("conversations")).toBe(40);
  });

  it("merges of many calls into one chat at once equal making them one after another", async () => {
    // The chat stored first (or none), then 24 deliveries at once in a shuffled order, two
    // of them repeats of a stored message (their first write not made: their merge must not count).
    for (const stored of [null, { _id: "chat", rev: 3, unread: 2, lastPageKey: "k12", latest: "old" }]) {
      await admin.query("DELETE FROM indiepm.inbox; DELETE FROM indiepm.chats");
      const memory = createMemoryStore();
      for (const s of [store, memory] as Store[]) {
        if (stored) await s.insert("chats", row({ ...stored }));
        await s.insert("inbox", row({ _id: "m3", chat: "chat", pageKey: "k03" }));
        await s.insert("inbox", row({ _id: "m17", chat: "chat", pageKey: "k17" }));
      }
      const calls = Array.from({ length: 24 }, (_, i) => delivery(`m${i}`, "chat", `k${String(i).padStart(2, "0")}`));
      calls.sort(() => Math.random() - 0.5);
      const before = sent.n;
      const together = await Promise.all(calls.map(([first, then]) => store.writeAfter(first, then)));
      expect(sent.n - before).toBeLessThan(24);
      const alone: boolean[][] = [];
      for (const [first, then] of calls) alone.push(await writeAfter(memory, first, then));
      expect(together).toEqual(alone);
      expect(together.filter(([m]) => !m)).toHaveLength(2);
      expect(await store.get("chats", "chat")).toEqual(await memory.get("chats", "chat"));
      expect(await store.get("chats", "chat")).toMatchObject({
        unread: 22 + (stored?.unread ?? 0),
        rev: 22 + (stored?.rev ?? 0),
        lastPageKey: "k23",
        latest: "m23",
      });
    }
  });

  it("one statement's merges into one row whose documents name different fields: as made one after another by ascending newer key", async () => {
    // Straight through sql.ts: one statement for all the calls, as a batch sends it.
    const sql = new Sql("indiepm");
    const cases: { stored: Row | null; parts: [string, Record<string, unknown>][] }[] = [
      {
        stored: null,
        parts: [
          ["k5", { a: 5 }],
          ["k2", { b: 2 }],
          ["k9", {}],
          ["k7", { a: 7 }],
          ["k2", { c: "tie" }],
        ],
      },
      {
        stored: { _id: "r", rev: 1, unread: "x", lastPageKey: "k6", a: 0 },
        parts: [
          ["k5", { a: 5 }],
          ["k8", { b: 8 }],
          ["k3", { c: 3 }],
          ["k7", { a: 7 }],
          ["k8", { d: "tie" }],
        ],
      },
      {
        stored: { _id: "r", rev: 1, unread: 4, lastPageKey: 12 },
        parts: [
          ["k1", { a: 1 }],
          ["k0", { a: 0 }],
        ],
      },
    ];
    for (const { stored, parts } of cases) {
      await admin.query("DELETE FROM indiepm.inbox; DELETE FROM indiepm.chats");
      const memory = createMemoryStore();
      if (stored) for (const s of [store, memory] as Store[]) await s.insert("chats", row({ ...stored }));
      const calls = parts.map(([key, fields], i) => ({
        writes: [
          { insert: "inbox", doc: row({ _id: `p${i}` }) },
          { merge: "chats", doc: row({ _id: "r", rev: 1, unread: 1, lastPageKey: key, ...fields }), add: { unread: 1, rev: 1 }, newer: "lastPageKey" },
        ] as Write[],
      }));
      const statement = writeStatement(sql, calls);
      const { rows } = await admin.query(statement.text, statement.params);
      expect(statement.columns.map((c) => c.writes.map((name) => rows[0][name]))).toEqual(calls.map(() => [1, 1]));
      const order = calls.map((call, i) => ({ call, key: parts[i]![0] })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const { call } of order) await writeAfter(memory, call.writes[0]!, call.writes.slice(1));
      expect(await store.get("chats", "r")).toEqual(await memory.get("chats", "r"));
    }
  });

  it("a call that writes a row another call of the batch writes waits for the next statement", async () => {
    await store.insert("conversations", { _id: "c", rev: 1 });
    const made = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        store.writeAfter({ insert: "inbox", doc: row({ _id: `n${i}` }) }, [
          { update: "conversations", id: "c", patch: { set: { rev: 2, by: i } }, expect: { rev: 1 } },
        ]),
      ),
    );
    // Every message stored; of the compare-and-sets on one row, exactly one made (in one statement, two would not see each other).
    expect(made.every(([m]) => m)).toBe(true);
    expect(made.filter(([, u]) => u)).toHaveLength(1);
  });

  it("writeIfUnchanged in a batch: a call whose given document changed writes nothing, the others are made", async () => {
    await store.insert("secrets", { _id: "t1", kind: "standing-token", lastUsedAt: 1 });
    await store.insert("secrets", { _id: "t2", kind: "standing-token", lastUsedAt: 1 });
    const asRead = { _id: "t1", kind: "standing-token", lastUsedAt: 1 };
    const stale = { _id: "t2", kind: "standing-token", lastUsedAt: 0 };
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        store.writeIfUnchanged([["secrets", i === 5 ? "t2" : "t1", i === 5 ? stale : asRead]], { insert: "inbox", doc: row({ _id: `g${i}` }) }, []),
      ),
    );
    expect(results.map((r, i) => (i === 5 ? r === null : r?.[0] === true))).toEqual(Array.from({ length: 12 }, () => true));
    expect(await store.get("inbox", "g5")).toBeNull();
    expect(await store.count("inbox")).toBe(11);
  });

  it("a batch the database refuses for one call's row is tried again call by call: only that call fails", async () => {
    await admin.query(`
      CREATE OR REPLACE FUNCTION indiepm.test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW._id = 'bad' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER test_refuse BEFORE INSERT ON indiepm.conversations FOR EACH ROW EXECUTE FUNCTION indiepm.test_refuse();`);
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          store.writeAfter({ insert: "inbox", doc: row({ _id: `r${i}` }) }, [
            { insert: "conversations", doc: row({ _id: i === 4 ? "bad" : `rc${i}`, rev: 1 }) },
          ]),
        ),
      );
      expect(outcomes.map((o) => o.status)).toEqual(Array.from({ length: 10 }, (_, i) => (i === 4 ? "rejected" : "fulfilled")));
      expect((outcomes[4] as PromiseRejectedResult).reason).toMatchObject({ code: "store_error" });
      // The refused call kept nothing (its message neither); the others everything.
      expect(await store.get("inbox", "r4")).toBeNull();
      expect(await store.count("inbox")).toBe(9);
      expect(await store.count("conversations")).toBe(9);
    } finally {
      await admin.query("DROP TRIGGER test_refuse ON indiepm.conversations; DROP FUNCTION indiepm.test_refuse()");
    }
  });

  it("a statement held up by a row lock does not hold up the writes of other rows", async () => {
    await store.insert("chats", { _id: "locked", rev: 1, unread: 0, lastPageKey: "a" });
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM indiepm.chats WHERE _id = 'locked' FOR UPDATE");
      const [first, then] = delivery("waits", "locked", "b");
      const waiting = store.writeAfter(first, then);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      const others = await Promise.all(Array.from({ length: 5 }, (_, i) => store.writeAfter(...delivery(`free${i}`, `chat${i}`, "b"))));
      const took = performance.now() - started;
      expect(others.every((made) => made.every(Boolean))).toBe(true);
      // Made while the lock is still held (it is released only below).
      expect(took).toBeLessThan(2_000);
      expect(await store.get("inbox", "waits")).toBeNull();
      await holder.query("COMMIT");
      expect(await waiting).toEqual([true, true]);
    } finally {
      await holder.end();
    }
  });

  it("calls still waiting for their statement when the store is closed are made before it closes", async () => {
    const other = await openPostgresStore(database.url, { warmConnections: 0 });
    const writes = Array.from({ length: 20 }, (_, i) => other.writeAfter({ insert: "inbox", doc: row({ _id: `z${i}` }) }, []));
    await other.close();
    expect(await Promise.all(writes)).toEqual(Array.from({ length: 20 }, () => [true]));
    expect(await store.count("inbox")).toBe(20);
    await expect(other.writeAfter({ insert: "inbox", doc: row({ _id: "late" }) }, [])).rejects.toMatchObject({ code: "store_error" });
  });

  it("only failures caused by what was written are tried call by call, not an unreachable or slow database", () => {
    for (const code of ["23505", "23514", "40P01", "40001", "22P02", "P0001", "54000", "21000"]) expect(retriedAlone({ code })).toBe(true);
    for (const code of ["57014", "57P01", "08006", "53300", "ECONNREFUSED", undefined]) expect(retriedAlone({ code })).toBe(false);
    expect(retriedAlone(new Error("Connection terminated"))).toBe(false);
  });
});
