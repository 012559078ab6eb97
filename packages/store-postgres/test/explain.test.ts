/**
 * Every query the engine makes uses an index (issue 11): each table seeded with 20,000
 * documents shaped like the engine's, ANALYZEd, then `EXPLAIN (FORMAT JSON)` of the SQL
 * the store makes for each shape of src/indexes.ts, failing on a sequential scan.
 * Proved able to fail: with INDEXES emptied, every row fails on its Seq Scan.
 */
import { COLLECTIONS, type CollectionName, type Query, type Scalar } from "@indiepm/core";
import { freshDatabase, postgresForTests } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore, QUERY_SHAPES, type QueryShape } from "../src/index.js";
import { countStatement, findStatement, Sql } from "../src/sql.js";

const server = await postgresForTests();
const ROWS = 20_000;

/**
 * A document of row `i`: selective fields (sites, messages, handshakes) take many values;
 * status-like fields are mostly in their final state, as in a store that has run a while.
 */
const SEED = `jsonb_build_object(
  '_id', 'doc' || i,
  'status', CASE WHEN i % 50 = 0 THEN 'pending' ELSE 'delivered' END,
  'state', CASE WHEN i % 50 = 0 THEN 'active' WHEN i % 50 = 1 THEN 'failed' ELSE 'done' END,
  'stage', CASE WHEN i % 2 = 0 THEN 'deliver' ELSE 'awaiting-grant' END,
  'kind', CASE WHEN i % 100 = 0 THEN 'standing-token' ELSE 'code' END,
  'sender', 'https://sender' || (i % 2000) || '.example/',
  'recipient', 'https://site' || (i % 500) || '.example/',
  'senderHost', 'sender' || (i % 2000) || '.example',
  'endpoint', 'https://pm' || (i % 500) || '.example/',
  'message', 'msg' || i,
  'handshake', 'hs' || (i / 3),
  'site', 'https://site' || (i % 500) || '.example/',
  'read', CASE WHEN i % 50 = 0 THEN NULL ELSE to_jsonb(1000000 + i) END,
  'nextAttemptAt', 1000000 + i,
  'updatedAt', 1000000 + i,
  'expiresAt', 1000000 + i,
  'awaitUntil', 1000000 + i,
  'createdAt', 1000000 + i,
  'receivedAt', 1000000 + i,
  'content', repeat('words ', 20)
)`;

/** A sample value for each field a shape filters on: one that few documents have. */
const SAMPLE: Record<string, Scalar> = {
  status: "pending",
  state: "active",
  stage: "awaiting-grant",
  kind: "standing-token",
  sender: "https://sender7.example/",
  recipient: "https://site7.example/",
  senderHost: "sender7.example",
  endpoint: "https://pm7.example/",
  message: "msg77",
  handshake: "hs77",
  site: "https://site7.example/",
  read: null,
};

function queryOf(shape: QueryShape): Query {
  const where = Object.fromEntries(shape.where.map((field) => [field, SAMPLE[field] ?? "x"]));
  return {
    where,
    ...(shape.range === undefined ? {} : { range: { field: shape.range, lte: 1_000_100 } }),
    ...(shape.sort === undefined ? {} : { sort: { field: shape.sort, order: "asc" as const }, limit: 50 }),
  };
}

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

function scans(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(scans)];
}

describe.skipIf(server.skipReason)("every query shape of src/indexes.ts uses an index on 20,000 rows", () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let client: pg.Client;
  const sql = new Sql("indiepm");

  beforeAll(async () => {
    database = await freshDatabase();
    const store = await openPostgresStore(database.url);
    await store.close();
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const used = new Set<CollectionName>(QUERY_SHAPES.map((shape) => shape.collection));
    for (const collection of used) {
      await client.query(`INSERT INTO ${sql.table(collection)} (_id, doc) SELECT 'doc' || i, ${SEED} FROM generate_series(1, ${ROWS}) AS i`);
      await client.query(`ANALYZE ${sql.table(collection)}`);
    }
  }, 120_000);

  afterAll(async () => {
    await client?.end();
    await database?.drop();
  });

  it.each(QUERY_SHAPES.map((shape) => ({ ...shape, name: `${shape.collection}: ${shape.from}` })))("$name", async (shape) => {
    const query = queryOf(shape);
    // A shape without range or sort is also what `count` asks.
    const statements = [findStatement(sql, shape.collection, query)];
    if (shape.range === undefined && shape.sort === undefined) statements.push(countStatement(sql, shape.collection, query.where));
    const tables = new Set<string>(COLLECTIONS);
    for (const statement of statements) {
      const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${statement.text}`, statement.params);
      const plan = rows[0]?.["QUERY PLAN"][0].Plan as PlanNode;
      const seqScans = scans(plan).filter((node) => node["Node Type"] === "Seq Scan" && tables.has(node["Relation Name"] ?? ""));
      expect(seqScans.map((node) => `Seq Scan on ${node["Relation Name"]}: ${statement.text}`)).toEqual([]);
    }
  });

  // inboxStatus (owner/conversations.ts): 2.1 s at 1,000,000 messages counting `read: null` without an index of its own.
  it.each([{ recipient: SAMPLE.recipient as string, read: null }, { read: null }])(
    "the unread count %o is answered from the partial index of unread messages",
    async (where) => {
      const statement = countStatement(sql, "inbox", where);
      const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${statement.text}`, statement.params);
      const indexes = scans(rows[0]?.["QUERY PLAN"][0].Plan as PlanNode).map((node) => node["Index Name"]);
      expect(indexes).toContain("inbox_recipient_if_read");
    },
  );
});
