/**
 * Reads and writes made together where the store can (`Store.getEach`, `Store.writeAfter`:
 * one statement each on PostgreSQL), one call each where it cannot (nedb and memory answer
 * from this process's memory, where a call costs no round trip). What a `deliver` costs a
 * database (protocol/actions/deliver.ts): one read and one write; with a token an earlier
 * `deliver` read, the write alone (`Store.writeIfUnchanged`: made only while what was read
 * is stored unchanged).
 */
import { isDeepStrictEqual } from "node:util";
import { PmError } from "../errors.js";
import { type Doc, type DocKey, DuplicateKeyError, type GivenDoc, type Scalar, type Store, type Write } from "./types.js";

/** The documents at these places, in order (`null` for each missing): `store.getEach`, else one `get` each. */
export function getEach(store: Store, keys: readonly DocKey[]): Promise<(Doc | null)[]> {
  if (store.getEach) return store.getEach(keys);
  return Promise.all(keys.map(([collection, id]) => store.get(collection, id)));
}

/** One write by its own calls: whether it was made (an insert of an `_id` that exists is not). */
async function writeOne(store: Store, write: Write): Promise<boolean> {
  if ("merge" in write) return mergeOne(store, write);
  if ("insert" in write) {
    try {
      await store.insert(write.insert, write.doc);
      return true;
    } catch (error) {
      if (error instanceof DuplicateKeyError) return false;
      throw error;
    }
  }
  return store.update(write.update, write.id, write.patch, write.expect);
}

/**
 * A `merge` (types.ts `Write`) by a read and a compare-and-set on the fields it changes,
 * tried again when another writer changed them meanwhile.
 */
async function mergeOne(store: Store, write: Extract<Write, { merge: unknown }>): Promise<boolean> {
  const { merge: collection, doc, add, newer } = write;
  const fields = doc as Doc & Record<string, unknown>;
  for (let i = 0; i < 100; i++) {
    const current = await store.get<Doc & Record<string, unknown>>(collection, doc._id);
    if (current === null) {
      try {
        await store.insert(collection, doc);
        return true;
      } catch (error) {
        if (error instanceof DuplicateKeyError) continue;
        throw error;
      }
    }
    const stored = current[newer];
    const set: Record<string, unknown> = typeof stored === "string" && !(String(fields[newer]) > stored) ? {} : { ...fields };
    delete set._id;
    const expect: Record<string, Scalar> = { [newer]: (stored ?? null) as Scalar };
    for (const [field, n] of Object.entries(add)) {
      const value = typeof current[field] === "number" ? (current[field] as number) : 0;
      set[field] = value + n;
      expect[field] = (current[field] ?? null) as Scalar;
    }
    if (await store.update(collection, doc._id, { set }, expect)) return true;
  }
  throw new PmError("store_error", `Could not merge into ${collection} ${doc._id}: too much concurrent change.`);
}

/**
 * `first`, then each of `then` only when `first` was made: `store.writeAfter` (at once,
 * atomically), else one call each in order (not atomic). Resolves whether each was made.
 */
export async function writeAfter(store: Store, first: Write, then: readonly Write[]): Promise<boolean[]> {
  if (store.writeAfter) return store.writeAfter(first, then);
  if (!(await writeOne(store, first))) return [false, ...then.map(() => false)];
  const made = [true];
  for (const write of then) made.push(await writeOne(store, write));
  return made;
}

/**
 * `first` and `then` as `writeAfter` makes them, only while each document of `given` is
 * stored as given: `store.writeIfUnchanged` (checked with the writes, atomically), else
 * one `get` each, compared, then `writeAfter` (not atomic). `null` when one differs.
 */
export async function writeIfUnchanged(store: Store, given: readonly GivenDoc[], first: Write, then: readonly Write[]): Promise<boolean[] | null> {
  if (store.writeIfUnchanged) return store.writeIfUnchanged(given, first, then);
  for (const [collection, id, doc] of given) {
    if (!isDeepStrictEqual(await store.get(collection, id), doc)) return null;
  }
  return writeAfter(store, first, then);
}
