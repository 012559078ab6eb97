/**
 * `openPostgresStore(url, options)`: core's `Store` on PostgreSQL, with `shared` for
 * several processes on one database (issue 11). See sql.ts for the query semantics,
 * migrations.ts for the schema, shared.ts for locks, rate windows and work notifications.
 */
import {
  type CollectionName,
  type Doc,
  type DocKey,
  DuplicateKeyError,
  type GivenDoc,
  type Patch,
  PmError,
  type Query,
  type Scalar,
  type SharedStore,
  type Store,
  type ConversationSearch,
  type TextSearch,
  type Write,
} from "@indiepm/core";
import { checkCollection, checkDocument, checkId, checkPatch, checkQuery, checkWhere, closedStoreError } from "@indiepm/core/store-adapter";
import { createHash } from "node:crypto";
import pg from "pg";
import { encodeString, fromJsonb, toJsonb } from "./encoding.js";
import { describeUrl, storeError } from "./errors.js";
import { type QueryShape, shapeOf } from "./indexes.js";
import { migrate } from "./migrations.js";
import { createShared } from "./shared.js";
import { Conditions, countStatement, findStatement, getEachStatement, patched, Sql, type WriteCall, WriteStatements } from "./sql.js";
import { WRITE_BATCH_DEFAULTS, WriteBatches } from "./batch.js";
import { conversationSearchWarmStatements, searchConversations, warmConversationSearch } from "./conversation-search.js";
import { isSearched, type RunQuery, searchWarmStatements, windowedSearch } from "./search.js";
import { warmPool, warmStatements } from "./warm.js";

export interface PostgresStoreOptions {
  /** The PostgreSQL schema holding the tables; created when missing. Default `indiepm`. */
  schema?: string;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /** Longest a statement may run before the server cancels it (statement_timeout). Default 10,000 ms. */
  statementTimeoutMs?: number;
  /** Longest a new connection may take. Default 5,000 ms. */
  connectTimeoutMs?: number;
  /** Longest `shared.withLock` waits for its lock (lock_timeout). Default 60,000 ms. */
  lockWaitMs?: number;
  /**
   * Connections opened and warmed at open and kept open (warm.ts): the first calls of a
   * process then find them ready. Default 5 (at most `poolSize`); 0 opens them on demand.
   * With a `poolSize` of 2 or more, one of them is kept for the owner's searches (and has
   * run a search at open), the others serve the rest.
   */
  warmConnections?: number;
  /**
   * Statements of `writeAfter` and `writeIfUnchanged` (a `deliver`'s write) under way at
   * once at most. Calls made while one is under way go to the database together, as one
   * statement, when it ends (batch.ts: group commit); another starts beside it when 4
   * calls wait or it has taken 20 ms. Default 4.
   */
  writeStatements?: number;
  /** Called with the shape of every `find` and `count` (indexes.ts), e.g. to check a flow's queries are all indexed. */
  onQuery?: (shape: QueryShape) => void;
}

/** A `Store` on PostgreSQL: always shared between processes, with a health check. */
export interface PostgresStore extends Store {
  readonly shared: SharedStore;
  /** The schema holding the tables. */
  readonly schema: string;
  /** Resolves when the database can be written and read now (`GET /health`). */
  check(): Promise<void>;
  /** One round trip for many `_id`s (core's `Store.getMany`). */
  getMany<T extends Doc>(collection: CollectionName, ids: readonly string[]): Promise<(T | null)[]>;
  /** One statement for documents of several collections (core's `Store.getEach`). */
  getEach(keys: readonly DocKey[]): Promise<(Doc | null)[]>;
  /** One statement for a write and those made only after it (core's `Store.writeAfter`). */
  writeAfter(first: Write, then: readonly Write[]): Promise<boolean[]>;
  /** `writeAfter` made only while the given documents are stored as given, in the same statement (core's `Store.writeIfUnchanged`). */
  writeIfUnchanged(given: readonly GivenDoc[], first: Write, then: readonly Write[]): Promise<boolean[] | null>;
}

