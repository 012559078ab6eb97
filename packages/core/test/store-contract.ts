/**
 * The shared `Store` test suite (STYLE.md practice 7): every adapter runs it, so each
 * promise written in src/store/types.ts is checked once for all of them. Groups are
 * named after those promises.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PmError } from "../src/errors.js";
import { DuplicateKeyError, type Doc, type Patch, type Query, type Scalar, type Store } from "../src/store/types.js";

/** A document with any fields: what these tests store. */
type Row = Doc & Record<string, unknown>;

export interface OpenedStore {
  store: Store;
  /** Closes the store if needed and removes what it left behind. */
  cleanup: () => Promise<void>;
}

/** Defines the contract's `describe` blocks for one adapter; `open` gives a fresh, empty store per test. */
export function describeStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await open());
    });
    afterEach(async () => {
      await cleanup();
    });

    describe("insert, get, put, remove", () => {
      it("gets what was inserted, and null for an unknown _id", async () => {
        await store.insert("outbox", { _id: "m1", sender: "https://a.example/", content: "hi", n: 1, ok: true, none: null });
        expect(await store.get("outbox", "m1")).toEqual({ _id: "m1", sender: "https://a.example/", content: "hi", n: 1, ok: true, none: null });
        expect(await store.get("outbox", "m2")).toBeNull();
      });

      it("keeps nested objects and arrays, whatever their keys", async () => {
        const doc = {
          _id: "s1",
          contacts: { "https://a.example/": { name: "A", since: 1 }, $odd: ["x", { "b.c": null }] },
          blocked: ["https://b.example/"],
          empty: {},
        };
        await store.insert("settings", doc);
        expect(await store.get("settings", "s1")).toEqual(doc);
      });

      it("keeps strings with line and paragraph separators and other unusual characters", async () => {
        const content = 'one\u2028two\u2029three\u0085four\r\nfive\nsix\u0000\ttab "quoted" \\ 😀';
        await store.insert("inbox", { _id: "m1", content });
        expect(await store.get("inbox", "m1")).toEqual({ _id: "m1", content });
      });

      it("does not store fields set to undefined", async () => {
        await store.insert("outbox", { _id: "m1", a: 1, b: undefined });
        expect(await store.get("outbox", "m1")).toStrictEqual({ _id: "m1", a: 1 });
      });

      it("keeps collections apart: one _id in two collections is two documents", async () => {
        await store.insert("outbox", { _id: "same", role: "sent" });
        await store.insert("inbox", { _id: "same", role: "received" });
        expect(await store.get("outbox", "same")).toEqual({ _id: "same", role: "sent" });
        expect(await store.get("inbox", "same")).toEqual({ _id: "same", role: "received" });
      });

      it("put inserts a missing document and replaces an existing one whole", async () => {
        await store.put("settings", { _id: "site", policy: "anyone", contacts: ["https://a.example/"] });
        expect(await store.get("settings", "site")).toEqual({ _id: "site", policy: "anyone", contacts: ["https://a.example/"] });
        await store.put("settings", { _id: "site", policy: "nobody" });
        expect(await store.get("settings", "site")).toEqual({ _id: "site", policy: "nobody" });
        expect(await store.count("settings")).toBe(1);
      });

      it("remove answers true when the document existed, false after", async () => {
        await store.insert("secrets", { _id: "code1", hash: "h" });
        expect(await store.remove("secrets", "code1")).toBe(true);
        expect(await store.get("secrets", "code1")).toBeNull();
        expect(await store.remove("secrets", "code1")).toBe(false);
      });

      it("remove with expect removes only a document whose fields still hold those values", async () => {
        await store.insert("handshakes", { _id: "h1", state: "failed", updatedAt: 5 });
        expect(await store.remove("handshakes", "h1", { state: "done" })).toBe(false);
        expect(await store.remove("handshakes", "h1", { state: "failed", updatedAt: 4 })).toBe(false);
        expect(await store.get("handshakes", "h1")).toMatchObject({ state: "failed" });
        expect(await store.remove("handshakes", "h1", { state: "failed", updatedAt: 5, missing: null })).toBe(true);
        expect(await store.get("handshakes", "h1")).toBeNull();
        expect(await store.remove("handshakes", "h1", { state: "failed" })).toBe(false);
      });

      it("a removed _id can be inserted again", async () => {
        await store.insert("secrets", { _id: "code1", n: 1 });
        await store.remove("secrets", "code1");
        await store.insert("secrets", { _id: "code1", n: 2 });
        expect(await store.get("secrets", "code1")).toEqual({ _id: "code1", n: 2 });
      });
    });

    describe("DuplicateKeyError", () => {
      it("insert of an existing _id fails with DuplicateKeyError and leaves the document", async () => {
        await store.insert("secrets", { _id: "code1", n: 1 });
        const error = await store.insert("secrets", { _id: "code1", n: 2 }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(DuplicateKeyError);
        expect(error).toMatchObject({ collection: "secrets", id: "code1" });
        expect(await store.get("secrets", "code1")).toEqual({ _id: "code1", n: 1 });
      });

      it("of concurrent inserts of one _id, exactly one succeeds", async () => {
        const results = await Promise.allSettled(Array.from({ length: 20 }, (_, n) => store.insert("secrets", { _id: "code1", n })));
        const won = results.filter((result) => result.status === "fulfilled");
        const lost = results.filter((result) => result.status === "rejected");
        expect(won).toHaveLength(1);
        expect(lost.every((result) => result.reason instanceof DuplicateKeyError)).toBe(true);
        expect(await store.count("secrets")).toBe(1);
      });
    });

    describe("documents come back as copies", () => {
      it("changing an inserted or put object afterwards does not change the store", async () => {
        const doc = { _id: "m1", to: ["https://a.example/"], meta: { n: 1 } };
        await store.insert("outbox", doc);
        doc.to.push("https://b.example/");
        doc.meta.n = 2;
        const replacement = { _id: "m2", meta: { n: 1 } };
        await store.put("outbox", replacement);
        replacement.meta.n = 2;
        expect(await store.get("outbox", "m1")).toEqual({ _id: "m1", to: ["https://a.example/"], meta: { n: 1 } });
        expect(await store.get("outbox", "m2")).toEqual({ _id: "m2", meta: { n: 1 } });
      });

      it("changing what get or find returned does not change the store", async () => {
        await store.insert("outbox", { _id: "m1", to: ["https://a.example/"], n: 1 });
        const got = await store.get<Doc & { to: string[]; n: number }>("outbox", "m1");
        got?.to.push("https://b.example/");
        if (got !== null) got.n = 2;
        const [found] = await store.find<Doc & { to: string[] }>("outbox");
        found?.to.push("https://c.example/");
        expect(await store.get("outbox", "m1")).toEqual({ _id: "m1", to: ["https://a.example/"], n: 1 });
      });

      it("changing a patch after update does not change the store", async () => {
        await store.insert("settings", { _id: "site" });
        const patch = { set: { contacts: ["https://a.example/"] } };
        await store.update<Row>("settings", "site", patch);
        patch.set.contacts.push("https://b.example/");
        expect(await store.get("settings", "site")).toEqual({ _id: "site", contacts: ["https://a.example/"] });
      });
    });

    describe("update: patch", () => {
      beforeEach(async () => {
        await store.insert("deliveries", { _id: "d1", status: "pending", attempts: 0, error: "timeout", detail: "slow" });
      });

      it("sets the patch's fields, keeps the others, answers true", async () => {
        expect(await store.update<Row>("deliveries", "d1", { set: { status: "delivered", attempts: 1, via: { flow: "token" } } })).toBe(true);
        expect(await store.get("deliveries", "d1")).toEqual({
          _id: "d1",
          status: "delivered",
          attempts: 1,
          error: "timeout",
          detail: "slow",
          via: { flow: "token" },
        });
      });

      it("removes the fields named in unset (present or not), and sets null as a value", async () => {
        expect(await store.update<Row>("deliveries", "d1", { set: { detail: null }, unset: ["error", "never"] })).toBe(true);
        expect(await store.get("deliveries", "d1")).toStrictEqual({ _id: "d1", status: "pending", attempts: 0, detail: null });
      });

      it("answers false for a missing document and creates nothing", async () => {
        expect(await store.update<Row>("deliveries", "nope", { set: { status: "delivered" } })).toBe(false);
        expect(await store.get("deliveries", "nope")).toBeNull();
        expect(await store.count("deliveries")).toBe(1);
      });

      it("an empty patch changes nothing and answers whether the document exists", async () => {
        expect(await store.update("deliveries", "d1", {})).toBe(true);
        expect(await store.update("deliveries", "nope", {})).toBe(false);
        expect(await store.get("deliveries", "d1")).toEqual({ _id: "d1", status: "pending", attempts: 0, error: "timeout", detail: "slow" });
      });
    });

    describe("update: compare-and-set with expect", () => {
      beforeEach(async () => {
        await store.insert("secrets", { _id: "code1", state: "issued", uses: 0, note: null });
      });

      const rows: { name: string; expect: Record<string, Scalar>; holds: boolean }[] = [
        { name: "the expected value is current", expect: { state: "issued" }, holds: true },
        { name: "another value is current", expect: { state: "used" }, holds: false },
        { name: "several fields all hold", expect: { state: "issued", uses: 0 }, holds: true },
        { name: "one of several fields does not hold", expect: { state: "issued", uses: 1 }, holds: false },
        { name: "null expected, the field is missing", expect: { usedBy: null }, holds: true },
        { name: "null expected, the field is null", expect: { note: null }, holds: true },
        { name: "null expected, the field has a value", expect: { state: null }, holds: false },
        { name: "a value expected, the field is missing", expect: { usedBy: "x" }, holds: false },
        { name: "types differ (0 vs false)", expect: { uses: false }, holds: false },
        { name: 'types differ (0 vs "0")', expect: { uses: "0" }, holds: false },
        { name: "expect is empty", expect: {}, holds: true },
      ];
      it.each(rows)("$name → changed: $holds", async ({ expect: expected, holds }) => {
        expect(await store.update<Row>("secrets", "code1", { set: { state: "used", usedBy: "https://a.example/" } }, expected)).toBe(holds);
        const state = holds ? "used" : "issued";
        expect(await store.get("secrets", "code1")).toMatchObject({ state });
      });

      it("answers false for a missing document, even when expect is only nulls", async () => {
        expect(await store.update<Row>("secrets", "nope", { set: { state: "used" } }, { usedBy: null })).toBe(false);
        expect(await store.get("secrets", "nope")).toBeNull();
      });

      it("can remove the field it expected", async () => {
        expect(await store.update<Row>("secrets", "code1", { unset: ["state"] }, { state: "issued" })).toBe(true);
        expect(await store.get("secrets", "code1")).toStrictEqual({ _id: "code1", uses: 0, note: null });
      });

      it("of 50 concurrent updates expecting the same value, exactly one wins", async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, n) => store.update<Row>("secrets", "code1", { set: { state: "used", usedBy: `client-${n}` } }, { state: "issued" })),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect(await store.get("secrets", "code1")).toMatchObject({ state: "used", usedBy: `client-${winner}` });
      });

      it("of 50 concurrent claims expecting a missing field (null), exactly one wins", async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, n) => store.update<Row>("secrets", "code1", { set: { claimedBy: `worker-${n}` } }, { claimedBy: null })),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.get("secrets", "code1")).toMatchObject({ claimedBy: `worker-${results.indexOf(true)}` });
      });
    });

    describe("find: where, range, sort, limit", () => {
      // d4 has no nextAttemptAt; d6's is a string; d7's error is null, d1–d3's is missing.
      const seed: Row[] = [
        { _id: "d1", status: "pending", nextAttemptAt: 100, recipient: "https://a.example/" },
        { _id: "d2", status: "pending", nextAttemptAt: 300, recipient: "https://b.example/" },
        { _id: "d3", status: "delivered", nextAttemptAt: 200, recipient: "https://a.example/" },
        { _id: "d4", status: "failed", recipient: "https://c.example/", error: "expired" },
        { _id: "d5", status: "pending", nextAttemptAt: 50, recipient: "https://c.example/", error: "timeout" },
        { _id: "d6", status: "pending", nextAttemptAt: "soon", recipient: "https://d.example/", to: ["https://a.example/"] },
        { _id: "d7", status: "failed", nextAttemptAt: 400, recipient: "https://b.example/", error: null, urgent: true },
      ];
      beforeEach(async () => {
        for (const doc of seed) await store.insert("deliveries", doc);
      });

      /** `ids` in order when the query sorts, else compared as a set. */
      const rows: { name: string; query?: Query; ids: string[] }[] = [
        { name: "no query: everything", ids: ["d1", "d2", "d3", "d4", "d5", "d6", "d7"] },
        { name: "where one field", query: { where: { status: "pending" } }, ids: ["d1", "d2", "d5", "d6"] },
        { name: "where two fields", query: { where: { status: "pending", recipient: "https://c.example/" } }, ids: ["d5"] },
        { name: "where matching nothing", query: { where: { status: "cancelled" } }, ids: [] },
        { name: "where null: missing or null", query: { where: { error: null } }, ids: ["d1", "d2", "d3", "d6", "d7"] },
        { name: "where null and a value", query: { where: { error: null, status: "failed" } }, ids: ["d7"] },
        { name: "where a boolean", query: { where: { urgent: true } }, ids: ["d7"] },
        { name: "where a number", query: { where: { nextAttemptAt: 100 } }, ids: ["d1"] },
        { name: "where a number never matches its string", query: { where: { nextAttemptAt: "100" } }, ids: [] },
        { name: "where a scalar never matches inside an array", query: { where: { to: "https://a.example/" } }, ids: [] },
        { name: "range lte (numbers only)", query: { range: { field: "nextAttemptAt", lte: 200 } }, ids: ["d1", "d3", "d5"] },
        { name: "range gt and lt", query: { range: { field: "nextAttemptAt", gt: 100, lt: 400 } }, ids: ["d2", "d3"] },
        { name: "range gte and lte, inclusive", query: { range: { field: "nextAttemptAt", gte: 100, lte: 300 } }, ids: ["d1", "d2", "d3"] },
        { name: "range on strings", query: { range: { field: "recipient", gte: "https://b", lt: "https://d" } }, ids: ["d2", "d4", "d5", "d7"] },
        { name: "range with a string bound skips numbers", query: { range: { field: "nextAttemptAt", gte: "a" } }, ids: ["d6"] },
        { name: "range with a null bound matches nothing", query: { range: { field: "nextAttemptAt", lt: null } }, ids: [] },
        { name: "range without bounds: no condition", query: { range: { field: "nextAttemptAt" } }, ids: ["d1", "d2", "d3", "d4", "d5", "d6", "d7"] },
        { name: "where and range", query: { where: { status: "pending" }, range: { field: "nextAttemptAt", lt: 250 } }, ids: ["d1", "d5"] },
        { name: "where and range on one field", query: { where: { nextAttemptAt: 300 }, range: { field: "nextAttemptAt", gt: 100 } }, ids: ["d2"] },
        { name: "where null and range", query: { where: { error: null }, range: { field: "nextAttemptAt", gte: 200 } }, ids: ["d2", "d3", "d7"] },
        {
          name: "sort asc: missing, then numbers, then strings",
          query: { sort: { field: "nextAttemptAt", order: "asc" } },
          ids: ["d4", "d5", "d1", "d3", "d2", "d7", "d6"],
        },
        {
          name: "sort desc",
          query: { sort: { field: "nextAttemptAt", order: "desc" } },
          ids: ["d6", "d7", "d2", "d3", "d1", "d5", "d4"],
        },
        { name: "sort on strings", query: { where: { status: "pending" }, sort: { field: "recipient", order: "desc" } }, ids: ["d6", "d5", "d2", "d1"] },
        {
          name: "where, range, sort and limit: the queue's next due",
          query: { where: { status: "pending" }, range: { field: "nextAttemptAt", lte: 1000 }, sort: { field: "nextAttemptAt", order: "asc" }, limit: 2 },
          ids: ["d5", "d1"],
        },
        { name: "sort and limit", query: { sort: { field: "nextAttemptAt", order: "desc" }, limit: 3 }, ids: ["d6", "d7", "d2"] },
        { name: "limit larger than the result", query: { where: { status: "failed" }, sort: { field: "_id", order: "asc" }, limit: 10 }, ids: ["d4", "d7"] },
        { name: "limit 0: nothing", query: { limit: 0 }, ids: [] },
        { name: "sort by _id", query: { sort: { field: "_id", order: "desc" }, limit: 2 }, ids: ["d7", "d6"] },
      ];
      it.each(rows)("$name", async ({ query, ids }) => {
        const found = (await store.find("deliveries", query)).map((doc) => doc._id);
        if (query?.sort !== undefined) expect(found).toEqual(ids);
        else expect([...found].sort()).toEqual([...ids].sort());
      });

      it("limit without sort returns that many matching documents", async () => {
        const found = await store.find<Row>("deliveries", { where: { status: "pending" }, limit: 2 });
        expect(found).toHaveLength(2);
        for (const doc of found) expect(doc.status).toBe("pending");
      });

      it("returns whole documents", async () => {
        expect(await store.find("deliveries", { where: { _id: "d6" } })).toEqual([seed[5]]);
      });

      it("an empty collection finds nothing", async () => {
        expect(await store.find("grants", { where: { status: "pending" } })).toEqual([]);
      });
    });

    describe("count", () => {
      beforeEach(async () => {
        await store.insert("inbox", { _id: "m1", recipient: "https://a.example/", read: true });
        await store.insert("inbox", { _id: "m2", recipient: "https://a.example/", read: false });
        await store.insert("inbox", { _id: "m3", recipient: "https://b.example/" });
      });

      const rows: { name: string; where?: Record<string, Scalar>; count: number }[] = [
        { name: "everything", count: 3 },
        { name: "empty where: everything", where: {}, count: 3 },
        { name: "one field", where: { recipient: "https://a.example/" }, count: 2 },
        { name: "two fields", where: { recipient: "https://a.example/", read: false }, count: 1 },
        { name: "null: missing or null", where: { read: null }, count: 1 },
        { name: "nothing", where: { recipient: "https://z.example/" }, count: 0 },
      ];
      it.each(rows)("$name → $count", async ({ where, count }) => {
        expect(await store.count("inbox", where)).toBe(count);
      });

      it("an empty collection counts 0", async () => {
        expect(await store.count("handshakes")).toBe(0);
      });
    });

    describe("refuses input an adapter could misread", () => {
      const refusals: { name: string; call: (store: Store) => Promise<unknown> }[] = [
        { name: "a field name with a dot", call: (s) => s.insert("outbox", { _id: "m1", "a.b": 1 }) },
        { name: "a field name starting with $", call: (s) => s.put("outbox", { _id: "m1", $where: 1 }) },
        { name: "an empty _id", call: (s) => s.insert("outbox", { _id: "" }) },
        { name: "a non-string _id", call: (s) => s.get("outbox", { $ne: "" } as unknown as string) },
        { name: "an object in where (query injection)", call: (s) => s.find("secrets", { where: { hash: { $ne: null } as unknown as Scalar } }) },
        {
          name: "an object in expect",
          call: (s) => s.update<Row>("secrets", "x", { set: { state: "used" } }, { state: { $exists: true } as unknown as Scalar }),
        },
        { name: "an object in count's where", call: (s) => s.count("secrets", { hash: { $gt: "" } as unknown as Scalar }) },
        { name: "an operator as where field", call: (s) => s.find("secrets", { where: { $or: 1 } }) },
        { name: "a dotted patch field", call: (s) => s.update<Row>("settings", "x", { set: { "a.b": 1 } }) },
        { name: "a dotted unset field", call: (s) => s.update<Row>("settings", "x", { unset: ["a.b"] }) },
        { name: "a patch changing _id", call: (s) => s.update<Row>("settings", "x", { set: { _id: "y" } }) },
        { name: "a patch removing _id", call: (s) => s.update<Row>("settings", "x", { unset: ["_id"] }) },
        { name: "undefined as a value to set (name the field in unset)", call: (s) => s.update<Row>("settings", "x", { set: { a: undefined } }) },
        { name: "a field both set and unset", call: (s) => s.update<Row>("settings", "x", { set: { a: 1 }, unset: ["a"] }) },
        { name: "a record as the patch (not { set, unset })", call: (s) => s.update("settings", "x", { a: 1 } as unknown as Patch<Row>) },
        { name: "unset not a list", call: (s) => s.update("settings", "x", { unset: "a" } as unknown as Patch<Row>) },
        { name: "an unknown collection", call: (s) => s.get("nope" as "outbox", "x") },
        { name: "a negative limit", call: (s) => s.find("outbox", { limit: -1 }) },
        { name: "an unknown sort order", call: (s) => s.find("outbox", { sort: { field: "a", order: "up" as "asc" } }) },
      ];
      it.each(refusals)("$name → PmError store_error", async ({ call }) => {
        await expect(call(store)).rejects.toMatchObject({ name: "PmError", code: "store_error" });
      });
    });

    describe("close", () => {
      it("is idempotent", async () => {
        await store.insert("outbox", { _id: "m1" });
        await store.close();
        await store.close();
        await Promise.all([store.close(), store.close()]);
      });

      it("calls after close reject with PmError store_error", async () => {
        await store.close();
        const calls: Promise<unknown>[] = [
          store.insert("outbox", { _id: "m1" }),
          store.get("outbox", "m1"),
          store.update<Row>("outbox", "m1", { set: { a: 1 } }),
          store.put("outbox", { _id: "m1" }),
          store.remove("outbox", "m1"),
          store.find("outbox"),
          store.count("outbox"),
        ];
        for (const call of calls) {
          const error = await call.catch((caught: unknown) => caught);
          expect(error).toBeInstanceOf(PmError);
          expect(error).toMatchObject({ code: "store_error" });
        }
      });

      it("lets calls already made finish", async () => {
        await store.insert("deliveries", { _id: "d1", attempts: 0 });
        const updates = Array.from({ length: 20 }, (_, n) => store.update<Row>("deliveries", "d1", { set: { attempts: n + 1 } }));
        await store.close();
        expect(await Promise.all(updates)).toEqual(Array.from({ length: 20 }, () => true));
      });
    });
  });
}
