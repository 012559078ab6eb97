/**
 * What makes filing many older messages on nedb fast: updates that keep a document's key
 * in an index leave it in place there (src/store/nedb/in-place.ts): no copy of the bucket
 * (which made filing quadratic), the same position, and all or nothing when a unique
 * index refuses one; and `Store.batch`, whose writes reach the datafile together.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Datastore from "nedb-promises";
import { afterEach, describe, expect, it } from "vitest";
import { openNedbStore } from "../src/store/nedb/adapter.js";
import { DuplicateKeyError, type Doc } from "../src/store/types.js";
import { updateIndexesInPlace } from "../src/store/nedb/in-place.js";
import { internals, type NedbDatastore } from "../src/store/nedb/internals.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const ids = (docs: readonly Record<string, unknown>[]) => docs.map((doc) => doc._id);
/** A document of any fields (the tests write made-up ones). */
type Row = Doc & Record<string, unknown>;

describe("an update that keeps the indexed key", () => {
  it("leaves the bucket (the same array) and the document's place in it; an index whose key changes gets it as nedb does", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "indiepm-in-place-"));
    dirs.push(dir);
    const store = await openNedbStore({ dir });
    const site = "https://bob.example.com/";
    for (let i = 0; i < 5; i++) await store.insert("inbox", { _id: `m${i}`, recipient: site, receivedAt: `2025-01-0${i + 1}T00:00:00Z`, message: `x${i}` });
    // An unsorted find by recipient answers in the order of the recipient bucket.
    expect(ids(await store.find<Row>("inbox", { where: { recipient: site } }))).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(await store.update<Row>("inbox", "m1", { set: { conversation: "c1", pageKey: "k1" } }, { conversation: null })).toBe(true);
    expect(await store.update<Row>("inbox", "m3", { set: { content: "hello" }, unset: ["message"] })).toBe(true);
    // nedb moved an updated document to the end of its recipient bucket (m0 m2 m4 m1 m3).
    expect(ids(await store.find<Row>("inbox", { where: { recipient: site } }))).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(await store.find<Row>("inbox", { where: { conversation: "c1" } })).toEqual([
      { _id: "m1", recipient: site, receivedAt: "2025-01-02T00:00:00Z", message: "x1", conversation: "c1", pageKey: "k1" },
    ]);
    expect(await store.find<Row>("inbox", { where: { message: "x3" } })).toEqual([]);
    expect(await store.get<Row>("inbox", "m3")).toEqual({ _id: "m3", recipient: site, receivedAt: "2025-01-04T00:00:00Z", content: "hello" });
    // A changed recipient moves the document to the other bucket, as before.
    expect(await store.update<Row>("inbox", "m2", { set: { recipient: "https://other.example/" } })).toBe(true);
    expect(ids(await store.find<Row>("inbox", { where: { recipient: site } }))).toEqual(["m0", "m1", "m3", "m4"]);
    expect(ids(await store.find<Row>("inbox", { where: { recipient: "https://other.example/" } }))).toEqual(["m2"]);
    await store.close();
    // What was written reads back the same.
    const reopened = await openNedbStore({ dir });
    expect(await reopened.get<Row>("inbox", "m1")).toMatchObject({ conversation: "c1", pageKey: "k1" });
    expect(ids(await reopened.find<Row>("inbox", { where: { conversation: "c1" } }))).toEqual(["m1"]);
    await reopened.close();
  });

  async function datastore(): Promise<NedbDatastore> {
    const nedb = Datastore.create({}) as unknown as NedbDatastore; // in memory
    await nedb.ensureIndex({ fieldName: "site" });
    await nedb.ensureIndex({ fieldName: "email", unique: true, sparse: true });
    updateIndexesInPlace(nedb);
    return nedb;
  }

  it("does not copy the bucket", async () => {
    const nedb = await datastore();
    for (let i = 0; i < 4; i++) await nedb.insert({ _id: `d${i}`, site: "s" });
    const bucket = internals(nedb).indexes.site!.getMatching("s");
    await nedb.update({ _id: "d1" }, { $set: { note: "n" } });
    expect(internals(nedb).indexes.site!.getMatching("s")).toBe(bucket);
    expect(bucket.map((doc) => [doc._id, doc.note])).toEqual([
      ["d0", undefined],
      ["d1", "n"],
      ["d2", undefined],
      ["d3", undefined],
    ]);
    // The _id index holds the same new object (every index agrees on which object is the document).
    expect(internals(nedb).indexes._id!.getMatching("d1")[0]).toBe(bucket[1]);
  });

  it("a unique key refused leaves every index as it was", async () => {
    const nedb = await datastore();
    await nedb.insert({ _id: "a", site: "s", email: "a@x" });
    await nedb.insert({ _id: "b", site: "s", email: "b@x" });
    const before = internals(nedb).indexes.site!.getMatching("s").slice();
    await expect(nedb.update({ _id: "b" }, { $set: { email: "a@x", note: "n" } })).rejects.toMatchObject({ errorType: "uniqueViolated" });
    const indexes = internals(nedb).indexes;
    expect(indexes.site!.getMatching("s")).toEqual(before);
    expect(indexes.site!.getMatching("s")[1]).toBe(before[1]);
    expect(indexes._id!.getMatching("b")[0]).toBe(before[1]);
    expect(ids(indexes.email!.getMatching("b@x"))).toEqual(["b"]);
    expect(ids(indexes.email!.getMatching("a@x"))).toEqual(["a"]);
    expect(await nedb.findOne({ _id: "b" })).toEqual({ _id: "b", site: "s", email: "b@x" });
  });
});

