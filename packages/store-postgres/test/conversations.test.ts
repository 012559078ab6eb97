/**
 * Issue 11 on PostgreSQL: stored conversations and their summaries written by two stores
 * at once (two processes on one database), keyset pages through the owner API, and the
 * owner's search answered by full-text (search.ts) from its GIN index.
 */
import { createPmServer, type PmServer } from "@indiepm/core";
import { freshDatabase, postgresForTests } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conversationFields, conversationId, messageWritten } from "../../core/src/owner/conversations.js";
import type { InboxDoc } from "../../core/src/protocol/records.js";
import { openPostgresStore, type PostgresStore } from "../src/index.js";
import { searchStatement } from "../src/search.js";
import { Sql } from "../src/sql.js";

const server = await postgresForTests();
const BOB = "https://bob.example.com/";
const ALICE = "https://alice.example.org/";
const CAROL = "https://carol.example/";
const TOKEN = "owner-token-0123456789";
const quiet = { info() {}, warn() {}, error() {} };

let clock = 1_700_000_000_000;
function received(message: string, sender: string, extra: Partial<InboxDoc> = {}): InboxDoc {
  clock += 1000;
  return {
    _id: `${sender}|${message}`,
    message,
    sender,
    recipient: BOB,
    content: `text of ${message}`,
    published: "2024-01-01T00:00:00Z",
    receivedAt: clock,
    ...extra,
  };
}

/** As actions/deliver.ts writes a received message. */
async function write(store: PostgresStore, doc: InboxDoc): Promise<void> {
  const filed = { ...doc, ...(await conversationFields(store, "in", doc)) };
  await store.insert("inbox", filed);
  await messageWritten(store, "in", filed);
}

