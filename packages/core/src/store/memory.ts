/**
 * The in-memory `Store`, for unit tests: the engine can be tested without a data folder,
 * and it keeps every promise of `Store` (types.ts) so a test that passes here means the
 * same with nedb. Its query semantics mirror the nedb adapter's (strict equality, `null`
 * matching a missing field, ranges only between values of one type, nedb's sort order).
 *
 * The input checks at the end of this file are shared with the nedb adapter (nedb/adapter.ts): both adapters
 * refuse the same inputs, so nothing the memory store accepts fails later on disk.
 */
import { PmError } from "../errors.js";
import { COLLECTIONS, DuplicateKeyError, type CollectionName, type Doc, type Query, type Scalar, type Store } from "./types.js";

/** A document as the store handles it: any named fields. */
type Fields = Doc & Record<string, unknown>;

/**
 * A `Store` that lives in this process's memory and vanishes with it. Documents are kept
 * and returned as deep copies (`structuredClone`), so a test cannot pass by mutating a
 * document the store still holds.
 */
export function createMemoryStore(): Store {
  const collections = new Map<CollectionName, Map<string, Fields>>(COLLECTIONS.map((name) => [name, new Map()]));
  let closed = false;

  /** The documents of one collection; every call starts here, so a closed store refuses all. */
  function documents(collection: CollectionName): Map<string, Fields> {
    if (closed) throw closedStoreError();
    checkCollection(collection);
    const docs = collections.get(collection);
    if (docs === undefined) throw new PmError("store_error", `Unknown collection ${collection}.`);
    return docs;
  }

  function all(collection: CollectionName, where: Record<string, Scalar> | undefined, range?: Query["range"]): Fields[] {
    return [...documents(collection).values()].filter((doc) => matchesWhere(doc, where) && matchesRange(doc, range));
  }

  return {
    async insert(collection, doc) {
      const docs = documents(collection);
      checkDocument(doc);
      if (docs.has(doc._id)) throw new DuplicateKeyError(collection, doc._id);
      docs.set(doc._id, storedCopy(doc));
    },

    async get<T extends Doc>(collection: CollectionName, id: string) {
      const docs = documents(collection);
      checkId(id);
      const doc = docs.get(id);
      return doc === undefined ? null : (structuredClone(doc) as Doc as T);
    },

    async update(collection, id, patch, expect) {
      const docs = documents(collection);
      checkId(id);
      checkPatch(patch);
      if (expect !== undefined) checkWhere(expect, "expect");
      const doc = docs.get(id);
      if (doc === undefined || !matchesWhere(doc, expect)) return false;
      const next: Fields = { ...doc };
      for (const [field, value] of Object.entries(patch.set ?? {})) next[field] = structuredClone(value);
      for (const field of patch.unset ?? []) delete next[field];
      docs.set(id, next);
      return true;
    },

    async put(collection, doc) {
      const docs = documents(collection);
      checkDocument(doc);
      docs.set(doc._id, storedCopy(doc));
    },

    async remove(collection, id, expect) {
      const docs = documents(collection);
      checkId(id);
      if (expect !== undefined) checkWhere(expect, "expect");
      const doc = docs.get(id);
      if (doc === undefined || !matchesWhere(doc, expect)) return false;
      return docs.delete(id);
    },

    async find<T extends Doc>(collection: CollectionName, query: Query = {}) {
      checkQuery(query);
      const found = all(collection, query.where, query.range);
      const sort = query.sort;
      if (sort !== undefined) {
        const direction = sort.order === "asc" ? 1 : -1;
        found.sort((a, b) => direction * compareValues(a[sort.field], b[sort.field]));
      }
      const limited = query.limit === undefined ? found : found.slice(0, query.limit);
      return limited.map((doc) => structuredClone(doc) as Doc as T);
    },

    async count(collection, where) {
      if (where !== undefined) checkWhere(where, "where");
      return all(collection, where).length;
    },

    async close() {
      closed = true;
    },
  };
}

/** A deep copy without top-level `undefined` fields: JSON has none, so nedb keeps none. */
function storedCopy(doc: Doc): Fields {
  const copy = structuredClone(doc) as Fields;
  for (const [field, value] of Object.entries(copy)) if (value === undefined) delete copy[field];
  return copy;
}

function matchesWhere(doc: Fields, where: Record<string, Scalar> | undefined): boolean {
  if (where === undefined) return true;
  return Object.entries(where).every(([field, expected]) => {
    const actual = doc[field];
    return expected === null ? actual === null || actual === undefined : actual === expected;
  });
}

/** nedb's `$lt`… compare only two strings or two numbers; any other pair never matches. */
function matchesRange(doc: Fields, range: Query["range"]): boolean {
  if (range === undefined) return true;
  const actual = doc[range.field];
  const holds = (bound: Scalar | undefined, test: (order: number) => boolean) =>
    bound === undefined || (isComparable(actual, bound) && test(compareValues(actual, bound)));
  return (
    holds(range.gt, (order) => order > 0) &&
    holds(range.gte, (order) => order >= 0) &&
    holds(range.lt, (order) => order < 0) &&
    holds(range.lte, (order) => order <= 0)
  );
}

