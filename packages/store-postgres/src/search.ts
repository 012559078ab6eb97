/**
 * `Store.search` on PostgreSQL (issue 11: "search by PostgreSQL full-text"): the owner's
 * search over received and sent messages, answered from a GIN index instead of a scan.
 *
 * A message's searchable text is its `content`, its `name` (the subject) and the sites in
 * it (`sender`, `recipient`, `recipients`, `to`), as one `tsvector` of the `simple`
 * configuration: words lower-cased and not stemmed (messages come in every language, and
 * a site's host name stays one token). The expression lives in one IMMUTABLE function so
 * the index and the query repeat it exactly; the owner's words are read by
 * `websearch_to_tsquery` (every word must occur; "quoted phrases", `or` and `-word` as a
 * web search box takes them). Matches come newest first, by the page key (`pageKey`, core's
 * protocol/records.ts), after the cursor `before`.
 */
import type { TextSearch } from "@indiepm/core";
import { encodeString } from "./encoding.js";
import { Conditions, type Sql } from "./sql.js";

/** The collections searched (core's `Store.search`). */
export const SEARCHED = ["inbox", "outbox"] as const;

/** The function giving a document's searchable text, in schema `s` (quoted). */
export function searchVector(s: string, doc = "doc"): string {
  return `${s}.indiepm_search_vector(${doc})`;
}

/**
 * Migration 2: the searchable text of a message and its GIN index on `inbox` and `outbox`.
 * Given the schema's quoted name, as every entry of migrations.ts's `MIGRATIONS`.
 */
export function searchMigration(s: string): string {
  return `
    CREATE FUNCTION ${searchVector(s, "doc jsonb")} RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
      $$ SELECT to_tsvector('simple'::regconfig, concat_ws(' ', doc->>'content', doc->>'name', doc->>'sender', doc->>'recipient', doc->>'recipients', doc->>'to')) $$;
    ${SEARCHED.map((c) => `CREATE INDEX ${c}_search ON ${s}.${c} USING gin (${searchVector(s)});`).join("\n")}
  `;
}

/** What migration 3 stores beside each message for its search: the text, the site, the page key. */
export const SEARCH_COLUMNS = { text: "search_text", site: "search_site", key: "search_key" } as const;

/** The field of a message naming its site, per collection searched (core's owner/conversations.ts searches by it). */
export const SITE_FIELD = { inbox: "recipient", outbox: "sender" } as const;

/**
 * Migration 3: a search read from stored columns instead of from the document. Migration
 * 2's expression index left each match to be recomputed from `doc` (a `to_tsvector` per
 * row when the planner walked the page-key index: 1.1 s for 16,000 rows at 1,000,000
 * messages), and even from the GIN bitmap each match's site and page key were read from its
 * `doc` (a compressed jsonb, decompressed for every field read). So each message keeps,
 * computed by PostgreSQL on every insert and update (`GENERATED ALWAYS ... STORED`):
 * - `search_text`, its `tsvector` (the GIN index `<collection>_search`, and the
 *   statistics that tell the planner a rare word from a common one);
 * - `search_site`, its site (`recipient` of a received message, `sender` of a sent one)
 *   and `search_key`, its `pageKey`, each only when a string, with the index
 *   `<collection>_search_site_key` on both, in the order of the answer.
 * A rare word is answered from the GIN bitmap, its matches sorted by the stored key; a
 * common one by walking the site's keys newest first, checking each stored vector
 * (EXPLAIN ANALYZE of both at 100,000 and 1,000,000 messages: BENCHMARKS.md, PostgreSQL). Adding
 * the columns rewrites the table once (minutes at a million messages; migrations run
 * without statement_timeout, see migrations.ts).
 */
export function storedSearchMigration(s: string): string {
  return `
    SET LOCAL maintenance_work_mem = '256MB';
    ${SEARCHED.map(
      (c) => `
    DROP INDEX IF EXISTS ${s}.${c}_search;
    ALTER TABLE ${s}.${c}
      ADD COLUMN ${SEARCH_COLUMNS.text} tsvector GENERATED ALWAYS AS (${searchVector(s)}) STORED,
      ADD COLUMN ${SEARCH_COLUMNS.site} text COLLATE "C" GENERATED ALWAYS AS (${s}.indiepm_str(doc->'${SITE_FIELD[c]}')) STORED,
      ADD COLUMN ${SEARCH_COLUMNS.key} text COLLATE "C" GENERATED ALWAYS AS (${s}.indiepm_str(doc->'pageKey')) STORED;
    CREATE INDEX ${c}_search ON ${s}.${c} USING gin (${SEARCH_COLUMNS.text});
    CREATE INDEX ${c}_search_site_key ON ${s}.${c} (${SEARCH_COLUMNS.site}, ${SEARCH_COLUMNS.key} DESC NULLS LAST);
    ANALYZE ${s}.${c};`,
    ).join("\n")}
  `;
}

