/**
 * The owner's search read window by window from the newest (search.ts `windowedSearch`;
 * issue 11, a search at 1,000,000 messages ≤ 100 ms): the answer is the one statement's —
 * the same documents in the same order — for rare, common and absent words, every limit,
 * after a cursor, with documents without a page key (last), and matches spread over many
 * windows.
 */
import { freshDatabase, postgresForTests } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InboxDoc } from "../../core/src/protocol/records.js";
import { openPostgresStore, type PostgresStore } from "../src/index.js";
import { type RunQuery, SEARCH_WINDOWS, searchStatement, windowedSearch } from "../src/search.js";
import { Sql } from "../src/sql.js";

const server = await postgresForTests();
const SITE = "https://bob.example.com/";
const OTHER = "https://bob.example.com/family/";
const sql = new Sql("win");
/** The first 40 messages have no page key. */
const unkeyed = (id: string) => Number(id.slice(1)) <= 40;
/** Small windows, and never one statement: a few thousand rows then make several windows. */
const SMALL = { directMatches: 0, walkRows: 0, minRows: 40, margin: 1.25 };
/** Windows a quarter of what should hold the matches wanted: many windows per search. */
const SHORT = { directMatches: 0, walkRows: 0, minRows: 10, margin: 0.25 };

describe.skipIf(server.skipReason)("search window by window (PostgreSQL)", () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let store: PostgresStore;
  let client: pg.Client;
  const run: RunQuery = async (text, params) => (await client.query(text, params)).rows;
  const ids = (rows: { doc: string }[]) => rows.map((r) => (JSON.parse(r.doc) as InboxDoc)._id);
  /** What the order of a search fixes: the documents with a page key in order, then how many without (among themselves in no order). */
  const inOrder = (list: string[]) => ({ keyed: list.filter((id) => !unkeyed(id)), unkeyed: list.filter(unkeyed).length });
  const oneStatement = async (query: Parameters<typeof searchStatement>[2]) => {
    const s = searchStatement(sql, "inbox", query);
    return ids(await run<{ doc: string }>(s.text, s.params));
  };

  beforeAll(async () => {
    database = await freshDatabase();
    store = await openPostgresStore(database.url, { schema: "win", poolSize: 2, warmConnections: 0 });
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    // 4,000 messages of the site and 1,000 of another, oldest first; "rare" in 1 of 97, "some" in 1 of 13,
    // "most" in 2 of 3; the first 40 have no page key (written before page keys existed).
    await client.query(`INSERT INTO win.inbox (_id, doc) SELECT 'm' || lpad(i::text, 5, '0'), jsonb_strip_nulls(jsonb_build_object(
        '_id', 'm' || lpad(i::text, 5, '0'), 'recipient', CASE WHEN i % 5 = 4 THEN '${OTHER}' ELSE '${SITE}' END,
        'sender', 'https://s' || (i % 40) || '.example/', 'message', 'urn:' || i,
        'content', concat_ws(' ', 'note', CASE WHEN i % 97 = 0 THEN 'rare' END, CASE WHEN i % 13 = 0 THEN 'some' END, CASE WHEN i % 3 <> 0 THEN 'most' END),
        'receivedAt', 1700000000000 + i * 1000,
        'pageKey', CASE WHEN i > 40 THEN lpad((1700000000000 + i * 1000)::text, 15, '0') || '.m' || lpad(i::text, 5, '0') END))
      FROM generate_series(1, 5000) i`);
    await client.query("VACUUM ANALYZE win.inbox");
  });
  afterAll(async () => {
    await client?.end();
    await store?.close();
    await database?.drop();
  });

  it("gives the one statement's documents, in its order, for every word, limit and cursor", async () => {
    const cursor = (await oneStatement({ where: { recipient: SITE }, text: "note", limit: 1500 })).at(-1)!;
    const cursorKey = (await store.get<InboxDoc>("inbox", cursor))!.pageKey!;
    let windowsSeen = 0;
    let restSeen = 0;
    for (const text of ["rare", "some", "most", "note", "none", "rare or some", "most -some", '"note most"']) {
      for (const limit of [1, 7, 50, 255, 5000]) {
        for (const before of [undefined, cursorKey]) {
          const query = { where: { recipient: SITE }, text, limit, ...(before === undefined ? {} : { before }) };
          const expected = await oneStatement(query);
          for (const tuning of [SMALL, SHORT]) {
            const windows: (number | "rest")[] = [];
            const got = ids(await windowedSearch(run, sql, "inbox", query, tuning, (w) => windows.push(w.rows)));
            expect(inOrder(got), `${text} limit ${limit} before ${before} margin ${tuning.margin}`).toEqual(inOrder(expected));
            windowsSeen = Math.max(windowsSeen, windows.length);
            if (windows.includes("rest")) restSeen++;
          }
        }
      }
    }
    // The matches did span windows: up to many per search, and some searches reached the rest.
    expect(windowsSeen).toBeGreaterThanOrEqual(4);
    expect(restSeen).toBeGreaterThan(0);
  });

  it("the documents without a page key come last, as the one statement has them", async () => {
    const query = { where: { recipient: SITE }, text: "note", limit: 5000 };
    const got = ids(await windowedSearch(run, sql, "inbox", query, SMALL));
    expect(got).toHaveLength(4000);
    const without = got.filter(unkeyed);
    expect(without).toHaveLength(32);
    expect(got.slice(-32).sort()).toEqual(without.sort());
  });

  it("store.search with its windows answers as the one statement; a rare word, a very common one or another where is one statement", async () => {
    for (const text of ["rare", "most", "note"]) {
      const query = { where: { recipient: SITE }, text, limit: 255 };
      expect((await store.search!<InboxDoc>("inbox", query)).map((d) => d._id)).toEqual(await oneStatement(query));
    }
    // Estimated at most `directMatches` in the table: no window.
    const windows: unknown[] = [];
    await windowedSearch(run, sql, "inbox", { where: { recipient: SITE }, text: "rare", limit: 10 }, SEARCH_WINDOWS, (w) => windows.push(w));
    expect(windows).toEqual([]);
    // A word so common that the newest `walkRows` of the site should hold the matches wanted: no window.
    await windowedSearch(run, sql, "inbox", { where: { recipient: SITE }, text: "most", limit: 100 }, { ...SMALL, walkRows: 4000 }, (w) => windows.push(w));
    expect(windows).toEqual([]);
    await windowedSearch(run, sql, "inbox", { where: { recipient: SITE }, text: "most", limit: 100 }, { ...SMALL, walkRows: 100 }, (w) => windows.push(w));
    expect(windows.length).toBeGreaterThan(0);
    windows.length = 0;
    const bySender = { where: { sender: "https://s3.example/" }, text: "most", limit: 20 };
    await windowedSearch(run, sql, "inbox", bySender, SMALL, (w) => windows.push(w));
    expect(windows).toEqual([]);
    expect(ids(await windowedSearch(run, sql, "inbox", bySender, SMALL))).toEqual(await oneStatement(bySender));
  });
});
