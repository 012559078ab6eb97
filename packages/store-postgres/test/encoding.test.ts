/**
 * What jsonb cannot hold, kept anyway (src/encoding.ts): U+0000 (and U+0001, the escape)
 * in `_id`s, field names, values, `where`, `expect` and ranges, with strings still
 * ordered by code point. Proved able to fail: with `toJsonb` as plain JSON.stringify,
 * every insert here fails ("unsupported Unicode escape sequence").
 */
import type { Doc } from "@indiepm/core";
import { type FreshDatabase, freshDatabase, postgresForTests } from "@indiepm/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

type Row = Doc & Record<string, unknown>;

const server = await postgresForTests();

describe.skipIf(server.skipReason)("U+0000 and U+0001 everywhere", () => {
  let database: FreshDatabase;
  let store: PostgresStore;
  beforeAll(async () => {
    database = await freshDatabase();
    store = await openPostgresStore(database.url);
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  const odd = ["a\u0000b", "a\u0001b", "a\u0001\u0001", "a\u0001\u0002", "\u0000", "\u0001", "a\\u0000b", "ab"];

  it("keeps them in _id, field names and nested values, and finds by them", async () => {
    for (const [n, text] of odd.entries()) {
      const doc = { _id: `id ${text}`, [`field ${text}`]: text, nested: { [text]: [text, { deep: text }] }, n };
      await store.insert("inbox", doc);
      expect(await store.get("inbox", doc._id)).toEqual(doc);
      expect(await store.find("inbox", { where: { [`field ${text}`]: text } })).toEqual([doc]);
      expect(await store.find("inbox", { where: { _id: doc._id } })).toEqual([doc]);
    }
    expect(await store.count("inbox")).toBe(odd.length);
  });

  it("update, expect and remove by them", async () => {
    await store.insert("secrets", { _id: "s\u0000", state: "x\u0000", drop: "\u0001" });
    expect(await store.update<Row>("secrets", "s\u0000", { set: { state: "y\u0001" }, unset: ["drop"] }, { state: "x\u0000" })).toBe(true);
    expect(await store.update<Row>("secrets", "s\u0000", { set: { state: "z" } }, { state: "x\u0000" })).toBe(false);
    expect(await store.get("secrets", "s\u0000")).toEqual({ _id: "s\u0000", state: "y\u0001" });
    expect(await store.remove("secrets", "s\u0000", { state: "y\u0001" })).toBe(true);
  });

  it("strings still sort and compare by code point", async () => {
    const values = ["b", "a\u0002", "a\u0001", "a\u0000", "a", "a\u0000\u0000", "a\u0001\u0000"];
    for (const [n, value] of values.entries()) await store.insert("outbox", { _id: `o${n}`, key: value });
    const sorted = (await store.find<Row>("outbox", { sort: { field: "key", order: "asc" } })).map((doc) => doc.key);
    expect(sorted).toEqual([...values].sort());
    const ranged = (await store.find<Row>("outbox", { range: { field: "key", gt: "a\u0000", lt: "a\u0002" } })).map((doc) => doc.key).sort();
    expect(ranged).toEqual(values.filter((v) => v > "a\u0000" && v < "a\u0002").sort());
  });
});
