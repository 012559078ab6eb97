/**
 * Documents and queries in nedb's terms.
 *
 * - Top-level objects and arrays are stored as JSON text (`{"~json": "…"}`): nested keys
 *   may then contain "." or "$" (URLs as keys), and equality stays strict (nedb would
 *   match `{to: "x"}` against an array containing "x"), as in the memory store.
 * - nedb's `$in: [null]` and `{f: null}` do not match a missing field; the `Store`'s
 *   `null` does, so it becomes `{$or: [{f: null}, {f: {$exists: false}}]}`.
 */
import type { Doc, Query, Scalar } from "../types.js";

/** Key of the wrapper holding a top-level object or array as JSON text. */
const JSON_FIELD = "~json";

export function encodeValue(value: unknown): unknown {
  return typeof value === "object" && value !== null ? { [JSON_FIELD]: JSON.stringify(value) } : value;
}

export function decodeValue(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  const text = (value as Record<string, unknown>)[JSON_FIELD];
  return typeof text === "string" ? JSON.parse(text) : value;
}

export function encodeDocument(doc: Doc): Record<string, unknown> {
  const encoded: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(doc)) if (value !== undefined) encoded[field] = encodeValue(value);
  return encoded;
}

export function decodeDocument(found: Record<string, unknown>): Doc {
  const doc: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(found)) doc[field] = decodeValue(value);
  return doc as unknown as Doc;
}

/**
 * Plain equalities stay top-level fields so nedb can answer them from an index; `null`
 * (missing or null) and a range on a field already compared go under `$and`.
 */
export function toNedbQuery(where: Record<string, Scalar> = {}, range?: Query["range"]): Record<string, unknown> {
  const query: Record<string, unknown> = {};
  const and: Record<string, unknown>[] = [];
  for (const [field, value] of Object.entries(where)) {
    if (value === null) and.push({ $or: [{ [field]: null }, { [field]: { $exists: false } }] });
    else query[field] = value;
  }
  if (range !== undefined) {
    const bounds: Record<string, Scalar> = {};
    for (const [bound, operator] of [
      ["gt", "$gt"],
      ["gte", "$gte"],
      ["lt", "$lt"],
      ["lte", "$lte"],
    ] as const) {
      const value = range[bound];
      if (value !== undefined) bounds[operator] = value;
    }
    if (Object.keys(bounds).length > 0) {
      if (Object.hasOwn(query, range.field)) and.push({ [range.field]: bounds });
      else query[range.field] = bounds;
    }
  }
  if (and.length > 0) query.$and = and;
  return query;
}