/**
 * The SELECT of `search`: documents matching `query.where` and the text, newest first (by
 * `pageKey`, strings in code-point order; a document without a string `pageKey` after
 * them). A `where` of the site alone, the engine's, is read from the stored site; any
 * other from the document. store.ts sends it unprepared, so each search is planned with
 * its words (a rare word from the GIN index, a common one along the site's keys).
 */
export function searchStatement(sql: Sql, collection: (typeof SEARCHED)[number], query: TextSearch): { text: string; params: unknown[] } {
  const conditions = new Conditions(sql);
  const fields = Object.keys(query.where ?? {});
  const site = query.where?.[SITE_FIELD[collection]];
  if (fields.length === 1 && typeof site === "string") conditions.parts.push(`${SEARCH_COLUMNS.site} = ${conditions.param(encodeString(site))}::text`);
  else conditions.where(query.where);
  if (query.before !== undefined) conditions.parts.push(`${SEARCH_COLUMNS.key} < ${conditions.param(encodeString(query.before))}::text`);
  conditions.parts.push(`${SEARCH_COLUMNS.text} @@ websearch_to_tsquery('simple'::regconfig, ${conditions.param(encodeString(query.text))}::text)`);
  const limit = conditions.param(Math.max(0, Math.floor(query.limit)));
  // The inner SELECT sorts the matches with their stored `doc` untouched; only the `limit` kept are turned into text (a message's jsonb to text costs more than finding it).
  const order = `ORDER BY ${SEARCH_COLUMNS.key} DESC NULLS LAST`;
  return {
    text: `SELECT doc::text AS doc FROM (SELECT doc, ${SEARCH_COLUMNS.key} FROM ${sql.table(collection)}${conditions.clause()} ${order} LIMIT ${limit}) AS found ${order}`,
    params: conditions.params,
  };
}

/** Whether `collection` is one `search` answers (core passes only these; a typo must not reach SQL). */
export function isSearched(collection: string): collection is (typeof SEARCHED)[number] {
  return (SEARCHED as readonly string[]).includes(collection);
}

/**
 * How a search is cut into windows (`windowedSearch`); the defaults suit an inbox of
 * millions, tests make the windows small.
 */
export interface SearchWindows {
  /**
   * Up to this many matches in the whole table (the planner's estimate), one statement:
   * the GIN bitmap then visits that many rows at most.
   */
  directMatches: number;
  /**
   * Up to this many rows of the site should hold the `limit` matches (a common word, at the
   * planner's estimate of its density), one statement: the planner walks the site's keys
   * newest first and stops there, cheaper than a window's bitmaps.
   */
  walkRows: number;
  /** The fewest rows of the site a window spans. */
  minRows: number;
  /** A window spans this many times the rows that should hold the matches still wanted, at the density seen so far. */
  margin: number;
}

export const SEARCH_WINDOWS: SearchWindows = { directMatches: 2000, walkRows: 4000, minRows: 1000, margin: 1.25 };

/** Runs one statement; resolves its rows. */
export type RunQuery = <R extends Record<string, unknown>>(text: string, params: unknown[]) => Promise<R[]>;

/**
 * `Store.search` of the engine's shape (a site's messages, newest first), read window by
 * window from the newest: issue 11's search at 1,000,000 messages. A word in 1 % of
 * messages matches ~9,000 of the main site's: the GIN bitmap finds them at once, but each
 * must be read from the table for its page key before the newest `limit` are known (9,700
 * table pages for 255 kept: 170–380 ms), and walking the site's keys newest first instead
 * reads every message until enough match (25,000 rows, 250 ms). A window is the site's rows
 * between two keys: the GIN bitmap AND the key range of `<collection>_search_site_key`
 * (a BitmapAnd), so only the matches inside it are read. Windows go from the newest,
 * each spanning the rows that should hold the matches still wanted at the density seen (at
 * first the planner's estimate), until `limit` are found or every row is covered; the last
 * window has no lower bound (and takes the documents without a key, as the one statement
 * would). Each window's matches are all newer than the next window's, so the answer is the
 * one statement's (test/search-windows.test.ts). A word few messages have (at most
 * `directMatches` in the table) is one statement, as before, and so is a word so common
 * that the newest `walkRows` of the site should hold enough, and any `where` other than
 * the engine's site alone.
 *
 * The windows' bounds are read from the same index (`OFFSET` of an index-only scan), so
 * nothing here knows what a page key is made of. `onWindow` reports each window (tests).
 */
