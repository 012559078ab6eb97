/**
 * Updates that leave a document where it is in the indexes whose key it keeps.
 *
 * nedb moves an updated document in every index by removing the old object from its key's
 * bucket and inserting the new one, and it removes one document from a bucket by copying
 * the rest of it. Every inbox document of a site shares the bucket of its `recipient`, so
 * changing the other fields of many (filing older documents, owner/conversations.ts)
 * was quadratic: 20,000 messages in 83 s; 15 s with this, and 3 s with the filing's
 * writes appended together (`batch`, adapter.ts); 100,000 in 18 s. Here, in each
 * index where an updated document keeps its key, the new object takes the old one's
 * place in the same bucket (same key, same position); only the indexes whose key changes
 * get nedb's own remove and insert. What the indexes hold afterwards is what nedb's
 * update leaves, except that a document keeps its place among equal keys (nedb moved it
 * to the end), which only an index walk (planner.ts) could see, and it makes no promise
 * about that order. Reads nedb internals (internals.ts).
 */
import { internals, nedbModel, type DocPair, type IndexNode, type NedbDatastore, type NedbDocument, type NedbIndex } from "./internals.js";

/** Makes every update of `datastore` move documents in place where their key stays. */
export function updateIndexesInPlace(datastore: NedbDatastore): void {
  const nedb = internals(datastore);
  nedb._updateIndexes = (modifications) => moveInIndexes(Object.values(nedb.indexes), modifications);
}

/**
 * nedb's `_updateIndexes` with the in-place path: all indexes changed, or (an index's
 * unique key refused) none, as nedb's own does.
 */
function moveInIndexes(indexes: NedbIndex[], modifications: DocPair[]): void {
  const done: { index: NedbIndex; inPlace: DocPair[]; moved: DocPair[] }[] = [];
  try {
    for (const index of indexes) {
      const step = { index, inPlace: [] as DocPair[], moved: [] as DocPair[] };
      done.push(step);
      const rest: DocPair[] = [];
      for (const pair of modifications) {
        if (replaceInBucket(index, pair.oldDoc, pair.newDoc)) step.inPlace.push(pair);
        else rest.push(pair);
      }
      // nedb's own move (remove every old, insert every new); it undoes itself if it throws.
      if (rest.length > 0) index.update(rest);
      step.moved = rest;
    }
  } catch (error) {
    for (const { index, inPlace, moved } of done.reverse()) {
      if (moved.length > 0) index.revertUpdate(moved);
      for (const { oldDoc, newDoc } of inPlace) replaceInBucket(index, newDoc, oldDoc);
    }
    throw error;
  }
}

/**
 * Puts `to` in the place of `from` in `index` when both have the same key (`true`; also
 * when neither is in a sparse index); `false` when the key differs, is an array (one entry
 * per element), or `from` is not where its key says.
 */
function replaceInBucket(index: NedbIndex, from: NedbDocument, to: NedbDocument): boolean {
  const key = nedbModel.getDotValues(from, index._fields);
  const newKey = nedbModel.getDotValues(to, index._fields);
  if (Array.isArray(key) || Array.isArray(newKey) || nedbModel.compareThings(key, newKey) !== 0) return false;
  if (key === undefined && newKey === undefined && index.sparse) return true; // in neither
  const root = index.tree.tree;
  let node: IndexNode | null = Object.hasOwn(root, "key") ? root : null;
  while (node !== null) {
    const order = root.compareKeys(key, node.key);
    if (order === 0) break;
    node = order < 0 ? node.left : node.right;
  }
  const at = node === null ? -1 : node.data.indexOf(from);
  if (node === null || at < 0) return false;
  node.data[at] = to;
  return true;
}
