/**
 * Chats (issue 12, core owner/chats.ts) on PostgreSQL: summaries written by two stores at
 * once (two processes on one database) count every message once and show the latest;
 * keyset pages of 105 people; documents of an older version filed on the first read; many
 * sends to one person at once, each chat write a merge that no other writer refuses.
 */
import { createPmServer, type PmServer } from "@indiepm/core";
import { freshDatabase, postgresForTests } from "@indiepm/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatKey } from "../../core/src/owner/chats.js";
import { conversationFields, messageWritten } from "../../core/src/owner/conversations.js";
import type { InboxDoc } from "../../core/src/protocol/records.js";
import type { CollectionName, Doc, Patch, Scalar, Store } from "../../core/src/store/types.js";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

const server = await postgresForTests();
const BOB = "https://bob.example.com/";
const ALICE = "https://alice.example.org/";
const CAROL = "https://carol.example/";
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

  it("50 sends to carol at once through two processes: each answered, one chat at rev 50 holding all 50, merged without a compare-and-set", async () => {
    // The chat's compare-and-sets counted: a merge needs none, so there is none to lose.
    let chatUpdates = 0;
    const counted = (store: PostgresStore): Store =>
      Object.assign(Object.create(store) as Store, {
        update<T extends Doc>(collection: CollectionName, id: string, patch: Patch<T>, expect?: Record<string, Scalar>) {
          if (collection === "chats") chatUpdates++;
          return store.update<T>(collection, id, patch, expect);
        },
      });
    let last = 0;
    const now = () => (last = Math.max(Date.now(), last + 1));
    const senders = [a, b].map((store) =>
      createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store: counted(store), dev: true, logger: quiet, now }),
    );
    const n = 50;
    const sent = await Promise.allSettled(Array.from({ length: n }, (_, i) => senders[i % 2]!.send({ from: BOB, to: [CAROL], content: `number ${i}` })));
    expect(sent.filter((s) => s.status === "rejected")).toEqual([]);
    const carol = (await pm.chatsPage({ site: BOB })).items.find((c) => c.people[0] === CAROL)!;
    expect(carol).toMatchObject({ people: [CAROL], unread: 0, last: { content: `number ${n - 1}` } });
    expect((await a.get<{ _id: string; rev: number }>("chats", carol.id))!.rev).toBe(n);
    expect((await pm.chat(carol.id))!.items.map((i) => i.content)).toEqual(Array.from({ length: n }, (_, i) => `number ${i}`));
    expect(chatUpdates).toBe(0);
  });
});
