/**
 * The owner's search as one page of conversations (conversation-search.ts,
 * `Store.searchConversations`; issue 11, a search at 1,000,000 messages ≤ 100 ms): the
 * conversations of the sites with a matching message, latest activity first — the same as
 * reading every match, however the search is cut (direct, a walk of one span or of many,
 * a walk that ends direct); through the engine the same pages as the scan of a store
 * without a search (nedb), where the matches span conversations, directions, sites and
 * merged conversations; and each statement answered from indexes.
 */
import { type ConversationSearch, createPmServer, openNedbStore, type PmServer, type Store } from "@indiepm/core";
import { freshDatabase, postgresForTests, tempDir } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatKey } from "../../core/src/owner/chats.js";
import { conversationFields, writeMessage } from "../../core/src/owner/conversations.js";
import type { ConversationDoc, InboxDoc, OutboxDoc } from "../../core/src/protocol/records.js";
import { keyOf } from "../../core/src/secrets.js";
import {
  CONVERSATION_WALK,
  type ConversationWalk,
  directStatement,
  searchConversations,
  spanHitsStatement,
  spanStatement,
  warmConversationSearch,
} from "../src/conversation-search.js";
import { openPostgresStore, type PostgresStore } from "../src/index.js";
import type { RunQuery } from "../src/search.js";
import { Sql } from "../src/sql.js";

const server = await postgresForTests();
const BOB = "https://bob.example.com/";
const FAMILY = "https://bob.example.com/family/";
const SITES = [BOB, FAMILY];
const PEOPLE = Array.from({ length: 12 }, (_, n) => `https://p${n}.example/`);
const quiet = { info() {}, warn() {}, error() {} };

/** Always a walk: spans of at least 3 conversations, up to 4 times the last. */
const WALK: ConversationWalk = { directMatches: 0, minSpan: 3, margin: 1.25, growth: 4, maxSpan: 10_000 };
/** Always a walk, in spans far shorter than the matches wanted need (at most 6): many spans, and some searches end direct. */
const TINY: ConversationWalk = { directMatches: 0, minSpan: 1, margin: 0.2, growth: 2, maxSpan: 6 };

type Written = { kind: "in"; doc: InboxDoc } | { kind: "out"; doc: OutboxDoc };

/**
 * 420 messages of two sites, received and sent, in threads: a new conversation or a reply to
 * any earlier message of the site (old conversations come back to life, so a match can lie
 * deep in a conversation active lately), and replies that arrive before the message they
 * answer (merged when it comes). "kayak" in about 1 in 16, "lantern" 1 in 3, "coffee" 9 in
 * 10, "harbour" twice; "Kayak trip" as a subject.
 */
function seed(): Written[] {
  let state = 20261207;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const out: Written[] = [];
  const held = new Map<string, string[]>(SITES.map((site) => [site, []]));
  const late: { at: number; site: string; message: string }[] = [];
  let clock = 1_700_000_000_000;
  for (let i = 0; out.length < 420; i++) {
    const lateOne = late.find((l) => l.at === i);
    const site = lateOne?.site ?? (i % 5 === 4 ? FAMILY : BOB);
    const message = lateOne?.message ?? `urn:m${i}`;
    const earlier = held.get(site)!;
    let inReplyTo: string | undefined;
    if (!lateOne && i % 41 === 7) {
      // A reply to a message that arrives three messages later.
      inReplyTo = `urn:late${i}`;
      late.push({ at: i + 3, site, message: inReplyTo });
    } else if (earlier.length > 0 && (lateOne || random() < 0.55)) {
      const recent = random() < 0.5;
      const pool = recent ? earlier.slice(-30) : earlier;
      inReplyTo = pool[Math.floor(random() * pool.length)];
    }
    const words = [
      `note ${i}`,
      random() < 0.06 ? "kayak" : "",
      random() < 0.33 ? "lantern" : "",
      random() < 0.9 ? "coffee" : "",
      i === 9 || i === 233 ? "harbour" : "",
    ].filter(Boolean);
    const person = PEOPLE[Math.floor(random() * PEOPLE.length)]!;
    clock += 1000 + Math.floor(random() * 500);
    const name = i % 53 === 10 ? { name: "Kayak trip" } : {};
    const reply = inReplyTo === undefined ? {} : { inReplyTo };
    if (random() < 0.25) {
      out.push({
        kind: "out",
        doc: {
          _id: keyOf(site, message),
          message,
          sender: site,
          recipients: [person],
          content: words.join(" "),
          published: "2024-01-01T00:00:00Z",
          flow: "token",
          createdAt: clock,
          ...name,
          ...reply,
        },
      });
    } else {
      out.push({
        kind: "in",
        doc: {
          _id: `in ${site} ${message}`,
          message,
          sender: person,
          recipient: site,
          content: words.join(" "),
          published: "2024-01-01T00:00:00Z",
          receivedAt: clock,
          ...name,
          ...reply,
        },
      });
    }
    earlier.push(message);
  }
  return out;
}

