/**
 * A compare-and-set on `rev` with retries: the one way the engine (protocol/) and the
 * owner's side (owner/) change a document that several writers may change at once.
 */
import { patchFrom, type Changes, type CollectionName, type Store } from "./types.js";

/**
 * Changes a document that carries a `rev`, retrying on concurrent change: `change`
 * gets the current document and returns the fields to set, `undefined` for a field to
 * remove (or `null` to leave it).
 * Resolves the document as written, or `null` when missing or left alone.
 */
export async function mutate<T extends { _id: string; rev: number }>(
  store: Store,
  collection: CollectionName,
  id: string,
  change: (doc: T) => Changes<T> | null,
): Promise<T | null> {
  for (let i = 0; i < 20; i++) {
    const doc = await store.get<T>(collection, id);
    if (!doc) return null;
    const patch = change(doc);
    if (!patch) return null;
    const next = { ...doc, ...patch, rev: doc.rev + 1 };
    if (await store.update<T>(collection, id, patchFrom<T>({ ...patch, rev: doc.rev + 1 }), { rev: doc.rev })) return next;
  }
  throw new Error(`Could not update ${collection} ${id}: too much concurrent change.`);
}
