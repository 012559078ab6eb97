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
