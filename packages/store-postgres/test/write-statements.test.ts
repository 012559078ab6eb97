/**
 * The statement of a batch of writes kept per shape (src/sql.ts `WriteStatements`): a
 * batch of a shape seen before gets the text a fresh build (`writeStatement`) makes for
 * it, and its own parameters, in the same order. Shapes are drawn at random (a seeded
 * generator): given documents or none, `null` ones, inserts, merges alone and merges into
 * one row together (rows sorted otherwise than they appear), `add` fields in different
 * orders, names that could read alike when joined (`1:x`, U+0000), updates; two batches of
 * each shape with different documents, `_id`s and numbers, all through one cache, so two
 * shapes taken for one would get the wrong text; and pairs of shapes that differ in one
 * thing only. No database needed. Proved able to fail: with `shapeKey` leaving out whether
 * a given document is `null`, a merge's group, its `add` fields or the lengths of names,
 * a pair gets the other's text; with a shape not refreshed when used, the eviction test.
 */
import type { CollectionName, Doc, GivenDoc, Write } from "@indiepm/core";
import { describe, expect, it } from "vitest";
import { Sql, type WriteCall, WriteStatements, writeStatement } from "../src/sql.js";

type Row = Doc & Record<string, unknown>;

/** A seeded generator of numbers in [0, 1). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** What makes a batch's shape: per call, its given (collection, whether `null`) and its writes. */
type CallShape = {
  given: [collection: CollectionName, isNull: boolean][] | undefined;
  writes: (
    | { kind: "insert"; collection: CollectionName }
    | { kind: "merge"; collection: CollectionName; row: string; newer: string; add: string[] }
    | { kind: "update"; collection: CollectionName; expect: boolean }
  )[];
};

function shapeOf(pick: () => number): CallShape[] {
  const one = <T>(list: readonly T[]) => list[Math.floor(pick() * list.length)]!;
  const addFields = () => ["unread", "rev", "1:x", "x"].filter(() => pick() < 0.5).sort(() => pick() - 0.5);
  return Array.from({ length: 1 + Math.floor(pick() * 5) }, () => ({
    given:
      pick() < 0.3
        ? undefined
        : Array.from({ length: Math.floor(pick() * 3) }, () => [one(["secrets", "settings"] as const), pick() < 0.3] as [CollectionName, boolean]),
    writes: Array.from({ length: 1 + Math.floor(pick() * 3) }, () => {
      const r = pick();
      if (r < 0.4) return { kind: "insert" as const, collection: one(["inbox", "conversations", "1:x"] as CollectionName[]) };
      if (r < 0.98)
        return {
          kind: "merge" as const,
          collection: one(["chats", "chats", "conversations"] as const),
          row: one(["b", "a", "c\u0000"]),
          newer: one(["lastPageKey", "k:1"]),
          add: addFields(),
        };
      return { kind: "update" as const, collection: "conversations" as const, expect: pick() < 0.5 };
    }),
  }));
}

/** A batch of `shape`, its documents, `_id`s and numbers drawn anew. */
function batchOf(shape: CallShape[], pick: () => number): WriteCall[] {
  const text = () => `v${Math.floor(pick() * 1e6)}${pick() < 0.2 ? "\u0000" : ""}`;
  return shape.map((call, j) => ({
    ...(call.given === undefined
      ? {}
      : { given: call.given.map(([collection, isNull]): GivenDoc => [collection, text(), isNull ? null : ({ _id: text(), n: pick() } as Row)]) }),
    writes: call.writes.map((w, i): Write => {
      if (w.kind === "insert") return { insert: w.collection, doc: { _id: `${j}.${i}.${text()}`, body: text() } as Row };
      if (w.kind === "update") return { update: w.collection, id: text(), patch: { set: { seen: pick() } }, ...(w.expect ? { expect: { rev: 1 } } : {}) };
      const add = Object.fromEntries(w.add.map((field) => [field, Math.floor(pick() * 5)]));
      return { merge: w.collection, doc: { _id: w.row, [w.newer]: text(), body: text() } as Row, add, newer: w.newer };
    }),
  }));
}