describe.skipIf(server.skipReason)("conversations on PostgreSQL", () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let a: PostgresStore;
  let b: PostgresStore;
  let pm: PmServer;
  beforeAll(async () => {
    database = await freshDatabase();
    a = await openPostgresStore(database.url, { schema: "convo", poolSize: 4 });
    b = await openPostgresStore(database.url, { schema: "convo", poolSize: 4 });
    pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store: a, dev: true, logger: quiet, ownerToken: TOKEN });
  });
  afterAll(async () => {
    await pm?.close();
    await b?.close();
    await database?.drop();
  });

  it("two stores writing replies to one conversation at once leave a summary counting every one", async () => {
    await write(a, received("urn:root", ALICE, { name: "Picnic plans", content: "Shall we have a picnic on Sunday?" }));
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        write(i % 2 ? a : b, received(`urn:r${i}`, i % 3 ? ALICE : CAROL, { inReplyTo: i < 5 ? "urn:root" : `urn:r${i - 5}` })),
      ),
    );
    const listed = await pm.conversations({ site: BOB });
    expect(listed).toHaveLength(1);
    const [summary] = listed;
    expect(summary).toMatchObject({ id: conversationId(BOB, "urn:root"), messages: 31, unread: 31, subject: "Picnic plans" });
    expect([...summary!.participants].sort()).toEqual([ALICE, CAROL]);
  });

  it("a reply that arrived before its parent is moved by the other store's write of the parent", async () => {
    await write(a, received("urn:late-child", CAROL, { inReplyTo: "urn:late-parent" }));
    await write(b, received("urn:late-parent", ALICE, { inReplyTo: "urn:root" }));
    const thread = (await pm.thread(conversationId(BOB, "urn:root")))!;
    expect(thread.messages).toBe(33);
    expect(thread.items.map((i) => i.message).slice(-2)).toEqual(["urn:late-parent", "urn:late-child"]);
    expect(await pm.thread(conversationId(BOB, "urn:late-parent"))).toBeNull();
  });

  it("searches by words in the text, the subject and the sites, from the store's full-text index", async () => {
    await write(a, received("urn:budget", CAROL, { name: "Budget 2025", content: "Numbers attached." }));
    expect((await pm.conversations({ q: "picnic" })).map((c) => c.root)).toEqual(["urn:root"]);
    expect((await pm.conversations({ q: "Sunday picnic" })).map((c) => c.root)).toEqual(["urn:root"]);
    expect((await pm.conversations({ q: "budget" })).map((c) => c.root)).toEqual(["urn:budget"]);
    expect((await pm.conversations({ q: "carol.example" })).map((c) => c.root).sort()).toEqual(["urn:budget", "urn:root"]);
    expect(await pm.conversations({ q: "nothing like it" })).toEqual([]);
    expect((await a.search!<InboxDoc>("inbox", { where: { recipient: BOB }, text: "picnic", limit: 10 })).map((d) => d.message)).toEqual(["urn:root"]);
  });

  it("the search uses its GIN index on a large inbox of one site", async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(`INSERT INTO convo.inbox (_id, doc) SELECT 'seed' || i, jsonb_build_object('_id', 'seed' || i, 'recipient', 'https://site7.example/',
        'sender', 'https://s' || i || '.example/', 'content', 'word' || i || ' common text', 'pageKey', lpad(i::text, 15, '0') || '.seed' || i) FROM generate_series(1, 20000) i`);
      // VACUUM as autovacuum would: merges the GIN index's pending list (20,000 rows just inserted sit in it, and a plan would pay to read it all).
      await client.query("VACUUM ANALYZE convo.inbox");
      const statement = searchStatement(new Sql("convo"), "inbox", { where: { recipient: "https://site7.example/" }, text: "word777", limit: 100 });
      const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${statement.text}`, statement.params);
      const plan = JSON.stringify(rows[0]["QUERY PLAN"]);
      expect(plan).toContain("inbox_search");
      expect(plan).not.toContain("Seq Scan");
      // A word of every message: along the site's stored page keys, newest first, stopping at the limit (not every match sorted).
      const common = searchStatement(new Sql("convo"), "inbox", { where: { recipient: "https://site7.example/" }, text: "common", limit: 100 });
      const walked = JSON.stringify((await client.query(`EXPLAIN (FORMAT JSON) ${common.text}`, common.params)).rows[0]["QUERY PLAN"]);
      expect(walked).toContain("inbox_search_site_key");
      expect(walked).not.toContain("Seq Scan");
      expect(walked).not.toContain('"Sort Key"');
    } finally {
      await client.end();
    }
  });

  it("finds the same conversations as the engine's scan without a store search, for rare, common and absent words", async () => {
    const words = ["kayak", "friday", "lantern", "harbour", "nothing"];
    for (let i = 0; i < 60; i++) {
      const text = words.filter((_, w) => w < 4 && (i * (w + 3)) % [10, 2, 7, 3][w]! === 0).join(" and ");
      await write(
        i % 2 ? a : b,
        received(`urn:fx${i}`, i % 3 ? ALICE : CAROL, { content: `note ${i} ${text}`, ...(i % 4 ? { inReplyTo: `urn:fx${i - (i % 4)}` } : {}) }),
      );
    }
    // The same store without `search` (core then scans the latest messages); its close leaves `a` open.
    const { search: _, searchConversations: __, ...withoutSearch } = a;
    const scanning = createPmServer({
      endpoint: "http://127.0.0.1:9/",
      sites: [BOB],
      store: { ...withoutSearch, close: async () => undefined },
      dev: true,
      logger: quiet,
      ownerToken: TOKEN,
    });
    try {
      for (const q of words) {
        const fromIndex = (await pm.conversations({ q })).map((c) => c.id);
        expect(fromIndex, q).toEqual((await scanning.conversations({ q })).map((c) => c.id));
        if (q !== "nothing") expect(fromIndex.length, q).toBeGreaterThan(0);
      }
    } finally {
      await scanning.close();
    }
  });

  it("pages through the inbox by Link rel=next with no gap and no repeat", async () => {
    const seen: string[] = [];
    let url: string | undefined = "http://127.0.0.1:9/api/inbox?site=" + encodeURIComponent(BOB) + "&limit=7";
    while (url) {
      const response = await pm.handle(new Request(url, { headers: { authorization: `Bearer ${TOKEN}` } }));
      seen.push(...((await response.json()) as { message: string }[]).map((m) => m.message));
      const link = /^<([^>]*)>; rel="next"$/.exec(response.headers.get("link") ?? "");
      url = link ? new URL(link[1]!, url).href : undefined;
    }
    const all = (await a.find<InboxDoc>("inbox", { where: { recipient: BOB }, sort: { field: "pageKey", order: "desc" } })).map((d) => d.message);
    expect(seen).toEqual(all);
    expect(seen.length).toBe(94);
  });
});
