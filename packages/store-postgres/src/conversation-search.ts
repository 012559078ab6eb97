/**
 * `Store.searchConversations` on PostgreSQL (issue 11: a search at 1,000,000 messages
 * ≤ 100 ms): one page of the owner's search, the conversations of the sites with a message
 * matching the words, latest activity first (core store/types.ts `ConversationSearch`).
 *
 * Before, the engine asked `search` for up to 255 matching messages per site and direction,
 * then read the ~500 summaries they named to keep the 51 latest (174–238 ms at 1,000,000
 * messages). The page is asked here at once, in one of two ways:
 * - **A walk** (a word in many messages): the sites' conversations newest first
 *   (`conversations_site_by_lastKey` or `conversations_by_lastKey`), a span at a time (one
 *   statement for the span's IDs, one for its hits), each span's conversations checked at
 *   once for a match: the GIN bitmap of the words AND the bitmap of those conversations'
 *   messages (migration 6's `<collection>_search_conversation`, text, so a lookup compares
 *   strings, not jsonb), so only matching messages are read. The first span is sized from
 *   the planner's estimates (the words' share of messages, messages per conversation), the
 *   next ones from the rate seen. `kayak` (1 % of messages) at 1,000,000: one span of about
 *   2,200 conversations for the 51 (BENCHMARKS.md, PostgreSQL, a search).
 * - **Direct** (a word in few messages, at the planner's estimate): every match's
 *   conversation, their summaries sorted by `lastKey`, the page kept. Also what a walk ends
 *   in once it has looked at more conversations than the words have matches (a word whose
 *   matches all lie in old conversations), from where it stopped.
 * Both answer exactly what the contract says (test/conversation-search.test.ts compares them
 * with a plain reading of every message). A message filed under a conversation that was
 * merged away (its summary a `movedTo` pointer, until the move reaches it) counts for no
 * conversation, as the conversation's page does not show it either.
 */
import type { ConversationSearch } from "@indiepm/core";
import { encodeString, fromJsonb, toJsonb } from "./encoding.js";
import type { RunQuery } from "./search.js";
import { SEARCH_COLUMNS, SEARCHED } from "./search.js";
import type { Sql } from "./sql.js";

/** The conversation of a message as text, the expression of migration 6's indexes (of table alias `t`). */
function conversationOf(s: string, t?: string): string {
  return `(${s}.indiepm_str(${t === undefined ? "" : `${t}.`}doc->'conversation') COLLATE "C")`;
}

/**
 * Migration 6: each message's conversation as text, indexed. The owner's search looks up
 * the messages of many conversations at once (`conversation = ANY(...)`); the index of
 * indexes.ts on (site, conversation, page key) compares jsonb values, 98 ms for 1,500
 * conversations at 1,000,000 messages against 13 ms on this one.
 */
export function conversationSearchMigration(s: string): string {
  return `
    SET LOCAL maintenance_work_mem = '256MB';
    ${SEARCHED.map(
      (c) => `
    CREATE INDEX IF NOT EXISTS ${c}_search_conversation ON ${s}.${c} (${conversationOf(s)});
    ANALYZE ${s}.${c};`,
    ).join("\n")}
  `;
}

/** How the search is cut (`searchConversations`); the defaults suit an inbox of millions, tests make them small. */
export interface ConversationWalk {
  /** Up to this many matches in inbox and outbox (the planner's estimate): direct. */
  directMatches: number;
  /** The fewest conversations a span walks. */
  minSpan: number;
  /** A span walks this many times the conversations that should hold the matches still wanted, at the rate seen. */
  margin: number;
  /** A span walks at most this many times the conversations walked before it. */
  growth: number;
  /** The most conversations a span walks (its IDs are one statement's parameter). */
  maxSpan: number;
}

export const CONVERSATION_WALK: ConversationWalk = { directMatches: 2000, minSpan: 100, margin: 1.25, growth: 4, maxSpan: 10_000 };

/** The lastKey of a summary: its three ordering keys, as sql.ts orders a field (table alias `t`). */
function lastKey(s: string, t: string): { rank: string; num: string; str: string } {
  const v = `${t}.doc->'lastKey'`;
  return { rank: `${s}.indiepm_rank(${v})`, num: `${s}.indiepm_num(${v})`, str: `${s}.indiepm_str(${v}) COLLATE "C"` };
}

interface Parts {
  /** Statement parameters, in order. */
  params: unknown[];
  param(value: unknown): string;
}

