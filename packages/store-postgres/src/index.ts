/**
 * @indiepm/store-postgres: core's `Store` on PostgreSQL, for a server that outgrows one
 * process (issue 11). `openPostgresStore(url)` connects, creates or upgrades its schema,
 * and returns a store whose `shared` lets several `indiepm serve` processes share one
 * database. README.md says what it creates and why node-postgres.
 */
export { openPostgresStore, POSTGRES_STORE_DEFAULTS } from "./store.js";
export type { PostgresStore, PostgresStoreOptions } from "./store.js";
export { isListedShape, QUERY_SHAPES } from "./indexes.js";
export type { QueryShape } from "./indexes.js";
export { importDocuments, type ImportCounts, type ImportSource } from "./import.js";
