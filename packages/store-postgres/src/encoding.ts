/**
 * PostgreSQL's jsonb refuses the character U+0000, which the `Store` contract keeps
 * ("keeps strings with … \u0000"). Strings and keys are stored with U+0000 written as
 * U+0001 U+0001 and U+0001 as U+0001 U+0002: lossless, equal strings stay equal, and the
 * order of strings (by code point, `COLLATE "C"`) is kept, so `where`, ranges and sorts
 * on encoded values answer as on the originals. Documents without either character (all
 * but a few) go through untouched: the JSON text is searched once.
 */

const NEEDS_ENCODING = /\\u000[01]/;
const RAW = /[\u0000\u0001]/g;
const ENCODED = /\u0001([\u0001\u0002])/g;

export function encodeString(value: string): string {
  return value.replace(RAW, (c) => (c === "\u0000" ? "\u0001\u0001" : "\u0001\u0002"));
}

function decodeString(value: string): string {
  return value.replace(ENCODED, (_, c: string) => (c === "\u0001" ? "\u0000" : "\u0001"));
}

function mapStrings(value: unknown, map: (s: string) => string): unknown {
  if (typeof value === "string") return map(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, map));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) out[map(key)] = mapStrings(item, map);
    return out;
  }
  return value;
}

/** The JSON text to store for `value` (a document, a patch's fields, a scalar). */
export function toJsonb(value: unknown): string {
  const text = JSON.stringify(value);
  return NEEDS_ENCODING.test(text) ? JSON.stringify(mapStrings(value, encodeString)) : text;
}

/**
 * `toJsonb` of a document given to `Store.writeIfUnchanged` as it was read: the same
 * object is given by every `deliver` that a kept read answers (core's deliver-reads.ts),
 * so its text is made once and kept while the object lives.
 */
const givenTexts = new WeakMap<object, string>();
export function givenJsonb(doc: object): string {
  let text = givenTexts.get(doc);
  if (text === undefined) {
    text = toJsonb(doc);
    givenTexts.set(doc, text);
  }
  return text;
}

/** The value of stored JSON text (the driver's jsonb parser). */
export function fromJsonb(text: string): unknown {
  const value: unknown = JSON.parse(text);
  return NEEDS_ENCODING.test(text) ? mapStrings(value, decodeString) : value;
}