function parts(): Parts {
  const params: unknown[] = [];
  return {
    params,
    param(value) {
      params.push(value);
      return `$${params.length}`;
    },
  };
}

/** The summaries of the sites with a string lastKey before `high` (as stored: U+0000 encoded), alias `c`, for a WHERE. */
function summariesOf(sql: Sql, p: Parts, sites: readonly string[], high: string | undefined): string {
  const s = sql.schema;
  const key = lastKey(s, "c");
  const site = "COALESCE(c.doc->'site', 'null'::jsonb)";
  const conditions = [
    // One site: equality, so its index (site, lastKey) answers in order; several: along lastKey alone.
    sites.length === 1 ? `${site} = ${p.param(toJsonb(sites[0]))}::jsonb` : `${site} = ANY (${p.param(sites.map((x) => toJsonb(x)))}::jsonb[])`,
    `${key.rank} = 3`,
    `${key.num} IS NULL`,
  ];
  if (high !== undefined) conditions.push(`${key.str} < ${p.param(high)}::text`);
  return conditions.join(" AND ");
}

/**
 * Each hit's summary (alias `c`) by its primary key, one lookup per hit: the LIMIT keeps the
 * planner from hashing the whole table instead (on a small table it would; the hits are at
 * most a span's conversations, or a rare word's matches).
 */
function summaryOf(sql: Sql): string {
  return `CROSS JOIN LATERAL (SELECT doc FROM ${sql.table("conversations")} WHERE _id = h.conv LIMIT 1) AS c`;
}

function newestFirst(sql: Sql, t: string): string {
  const key = lastKey(sql.schema, t);
  return `ORDER BY ${key.rank} DESC, ${key.num} DESC, ${key.str} DESC`;
}

/** Messages of the sites matching the words, as (site, conversation) rows, from inbox and outbox; `extra` narrows each. */
function matching(sql: Sql, p: Parts, sites: readonly string[], text: string, extra: (t: string) => string = () => ""): string {
  const s = sql.schema;
  const siteParam = p.param(sites.map(encodeString));
  const words = p.param(encodeString(text));
  return SEARCHED.map(
    (c) =>
      `SELECT m.${SEARCH_COLUMNS.site} AS site, ${conversationOf(s, "m")} AS conv FROM ${sql.table(c)} m WHERE m.${SEARCH_COLUMNS.site} = ANY (${siteParam}::text[])${extra("m")} AND m.${SEARCH_COLUMNS.text} @@ websearch_to_tsquery('simple'::regconfig, ${words}::text)`,
  ).join(" UNION ALL ");
}

/**
 * One span of a walk, first statement: the next `span` summaries of the sites before `high`,
 * newest first, as (`_id`, `key`): the IDs for the hits, the last key for the next span.
 */
export function spanStatement(sql: Sql, sites: readonly string[], high: string | undefined, span: number): { text: string; params: unknown[] } {
  const s = sql.schema;
  const p = parts();
  const where = summariesOf(sql, p, sites, high);
  return {
    text: `SELECT c._id, ${lastKey(s, "c").str} AS key FROM ${sql.table("conversations")} c WHERE ${where} ${newestFirst(sql, "c")} LIMIT ${p.param(span)}`,
    params: p.params,
  };
}

/**
 * One span of a walk, second statement: of the conversations `ids` (the span's), those with a
 * matching message of the sites, their summaries newest first, at most `limit`. The IDs are
 * sent as a parameter, so the planner knows how many it looks up: the words' GIN bitmap AND
 * the bitmap of their messages by conversation, only matches read (in one statement with the
 * span, an array of unknown length was planned as a few IDs, each message read to check its
 * words: 21,563 pages against 6,963 for 2,207 conversations at 1,000,000 messages).
 */
export function spanHitsStatement(
  sql: Sql,
  sites: readonly string[],
  text: string,
  ids: readonly string[],
  limit: number,
): { text: string; params: unknown[] } {
  const s = sql.schema;
  const p = parts();
  const hits = matching(sql, p, sites, text, (m) => ` AND ${conversationOf(s, m)} = ANY (${p.param(ids)}::text[])`);
  return {
    text: `WITH hits AS MATERIALIZED (SELECT DISTINCT site, conv FROM (${hits}) AS found)
      SELECT c.doc::text AS doc FROM hits h ${summaryOf(sql)}
      WHERE ${s}.indiepm_str(c.doc->'site') COLLATE "C" = h.site ${newestFirst(sql, "c")} LIMIT ${p.param(limit)}`,
    params: p.params,
  };
}

