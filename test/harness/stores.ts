/**
 * Which store the pm servers of the harness keep their state in (issue 11: the end-to-end
 * suites run on both stores). nedb, in a fresh data folder per test, is the default; a
 * suite that calls `useStore("postgres")` in a describe block gets, for the hosts its
 * tests start, one PostgreSQL database per block (one per test file and store, dropped
 * after it) with a schema per pm server (`alice`, `bob`), emptied before each test's hosts
 * start. A restart reopens the same schema, as nedb reopens the same data folder.
 *
 * Why emptied schemas rather than new ones: measured on the 2-core test machine under the
 * suite's load, a new database costs 250–970 ms and a new schema's migrations 600–1,400 ms,
 * while emptying a migrated schema's tables costs 70–320 ms (TRUNCATE) and reopening it
 * 160–270 ms (/work/scratch/i11/bothstores/measure.mjs).
 *
 *     for (const { store, skipReason } of await storesForTests())
 *       describe.skipIf(skipReason)(`on ${store}`, () => { useStore(store); … });
 */
import { freshDatabase, postgresForTests, type FreshDatabase } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";

export type StoreKind = "nedb" | "postgres";

/** Where a pm server of the harness keeps its state, for one test. */
export type StoreLocation = { kind: "nedb" } | { kind: "postgres"; database: PostgresDatabase };

/** The database of a describe block on PostgreSQL, and one connection to empty its schemas with. */
export interface PostgresDatabase {
  url: string;
  /** Rows of `table` in `schema`, counted by SQL (proof a run really wrote to PostgreSQL). */
  rows(schema: string, table: string): Promise<number>;
  /** Empties every table of these schemas but their migration record; creates nothing. */
  empty(schemas: string[]): Promise<void>;
}

/** Each store, with why it cannot be tested here (no PostgreSQL; throws in CI instead), for `describe.skipIf`. */
export async function storesForTests(): Promise<{ store: StoreKind; skipReason: string | undefined }[]> {
  const postgres = await postgresForTests();
  return [
    { store: "nedb", skipReason: undefined },
    { store: "postgres", skipReason: postgres.skipReason },
  ];
}

let inUse: StoreLocation = { kind: "nedb" };

/** The store the hosts started now use (set by `useStore` for its describe block). */
export function storeInUse(): StoreLocation {
  return inUse;
}

/**
 * In a describe block: the hosts its tests start keep their state in `kind`. For
 * PostgreSQL, the block's database is created before its first test and dropped after its last.
 */
export function useStore(kind: StoreKind): void {
  let database: FreshDatabase | undefined;
  let client: pg.Client | undefined;
  beforeAll(async () => {
    if (kind === "nedb") {
      inUse = { kind: "nedb" };
      return;
    }
    database = await freshDatabase();
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const admin = client;
    inUse = {
      kind: "postgres",
      database: {
        url: database.url,
        async rows(schema, table) {
          const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`);
          return Number(rows[0]!.n);
        },
        async empty(schemas) {
          const { rows } = await admin.query<{ name: string }>(
            "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = ANY($1) AND tablename <> 'schema_migrations'",
            [schemas],
          );
          if (rows.length > 0) await admin.query(`TRUNCATE ${rows.map((r) => r.name).join(", ")}`);
        },
      },
    };
  });
  afterAll(async () => {
    inUse = { kind: "nedb" };
    await client?.end();
    await database?.drop();
  });
}
