/**
 * The look for documents without a stored field on nedb (owner/filing.ts: `find` where
 * `conversation: null`, limit 1): answered from the field's sparse index when it holds
 * every document (planner.ts `noneLacks`) instead of matching every candidate (139 ms at
 * 100,000 messages), and exactly as before whenever a document lacks the field.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openNedbStore } from "../src/store/nedb/adapter.js";
import { nedbModel } from "../src/store/nedb/internals.js";
import type { Doc } from "../src/store/types.js";

type Row = Doc & Record<string, unknown>;
const SITE = "https://bob.example.com/";
const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function storeOf(docs: Row[]) {
  const dir = await mkdtemp(path.join(tmpdir(), "indiepm-lacks-"));
  dirs.push(dir);
  const store = await openNedbStore({ dir });
  for (const doc of docs) await store.insert("inbox", doc);
  return store;
}

const filed = (i: number): Row => ({ _id: `m${i}`, recipient: SITE, receivedAt: i, conversation: `c${i % 7}`, pageKey: `k${i}` });
const look = { where: { recipient: SITE, conversation: null }, limit: 1 };

describe("nedb: a find of a field no document lacks", () => {
  it("matches nothing without looking at a document when every one has the field", async () => {
    const store = await storeOf(Array.from({ length: 300 }, (_, i) => filed(i)));
    const match = vi.spyOn(nedbModel, "match");
    expect(await store.find("inbox", look)).toEqual([]);
    expect(await store.find("inbox", { where: { conversation: null } })).toEqual([]);
    expect(match).not.toHaveBeenCalled();
    await store.close();
  });

  it("finds a document without the field, or with it null, as before", async () => {
    const store = await storeOf([...Array.from({ length: 300 }, (_, i) => filed(i)), { _id: "old", recipient: SITE, receivedAt: 5 }]);
    expect((await store.find<Row>("inbox", look)).map((d) => d._id)).toEqual(["old"]);
    await store.update<Row>("inbox", "old", { set: { conversation: "c1" } });
    expect(await store.find("inbox", look)).toEqual([]);
    await store.insert("inbox", { _id: "nulled", recipient: SITE, receivedAt: 6, conversation: null });
    expect((await store.find<Row>("inbox", look)).map((d) => d._id)).toEqual(["nulled"]);
    await store.remove("inbox", "nulled");
    expect(await store.find("inbox", look)).toEqual([]);
    // Another site's document without it: this site's look matches nothing, and finds it for that site.
    await store.insert("inbox", { _id: "other", recipient: "https://other.example/", receivedAt: 7 });
    expect(await store.find("inbox", look)).toEqual([]);
    expect((await store.find<Row>("inbox", { where: { recipient: "https://other.example/", conversation: null } })).map((d) => d._id)).toEqual(["other"]);
    await store.close();
  });
});