/** Direct: the summaries of every matching message's conversation, before `high`, newest first, at most `limit`. */
export function directStatement(
  sql: Sql,
  sites: readonly string[],
  text: string,
  high: string | undefined,
  limit: number,
): { text: string; params: unknown[] } {
  const s = sql.schema;
  const p = parts();
  const hits = matching(sql, p, sites, text);
  const where = summariesOf(sql, p, sites, high);
  return {
    text: `WITH hits AS MATERIALIZED (SELECT DISTINCT site, conv FROM (${hits}) AS found)
      SELECT c.doc::text AS doc FROM hits h ${summaryOf(sql)}
      WHERE ${s}.indiepm_str(c.doc->'site') COLLATE "C" = h.site AND ${where} ${newestFirst(sql, "c")} LIMIT ${p.param(limit)}`,
    params: p.params,
  };
}

interface PlanNode {
  "Plan Rows"?: number;
  Plans?: PlanNode[];
}

/**
 * `Store.searchConversations`: see the top of this file. `onStep` reports each statement's
 * kind and, for a span, how many conversations it walked and found (tests).
 */
export async function searchConversations(
  run: RunQuery,
  sql: Sql,
  query: ConversationSearch,
  walk: ConversationWalk = CONVERSATION_WALK,
  onStep?: (step: { kind: "walk"; span: number; walked: number; found: number } | { kind: "direct"; found: number }) => void,
): Promise<{ doc: string }[]> {
  const limit = Math.max(0, Math.floor(query.limit));
  const sites = [...new Set(query.sites)];
  if (limit === 0 || sites.length === 0) return [];
  const words = encodeString(query.text);
  // The planner's estimates, nothing read: the matches in each table searched, the rows of each, and the conversations.
  const counted = [
    ...SEARCHED.map((c) => `(SELECT 1 FROM ${sql.table(c)} WHERE ${SEARCH_COLUMNS.text} @@ websearch_to_tsquery('simple'::regconfig, $1::text) LIMIT 1)`),
    ...[...SEARCHED, "conversations" as const].map((c) => `(SELECT 1 FROM ${sql.table(c)} LIMIT 1)`),
  ];
  const [plan] = await run<{ "QUERY PLAN": { Plan: PlanNode }[] }>(`EXPLAIN (FORMAT JSON) SELECT ${counted.join(", ")}`, [words]);
  const [inboxMatches = 0, outboxMatches = 0, inboxRows = 0, outboxRows = 0, conversations = 0] = (plan?.["QUERY PLAN"][0]?.Plan.Plans ?? []).map(
    (init) => init.Plans?.[0]?.["Plan Rows"] ?? 0,
  );
  const matches = inboxMatches + outboxMatches;
  const direct = async (high: string | undefined, wanted: number) => {
    const statement = directStatement(sql, sites, query.text, high, wanted);
    const rows = await run<{ doc: string }>(statement.text, statement.params);
    onStep?.({ kind: "direct", found: rows.length });
    return rows;
  };
  // Keys and IDs as stored (encoding.ts): the cursor encoded once, those read given back as they came.
  const before = query.before === undefined ? undefined : encodeString(query.before);
  if (matches <= walk.directMatches) return direct(before, limit);
  const runHits = (ids: readonly string[], wanted: number) => {
    const statement = spanHitsStatement(sql, sites, query.text, ids, wanted);
    return run<{ doc: string }>(statement.text, statement.params);
  };

  const found: { doc: string }[] = [];
  let high = before;
  let walked = 0;
  // The share of conversations with a match, first guessed: one of `perConversation` messages, each matching at the words' rate.
  const messages = Math.max(1, inboxRows + outboxRows);
  const perConversation = Math.max(1, messages / Math.max(1, conversations));
  let rate = Math.max(1e-6, 1 - (1 - Math.min(1, matches / messages)) ** perConversation);
  for (;;) {
    const wanted = limit - found.length;
    // After the first span, at most `growth` times the conversations walked so far: the rate seen in a few is a rough guess.
    const guess = Math.ceil((wanted / rate) * walk.margin);
    const span = Math.min(walk.maxSpan, Math.max(walk.minSpan, walked === 0 ? guess : Math.min(guess, walked * walk.growth)));
    // Walking more conversations than the words have matches costs more than reading the matches.
    if (walked + span > matches) return [...found, ...(await direct(high, wanted))];
    const spanned = spanStatement(sql, sites, high, span);
    const rows = await run<{ _id: string; key: string }>(spanned.text, spanned.params);
    const ids = rows.map((row) => row._id);
    const hits = ids.length === 0 ? [] : await runHits(ids, wanted);
    found.push(...hits);
    walked += rows.length;
    onStep?.({ kind: "walk", span, walked: rows.length, found: hits.length });
    if (found.length >= limit || rows.length < span) return found;
    high = rows.at(-1)!.key;
    rate = found.length > 0 ? found.length / walked : rate / 8;
  }
}

