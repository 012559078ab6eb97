/**
 * `Store.getEach` and `Store.writeAfter` (core's store/types.ts) on PostgreSQL: one
 * statement each, what a `deliver` costs the database (core's protocol/actions/deliver.ts:
 * the token, the settings and the duplicate check read together; the message and its
 * summaries written together), and `Store.writeIfUnchanged` (a later `deliver`'s one
 * statement: its writes made only while the token and settings it checked are stored as
 * read). Each outcome is also checked against core's one-call-each fallback on the memory
 * store (store/together.ts), so both stores answer alike.
 */
import { createMemoryStore, type Doc, type GivenDoc, type Store, type Write } from "@indiepm/core";
import { getEach, writeAfter, writeIfUnchanged } from "../../core/src/store/together.js";
import { type FreshDatabase, freshDatabase, postgresForTests } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

type Row = Doc & Record<string, unknown>;
/** A document of any fields, as `Write` takes it. */
const row = (doc: Row): Doc => doc;

const server = await postgresForTests();

describe.skipIf(server.skipReason)("getEach and writeAfter", () => {
  let database: FreshDatabase;
  let store: PostgresStore;
  let admin: pg.Client;
  let statements: () => Promise<number>;
  let restore = () => {};
  beforeAll(async () => {
    database = await freshDatabase();
    store = await openPostgresStore(database.url, { warmConnections: 0 });
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    // Statements sent to the server by the store's connections (the driver's Client.query, counted).
    const sent = { n: 0 };
    const query = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      if (this !== admin) sent.n++;
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
    restore = () => {
      pg.Client.prototype.query = query;
    };
    statements = async () => sent.n;
  });
  afterAll(async () => {
    restore();
    await admin?.end();
    await store?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    await admin.query("DELETE FROM indiepm.inbox; DELETE FROM indiepm.conversations; DELETE FROM indiepm.settings; DELETE FROM indiepm.secrets");
  });

  /** Runs `steps` on PostgreSQL's own writeAfter and on the memory store's fallback; both must answer alike. */
  async function both(setup: Row[][], steps: (s: Store) => Promise<unknown>): Promise<unknown> {
    const memory = createMemoryStore();
    const collections = ["inbox", "conversations", "settings"] as const;
    for (const [i, docs] of setup.entries()) for (const doc of docs) for (const s of [store, memory]) await s.insert(collections[i]!, doc);
    const onPostgres = await steps(store);
    const inMemory = await steps(memory);
    expect(onPostgres).toEqual(inMemory);
    return onPostgres;
  }

  const contents = async (s: Store) => ({
    inbox: (await s.find("inbox", { sort: { field: "_id", order: "asc" } })) as Row[],
    conversations: (await s.find("conversations", { sort: { field: "_id", order: "asc" } })) as Row[],
  });

  it("getEach: each (collection, _id) asked, in order, null for a missing one, in one statement", async () => {
    await store.insert("secrets", { _id: "h\u0000", kind: "standing-token" });
    await store.insert("settings", { _id: "https://bob.example/", rev: 1 });
    const before = await statements();
    const found = await store.getEach([
      ["secrets", "h\u0000"],
      ["settings", "https://bob.example/"],
      ["inbox", "m"],
      ["secrets", "h\u0000"],
    ]);
    expect(await statements()).toBe(before + 1);
    expect(found).toEqual([
      { _id: "h\u0000", kind: "standing-token" },
      { _id: "https://bob.example/", rev: 1 },
      null,
      { _id: "h\u0000", kind: "standing-token" },
    ]);
    expect(await store.getEach([])).toEqual([]);
    expect(await getEach(store, [["inbox", "m"]])).toEqual([null]);
    await expect(store.getEach([["nope" as "inbox", "a"]])).rejects.toMatchObject({ code: "store_error" });
    await expect(store.getEach([["inbox", ""]])).rejects.toMatchObject({ code: "store_error" });
  });

  it("a first write made makes the writes after it, in one statement", async () => {
    const before = await statements();
    const made = await store.writeAfter({ insert: "inbox", doc: row({ _id: "m1", content: "hi\u0000" }) }, [
      { insert: "conversations", doc: row({ _id: "c1", rev: 1 }) },
    ]);
    expect(await statements()).toBe(before + 1);
    expect(made).toEqual([true, true]);
    expect(await contents(store)).toEqual({ inbox: [{ _id: "m1", content: "hi\u0000" }], conversations: [{ _id: "c1", rev: 1 }] });
  });

  it("a first insert whose _id exists makes nothing: the writes after it are not made", async () => {
    const outcome = await both([[{ _id: "m1", content: "stored" }]], async (s) => {
      const made = await writeAfter(s, { insert: "inbox", doc: row({ _id: "m1", content: "again" }) }, [
        { insert: "conversations", doc: row({ _id: "c1", rev: 1 }) },
        { update: "inbox", id: "m1", patch: { set: { read: true } } },
      ]);
      return { made, ...(await contents(s)) };
    });
    expect(outcome).toEqual({ made: [false, false, false], inbox: [{ _id: "m1", content: "stored" }], conversations: [] });
  });

  it("after a first write made, an insert whose _id exists is not made and the rest are", async () => {
    const outcome = await both([[], [{ _id: "c1", rev: 4, root: "r" }]], async (s) => {
      const made = await writeAfter(s, { insert: "inbox", doc: row({ _id: "m2", content: "x" }) }, [
        { insert: "conversations", doc: row({ _id: "c1", rev: 1 }) },
        { insert: "conversations", doc: row({ _id: "c2", rev: 1 }) },
      ]);
      return { made, ...(await contents(s)) };
    });
    expect(outcome).toEqual({
      made: [true, false, true],
      inbox: [{ _id: "m2", content: "x" }],
      conversations: [
        { _id: "c1", rev: 4, root: "r" },
        { _id: "c2", rev: 1 },
      ],
    });
  });

  it("updates: a compare-and-set made when expect holds, not when it does not or the document is missing", async () => {
    const setup: Row[][] = [
      [],
      [
        { _id: "c1", rev: 1, messages: 1, subject: "s" },
        { _id: "c2", rev: 7 },
      ],
    ];
    const outcome = await both(setup, async (s) => {
      const made = await writeAfter(s, { insert: "inbox", doc: row({ _id: "m3", content: "x" }) }, [
        { update: "conversations", id: "c1", patch: { set: { rev: 2, messages: 2 }, unset: ["subject"] }, expect: { rev: 1 } },
        { update: "conversations", id: "c2", patch: { set: { rev: 9 } }, expect: { rev: 8 } },
        { update: "conversations", id: "missing", patch: { set: { rev: 2 } } },
      ]);
      const first = await writeAfter(s, { update: "conversations", id: "missing", patch: { set: { rev: 2 } } }, [{ insert: "inbox", doc: row({ _id: "m4" }) }]);
      return { made, first, ...(await contents(s)) };
    });
    expect(outcome).toMatchObject({
      made: [true, true, false, false],
      first: [false, false],
      conversations: [
        { _id: "c1", rev: 2, messages: 2 },
        { _id: "c2", rev: 7 },
      ],
    });
    expect((outcome as { inbox: Row[] }).inbox.map((d) => d._id)).toEqual(["m3"]);
  });

  it("is atomic: when a write after the first fails, the first is not kept either", async () => {
    await admin.query(`
      CREATE OR REPLACE FUNCTION indiepm.test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
      CREATE TRIGGER test_refuse BEFORE INSERT ON indiepm.webhooks FOR EACH ROW EXECUTE FUNCTION indiepm.test_refuse();`);
    try {
      await expect(
        store.writeAfter({ insert: "inbox", doc: row({ _id: "m5" }) }, [
          { insert: "conversations", doc: row({ _id: "c5", rev: 1 }) },
          { insert: "webhooks", doc: row({ _id: "w5" }) },
        ]),
      ).rejects.toMatchObject({ code: "store_error" });
      expect(await contents(store)).toEqual({ inbox: [], conversations: [] });
    } finally {
      await admin.query("DROP TRIGGER test_refuse ON indiepm.webhooks; DROP FUNCTION indiepm.test_refuse()");
    }
  });

  it("at once: of concurrent writes of one new _id exactly one is made, with the writes after it; of concurrent compare-and-sets, one", async () => {
    await store.insert("conversations", { _id: "c", rev: 1 });
    const same = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.writeAfter({ insert: "inbox", doc: row({ _id: "m", by: i }) }, [{ insert: "conversations", doc: row({ _id: `c${i}`, rev: 1 }) }]),
      ),
    );
    expect(same.filter(([m]) => m)).toHaveLength(1);
    const winner = same.findIndex(([m]) => m);
    expect(same[winner]).toEqual([true, true]);
    expect(same.filter((_, i) => i !== winner).every((made) => made.every((m) => !m))).toBe(true);
    expect((await contents(store)).conversations.map((d) => d._id)).toEqual(["c", `c${winner}`]);
    const cas = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.writeAfter({ insert: "inbox", doc: row({ _id: `n${i}` }) }, [
          { update: "conversations", id: "c", patch: { set: { rev: 2, by: i } }, expect: { rev: 1 } },
        ]),
      ),
    );
    expect(cas.every(([m]) => m)).toBe(true);
    expect(cas.filter(([, u]) => u)).toHaveLength(1);
    expect(await store.get("conversations", "c")).toMatchObject({ rev: 2 });
  });

  it("merge: inserts a missing summary; adds to a stored one, setting its other fields only when newer", async () => {
    const merge = (last: string, unread: number): Write => ({
      merge: "conversations",
      doc: row({ _id: "chat", rev: 1, unread, last, text: `latest ${last}` }),
      add: { unread, rev: 1 },
      newer: "last",
    });
    const outcome = await both([], async (s) => {
      const made = [
        ...(await writeAfter(s, { insert: "inbox", doc: row({ _id: "m1" }) }, [merge("002", 1)])),
        ...(await writeAfter(s, { insert: "inbox", doc: row({ _id: "m2" }) }, [merge("005", 1)])),
        ...(await writeAfter(s, { insert: "inbox", doc: row({ _id: "m3" }) }, [merge("003", 0)])),
        ...(await writeAfter(s, { insert: "inbox", doc: row({ _id: "m3" }) }, [merge("009", 1)])),
      ];
      return { made, conversations: (await contents(s)).conversations };
    });
    expect(outcome).toEqual({
      made: [true, true, true, true, true, true, false, false],
      conversations: [{ _id: "chat", rev: 3, unread: 2, last: "005", text: "latest 005" }],
    });
  });

  it("merge: concurrent writers of one summary are all made, each counted once, the newest last", async () => {
    const n = 16;
    const made = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        store.writeAfter({ insert: "inbox", doc: row({ _id: `m${i}` }) }, [
          { merge: "conversations", doc: row({ _id: "chat", rev: 1, unread: 1, last: String(i).padStart(3, "0") }), add: { unread: 1, rev: 1 }, newer: "last" },
        ]),
      ),
    );
    expect(made.every(([m, c]) => m && c)).toBe(true);
    expect(await store.get("conversations", "chat")).toEqual({ _id: "chat", rev: n, unread: n, last: String(n - 1).padStart(3, "0") });
  });

  /** `writeIfUnchanged` on PostgreSQL's own, or on core's fallback (a get each, compared, then writeAfter). */
  const unchanged = (s: Store, given: readonly GivenDoc[], first: Write, then: readonly Write[]) =>
    s === store ? store.writeIfUnchanged!(given, first, then) : writeIfUnchanged(s, given, first, then);
  const token: Row = { _id: "t1", kind: "standing-token", sender: "https://alice.example/", lastUsedAt: 1_765_000_000_000, note: "nul\u0000 kept" };
  const settings: Row = { _id: "https://bob.example/", policy: "anyone", contacts: ["https://carol.example/"], rev: 2 };

  it("writeIfUnchanged: made as writeAfter when each given document is stored as given (or, given null, none is), in one statement", async () => {
    const made = await both([[], [], [settings]], async (s) => {
      await s.insert("secrets", token);
      const before = await statements();
      const answer = await unchanged(
        s,
        [
          ["secrets", "t1", { ...token }],
          ["settings", "https://bob.example/", row({ ...settings, contacts: ["https://carol.example/"] })],
          ["inbox", "m0", null],
        ],
        { insert: "inbox", doc: row({ _id: "m1", content: "hi" }) },
        [{ insert: "conversations", doc: row({ _id: "c1", rev: 1 }) }],
      );
      if (s === store) expect((await statements()) - before).toBe(1);
      // A repeat: stored as given still, the insert not made (its _id taken), nor what follows it.
      const again = await unchanged(s, [["secrets", "t1", token]], { insert: "inbox", doc: row({ _id: "m1", content: "again" }) }, [
        { insert: "conversations", doc: row({ _id: "c2", rev: 1 }) },
      ]);
      return { answer, again, ...(await contents(s)) };
    });
    expect(made).toMatchObject({ answer: [true, true], again: [false, false], inbox: [{ _id: "m1", content: "hi" }], conversations: [{ _id: "c1" }] });
  });

  it.each([
    ["a field of a given document changed", (t: Row) => [["secrets", "t1", { ...t, lastUsedAt: 1_765_000_060_000 }]]],
    ["a field of a given document removed", (t: Row) => [["secrets", "t1", { ...t, note: undefined, extra: 1 }]]],
    ["a given document missing", () => [["secrets", "t9", token]]],
    ["a document stored where none was given", () => [["secrets", "t1", null]]],
    [
      "the second of two given documents changed",
      (t: Row) => [
        ["secrets", "t1", t],
        ["settings", "https://bob.example/", { ...settings, policy: "contacts" }],
      ],
    ],
  ] as [string, (t: Row) => GivenDoc[]][])("writeIfUnchanged: null and nothing written when %s", async (_, given) => {
    const outcome = await both([[], [], [settings]], async (s) => {
      await s.insert("secrets", token);
      // The given documents as the store now holds them differ: neither the first write nor any after it is made.
      const answer = await unchanged(s, given(JSON.parse(JSON.stringify(token)) as Row), { insert: "inbox", doc: row({ _id: "m1" }) }, [
        { merge: "conversations", doc: row({ _id: "chat", unread: 1, last: "1" }), add: { unread: 1 }, newer: "last" },
      ]);
      return { answer, ...(await contents(s)) };
    });
    expect(outcome).toEqual({ answer: null, inbox: [], conversations: [] });
  });

  it("writeIfUnchanged: an update or a merge first is gated too", async () => {
    const outcome = await both([[{ _id: "m1", read: false }]], async (s) => {
      await s.insert("secrets", token);
      const refused = await unchanged(s, [["secrets", "t1", null]], { update: "inbox", id: "m1", patch: { set: { read: true } } }, []);
      const mergeRefused = await unchanged(
        s,
        [["secrets", "t1", null]],
        { merge: "conversations", doc: row({ _id: "c", n: 1, k: "a" }), add: { n: 1 }, newer: "k" },
        [],
      );
      const made = await unchanged(s, [["secrets", "t1", token]], { update: "inbox", id: "m1", patch: { set: { read: true } } }, []);
      return { refused, mergeRefused, made, ...(await contents(s)) };
    });
    expect(outcome).toEqual({ refused: null, mergeRefused: null, made: [true], inbox: [{ _id: "m1", read: true }], conversations: [] });
  });

  it("refuses what insert and update refuse", async () => {
    await expect(store.writeAfter({ insert: "nope" as "inbox", doc: row({ _id: "a" }) }, [])).rejects.toMatchObject({ code: "store_error" });
    await expect(
      store.writeAfter({ insert: "inbox", doc: row({ _id: "a" }) }, [{ update: "inbox", id: "a", patch: { set: { _id: "b" } } }]),
    ).rejects.toMatchObject({
      code: "store_error",
    });
    expect(await store.get("inbox", "a")).toBeNull();
  });
});

// The one-call-each fallback, without PostgreSQL: a failure leaves the writes made before it.
describe("writeAfter's fallback (no Store.writeAfter)", () => {
  it("makes the first, then each after it in order; a failure after the first leaves the first", async () => {
    const memory = createMemoryStore();
    const writes: Write[] = [
      { insert: "conversations", doc: row({ _id: "c", rev: 1 }) },
      { update: "conversations", id: "c", patch: { set: { _id: "x" } } },
    ];
    await expect(writeAfter(memory, { insert: "inbox", doc: row({ _id: "m" }) }, writes)).rejects.toMatchObject({ code: "store_error" });
    expect(await memory.get("inbox", "m")).toEqual({ _id: "m" });
    expect(await memory.get("conversations", "c")).toEqual({ _id: "c", rev: 1 });
  });
});