export async function windowedSearch(
  run: RunQuery,
  sql: Sql,
  collection: (typeof SEARCHED)[number],
  query: TextSearch,
  windows: SearchWindows = SEARCH_WINDOWS,
  onWindow?: (window: { rows: number | "rest"; found: number }) => void,
): Promise<{ doc: string }[]> {
  const fields = Object.keys(query.where ?? {});
  const site = query.where?.[SITE_FIELD[collection]];
  const limit = Math.max(0, Math.floor(query.limit));
  const one = searchStatement(sql, collection, query);
  if (fields.length !== 1 || typeof site !== "string" || limit === 0) return run<{ doc: string }>(one.text, one.params);
  const table = sql.table(collection);
  const words = `${SEARCH_COLUMNS.text} @@ websearch_to_tsquery('simple'::regconfig, $2::text)`;
  const before = query.before === undefined ? undefined : encodeString(query.before);
  const ofSite = `${SEARCH_COLUMNS.site} = $1::text${before === undefined ? "" : ` AND ${SEARCH_COLUMNS.key} < $3::text`}`;
  const base = [encodeString(site), encodeString(query.text), ...(before === undefined ? [] : [before])];
  // The planner's estimates, nothing read: matches in the table, matches of the site, rows of the site.
  const [plan] = await run<{ "QUERY PLAN": { Plan: PlanNode }[] }>(
    `EXPLAIN (FORMAT JSON) SELECT (SELECT 1 FROM ${table} WHERE ${words} LIMIT 1), (SELECT 1 FROM ${table} WHERE ${ofSite} AND ${words} LIMIT 1), (SELECT 1 FROM ${table} WHERE ${ofSite} LIMIT 1)`,
    base,
  );
  const [all = 0, matches = 0, rows = 0] = (plan?.["QUERY PLAN"][0]?.Plan.Plans ?? []).map((init) => init.Plans?.[0]?.["Plan Rows"] ?? 0);
  let density = Math.max(1, matches) / Math.max(1, rows);
  if (all <= windows.directMatches || limit / density <= windows.walkRows) return run<{ doc: string }>(one.text, one.params);

  const order = `ORDER BY ${SEARCH_COLUMNS.key} DESC NULLS LAST`;
  const found: { doc: string }[] = [];
  let high = before;
  let covered = 0;
  for (;;) {
    const wanted = limit - found.length;
    const span = Math.max(windows.minRows, Math.ceil((wanted / density) * windows.margin));
    // Past half of what the site is thought to have left, the rest is one window.
    let low: string | undefined;
    if (span < (rows - covered) / 2) {
      const params: unknown[] = [encodeString(site), span];
      const under = high === undefined ? "" : ` AND ${SEARCH_COLUMNS.key} < ${`$${params.push(high)}`}::text`;
      const bound = await run<{ key: string | null }>(
        `SELECT ${SEARCH_COLUMNS.key} AS key FROM ${table} WHERE ${SEARCH_COLUMNS.site} = $1::text${under} ${order} OFFSET $2 LIMIT 1`,
        params,
      );
      low = bound[0]?.key ?? undefined;
    }
    const conditions = new Conditions(sql);
    conditions.parts.push(`${SEARCH_COLUMNS.site} = ${conditions.param(encodeString(site))}::text`);
    if (high !== undefined) {
      const below = `${SEARCH_COLUMNS.key} < ${conditions.param(high)}::text`;
      // The rest, below a window's bound: with the documents without a key, as one statement has them (after every key).
      conditions.parts.push(low === undefined && before === undefined ? `(${below} OR ${SEARCH_COLUMNS.key} IS NULL)` : below);
    }
    if (low !== undefined) conditions.parts.push(`${SEARCH_COLUMNS.key} >= ${conditions.param(low)}::text`);
    conditions.parts.push(`${SEARCH_COLUMNS.text} @@ websearch_to_tsquery('simple'::regconfig, ${conditions.param(encodeString(query.text))}::text)`);
    const take = conditions.param(wanted);
    const got = await run<{ doc: string }>(
      `SELECT doc::text AS doc FROM (SELECT doc, ${SEARCH_COLUMNS.key} FROM ${table}${conditions.clause()} ${order} LIMIT ${take}) AS found ${order}`,
      conditions.params,
    );
    found.push(...got);
    onWindow?.({ rows: low === undefined ? "rest" : span, found: got.length });
    if (low === undefined || found.length >= limit) return found;
    covered += span;
    density = found.length > 0 ? found.length / covered : density / 8;
    high = low;
  }
}

interface PlanNode {
  "Plan Rows"?: number;
  Plans?: PlanNode[];
}

/**
 * What warm.ts plans on each warmed connection for the search: a window of each table
 * searched. A connection's first search otherwise loads the text search configuration and
 * the search columns' catalog entries (85–104 ms for the first windowed search of a new
 * connection at 1,000,000 messages against 23–29 ms for the next, load 9).
 */
export function searchWarmStatements(sql: Sql): { text: string; params: unknown[] }[] {
  const order = `ORDER BY ${SEARCH_COLUMNS.key} DESC NULLS LAST`;
  return SEARCHED.map((collection) => ({
    text: `SELECT doc::text AS doc FROM (SELECT doc, ${SEARCH_COLUMNS.key} FROM ${sql.table(collection)} WHERE ${SEARCH_COLUMNS.site} = $1::text AND ${SEARCH_COLUMNS.key} < $2::text AND ${SEARCH_COLUMNS.key} >= $3::text AND ${SEARCH_COLUMNS.text} @@ websearch_to_tsquery('simple'::regconfig, $4::text) ${order} LIMIT $5) AS found ${order}`,
    params: ["", "", "", "warm", 1],
  }));
}