describe("the statement of a batch kept per shape", () => {
  const sql = new Sql("indiepm");

  it("is what a fresh build makes, text, parameters and columns, for varied shapes", () => {
    const pick = random(11);
    const statements = new WriteStatements(sql);
    let kept = 0;
    for (let n = 0; n < 200; n++) {
      const shape = shapeOf(pick);
      const first = batchOf(shape, pick);
      const second = batchOf(shape, pick);
      const a = statements.statement(first);
      expect(a).toEqual(writeStatement(sql, first));
      const b = statements.statement(second);
      expect(b).toEqual(writeStatement(sql, second));
      // The second batch of a shape without an update read its columns from the first's (kept).
      if (!shape.some((call) => call.writes.some((w) => w.kind === "update"))) {
        expect(b.columns).toBe(a.columns);
        kept++;
      }
    }
    expect(kept).toBeGreaterThan(150);
  });

  it("two shapes whose parts would read alike joined are told apart", () => {
    const statements = new WriteStatements(sql);
    const merge = (collection: CollectionName, add: Record<string, number>): Write => ({
      merge: collection,
      doc: { _id: "r", k: "1" } as Row,
      add,
      newer: "k",
    });
    const together = (id: string): Write => ({ merge: "chats", doc: { _id: id, k: id } as Row, add: { n: 1 }, newer: "k" });
    const batches: WriteCall[][] = [
      [{ writes: [merge("chats", { "1:x": 1 })] }],
      [{ writes: [merge("chats", { "1": 1, x: 1 })] }],
      [{ writes: [merge("chats", { ab: 1, c: 1 })] }],
      [{ writes: [merge("chats", { a: 1, bc: 1 })] }],
      // Two rows each merged into by two calls: the group of the row sorted first appears first, or second.
      [{ writes: [together("a")] }, { writes: [together("b")] }, { writes: [together("a")] }, { writes: [together("b")] }],
      [{ writes: [together("b")] }, { writes: [together("a")] }, { writes: [together("b")] }, { writes: [together("a")] }],
      [{ given: [["settings", "s", null]], writes: [{ insert: "inbox", doc: { _id: "i" } }] }],
      [{ given: [["settings", "s", { _id: "s" }]], writes: [{ insert: "inbox", doc: { _id: "i" } }] }],
      [{ given: [], writes: [{ insert: "inbox", doc: { _id: "i" } }] }],
      [{ writes: [{ insert: "inbox", doc: { _id: "i" } }] }],
    ];
    for (const calls of [...batches, ...batches]) expect(statements.statement(calls)).toEqual(writeStatement(sql, calls));
    expect(statements.size).toBe(batches.length);
  });

  it("keeps at most MAX_SHAPES shapes, the least recently used going first", () => {
    const statements = new WriteStatements(sql);
    const batch = (n: number): WriteCall[] => [{ writes: [{ insert: `c${n}` as CollectionName, doc: { _id: `i${n}` } }] }];
    const columns = new Map<number, unknown>();
    for (let n = 0; n < WriteStatements.MAX_SHAPES + 50; n++) {
      const calls = batch(n);
      const statement = statements.statement(calls);
      expect(statement).toEqual(writeStatement(sql, calls));
      columns.set(n, statement.columns);
      // Shape 0 used again each time: kept.
      expect(statements.statement(batch(0)).columns).toBe(columns.get(0));
    }
    expect(statements.size).toBe(WriteStatements.MAX_SHAPES);
    // Shape 1, not used since, went (built again); the latest is kept.
    expect(statements.statement(batch(1)).columns).not.toBe(columns.get(1));
    const latest = WriteStatements.MAX_SHAPES + 49;
    expect(statements.statement(batch(latest)).columns).toBe(columns.get(latest));
  });
});