/** As actions/deliver.ts and owner/messages.ts write a message: its conversation and chat, then the message with its summaries. */
async function writeAll(store: Store, messages: readonly Written[]): Promise<void> {
  for (const { kind, doc } of messages) {
    const copy = structuredClone(doc);
    Object.assign(copy, await conversationFields(store, kind, copy));
    copy.chat = chatKey(kind, copy);
    await writeMessage(store, kind, copy);
  }
}

describe.skipIf(server.skipReason)("the search as a page of conversations (PostgreSQL)", () => {
  const messages = seed();
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let store: PostgresStore;
  let nedb: Store;
  let folder: Awaited<ReturnType<typeof tempDir>>;
  let client: pg.Client;
  const sql = new Sql("cs");
  const run: RunQuery = async (text, params) => (await client.query(text, params)).rows;
  const ids = (rows: { doc: string }[]) => rows.map((r) => (JSON.parse(r.doc) as ConversationDoc)._id);

  /** The contract read plainly: every matching message (`Store.search`, no limit), its conversation's summary, sorted. */
  async function everyMatch(query: ConversationSearch): Promise<string[]> {
    const summaries = new Map<string, ConversationDoc>();
    for (const site of query.sites) {
      for (const [collection, field] of [
        ["inbox", "recipient"],
        ["outbox", "sender"],
      ] as const) {
        for (const doc of await store.search!<InboxDoc | OutboxDoc>(collection, { where: { [field]: site }, text: query.text, limit: 100_000 })) {
          const summary = await store.get<ConversationDoc>("conversations", doc.conversation!);
          // Every match is filed under a live summary (no merge left half-way): the reference is today's answer, which followed pointers.
          expect(summary?.movedTo, `${doc.message} filed under a pointer`).toBeUndefined();
          if (summary?.site === site && typeof summary.lastKey === "string" && (query.before === undefined || summary.lastKey < query.before)) {
            summaries.set(summary._id, summary);
          }
        }
      }
    }
    return [...summaries.values()]
      .sort((a, b) => (a.lastKey! < b.lastKey! ? 1 : -1))
      .slice(0, query.limit)
      .map((s) => s._id);
  }

  beforeAll(async () => {
    database = await freshDatabase();
    store = await openPostgresStore(database.url, { schema: "cs", poolSize: 3, warmConnections: 0 });
    folder = await tempDir();
    nedb = await openNedbStore({ dir: folder.path });
    await Promise.all([writeAll(store, messages), writeAll(nedb, messages)]);
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query("VACUUM ANALYZE cs.inbox, cs.outbox, cs.conversations");
  }, 120_000);
  afterAll(async () => {
    await client?.end();
    await store?.close();
    await nedb?.close();
    await folder?.remove();
    await database?.drop();
  });

  it("the seed has what the search must get right: merged conversations, matches in both directions and sites, old matches in conversations active lately", async () => {
    const pointers = (await store.find<ConversationDoc>("conversations")).filter((c) => c.movedTo !== undefined);
    expect(pointers.length).toBeGreaterThan(0);
    for (const site of SITES) {
      expect((await store.search!("inbox", { where: { recipient: site }, text: "kayak", limit: 1000 })).length, site).toBeGreaterThan(0);
      expect((await store.search!("outbox", { where: { sender: site }, text: "kayak", limit: 1000 })).length, site).toBeGreaterThan(0);
    }
    // A conversation listed for "kayak" whose latest message does not say it.
    const listed = await everyMatch({ sites: SITES, text: "kayak", limit: 1000 });
    const olderMatch = [];
    for (const id of listed) {
      const summary = (await store.get<ConversationDoc>("conversations", id))!;
      if (!summary.snippet?.includes("kayak")) olderMatch.push(id);
    }
    expect(olderMatch.length).toBeGreaterThan(3);
  });

  it("answers as every match read, for every word, limit, cursor and set of sites, however the search is cut", async () => {
    const cursor = (await everyMatch({ sites: SITES, text: "coffee", limit: 12 })).at(-1)!;
    const cursorKey = (await store.get<ConversationDoc>("conversations", cursor))!.lastKey!;
    const seen = { direct: 0, walks: 0, spans: 0, walkThenDirect: 0, capped: 0, over: 0 };
    for (const text of [
      "kayak",
      "lantern",
      "coffee",
      "harbour",
      "nothing",
      "kayak lantern",
      "kayak or harbour",
      "coffee -lantern",
      '"kayak trip"',
      "p3.example",
    ]) {
      for (const sites of [[BOB], [FAMILY], SITES]) {
        for (const limit of [1, 5, 51, 1000]) {
          for (const before of [undefined, cursorKey]) {
            const query: ConversationSearch = { sites, text, limit, ...(before === undefined ? {} : { before }) };
            const expected = await everyMatch(query);
            for (const walk of [CONVERSATION_WALK, WALK, TINY]) {
              const steps: string[] = [];
              const got = ids(
                await searchConversations(run, sql, query, walk, (step) => {
                  steps.push(step.kind);
                  if (step.kind === "walk" && step.span === walk.maxSpan) seen.capped++;
                  if (step.kind === "walk" && step.span > walk.maxSpan) seen.over++;
                }),
              );
              expect(got, `${text} ${sites.length} sites limit ${limit} before ${before} steps ${steps}`).toEqual(expected);
              const spans = steps.filter((s) => s === "walk").length;
              if (spans === 0) seen.direct++;
              else seen.walks++;
              seen.spans = Math.max(seen.spans, spans);
              if (spans > 0 && steps.at(-1) === "direct") seen.walkThenDirect++;
            }
          }
        }
      }
    }
    // Each way of cutting it was taken: direct alone, walks of many spans, and walks that ended direct.
    expect(seen.direct).toBeGreaterThan(0);
    expect(seen.walks).toBeGreaterThan(0);
    expect(seen.spans).toBeGreaterThanOrEqual(4);
    expect(seen.walkThenDirect).toBeGreaterThan(0);
    // Spans at TINY's most (6 conversations), never beyond.
    expect(seen.capped).toBeGreaterThan(0);
    expect(seen.over).toBe(0);
  });

  it("through the engine, pages as the scan of a store without a search (nedb), cursor by cursor, and its first page as the search before it", async () => {
    const onPostgres = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: SITES, store, dev: true, logger: quiet });
    const onNedb = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: SITES, store: nedb, dev: true, logger: quiet });
    // The engine's search before Store.searchConversations: `search` per site and direction, then the summaries.
    const { searchConversations: _, ...withoutPage } = store;
    const before = createPmServer({
      endpoint: "http://127.0.0.1:9/",
      sites: SITES,
      store: { ...withoutPage, close: async () => undefined },
      dev: true,
      logger: quiet,
    });
    const pages = async (pm: PmServer, q: string, site: string | undefined, limit: number) => {
      const all: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await pm.conversationsPage({ q, limit, ...(site ? { site } : {}), ...(cursor ? { before: cursor } : {}) });
        all.push(page.items.map((c) => c.id));
        cursor = page.next;
      } while (cursor !== undefined && all.length < 200);
      return all;
    };
    try {
      let compared = 0;
      for (const q of ["kayak", "lantern", "coffee", "harbour", "nothing", "kayak trip"]) {
        for (const site of [undefined, BOB, FAMILY]) {
          for (const limit of [7, 50]) {
            const got = await pages(onPostgres, q, site, limit);
            expect(got, `${q} ${site} ${limit}`).toEqual(await pages(onNedb, q, site, limit));
            if (q !== "nothing") expect(got[0]!.length, q).toBeGreaterThan(0);
            // Before, the engine asked for 5 matching messages per conversation wanted (at most 255) per site and direction: exact on a first page while that many hold the page.
            const first = (await before.conversationsPage({ q, limit, ...(site ? { site } : {}) })).items.map((c) => c.id);
            if (limit === 50 && q !== "coffee" && q !== "lantern") {
              expect(got[0], `before: ${q} ${site}`).toEqual(first);
              compared++;
            }
          }
        }
      }
      expect(compared).toBe(12);
    } finally {
      await before.close();
      await onNedb.close();
      await onPostgres.close();
    }
  });

  it("the warm-up at open (warmConversationSearch) walks the newest conversations of the sites and looks for the newest correspondent's host in them", async () => {
    const words: unknown[] = [];
    const recording: RunQuery = async (text, params) => {
      if (text.startsWith("WITH hits")) words.push(params[1]);
      return run(text, params);
    };
    // Read with the test's own client: the engine's test before closed the store.
    const summaries = (await run<{ doc: string }>("SELECT doc::text AS doc FROM cs.conversations", []))
      .map((row) => JSON.parse(row.doc) as ConversationDoc)
      .filter((c) => c.lastKey !== undefined);
    expect(await warmConversationSearch(recording, sql, 100)).toEqual([
      { kind: "newest", rows: 100 },
      { kind: "span", rows: Math.min(100, summaries.length) },
      { kind: "hits", rows: 1 },
      { kind: "search", rows: expect.any(Number) },
    ]);
    const newest = summaries.sort((a, b) => (a.lastKey! < b.lastKey! ? 1 : -1)).find((c) => !SITES.includes(c.lastSender!))!;
    const host = new URL(newest.lastSender!).hostname;
    expect(words[0]).toBe(host);
    expect(words.every((w) => w === host)).toBe(true);
  });

  it("each statement is answered from indexes on a large inbox: the walk looks up its conversations' messages by conversation, direct reads the words' matches", async () => {
    // 20,000 messages of one site in 5,000 conversations with their summaries: "common" in every message, "some" in 1 of 97, "word<n>" in one.
    await client.query(`INSERT INTO cs.inbox (_id, doc) SELECT 'big' || i, jsonb_build_object('_id', 'big' || i, 'recipient', 'https://site7.example/',
      'sender', 'https://s' || (i % 50) || '.example/', 'content', concat_ws(' ', 'word' || i, 'common text', CASE WHEN i % 97 = 0 THEN 'some' END),
      'conversation', 'bigc' || (i % 5000), 'pageKey', lpad(i::text, 15, '0') || '.big' || i) FROM generate_series(1, 20000) i`);
    await client.query(`INSERT INTO cs.conversations (_id, doc) SELECT 'bigc' || c, jsonb_build_object('_id', 'bigc' || c, 'rev', 1, 'site', 'https://site7.example/',
      'lastKey', lpad((15000 + c)::text, 15, '0') || '.bigc' || c) FROM generate_series(0, 4999) c`);
    await client.query("VACUUM ANALYZE cs.inbox, cs.conversations");
    const plans: { span: string[]; hits: string[]; direct: string[] } = { span: [], hits: [], direct: [] };
    // A span's conversations: the newest 100 (a common word's span), then 100 below a key.
    const newest = Array.from({ length: 100 }, (_, n) => `bigc${4999 - n}`);
    const lower = Array.from({ length: 100 }, (_, n) => `bigc${2999 - n}`);
    for (const sites of [["https://site7.example/"], ["https://site7.example/", BOB]]) {
      const statements: [keyof typeof plans, { text: string; params: unknown[] }][] = [
        ["span", spanStatement(sql, sites, undefined, 100)],
        ["span", spanStatement(sql, sites, "000000000018000", 100)],
        // Direct is for a word of few matches (`directMatches`), such as word777.
        ["direct", directStatement(sql, sites, "word777", undefined, 51)],
      ];
      for (const word of ["word777", "some", "common"]) {
        statements.push(["hits", spanHitsStatement(sql, sites, word, newest, 51)], ["hits", spanHitsStatement(sql, sites, word, lower, 51)]);
      }
      for (const [kind, statement] of statements) {
        const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${statement.text}`, statement.params);
        plans[kind].push(JSON.stringify(rows[0]["QUERY PLAN"]));
        // No sequential scan of the large tables (the empty outbox may be read so).
        expect(seqScans(rows[0]["QUERY PLAN"]), `${kind} ${statement.params.join(" ")}`).toEqual(seqScans(rows[0]["QUERY PLAN"]).filter((t) => t === "outbox"));
      }
    }
    // A span: along a site's summaries by lastKey (one site) or every summary's (several).
    expect(plans.span.filter((p) => p.includes("conversations_site_by_lastKey"))).toHaveLength(2);
    expect(plans.span.filter((p) => p.includes('"conversations_by_lastKey"'))).toHaveLength(2);
    // Its hits: the messages of its conversations by conversation, for a word in many of them.
    expect(plans.hits.filter((p) => p.includes("inbox_search_conversation")).length).toBeGreaterThanOrEqual(8);
    // Direct: a rare word's matches from the GIN index.
    for (const plan of plans.direct) expect(plan).toContain("inbox_search");
  });
});

/** The tables a plan reads by sequential scan. */
function seqScans(plan: unknown): string[] {
  const found: string[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node !== null && typeof node === "object") {
      const n = node as Record<string, unknown>;
      if (n["Node Type"] === "Seq Scan" && typeof n["Relation Name"] === "string") found.push(n["Relation Name"]);
      for (const value of Object.values(n)) visit(value);
    }
  };
  visit(plan);
  return found;
}
