/**
 * `importDocuments(url, source)`: documents from another store copied in, all or nothing
 * (`indiepm migrate`, which moves an embedded data folder into PostgreSQL).
 *
 * The schema is created or upgraded first, by opening the store as a server would. Then
 * one transaction inserts every document of every collection with its `_id`; a document
 * whose `_id` is already there is left as it is and counted as skipped, so running the
 * same import twice copies nothing the second time. Any failure rolls the whole
 * transaction back: the database is as it was before the call.
 */
import type { CollectionName, Doc } from "@indiepm/core";
import { checkCollection, checkDocument } from "@indiepm/core/store-adapter";
import pg from "pg";
import { encodeString, toJsonb } from "./encoding.js";
import { describeUrl, storeError } from "./errors.js";
import { Sql } from "./sql.js";
import { openPostgresStore, type PostgresStoreOptions } from "./store.js";

/** Where the documents come from: the collections to copy, in order, and how to read each one whole. */
export interface ImportSource {
  collections: readonly CollectionName[];
  read(collection: CollectionName): Promise<readonly Doc[]>;
}

/** Per collection: documents inserted, and documents skipped because their `_id` was already there. */
export type ImportCounts = Partial<Record<CollectionName, { copied: number; skipped: number }>>;

/** Documents per INSERT statement. */
const BATCH = 500;

/**
 * Copies every document of `source` into the store at `url` in one transaction.
 * @throws PmError `store_error`, one sentence naming the database (never its password); the database is then unchanged.
 */
export async function importDocuments(
  url: string,
  source: ImportSource,
  options: Pick<PostgresStoreOptions, "schema" | "connectTimeoutMs"> = {},
): Promise<ImportCounts> {
  // The store's own open: the URL and options checked, the migrations run, its errors in sentences.
  const store = await openPostgresStore(url, options);
  const schema = store.schema;
  await store.close();

  const where = describeUrl(new URL(url));
  const sql = new Sql(schema);
  // No statement_timeout: a large folder is one long transaction on purpose.
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000, application_name: "indiepm migrate" });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw storeError(error, where);
  }
  const counts: ImportCounts = {};
  try {
    await client.query("BEGIN");
    for (const collection of source.collections) {
      checkCollection(collection);
      const docs = await source.read(collection);
      let copied = 0;
      for (let start = 0; start < docs.length; start += BATCH) {
        const batch = docs.slice(start, start + BATCH);
        for (const doc of batch) checkDocument(doc);
        const result = await client.query(
          `INSERT INTO ${sql.table(collection)} (_id, doc) SELECT id, body::jsonb FROM unnest($1::text[], $2::text[]) AS input(id, body) ON CONFLICT (_id) DO NOTHING`,
          [batch.map((doc) => encodeString(doc._id)), batch.map((doc) => toJsonb(doc))],
        );
        copied += result.rowCount ?? 0;
      }
      counts[collection] = { copied, skipped: docs.length - copied };
    }
    await client.query("COMMIT");
    return counts;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw storeError(error, where);
  } finally {
    await client.end().catch(() => undefined);
  }
}
