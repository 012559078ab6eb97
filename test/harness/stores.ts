/**
 * Which store the pm servers of the harness keep their state in (issue 11: the end-to-end
 * suites run on both stores). nedb, in a fresh data folder per test, is the default. A
 * describe block that calls `useStore("postgres")` gets one PostgreSQL database (created
 * before its first test, dropped after its last) with a schema per pm server (`alice`,
 * `bob`), emptied before each test's hosts start.
 *
 * The block keeps one `openPostgresStore` per schema open across its tests; each pm server
 * a test starts gets a handle on it (`PostgresDatabase.store`) that its close ends, calls
 * after it failing as on a closed store. A restart (`reopen`) closes the kept store and
 * opens a new one on the same schema: new pools, a new `shared.instance`, the schema as it
 * was — the analogue of reopening the same data folder.
 *
 * Why this, measured on the 2-core test machine under the suite's load (load average
 * 16–23): a new database costs 250–970 ms and a new schema's migrations 600–1,400 ms;
 * opening a migrated schema 110–350 ms and the engine's first queries on the new pool
 * 150–250 ms more, per pm server; emptying the tables 110–190 ms by TRUNCATE, 12–40 ms by
 * DELETE. Opening both stores afresh per test made the four hosts start in 1.0–1.6 s
 * (nedb: 0.05–0.5 s).
 *
 *     for (const { store, skipReason } of await storesForTests())
 *       describe.skipIf(skipReason)(`on ${store}`, () => { useStore(store); … });
 */
import type { Store } from "@indiepm/core";
import { closedStoreError } from "@indiepm/core/store-adapter";
import { openPostgresStore, type PostgresStore } from "@indiepm/store-postgres";
import { freshDatabase, postgresForTests, type FreshDatabase } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";

export type StoreKind = "nedb" | "postgres";

/** Where a pm server of the harness keeps its state, for one test. */
export type StoreLocation = { kind: "nedb" } | { kind: "postgres"; database: PostgresDatabase };

/** The database of a describe block on PostgreSQL (see the top of this file). */
export interface PostgresDatabase {
  url: string;
  /** A handle on the block's store of `schema` for one run of a pm server; `reopen`: on a store opened anew (a restart). */
  store(schema: string, options: { reopen: boolean }): Promise<Store>;
  /** Rows of `table` in `schema`, counted by SQL (proof a run really wrote to PostgreSQL). */
  rows(schema: string, table: string): Promise<number>;
  /** Empties every table of these schemas but their migration record. */
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
  const kept = new Map<string, Promise<PostgresStore>>();
  beforeAll(async () => {
    if (kind === "nedb") {
      inUse = { kind: "nedb" };
      return;
    }
    const { url } = (database = await freshDatabase());
    client = new pg.Client({ connectionString: url });
    await client.connect();
    const admin = client;
    inUse = {
      kind: "postgres",
      database: {
        url,
        async store(schema, { reopen }) {
          let store = kept.get(schema);
          if (store && reopen) await (await store).close();
          if (!store || reopen) kept.set(schema, (store = openPostgresStore(url, { schema })));
          return runOf(await store);
        },
        async rows(schema, table) {
          const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`);
          return Number(rows[0]!.n);
        },
        async empty(schemas) {
          const { rows } = await admin.query<{ name: string }>(
            "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = ANY($1) AND tablename <> 'schema_migrations'",
            [schemas],
          );
          // DELETE, not TRUNCATE: on tables this small it is several times cheaper (no new files).
          if (rows.length > 0) await admin.query(rows.map((r) => `DELETE FROM ${r.name};`).join(" "));
        },
      },
    };
  });
  afterAll(async () => {
    inUse = { kind: "nedb" };
    await Promise.allSettled([...kept.values()].map(async (store) => (await store).close()));
    await client?.end();
    await database?.drop();
  });
}

/**
 * One pm server's run on a kept store: every call passes through until `close()`, which
 * waits for the calls under way and refuses later ones as a closed store does; the store
 * itself stays open for the block's next test.
 */
function runOf(store: PostgresStore): Store {
  let closed: Promise<void> | undefined;
  const inFlight = new Set<Promise<unknown>>();
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "close") return () => (closed ??= Promise.allSettled([...inFlight]).then(() => undefined));
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (closed) return Promise.reject(closedStoreError());
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) {
          inFlight.add(result);
          const forget = () => inFlight.delete(result);
          result.then(forget, forget);
        }
        return result;
      };
    },
  });
}
