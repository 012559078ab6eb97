/**
 * The parts of @seald-io/nedb that this adapter uses beyond nedb-promises' typed API,
 * in one place: the datastore nedb-promises wraps (compaction, the index trees, the task
 * queue), nedb's AVL index nodes (@seald-io/binary-search-tree), its model functions
 * (lib/model.js) and its unique-index error. None of it is nedb's public API, so
 * `@seald-io/nedb` is a direct dependency pinned to the exact version nedb-promises brings,
 * and test/store-nedb-internals.test.ts fails on an upgrade until every shape below has
 * been checked against the new version.
 */
import { createRequire } from "node:module";
import type Datastore from "nedb-promises";

export type NedbDatastore = Datastore<{ _id: string }>;
export type NedbDocument = Record<string, unknown>;

/** A node of nedb's AVL index tree (@seald-io/binary-search-tree): documents sharing one key. */
export interface IndexNode {
  key?: unknown;
  data: NedbDocument[];
  left: IndexNode | null;
  right: IndexNode | null;
}
export interface NedbIndex {
  sparse: boolean;
  /** The indexed field names (more than one for a compound index). */
  _fields: string[];
  tree: { tree: IndexNode & { compareKeys(a: unknown, b: unknown): number } };
  getMatching(value: unknown): NedbDocument[];
  /** Removes every old document and inserts every new one; on a failure undoes what it did and throws. */
  update(pairs: DocPair[]): void;
  /** Undoes a successful `update(pairs)`. */
  revertUpdate(pairs: DocPair[]): void;
}
/** One document changed by an update: the object nedb held, and the one that replaces it. */
export interface DocPair {
  oldDoc: NedbDocument;
  newDoc: NedbDocument;
}
/** The parts of the wrapped @seald-io/nedb datastore that nedb-promises does not type. */
export interface NedbInternals {
  __original: {
    compactDatafileAsync(): Promise<void>;
    indexes: Record<string, NedbIndex>;
    /** Moves updated documents in every index (one `update` or `put`), all or none. */
    _updateIndexes(modifications: DocPair[]): void;
    /** nedb's insert and update without the queue (a caller's task runs them). */
    _insertAsync(doc: NedbDocument): Promise<unknown>;
    _updateAsync(query: NedbDocument, modifier: NedbDocument, options: Record<string, never>): Promise<{ numAffected: number }>;
    /** Appends `docs` (each serialized as one line) to the datafile. */
    persistence: { persistNewStateAsync(docs: NedbDocument[]): Promise<void> };
    /** Runs `task` (which must return a promise) as one task of the datastore's queue. */
    executor: { pushAsync<T>(task: () => Promise<T>): Promise<T> };
  };
}
/** nedb's own matcher, order and copy (@seald-io/nedb lib/model.js): an index walk filters and orders exactly as its `find`. */
export interface NedbModel {
  match(doc: NedbDocument, query: Record<string, unknown>): boolean;
  compareThings(a: unknown, b: unknown): number;
  getDotValues(doc: NedbDocument, fields: string[]): unknown;
  deepCopy<T>(value: T): T;
}

/** The version whose internals the shapes above describe (the guard test compares it with the installed one). */
export const NEDB_VERSION = "4.1.2";

/** Resolved from this package (its declared dependency), not through nedb-promises. */
export const nedbModel = createRequire(import.meta.url)("@seald-io/nedb/lib/model.js") as NedbModel;

export function internals(datastore: NedbDatastore): NedbInternals["__original"] {
  return (datastore as unknown as NedbInternals).__original;
}

/** nedb's unique-index refusal (`errorType: "uniqueViolated"`, from its AVL tree). */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { errorType?: unknown }).errorType === "uniqueViolated";
}