/**
 * How many of the newest conversations `warmConversationSearch` walks on the connection
 * kept for searches at open: about what a word in 1 % of messages walks at 1,000,000 messages
 * (2,386 for `kayak` in bench/postgres-inbox.js).
 */
export const WARM_SPAN = 2000;

/**
 * A search run, not only planned, at open on the connection store.ts keeps for the owner's
 * searches (warm.ts), so that a fresh process's first search costs about what a later one
 * does. Planning alone left each new backend to pay in its first search for its first touch
 * of every shared-buffer page it reads, its executor's first use of the indexes, and the
 * growth of its own memory for the bitmaps: at 1,000,000 messages, a walk's hits statement took 108 ms on a new connection
 * against 24–41 ms on the same connection after (BENCHMARKS.md, PostgreSQL, the search). So
 * that connection runs a walk's two statements (spanStatement, spanHitsStatement) over
 * the `span` newest conversations of the sites found among the newest summaries (the shape
 * of the engine's search of all its sites), for the host of the newest conversation's last
 * correspondent: a real search, planned as a walk of a word in some of the messages is (the
 * words' bitmap AND the span's conversations'). Then the search for those words as the
 * owner's is run (`searchConversations`, a page of 51): direct where they are rare, which
 * the walk alone left cold (at 100,000 messages, where `kayak` is direct, the direct
 * statement took 71–76 ms on a new backend against 20–31 ms after). Nothing is kept but
 * what PostgreSQL keeps itself (no answer is cached), and the owner's words are never known
 * here.
 * Resolves the statements it ran, for tests.
 */
export async function warmConversationSearch(
  run: RunQuery,
  sql: Sql,
  span: number = WARM_SPAN,
): Promise<{ kind: "newest" | "span" | "hits" | "search"; rows: number }[]> {
  const ran: { kind: "newest" | "span" | "hits" | "search"; rows: number }[] = [];
  const key = lastKey(sql.schema, "c");
  const newest = await run<{ site: string | null; sender: string | null }>(
    `SELECT (c.doc->'site')::text AS site, (c.doc->'lastSender')::text AS sender FROM ${sql.table("conversations")} c WHERE ${key.rank} = 3 AND ${key.num} IS NULL ${newestFirst(sql, "c")} LIMIT 100`,
    [],
  );
  ran.push({ kind: "newest", rows: newest.length });
  const text = (json: string | null) => {
    const value = json === null ? undefined : fromJsonb(json);
    return typeof value === "string" ? value : undefined;
  };
  const sites = [...new Set(newest.map((row) => text(row.site)).filter((site) => site !== undefined))];
  if (sites.length === 0) return ran;
  const spanned = spanStatement(sql, sites, undefined, span);
  const ids = (await run<{ _id: string }>(spanned.text, spanned.params)).map((row) => row._id);
  ran.push({ kind: "span", rows: ids.length });
  // A correspondent, not the owner: the owner's own site is in nearly every message.
  const sender = newest.map((row) => text(row.sender)).find((s) => s !== undefined && !sites.includes(s) && URL.canParse(s));
  if (ids.length === 0 || sender === undefined) return ran;
  const words = new URL(sender).hostname;
  const hits = spanHitsStatement(sql, sites, words, ids, 1);
  ran.push({ kind: "hits", rows: (await run(hits.text, hits.params)).length });
  // And the search itself, a page's worth: direct where those words are rare (as a rare word is read), a walk where not.
  ran.push({ kind: "search", rows: (await searchConversations(run, sql, { sites, text: words, limit: 51 })).length });
  return ran;
}

/** What warm.ts plans on each warmed connection for this search: a span and a direct read, for one site and for two. */
export function conversationSearchWarmStatements(sql: Sql): { text: string; params: unknown[] }[] {
  return [["a"], ["a", "b"]].flatMap((sites) => [
    spanStatement(sql, sites, "", 1),
    spanHitsStatement(sql, sites, "warm", ["a"], 1),
    directStatement(sql, sites, "warm", "", 1),
  ]);
}
