/**
 * Guard on the nedb internals the nedb adapter reads (src/store/nedb/internals.ts): the
 * datastore nedb-promises wraps, its index trees, its task queue, lib/model.js and its
 * unique-index error. None of it is nedb's public API, so an upgrade of @seald-io/nedb
 * or nedb-promises fails here, loudly, before the planner or compaction misbehave.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import Datastore from "nedb-promises";
import { describe, expect, it } from "vitest";
import { NEDB_VERSION, internals, isUniqueViolation, nedbModel, type IndexNode, type NedbDatastore } from "../src/store/nedb/internals.js";

const RECHECK =
  "re-check every shape in packages/core/src/store/nedb/internals.ts (the datastore's __original: compactDatafileAsync, indexes, executor.pushAsync; " +
  "an index's sparse, _fields, update/revertUpdate of pairs, tree.tree nodes {key, data, left, right}, compareKeys and getMatching; the datastore's _updateIndexes; " +
  "lib/model.js match, compareThings, getDotValues, deepCopy; the uniqueViolated errorType) " +
  "and the planner (planner.ts) and in-place updates (in-place.ts) against the new version, then update NEDB_VERSION there and the @seald-io/nedb pin in pnpm-workspace.yaml";

const fromCore = createRequire(path.join(import.meta.dirname, "../package.json"));
const fromNedbPromises = createRequire(fromCore.resolve("nedb-promises"));

function packageJsonOf(require: NodeJS.Require): { version: string; path: string } {
  const file = require.resolve("@seald-io/nedb/package.json");
  return { version: (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version, path: file };
}

describe("@seald-io/nedb is the version whose internals the store was written against", () => {
  it(`core's declared @seald-io/nedb is ${NEDB_VERSION}`, () => {
    const { version } = packageJsonOf(fromCore);
    expect(version, `@seald-io/nedb is now ${version}, the store was checked against ${NEDB_VERSION}: ${RECHECK}.`).toBe(NEDB_VERSION);
  });

  it("nedb-promises wraps that same copy (its datastores are the ones whose internals are read)", () => {
    expect(
      packageJsonOf(fromNedbPromises).path,
      `nedb-promises brings another @seald-io/nedb (${packageJsonOf(fromNedbPromises).version}) than core declares: ${RECHECK}.`,
    ).toBe(packageJsonOf(fromCore).path);
  });
});

describe("the shapes internals.ts declares hold", () => {
  async function datastoreWith(values: number[]): Promise<NedbDatastore> {
    const datastore = Datastore.create({}) as unknown as NedbDatastore; // in memory
    await datastore.ensureIndex({ fieldName: "n" });
    for (const [i, n] of values.entries()) await datastore.insert({ _id: `d${i}`, n });
    return datastore;
  }

  it("the wrapped datastore: compactDatafileAsync, indexes by field, executor.pushAsync", async () => {
    const nedb = internals(await datastoreWith([1]));
    const what = `nedb-promises' __original changed: ${RECHECK}.`;
    expect(typeof nedb, what).toBe("object");
    expect(typeof nedb.compactDatafileAsync, what).toBe("function");
    expect(Object.keys(nedb.indexes).sort(), what).toEqual(["_id", "n"]);
    expect(typeof nedb.executor.pushAsync, what).toBe("function");
    expect(await nedb.executor.pushAsync(async () => 42), what).toBe(42);
  });

  it("an index: sparse, getMatching, and an AVL tree of {key, data, left, right} in key order", async () => {
    const values = [5, 3, 8, 3, 1, 9, 7];
    const index = internals(await datastoreWith(values)).indexes.n!;
    const what = `nedb's index (lib/indexes.js, @seald-io/binary-search-tree) changed: ${RECHECK}.`;
    expect(index.sparse, what).toBe(false);
    expect(
      index
        .getMatching(3)
        .map((doc) => doc._id)
        .sort(),
      what,
    ).toEqual(["d1", "d3"]);
    const keys: unknown[] = [];
    const walk = (node: IndexNode | null): void => {
      if (node === null) return;
      expect(Object.keys(node).sort(), what).toEqual(expect.arrayContaining(["data", "key", "left", "right"]));
      expect(Array.isArray(node.data), what).toBe(true);
      walk(node.left);
      for (const doc of node.data) keys.push(doc.n);
      walk(node.right);
    };
    walk(index.tree.tree);
    expect(keys, what).toEqual([...values].sort((a, b) => a - b));
    // An empty tree has a root without a key (planner.ts inKeyOrder relies on it).
    expect(Object.hasOwn(internals(await datastoreWith([])).indexes.n!.tree.tree, "key"), what).toBe(false);
  });

  it("lib/model.js: match, compareThings (missing < null < numbers < strings < booleans), deepCopy", () => {
    const what = `nedb's lib/model.js changed: ${RECHECK}.`;
    expect(nedbModel.match({ a: 1, b: "x" }, { a: 1 }), what).toBe(true);
    expect(nedbModel.match({ a: 1 }, { $and: [{ $or: [{ b: null }, { b: { $exists: false } }] }] }), what).toBe(true);
    expect(nedbModel.match({ a: 2 }, { a: 1 }), what).toBe(false);
    const ordered = [undefined, null, -1, 2, "a", "b", false, true];
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect(nedbModel.compareThings(ordered[i], ordered[i + 1]), `${what} (${String(ordered[i])} before ${String(ordered[i + 1])})`).toBe(-1);
    }
    const doc = { a: { b: [1] } };
    const copy = nedbModel.deepCopy(doc);
    expect(copy, what).toEqual(doc);
    expect(copy.a, what).not.toBe(doc.a);
  });

  it("what in-place.ts replaces and calls: _updateIndexes(pairs), an index's _fields, update/revertUpdate of pairs, the tree's compareKeys, getDotValues", async () => {
    const datastore = await datastoreWith([1, 2]);
    const nedb = internals(datastore);
    const what = `nedb's update of its indexes changed: ${RECHECK}.`;
    expect(typeof nedb._updateIndexes, what).toBe("function");
    const index = nedb.indexes.n!;
    expect(index._fields, what).toEqual(["n"]);
    expect(index.tree.tree.compareKeys(1, 2), what).toBe(-1);
    expect(nedbModel.getDotValues({ n: 3 }, ["n"]), what).toBe(3);
    const oldDoc = index.getMatching(1)[0]!;
    const newDoc = { ...oldDoc, n: 5 };
    index.update([{ oldDoc, newDoc }]);
    expect([index.getMatching(1).length, index.getMatching(5)[0]], what).toEqual([0, newDoc]);
    index.revertUpdate([{ oldDoc, newDoc }]);
    expect([index.getMatching(1)[0], index.getMatching(5).length], what).toEqual([oldDoc, 0]);
    // nedb's own update goes through _updateIndexes with { oldDoc, newDoc } pairs.
    const seen: unknown[] = [];
    const original = nedb._updateIndexes.bind(nedb);
    nedb._updateIndexes = (modifications) => {
      seen.push(...modifications.map((pair) => Object.keys(pair).sort()));
      original(modifications);
    };
    await datastore.update({ _id: "d1" }, { $set: { n: 4 } });
    expect(seen, what).toEqual([["newDoc", "oldDoc"]]);
  });

  it("a duplicate _id is refused with errorType uniqueViolated", async () => {
    const datastore = await datastoreWith([1]);
    const error: unknown = await datastore.insert({ _id: "d0", n: 2 }).catch((e: unknown) => e);
    expect(isUniqueViolation(error), `nedb's unique-index error changed: ${RECHECK}.`).toBe(true);
  });
});