export const POSTGRES_STORE_DEFAULTS = {
  schema: "indiepm",
  poolSize: 10,
  statementTimeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  lockWaitMs: 60_000,
  warmConnections: 5,
  writeStatements: WRITE_BATCH_DEFAULTS.statements,
} as const;

const OPTION_NAMES = [...Object.keys(POSTGRES_STORE_DEFAULTS), "onQuery"];

interface Resolved {
  url: URL;
  where: string;
  schema: string;
  poolSize: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  lockWaitMs: number;
  warmConnections: number;
  writeStatements: number;
  onQuery: ((shape: QueryShape) => void) | undefined;
}

function resolveOptions(url: string, options: PostgresStoreOptions): Resolved {
  if (typeof url !== "string" || !URL.canParse(url)) {
    throw new PmError("store_error", "The database URL is not a URL; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE.");
  }
  const parsed = new URL(url);
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new PmError("store_error", `The database URL starts with ${parsed.protocol}; a PostgreSQL URL starts with postgres:// or postgresql://.`);
  }
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.includes(name)) throw new PmError("store_error", `openPostgresStore has no option ${name}; it takes ${OPTION_NAMES.join(", ")}.`);
  }
  const all = { ...POSTGRES_STORE_DEFAULTS, ...withoutUndefined(options) };
  if (typeof all.schema !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(all.schema)) {
    throw new PmError("store_error", "The option schema must be a plain PostgreSQL name: letters, digits and _, not starting with a digit, at most 63.");
  }
  for (const name of ["poolSize", "statementTimeoutMs", "connectTimeoutMs", "lockWaitMs", "writeStatements"] as const) {
    const value = all[name];
    if (!Number.isInteger(value) || value < 1) throw new PmError("store_error", `The option ${name} must be a whole number, 1 or more.`);
  }
  if (!Number.isInteger(all.warmConnections) || all.warmConnections < 0)
    throw new PmError("store_error", "The option warmConnections must be a whole number, 0 or more.");
  if (options.onQuery !== undefined && typeof options.onQuery !== "function") throw new PmError("store_error", "The option onQuery must be a function.");
  return { ...all, url: parsed, where: describeUrl(parsed), onQuery: options.onQuery };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * A named prepared statement: parsed and planned once per connection (bench/store-driver.js
 * measured 1.2–1.6 times the operations per second of unnamed ones). The texts are few (one
 * per collection and query shape; a batch of writes, one per shape of the calls in it), and
 * at most `MAX_PREPARED` are named, so each connection keeps a bounded set; a text seen
 * after that is sent unnamed (parsed and planned each time).
 */
