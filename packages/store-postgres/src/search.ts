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
import { Conditions, orderBy, type Sql } from "./sql.js";

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

/** The SELECT of `search`: documents matching `query.where` and the text, newest first. */
export function searchStatement(sql: Sql, collection: (typeof SEARCHED)[number], query: TextSearch): { text: string; params: unknown[] } {
  const conditions = new Conditions(sql).where(query.where);
  if (query.before !== undefined) conditions.range({ field: "pageKey", lt: query.before });
  conditions.parts.push(`${searchVector(sql.schema)} @@ websearch_to_tsquery('simple'::regconfig, ${conditions.param(encodeString(query.text))}::text)`);
  const limit = conditions.param(Math.max(0, Math.floor(query.limit)));
  return {
    text: `SELECT doc::text AS doc FROM ${sql.table(collection)}${conditions.clause()}${orderBy(sql, { field: "pageKey", order: "desc" })} LIMIT ${limit}`,
    params: conditions.params,
  };
}

/** Whether `collection` is one `search` answers (core passes only these; a typo must not reach SQL). */
export function isSearched(collection: string): collection is (typeof SEARCHED)[number] {
  return (SEARCHED as readonly string[]).includes(collection);
}