describe("Store.batch on nedb", () => {
  async function opened() {
    const dir = await mkdtemp(path.join(tmpdir(), "indiepm-batch-"));
    dirs.push(dir);
    const lines = async () => (await readFile(path.join(dir, "inbox.db"), "utf8")).split("\n").filter((line) => line !== "").length;
    // The documents the datafile holds as nedb reads it (a later line replaces an earlier one), before any compaction.
    const onDisk = async () => {
      const docs = new Map<string, Record<string, unknown>>();
      for (const line of (await readFile(path.join(dir, "inbox.db"), "utf8")).split("\n")) {
        if (line === "") continue;
        const doc = JSON.parse(line) as Record<string, unknown>;
        if (typeof doc._id !== "string") continue;
        if (doc.$$deleted === true) docs.delete(doc._id);
        else docs.set(doc._id, doc);
      }
      return [...docs.values()];
    };
    // Without compaction at close: what is on disk is what the writes appended.
    return { dir, lines, onDisk, store: await openNedbStore({ dir, compactOnClose: false }) };
  }

  it("writes seen at once, appended together when the batch resolves, and there after a reopen", async () => {
    const { dir, lines, store } = await opened();
    for (let i = 0; i < 3; i++) await store.insert("inbox", { _id: `m${i}`, recipient: "s", n: i });
    const before = await lines();
    const result = await store.batch!(async (batched) => {
      for (let i = 0; i < 3; i++) expect(await batched.update<Row>("inbox", `m${i}`, { set: { conversation: `c${i}` } }, { conversation: null })).toBe(true);
      expect(await batched.update<Row>("inbox", "m0", { set: { pageKey: "k0" } })).toBe(true);
      expect(await batched.update<Row>("inbox", "m1", { set: { conversation: "other" } }, { conversation: null })).toBe(false);
      await batched.insert("inbox", { _id: "m3", recipient: "s", n: 3 });
      await expect(batched.insert("inbox", { _id: "m3", recipient: "s" })).rejects.toBeInstanceOf(DuplicateKeyError);
      expect(await store.get<Row>("inbox", "m0")).toMatchObject({ conversation: "c0", pageKey: "k0" });
      expect(ids(await batched.find<Row>("inbox", { where: { conversation: "c2" } }))).toEqual(["m2"]);
      expect(await lines()).toBe(before); // nothing appended yet
      return "done";
    });
    expect(result).toBe("done");
    expect(await lines()).toBe(before + 4); // one line per document touched
    await store.close();
    const reopened = await openNedbStore({ dir });
    expect(await reopened.find<Row>("inbox", { sort: { field: "n", order: "asc" } })).toEqual([
      { _id: "m0", recipient: "s", n: 0, conversation: "c0", pageKey: "k0" },
      { _id: "m1", recipient: "s", n: 1, conversation: "c1" },
      { _id: "m2", recipient: "s", n: 2, conversation: "c2" },
      { _id: "m3", recipient: "s", n: 3 },
    ]);
    await reopened.close();
  });

  it("appends the documents as they are when it ends: a write outside it meanwhile stays, a document removed meanwhile stays removed", async () => {
    const { onDisk, store } = await opened();
    await store.insert("inbox", { _id: "a", recipient: "s" });
    await store.insert("inbox", { _id: "b", recipient: "s" });
    await expect(
      store.batch!(async (batched) => {
        await batched.update<Row>("inbox", "a", { set: { conversation: "c" } });
        await batched.update<Row>("inbox", "b", { set: { conversation: "c" } });
        await store.update<Row>("inbox", "a", { set: { read: true } });
        await store.remove("inbox", "b");
        throw new Error("work failed");
      }),
    ).rejects.toThrow("work failed");
    // Read before close, which compacts a collection removed from.
    expect(await onDisk()).toEqual([{ _id: "a", recipient: "s", conversation: "c", read: true }]);
    await store.close();
  });
});