const MAX_PREPARED = 500;
const statementNames = new Map<string, string>();
function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (name === undefined) {
    if (statementNames.size >= MAX_PREPARED) return { text, values };
    name = `indiepm_${createHash("sha256").update(text).digest("base64url").slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}

/** The writes of `writeAfter` and `writeIfUnchanged`, checked as their own calls check them. */
function checkWrites(writes: readonly Write[]): void {
  for (const write of writes) {
    if ("merge" in write) {
      checkCollection(write.merge);
      checkDocument(write.doc);
      if (typeof (write.doc as Doc & Record<string, unknown>)[write.newer] !== "string")
        throw new PmError("store_error", "A merge's newer field must be a string of its document.");
      for (const n of Object.values(write.add)) if (!Number.isFinite(n)) throw new PmError("store_error", "A merge adds finite numbers.");
    } else if ("insert" in write) {
      checkCollection(write.insert);
      checkDocument(write.doc);
    } else {
      checkCollection(write.update);
      checkId(write.id);
      checkPatch(write.patch);
      if (write.expect !== undefined) checkWhere(write.expect, "expect");
    }
  }
}

/**
 * Opens the store: connects, creates or upgrades the schema (migrations.ts), and returns
 * the store. Fails with one `PmError("store_error")` sentence when the database cannot be
 * reached or is newer than this code.
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const o = resolveOptions(url, options);
  const connection: pg.ClientConfig = {
    connectionString: url,
    connectionTimeoutMillis: o.connectTimeoutMs,
    statement_timeout: o.statementTimeoutMs,
    // A server that stops answering (a cut network) is given up on a little after statement_timeout.
    query_timeout: o.statementTimeoutMs + 5_000,
    idle_in_transaction_session_timeout: o.statementTimeoutMs * 2,
    application_name: "indiepm",
    keepAlive: true,
  };
  // The warmed connections (warm.ts) are kept; others close after 30 s idle.
  const warm = Math.min(o.warmConnections, o.poolSize);
  const pool = new pg.Pool({ ...connection, max: o.poolSize, min: warm, idleTimeoutMillis: 30_000 });
  const lockPool = new pg.Pool({
    ...connection,
    statement_timeout: 0,
    query_timeout: 0,
    lock_timeout: o.lockWaitMs,
    max: o.poolSize,
    idleTimeoutMillis: 30_000,
  });
  // A pooled connection the server drops while idle emits an error: the pool discards it, nothing else to do.
  pool.on("error", () => undefined);
  lockPool.on("error", () => undefined);
  const sql = new Sql(o.schema);
  const fail = (error: unknown) => storeError(error, o.where);
  /**
   * The connection kept for the owner's searches (`search`, `searchConversations`), warmed
   * with a search at open: a search reads thousands of pages, each of which costs a backend
   * more the first time it touches it (warm.ts, conversation-search.ts
   * warmConversationSearch). A search finding it busy takes one from the pool.
   */
  let searchClient: pg.PoolClient | undefined;
  let searchBusy = false;
  function dropSearchClient() {
    const client = searchClient;
    searchClient = undefined;
    if (client !== undefined && !searchBusy) client.release(true);
  }

  try {
    // A connection of its own, without the client-side query_timeout: a migration may wait for another instance's, or build an index, for long.
    const { query_timeout: _, ...unbounded } = connection;
    const client = new pg.Client(unbounded);
    client.on("error", () => undefined);
    await client.connect();
    try {
      await migrate(client, sql, o.schema, o.where);
    } finally {
      await client.end().catch(() => undefined);
    }
    searchClient = await warmPool(
      pool,
      warm,
      [...warmStatements(sql), ...conversationSearchWarmStatements(sql), ...searchWarmStatements(sql)],
      // One warmed connection kept for the owner's searches, when the pool has others for the rest.
      warm >= 1 && o.poolSize >= 2 ? (runQuery) => warmConversationSearch(runQuery, sql) : undefined,
    );
    // Dropped by the server (a restart): searches go to the pool from then on.
    searchClient?.on("error", dropSearchClient);
  } catch (error) {
    await Promise.all([pool.end(), lockPool.end()]).catch(() => undefined);
    throw fail(error);
  }

  let closed: Promise<void> | undefined;
  const inFlight = new Set<Promise<unknown>>();
  /** Every call goes through here: refused after close, awaited by close. */
  function run<T>(task: () => Promise<T>): Promise<T> {
    if (closed !== undefined) return Promise.reject(closedStoreError());
    const promise = task();
    inFlight.add(promise);
    const forget = () => inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }
  async function query<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await pool.query<R>(prepared(text, params));
    } catch (error) {
      throw fail(error);
    }
  }
  const docs = <T>(rows: { doc: string }[]) => rows.map((row) => fromJsonb(row.doc) as T);
  /**
   * A search's statements on one connection, each unprepared: planned with the words searched
   * (a prepared statement may settle on one generic plan for rare and common words alike).
   */
  async function onOneConnection<R>(work: (run: RunQuery) => Promise<R>): Promise<R> {
    const kept = searchBusy ? undefined : searchClient;
    const client =
      kept ??
      (await pool.connect().catch((error: unknown) => {
        throw fail(error);
      }));
    if (kept !== undefined) searchBusy = true;
    let failed = false;
    try {
      return await work(async (text, params) => (await client.query(text, params)).rows);
    } catch (error) {
      failed = true;
      throw fail(error);
    } finally {
      // After a failure the connection may be broken: not given back to the pool (nor kept).
      if (kept === undefined) client.release(failed);
      else {
        searchBusy = false;
        if (failed || searchClient !== kept) {
          if (searchClient === kept) searchClient = undefined;
          kept.release(true);
        }
      }
    }
  }

  // Calls of writeAfter and writeIfUnchanged made at once, as one statement (batch.ts: group commit).
  const writeStatements = new WriteStatements(sql);
  const batches = new WriteBatches(
    async (calls) => {
      const statement = writeStatements.statement(calls);
      const { rows } = await pool.query<Record<string, number | boolean>>(prepared(statement.text, statement.params));
      const row = rows[0] ?? {};
      return statement.columns.map((columns) => ({
        given: columns.given === undefined ? undefined : row[columns.given] === true,
        made: columns.writes.map((name) => row[name] === 1),
      }));
    },
    { ...WRITE_BATCH_DEFAULTS, statements: o.writeStatements },
  );
  const write = (call: WriteCall) =>
    batches.write(call).catch((error: unknown) => {
      throw fail(error);
    });

  const shared = createShared({ pool, lockPool, listenConfig: connection, sql, schemaName: o.schema, run, fail });

  const store: PostgresStore = {
    schema: o.schema,
    shared,

    insert: (collection, doc) =>
      run(async () => {
        checkCollection(collection);
        checkDocument(doc);
        try {
          await pool.query(prepared(`INSERT INTO ${sql.table(collection)} (_id, doc) VALUES ($1, $2::jsonb)`, [encodeString(doc._id), toJsonb(doc)]));
        } catch (error) {
          if ((error as { code?: string }).code === "23505") throw new DuplicateKeyError(collection, doc._id);
          throw fail(error);
        }
      }),

    get: <T extends Doc>(collection: CollectionName, id: string) =>
      run(async () => {
        checkCollection(collection);
        checkId(id);
        const { rows } = await query<{ doc: string }>(`SELECT doc::text AS doc FROM ${sql.table(collection)} WHERE _id = $1`, [encodeString(id)]);
        return rows.length === 0 ? null : (docs<T>(rows)[0] as T);
      }),

    getMany: <T extends Doc>(collection: CollectionName, ids: readonly string[]) =>
      run(async () => {
        checkCollection(collection);
        for (const id of ids) checkId(id);
        if (ids.length === 0) return [];
        const { rows } = await query<{ doc: string }>(`SELECT doc::text AS doc FROM ${sql.table(collection)} WHERE _id = ANY($1::text[])`, [
          ids.map(encodeString),
        ]);
        const byId = new Map(docs<T>(rows).map((doc) => [doc._id, doc]));
        return ids.map((id) => byId.get(id) ?? null);
      }),

    getEach: (keys: readonly DocKey[]) =>
      run(async () => {
        for (const [collection, id] of keys) {
          checkCollection(collection);
          checkId(id);
        }
        if (keys.length === 0) return [];
        const statement = getEachStatement(sql, keys);
        const { rows } = await query<{ i: number; doc: string }>(statement.text, statement.params);
        const found: (Doc | null)[] = keys.map(() => null);
        for (const row of rows) found[row.i] = fromJsonb(row.doc) as Doc;
        return found;
      }),

    writeAfter: (first: Write, then: readonly Write[]) =>
      run(async () => {
        const writes = [first, ...then];
        checkWrites(writes);
        return (await write({ writes })).made as boolean[];
      }),

    writeIfUnchanged: (given, first, then) =>
      run(async () => {
        const writes = [first, ...then];
        checkWrites(writes);
        for (const [collection, id, doc] of given) {
          checkCollection(collection);
          checkId(id);
          if (doc !== null) checkDocument(doc);
        }
        const result = await write({ writes, given });
        return result.given ? (result.made as boolean[]) : null;
      }),

    update: <T extends Doc>(collection: CollectionName, id: string, patch: Patch<T>, expect?: Record<string, Scalar>) =>
      run(async () => {
        checkCollection(collection);
        checkId(id);
        checkPatch(patch);
        if (expect !== undefined) checkWhere(expect, "expect");
        const conditions = new Conditions(sql, [encodeString(id)]);
        conditions.parts.push("_id = $1");
        conditions.where(expect);
        const change = patched(conditions, patch);
        const result = await query(`UPDATE ${sql.table(collection)} SET doc = ${change}${conditions.clause()}`, conditions.params);
        return result.rowCount === 1;
      }),

    put: (collection, doc) =>
      run(async () => {
        checkCollection(collection);
        checkDocument(doc);
        await query(`INSERT INTO ${sql.table(collection)} (_id, doc) VALUES ($1, $2::jsonb) ON CONFLICT (_id) DO UPDATE SET doc = EXCLUDED.doc`, [
          encodeString(doc._id),
          toJsonb(doc),
        ]);
      }),

    remove: (collection, id, expect) =>
      run(async () => {
        checkCollection(collection);
        checkId(id);
        if (expect !== undefined) checkWhere(expect, "expect");
        const conditions = new Conditions(sql, [encodeString(id)]);
        conditions.parts.push("_id = $1");
        conditions.where(expect);
        const result = await query(`DELETE FROM ${sql.table(collection)}${conditions.clause()}`, conditions.params);
        return result.rowCount === 1;
      }),

    find: <T extends Doc>(collection: CollectionName, q: Query = {}) =>
      run(async () => {
        checkCollection(collection);
        checkQuery(q);
        o.onQuery?.(shapeOf(collection, q.where, q.range?.field, q.sort?.field));
        const statement = findStatement(sql, collection, q);
        const { rows } = await query<{ doc: string }>(statement.text, statement.params);
        return docs<T>(rows);
      }),

    count: (collection, where) =>
      run(async () => {
        checkCollection(collection);
        if (where !== undefined) checkWhere(where, "where");
        o.onQuery?.(shapeOf(collection, where));
        const statement = countStatement(sql, collection, where);
        const { rows } = await query<{ n: number }>(statement.text, statement.params);
        return rows[0]?.n ?? 0;
      }),

    check: () =>
      run(async () => {
        await query(
          `INSERT INTO ${sql.schema}.health (id, checked_at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET checked_at = now() RETURNING checked_at`,
        );
      }),

    search: <T extends Doc>(collection: "inbox" | "outbox", q: TextSearch) =>
      run(async () => {
        if (!isSearched(collection)) throw new PmError("store_error", `search answers inbox and outbox, not ${String(collection)}.`);
        if (q.where !== undefined) checkWhere(q.where, "where");
        return docs<T>(await onOneConnection((runQuery) => windowedSearch(runQuery, sql, collection, q)));
      }),

    searchConversations: <T extends Doc>(q: ConversationSearch) =>
      run(async () => {
        if (!Array.isArray(q.sites) || !q.sites.every((site) => typeof site === "string"))
          throw new PmError("store_error", "searchConversations takes sites as strings.");
        return docs<T>(await onOneConnection((runQuery) => searchConversations(runQuery, sql, q)));
      }),

    close() {
      closed ??= (async () => {
        // Calls already made finish, but a task that never ends (withLock's) does not hold the store open for ever.
        let waited: NodeJS.Timeout | undefined;
        const bound = new Promise<void>((resolve) => (waited = setTimeout(resolve, o.statementTimeoutMs + 5_000)));
        await Promise.race([Promise.allSettled([...inFlight]), bound]);
        clearTimeout(waited);
        await shared.close();
        const kept = searchClient;
        searchClient = undefined;
        kept?.release();
        // A pool ends once every connection is back; one still out with a task that never ends is not waited for.
        let ended: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all([pool.end(), lockPool.end()]), new Promise<void>((resolve) => (ended = setTimeout(resolve, 1_000)))]);
        clearTimeout(ended);
      })();
      return closed;
    },
  };
  return store;
}
