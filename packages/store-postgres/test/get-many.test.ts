/**
 * `Store.getMany` (core's store/types.ts): the documents with these `_id`s in the order
 * asked, `null` for each missing, in one round trip — what the owner's search reads the
 * summaries of the conversations it found with (owner/conversations.ts).
 */
import type { Doc } from "@indiepm/core";
import { type FreshDatabase, freshDatabase, postgresForTests } from "@indiepm/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

type Row = Doc & Record<string, unknown>;

const server = await postgresForTests();

describe.skipIf(server.skipReason)("getMany", () => {
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

  it("answers each _id asked, in order, with null for a missing one (ids with U+0000 too)", async () => {
    const docs: Row[] = [
      { _id: "a", n: 1 },
      { _id: "b\u0000", n: 2, text: "x\u0000y" },
      { _id: "c", n: 3 },
    ];
    for (const doc of docs) await store.insert("conversations", doc);
    expect(await store.getMany("conversations", ["c", "missing", "b\u0000", "a", "c"])).toEqual([docs[2], null, docs[1], docs[0], docs[2]]);
    expect(await store.getMany("conversations", [])).toEqual([]);
    expect(await store.getMany("inbox", ["a"])).toEqual([null]);
  });

  it("refuses what get refuses (an empty _id, an unknown collection)", async () => {
    await expect(store.getMany("conversations", [""])).rejects.toMatchObject({ code: "store_error" });
    await expect(store.getMany("nope" as "inbox", ["a"])).rejects.toMatchObject({ code: "store_error" });
  });
});
