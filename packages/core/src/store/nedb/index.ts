/**
 * The embedded nedb `Store`, one job per module: adapter.ts (the `Store` over nedb),
 * lock.ts (one process per data folder), repair.ts (torn and unreadable lines, line-break
 * escaping), query.ts (documents and queries in nedb's terms), planner.ts (sorted,
 * limited finds walked from an index), internals.ts (the nedb internals those rely on).
 */
export { COMPACT_AFTER_REMOVE_MS, openNedbStore } from "./adapter.js";
export type { NedbStoreOptions } from "./adapter.js";
