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
 * One of them is kept out of the pool for the owner's searches, and runs a search over the
 * newest conversations first (conversation-search.ts warmConversationSearch): planning
 * alone left a fresh process's first search at about twice a later one's, and a search
 * from the pool could land on a connection opened since (for work at start), new to every
 * page it reads.
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
 * Opens `count` connections of `pool` and plans `statements` on each. With `keep`, the first
 * one first runs `keep` (statements run, not only planned: conversation-search.ts
 * warmConversationSearch) and is not given back to the pool but resolved, for the caller to
 * hold (store.ts keeps it for the owner's searches) and release; the others are back in the
 * pool when this resolves.
 */
export async function warmPool(
  pool: pg.Pool,
  count: number,
  statements: readonly Statement[],
  keep?: (run: RunQuery) => Promise<unknown>,
): Promise<pg.PoolClient | undefined> {
  const clients = await Promise.all(Array.from({ length: count }, () => pool.connect()));
  let kept = keep === undefined ? undefined : clients[0];
  const closed = new Set<pg.PoolClient>();
  let failed = true;
  try {
    await Promise.all(
      clients.map(async (client) => {
        if (client === kept) {
          try {
            await keep!(async (text, params) => (await client.query(text, params)).rows);
          } catch {
            // A warm-up, not the store's work: a search that fails at open (a timeout on a
            // huge inbox) leaves searches to the pool; the connection, maybe broken, is closed.
            kept = undefined;
            closed.add(client);
            client.release(true);
            return;
          }
        }
        for (const statement of statements) await client.query(`EXPLAIN ${statement.text}`, statement.params);
      }),
    );
    failed = false;
    return kept;
  } finally {
    for (const client of clients) if (!closed.has(client) && (client !== kept || failed)) client.release();
  }
}
