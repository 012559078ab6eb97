/**
 * The pool warmed at open (issue 11: the first inbox page of a process ≤ 20 ms). A new
 * PostgreSQL connection costs its set-up, and its first plan of each table loads the
 * table's and indexes' catalog entries and inlines the ordering functions of sql.ts: at
 * 1,000,000 messages the first page of a process took 100–190 ms where every later one
 * took 2–13 ms (bench/postgres-inbox.js). So `openPostgresStore` opens
 * `warmConnections` of the pool's connections at once and has each plan (EXPLAIN, nothing
 * run) one query shape of every table the engine queries; the pool keeps them open (`min`)
 * instead of closing them after 30 s idle. Measured at 1,000,000 messages on two cores
 * under a load average of 9: the first page 105–270 ms without, 32–47 ms with 4
 * or 10 warmed; open 120–260 ms without, +100–300 ms with 4, +300–600 ms with 10.
 * Each also runs a search over the newest conversations first (conversation-search.ts
 * warmConversationSearch): planning alone left a fresh process's first search at about
 * twice a later one's.
 */
import type { CollectionName, Query } from "@indiepm/core";
import type pg from "pg";
import { QUERY_SHAPES } from "./indexes.js";
import type { RunQuery } from "./search.js";
import { findStatement, type Sql, type Statement } from "./sql.js";

/** One statement per table of QUERY_SHAPES: its first shape, with placeholder values. */
export function warmStatements(sql: Sql): Statement[] {
  const byCollection = new Map<CollectionName, Statement>();
  for (const shape of QUERY_SHAPES) {
    if (byCollection.has(shape.collection)) continue;
    const query: Query = {
      where: Object.fromEntries(shape.where.map((field) => [field, ""])),
      ...(shape.range === undefined ? {} : { range: { field: shape.range, lte: 0 } }),
      ...(shape.sort === undefined ? {} : { sort: { field: shape.sort, order: "asc" as const } }),
      limit: 1,
    };
    byCollection.set(shape.collection, findStatement(sql, shape.collection, query));
  }
  return [...byCollection.values()];
}

/**
 * Opens `count` connections of `pool`, runs `execute` on each (statements run, not only
 * planned: conversation-search.ts warmConversationSearch), then plans `statements` on each;
 * resolves when all are back in the pool.
 */
export async function warmPool(
  pool: pg.Pool,
  count: number,
  statements: readonly Statement[],
  execute: (run: RunQuery) => Promise<unknown> = async () => undefined,
): Promise<void> {
  const clients = await Promise.all(Array.from({ length: count }, () => pool.connect()));
  try {
    await Promise.all(
      clients.map(async (client) => {
        await execute(async (text, params) => (await client.query(text, params)).rows);
        for (const statement of statements) await client.query(`EXPLAIN ${statement.text}`, statement.params);
      }),
    );
  } finally {
    for (const client of clients) client.release();
  }
}
