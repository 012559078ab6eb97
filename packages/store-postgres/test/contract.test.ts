/** The shared `Store` contract suite (core's test/store-contract.ts, unchanged) on PostgreSQL: a fresh schema per test. */
import { freshDatabase, postgresForTests } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, beforeAll, describe } from "vitest";
import { describeStoreContract } from "../../core/test/store-contract.js";
import { openPostgresStore } from "../src/index.js";

const server = await postgresForTests();

describe.skipIf(server.skipReason)("PostgreSQL", () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let n = 0;
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  describeStoreContract("postgres", async () => {
    const schema = `contract_${++n}`;
    const store = await openPostgresStore(database.url, { schema, poolSize: 5 });
    return {
      store,
      cleanup: async () => {
        await store.close();
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        await client.query(`DROP SCHEMA ${schema} CASCADE`);
        await client.end();
      },
    };
  });
});