function isComparable(a: unknown, b: unknown): boolean {
  return (typeof a === "string" || typeof a === "number") && typeof a === typeof b;
}

/**
 * nedb's sort order (`compareThings` in @seald-io/nedb lib/model.js): missing < null <
 * numbers < strings < booleans < objects and arrays (which nedb/query.ts stores as JSON text,
 * so they are compared as such here too). Strings compare by UTF-16 code unit, as there.
 */
function compareValues(a: unknown, b: unknown): number {
  const rankA = typeRank(a);
  const rankB = typeRank(b);
  if (rankA !== rankB) return rankA < rankB ? -1 : 1;
  const [x, y] = rankA === 5 ? [JSON.stringify(a), JSON.stringify(b)] : [a as number | string | boolean, b as number | string | boolean];
  return x < y ? -1 : x > y ? 1 : 0;
}

function typeRank(value: unknown): number {
  if (value === undefined) return 0;
  if (value === null) return 1;
  if (typeof value === "number") return 2;
  if (typeof value === "string") return 3;
  if (typeof value === "boolean") return 4;
  return 5;
}

// ---------------------------------------------------------------------------------------
// Input checks shared by every adapter. They refuse, with one sentence, what an adapter
// could misread: a field name nedb would take for a path (`a.b`) or an operator (`$or`),
// and a non-scalar where a scalar is expected — `{ token: { $ne: null } }` coming from a
// parsed request body would otherwise match every token (query injection).

/** @internal */
export function closedStoreError(): PmError {
  return new PmError("store_error", "The store is closed; open it again to use it.");
}

/** @internal */
export function checkCollection(collection: unknown): asserts collection is CollectionName {
  if (!(COLLECTIONS as readonly unknown[]).includes(collection)) {
    throw new PmError("store_error", `Unknown collection ${String(collection)}; expected one of ${COLLECTIONS.join(", ")}.`);
  }
}

/** @internal */
export function checkId(id: unknown): asserts id is string {
  if (typeof id !== "string" || id === "") throw new PmError("store_error", "A document _id must be a non-empty string.");
}

/** @internal */
export function checkFieldName(field: string, role: string): void {
  if (field === "" || field.startsWith("$") || field.includes(".")) {
    throw new PmError(
      "store_error",
      `The field name ${JSON.stringify(field)} in ${role} is not allowed: field names must be non-empty and contain no "." and no leading "$".`,
    );
  }
}

function checkScalar(value: unknown, role: string): void {
  const ok = value === null || typeof value === "string" || typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value));
  if (!ok) throw new PmError("store_error", `${role} must be a string, a finite number, a boolean or null.`);
}

/** @internal */
export function checkDocument(doc: Doc): void {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new PmError("store_error", "A document must be a plain object.");
  checkId(doc._id);
  for (const field of Object.keys(doc)) checkFieldName(field, "a document");
}

/** @internal */
export function checkPatch(patch: { set?: object; unset?: readonly string[] }): void {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch))
    throw new PmError("store_error", "An update's patch must be an object { set?, unset? }.");
  for (const key of Object.keys(patch)) {
    if (key !== "set" && key !== "unset")
      throw new PmError("store_error", `An update's patch has ${JSON.stringify(key)}; it takes only set (fields to change) and unset (fields to remove).`);
  }
  const { set = {}, unset = [] } = patch as { set?: unknown; unset?: unknown };
  if (typeof set !== "object" || set === null || Array.isArray(set))
    throw new PmError("store_error", "An update's set must be an object of the fields to change.");
  if (!Array.isArray(unset) || unset.some((field) => typeof field !== "string"))
    throw new PmError("store_error", "An update's unset must be a list of field names.");
  const setting = new Set(Object.keys(set));
  for (const [field, value] of Object.entries(set)) {
    checkFieldName(field, "an update's set");
    if (value === undefined) throw new PmError("store_error", `An update's set.${field} is undefined; name the field in unset to remove it.`);
  }
  for (const field of unset) {
    checkFieldName(field, "an update's unset");
    if (setting.has(field)) throw new PmError("store_error", `An update both sets and unsets ${field}.`);
  }
  if (setting.has("_id") || unset.includes("_id")) throw new PmError("store_error", "An update cannot change a document's _id.");
}

/** @internal */
export function checkWhere(where: Record<string, Scalar>, role: string): void {
  for (const [field, value] of Object.entries(where)) {
    checkFieldName(field, role);
    checkScalar(value, `${role}.${field}`);
  }
}

/** @internal */
export function checkQuery(query: Query): void {
  if (query.where !== undefined) checkWhere(query.where, "where");
  if (query.range !== undefined) {
    checkFieldName(query.range.field, "range");
    for (const bound of ["gt", "gte", "lt", "lte"] as const) {
      const value = query.range[bound];
      if (value !== undefined) checkScalar(value, `range.${bound}`);
    }
  }
  if (query.sort !== undefined) {
    checkFieldName(query.sort.field, "sort");
    if (query.sort.order !== "asc" && query.sort.order !== "desc") throw new PmError("store_error", 'sort.order must be "asc" or "desc".');
  }
  if (query.limit !== undefined && !(Number.isInteger(query.limit) && query.limit >= 0)) {
    throw new PmError("store_error", "limit must be a whole number, 0 or more.");
  }
}
