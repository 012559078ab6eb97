/**
 * Chats (issue 12, core owner/chats.ts) on PostgreSQL: summaries written by two stores at
 * once (two processes on one database) count every message once and show the latest;
 * keyset pages of 105 people; documents of an older version filed on the first read.
 */
import { createPmServer, type PmServer } from "@indiepm/core";
import { freshDatabase, postgresForTests } from "@indiepm/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatKey } from "../../core/src/owner/chats.js";
import { conversationFields, messageWritten } from "../../core/src/owner/conversations.js";
import type { InboxDoc } from "../../core/src/protocol/records.js";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

const server = await postgresForTests();
const BOB = "https://bob.example.com/";
const ALICE = "https://alice.example.org/";
const quiet = { info() {}, warn() {}, error() {} };

let clock = 1_700_000_000_000;
function received(message: string, sender: string): InboxDoc {
  clock += 1000;
  return { _id: `${sender}|${message}`, message, sender, recipient: BOB, content: `text of ${message}`, published: "2024-01-01T00:00:00Z", receivedAt: clock };
}

/** As actions/deliver.ts writes a received message. */
async function write(store: PostgresStore, doc: InboxDoc): Promise<void> {
  const filed: InboxDoc = { ...doc, ...(await conversationFields(store, "in", doc)) };
  filed.chat = chatKey("in", filed);
  await store.insert("inbox", filed);
  await messageWritten(store, "in", filed);
}

describe.skipIf(server.skipReason)("chats on PostgreSQL", () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let a: PostgresStore;
  let b: PostgresStore;
  let pm: PmServer;
  beforeAll(async () => {
    database = await freshDatabase();
    a = await openPostgresStore(database.url, { schema: "chats", poolSize: 4 });
    b = await openPostgresStore(database.url, { schema: "chats", poolSize: 4 });
    pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store: a, dev: true, logger: quiet });
  });
  afterAll(async () => {
    await pm?.close();
    await b?.close();
    await database?.drop();
  });

  it("25 messages from alice written by two processes at once: one chat, 25 unread, the latest shown", async () => {
    const docs = Array.from({ length: 25 }, (_, i) => received(`urn:a${i}`, ALICE));
    await Promise.all(docs.map((doc, i) => write(i % 2 === 0 ? a : b, doc)));
    const { items } = await pm.chatsPage({ site: BOB });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ people: [ALICE], unread: 25, last: { message: "urn:a24" } });
    const chat = (await pm.chat(items[0]!.id))!;
    expect(chat.items.map((i) => i.message)).toEqual(docs.map((d) => d.message));
    expect(await pm.markChatRead(items[0]!.id, true)).toBe(25);
    expect((await pm.chatsPage({ site: BOB })).items[0]!.unread).toBe(0);
  });

  it("pages 105 people 100 at a time; an older version's documents are filed on the first read", async () => {
    // Written without chat, conversation or page key, as before either existed.
    for (let i = 0; i < 105; i++) await b.insert("inbox", received(`urn:p${i}`, `https://p${i}.example/`));
    const fresh = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store: b, dev: true, logger: quiet });
    const first = await fresh.chatsPage({ site: BOB });
    expect(first.items).toHaveLength(100);
    expect(first.items[0]!.people).toEqual(["https://p104.example/"]);
    const second = await fresh.chatsPage({ site: BOB, before: first.next! });
    // The 5 oldest people and alice's chat from the test before.
    expect(second.items.map((c) => c.people[0])).toEqual([
      "https://p4.example/",
      "https://p3.example/",
      "https://p2.example/",
      "https://p1.example/",
      "https://p0.example/",
      ALICE,
    ]);
    expect(second.next).toBeUndefined();
  });
});
