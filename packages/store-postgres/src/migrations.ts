/**
 * The schema, by numbered migrations run at open (issue 11). Each runs once, in order,
 * in one transaction holding an advisory lock (several instances may start at once: the
 * first migrates, the others wait and find nothing left to do). `schema_migrations`
 * records the versions applied; a database whose version is newer than this code's is
 * refused with one sentence, before anything is changed. After the migrations, the
 * indexes of indexes.ts are created if missing, under the same lock.
 *
 * A migration, once released, never changes: a change of schema is a new number.
 */
import { PmError } from "@indiepm/core";
import type pg from "pg";
import { lockKey } from "./shared.js";
import { INDEXES } from "./indexes.js";
import { conversationSearchMigration } from "./conversation-search.js";
import { searchMigration, storedSearchMigration } from "./search.js";
import { ident, indexName, type Sql } from "./sql.js";

/** The notification channel of `shared.onWork`; the payload is the schema's name. */
export const WORK_CHANNEL = "indiepm_work";

/**
 * The collections of version 1, written out: core's COLLECTIONS may grow, and a database
 * at version 1 must not depend on the code that reads it (a new collection is a new
 * migration; store.test checks every collection has its table).
 */
const VERSION_1_COLLECTIONS = ["outbox", "deliveries", "inbox", "secrets", "grants", "handshakes", "settings", "sessions", "webhooks", "conversations"];

/** What each version does, given the schema's quoted name. Version n is `MIGRATIONS[n - 1]`. */
export const MIGRATIONS: readonly ((schema: string, schemaName: string) => string)[] = [
  // 1: one table per collection, the ordering functions of sql.ts, the rate-limit windows, the health row, the work trigger.
  (s, name) => `
    ${VERSION_1_COLLECTIONS.map((c) => `CREATE TABLE ${s}.${ident(c)} (_id text COLLATE "C" PRIMARY KEY, doc jsonb NOT NULL);`).join("\n")}

    CREATE FUNCTION ${s}.indiepm_rank(v jsonb) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
      $$ SELECT CASE WHEN v IS NULL THEN 0 ELSE CASE jsonb_typeof(v) WHEN 'null' THEN 1 WHEN 'number' THEN 2 WHEN 'string' THEN 3 WHEN 'boolean' THEN 4 ELSE 5 END END $$;
    CREATE FUNCTION ${s}.indiepm_num(v jsonb) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
      $$ SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN v::float8 END $$;
    CREATE FUNCTION ${s}.indiepm_str(v jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
      $$ SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' END $$;

    -- shared.hit: fixed windows, lost on a crash of the server (UNLOGGED) like any rate limit.
    CREATE UNLOGGED TABLE ${s}.rate_windows (key text COLLATE "C" PRIMARY KEY, start float8 NOT NULL, ends float8 NOT NULL, count int NOT NULL);
    CREATE INDEX rate_windows_ends ON ${s}.rate_windows (ends);

    -- check(): GET /health writes and reads this row.
    CREATE TABLE ${s}.health (id int PRIMARY KEY, checked_at timestamptz NOT NULL);

    -- shared.onWork: new work, or work made due sooner, wakes every instance.
    CREATE FUNCTION ${s}.indiepm_notify_work() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' OR ${s}.indiepm_num(NEW.doc->'nextAttemptAt') < COALESCE(${s}.indiepm_num(OLD.doc->'nextAttemptAt'), 'Infinity'::float8) THEN
        PERFORM pg_notify('${WORK_CHANNEL}', ${literalName(name)});
      END IF;
      RETURN NULL;
    END $$;
    ${["deliveries", "handshakes", "webhooks"]
      .map((c) => `CREATE TRIGGER notify_work AFTER INSERT OR UPDATE ON ${s}.${ident(c)} FOR EACH ROW EXECUTE FUNCTION ${s}.indiepm_notify_work();`)
      .join("\n")}
  `,
  // 2: full-text search of inbox and outbox (search.ts).
  (s) => searchMigration(s),
  // 3: the searchable text as a stored column with its GIN index (search.ts).
  (s) => storedSearchMigration(s),
  // 4: correspondents' profiles and their photos (core owner/profiles.ts), read by _id only.
  (s) => ["profiles", "avatars"].map((c) => `CREATE TABLE ${s}.${ident(c)} (_id text COLLATE "C" PRIMARY KEY, doc jsonb NOT NULL);`).join("\n"),
  // 5: chats, one summary per correspondent (or set of them) of a site (core owner/chats.ts); its indexes are in indexes.ts.
  (s) => `CREATE TABLE IF NOT EXISTS ${s}.chats (_id text COLLATE "C" PRIMARY KEY, doc jsonb NOT NULL);`,
  // 6: each message's conversation as text, indexed, for the search by conversation (conversation-search.ts).
  (s) => conversationSearchMigration(s),
];

function literalName(name: string): string {
  return `'${name.replaceAll("'", "''")}'`;
}

/** Brings the schema to the newest version (see the top of this file). `where` names the database in sentences. */
export async function migrate(client: pg.ClientBase, sql: Sql, schemaName: string, where: string): Promise<void> {
  const s = sql.schema;
  await client.query("BEGIN");
  try {
    // Waiting for another instance's migration, or building an index on a large table, may take longer than a statement may.
    await client.query("SET LOCAL statement_timeout = 0");
    await client.query("SELECT pg_advisory_xact_lock($1)", [lockKey(`migrate ${schemaName}`)]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${s}.schema_migrations`);
    const current = rows[0]?.version ?? 0;
    const latest = MIGRATIONS.length;
    if (current > latest) {
      throw new PmError(
        "store_error",
        `The database ${where} has indiepm schema version ${current} (schema ${schemaName}), newer than this indiepm's ${latest}; upgrade indiepm to use it.`,
      );
    }
    for (let version = current + 1; version <= latest; version++) {
      await client.query((MIGRATIONS[version - 1] as (typeof MIGRATIONS)[number])(s, schemaName));
      await client.query(`INSERT INTO ${s}.schema_migrations (version) VALUES ($1)`, [version]);
    }
    // Only the indexes missing: CREATE INDEX takes a lock on its table even when the index
    // exists (IF NOT EXISTS is checked after it), held to COMMIT, which would stop every
    // instance's writes while one more instance opens.
    const { rows: present } = await client.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE schemaname = $1", [schemaName]);
    const have = new Set(present.map((row) => row.indexname));
    for (const index of INDEXES) if (!have.has(indexName(index))) await client.query(sql.indexStatement(index));
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}
