/**
 * The nedb adapter answers a sorted, limited `find` on an indexed field by walking the
 * index (nedb/planner.ts `walkSortIndex`), and reorders equalities so nedb picks the narrowest
 * index. Both only show above a few hundred candidates, which the shared contract's
 * small fixtures never reach: here 1,500 documents with ties, missing, null and string
 * values on the sort field, and every query compared with the memory store's answer.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryStore } from "../src/store/memory.js";
import { openNedbStore } from "../src/store/nedb/index.js";
import type { Doc, Query, Store } from "../src/store/types.js";

/** A document with any fields. */
type Row = Doc & Record<string, unknown>;

/** Deterministic pseudo-random numbers (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(7);
const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
const STATUSES = ["pending", "pending", "pending", "delivered", "delivered", "failed", null, undefined] as const;
const RECIPIENTS = ["https://a.example/", "https://b.example/", "https://c.example/"] as const;

const docs: Row[] = Array.from({ length: 1500 }, (_, n) => {
  const roll = random();
  // Ties on purpose (40 distinct numbers), and the other types nedb orders around them.
  const nextAttemptAt = roll < 0.05 ? undefined : roll < 0.08 ? null : roll < 0.1 ? pick(["soon", "later"]) : Math.floor(random() * 40) * 25;
  const doc: Row = { _id: `d${String(n).padStart(4, "0")}`, recipient: pick(RECIPIENTS), attempts: Math.floor(random() * 3) };
  const status = pick(STATUSES);
  if (status !== undefined) doc.status = status;
  if (nextAttemptAt !== undefined) doc.nextAttemptAt = nextAttemptAt;
  if (random() < 0.2) doc.to = [pick(RECIPIENTS)];
  return doc;
});

const rows: { name: string; query: Query }[] = [
  { name: "newest first, no condition", query: { sort: { field: "nextAttemptAt", order: "desc" }, limit: 50 } },
  { name: "oldest first, no condition", query: { sort: { field: "nextAttemptAt", order: "asc" }, limit: 50 } },
  {
    name: "the queue's due deliveries",
    query: { where: { status: "pending" }, range: { field: "nextAttemptAt", lte: 500 }, sort: { field: "nextAttemptAt", order: "asc" }, limit: 64 },
  },
  { name: "the queue's next due", query: { where: { status: "pending" }, sort: { field: "nextAttemptAt", order: "asc" }, limit: 1 } },
  { name: "a page of one recipient", query: { where: { recipient: "https://b.example/" }, sort: { field: "nextAttemptAt", order: "desc" }, limit: 20 } },
  {
    name: "two equalities",
    query: { where: { recipient: "https://c.example/", status: "pending" }, sort: { field: "nextAttemptAt", order: "desc" }, limit: 30 },
  },
  { name: "where null", query: { where: { status: null }, sort: { field: "nextAttemptAt", order: "asc" }, limit: 40 } },
  {
    name: "range both ends, desc",
    query: { range: { field: "nextAttemptAt", gt: 100, lte: 700 }, sort: { field: "nextAttemptAt", order: "desc" }, limit: 100 },
  },
  {
    name: "all of a range, desc",
    query: { range: { field: "nextAttemptAt", gte: 100, lt: 700 }, sort: { field: "nextAttemptAt", order: "desc" }, limit: 5000 },
  },
  {
    name: "all of a range, asc",
    query: { where: { status: "pending" }, range: { field: "nextAttemptAt", gt: 100, lte: 700 }, sort: { field: "nextAttemptAt", order: "asc" }, limit: 5000 },
  },
  { name: "range on strings", query: { range: { field: "nextAttemptAt", gte: "a" }, sort: { field: "nextAttemptAt", order: "asc" }, limit: 10 } },
  { name: "range with a null bound", query: { range: { field: "nextAttemptAt", lt: null }, sort: { field: "nextAttemptAt", order: "desc" }, limit: 10 } },
  { name: "range on another field", query: { range: { field: "attempts", gte: 1 }, sort: { field: "nextAttemptAt", order: "desc" }, limit: 25 } },
  { name: "a limit past the end", query: { where: { status: "failed" }, sort: { field: "nextAttemptAt", order: "desc" }, limit: 5000 } },
  { name: "nothing matches", query: { where: { status: "cancelled" }, sort: { field: "nextAttemptAt", order: "asc" }, limit: 5 } },
  { name: "by _id", query: { where: { recipient: "https://a.example/" }, sort: { field: "_id", order: "desc" }, limit: 15 } },
];

describe("nedb: sorted pages over many documents answer as the memory store does", () => {
  let dir: string;
  let nedb: Store;
  const memory = createMemoryStore();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "indiepm-store-pages-"));
    nedb = await openNedbStore({ dir });
    for (const doc of docs) {
      await nedb.insert("deliveries", doc);
      await memory.insert("deliveries", doc);
    }
  });
  afterAll(async () => {
    await nedb.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The sort keys in order; documents with equal keys may come in any order, so compare the groups as sets. */
  function groups(found: Row[], field: string): [string, string[]][] {
    const out: [string, string[]][] = [];
    for (const doc of found) {
      const key = JSON.stringify(doc[field] ?? "(missing)");
      if (out.at(-1)?.[0] !== key) out.push([key, []]);
      out.at(-1)![1].push(doc._id);
    }
    return out.map(([key, ids]) => [key, ids.sort()]);
  }

  it.each(rows)("$name", async ({ query }) => {
    const expected = await memory.find<Row>("deliveries", query);
    const found = await nedb.find<Row>("deliveries", query);
    expect(found).toHaveLength(expected.length);
    const field = query.sort!.field;
    const [want, got] = [groups(expected, field), groups(found, field)];
    expect(got.map(([key]) => key)).toEqual(want.map(([key]) => key));
    // The last group may be cut by the limit at a different member.
    expect(got.slice(0, -1)).toEqual(want.slice(0, -1));
    const { limit: _, ...unlimited } = query;
    const everyMatch = new Set((await memory.find("deliveries", unlimited)).map((doc) => doc._id));
    for (const doc of found) expect(everyMatch.has(doc._id)).toBe(true);
    // Whole documents, as stored.
    for (const doc of found) expect(doc).toEqual(docs.find((d) => d._id === doc._id));
  });

  it("count and find without sort pick the narrowest index and still answer the same", async () => {
    const where = { recipient: "https://a.example/", status: "failed" };
    expect(await nedb.count("deliveries", where)).toBe(await memory.count("deliveries", where));
    const ids = async (store: Store) => (await store.find("deliveries", { where })).map((doc) => doc._id).sort();
    expect(await ids(nedb)).toEqual(await ids(memory));
  });

  it("returns copies: changing a found document changes nothing stored", async () => {
    const [first] = await nedb.find<Row>("deliveries", { sort: { field: "nextAttemptAt", order: "desc" }, limit: 1 });
    first!.recipient = "changed";
    (first!.to as string[] | undefined)?.push("changed");
    const [again] = await nedb.find("deliveries", { sort: { field: "nextAttemptAt", order: "desc" }, limit: 1 });
    expect(again).toEqual(docs.find((d) => d._id === first!._id));
  });
});
