/**
 * Storage (STYLE.md practice 7): the `Store` interface and its two adapters, the
 * in-memory one for unit tests and the embedded nedb default. Both pass the shared
 * contract suite in test/store-contract.ts.
 */
export { COLLECTIONS, DuplicateKeyError } from "./types.js";
export type { CollectionName, Doc, Patch, Query, Scalar, SharedStore, Store } from "./types.js";
export { createMemoryStore } from "./memory.js";
export { openNedbStore } from "./nedb/index.js";
export type { NedbStoreOptions } from "./nedb/index.js";
