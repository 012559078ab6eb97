/**
 * A `Store` usable at once whose real adapter is still opening (`dataDir`: the embedded
 * store opens asynchronously, but `indiepm()` returns its router synchronously so that
 * option errors still throw at start-up). Every call waits for the adapter; when opening
 * failed, every call rejects with that failure.
 */
import type { Store } from "@indiepm/core";

export function deferredStore(opening: Promise<Store>): Store {
  // Consumers see the failure on their own calls; this only stops an unhandled rejection.
  opening.catch(() => undefined);
  return {
    insert: async (collection, doc) => (await opening).insert(collection, doc),
    get: async (collection, id) => (await opening).get(collection, id),
    update: async (collection, id, patch, expect) => (await opening).update(collection, id, patch, expect),
    put: async (collection, doc) => (await opening).put(collection, doc),
    remove: async (collection, id, expect) => (await opening).remove(collection, id, expect),
    find: async (collection, query) => (await opening).find(collection, query),
    count: async (collection, where) => (await opening).count(collection, where),
    compact: async (collections) => (await opening).compact?.(collections),
    check: async () => (await opening).check?.(),
    async close() {
      let store: Store;
      try {
        store = await opening;
      } catch {
        return; // never opened: nothing to release
      }
      await store.close();
    },
  };
}
