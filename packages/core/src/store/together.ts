/**
 * Reads and writes made together where the store can (`Store.getEach`, `Store.writeAfter`:
 * one statement each on PostgreSQL), one call each where it cannot (nedb and memory answer
 * from this process's memory, where a call costs no round trip). What a `deliver` costs a
 * database (protocol/actions/deliver.ts): one read and one write.
 */
import { type Doc, type DocKey, DuplicateKeyError, type Store, type Write } from "./types.js";

/** The documents at these places, in order (`null` for each missing): `store.getEach`, else one `get` each. */
export function getEach(store: Store, keys: readonly DocKey[]): Promise<(Doc | null)[]> {
  if (store.getEach) return store.getEach(keys);
  return Promise.all(keys.map(([collection, id]) => store.get(collection, id)));
}

/** One write by its own call: whether it was made (an insert of an `_id` that exists is not). */
async function writeOne(store: Store, write: Write): Promise<boolean> {
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
