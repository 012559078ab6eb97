/**
 * nedb updates that keep a document's key in an index leave it in place there
 * (src/store/nedb/in-place.ts): no copy of the bucket (which made filing older messages
 * quadratic), the same position, and all or nothing when a unique index refuses one.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Datastore from "nedb-promises";
import { afterEach, describe, expect, it } from "vitest";
import { openNedbStore } from "../src/store/nedb/adapter.js";
import { updateIndexesInPlace } from "../src/store/nedb/in-place.js";
import { internals, type NedbDatastore, type NedbDocument } from "../src/store/nedb/internals.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const ids = (docs: NedbDocument[]) => docs.map((doc) => doc._id);

describe("an update that keeps the indexed key", () => {
  it("leaves the bucket (the same array) and the document's place in it; an index whose key changes gets it as nedb does", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "indiepm-in-place-"));
    dirs.push(dir);
    const store = await openNedbStore({ dir });
    const site = "https://bob.example.com/";
    for (let i = 0; i < 5; i++) await store.insert("inbox", { _id: `m${i}`, recipient: site, receivedAt: `2025-01-0${i + 1}T00:00:00Z`, message: `x${i}` });
    // An unsorted find by recipient answers in the order of the recipient bucket.
    expect(ids(await store.find("inbox", { where: { recipient: site } }))).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(await store.update("inbox", "m1", { set: { conversation: "c1", pageKey: "k1" } }, { conversation: null })).toBe(true);
    expect(await store.update("inbox", "m3", { set: { content: "hello" }, unset: ["message"] })).toBe(true);
    // nedb moved an updated document to the end of its recipient bucket (m0 m2 m4 m1 m3).
    expect(ids(await store.find("inbox", { where: { recipient: site } }))).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(await store.find("inbox", { where: { conversation: "c1" } })).toEqual([
      { _id: "m1", recipient: site, receivedAt: "2025-01-02T00:00:00Z", message: "x1", conversation: "c1", pageKey: "k1" },
    ]);
    expect(await store.find("inbox", { where: { message: "x3" } })).toEqual([]);
    expect(await store.get("inbox", "m3")).toEqual({ _id: "m3", recipient: site, receivedAt: "2025-01-04T00:00:00Z", content: "hello" });
    // A changed recipient moves the document to the other bucket, as before.
    expect(await store.update("inbox", "m2", { set: { recipient: "https://other.example/" } })).toBe(true);
    expect(ids(await store.find("inbox", { where: { recipient: site } }))).toEqual(["m0", "m1", "m3", "m4"]);
    expect(ids(await store.find("inbox", { where: { recipient: "https://other.example/" } }))).toEqual(["m2"]);
    await store.close();
    // What was written reads back the same.
    const reopened = await openNedbStore({ dir });
    expect(await reopened.get("inbox", "m1")).toMatchObject({ conversation: "c1", pageKey: "k1" });
    expect(ids(await reopened.find("inbox", { where: { conversation: "c1" } }))).toEqual(["m1"]);
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
