/**
 * Issue 11, "what grows with the inbox": the conversation stored when a message is
 * written (checked against the old `groupThreads` over the same messages, arrivals in
 * any order, cycles included), the per-conversation summaries after reads and deletes,
 * keyset pages through the owner API with writes in between, the search capability,
 * and the upgrade of a data folder written before conversations were stored.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ALICE, BOB, CAROL, bobsMessages } from "./support/messages.js";
import type { PmServer } from "../src/api.js";
import { conversationFields, conversationId, ensureFiled, groupThreads, messageWritten, REFILE_CHECK_MS } from "../src/owner/conversations.js";
import type { ConversationDoc, InboxDoc, OutboxDoc } from "../src/protocol/records.js";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import { openNedbStore } from "../src/store/nedb/index.js";
import type { SharedStore, Store, TextSearch } from "../src/store/types.js";

const { clock, received, sent } = bobsMessages();
const TOKEN = "owner-token-0123456789";
const quiet = { info() {}, warn() {}, error() {} };
const isSent = (d: InboxDoc | OutboxDoc): d is OutboxDoc => "recipients" in d;

/** Writes a message the way actions/deliver.ts and send do: its conversation computed, inserted, then filed. */
async function write(store: Store, doc: InboxDoc | OutboxDoc): Promise<void> {
  const kind = isSent(doc) ? "out" : "in";
  const filed = { ...doc, ...(await conversationFields(store, kind, doc)) };
  await store.insert(isSent(doc) ? "outbox" : "inbox", filed);
  await messageWritten(store, kind, filed);
}

/** What `groupThreads` (the rule as it was computed on every page) makes of every message stored. */
async function oracle(store: Store) {
  const inbox = await store.find<InboxDoc>("inbox", { where: { recipient: BOB } });
  const outbox = await store.find<OutboxDoc>("outbox", { where: { sender: BOB } });
  return groupThreads(BOB, [
    ...inbox.map((doc) => ({ kind: "in" as const, doc, at: doc.receivedAt })),
    ...outbox.map((doc) => ({ kind: "out" as const, doc, at: doc.createdAt })),
  ]);
}

/** Groups as sets of message IDs keyed by conversation ID: the stored ones and the oracle's. */
async function groupings(store: Store) {
  const stored = new Map<string, string[]>();
  for (const d of [...(await store.find<InboxDoc>("inbox")), ...(await store.find<OutboxDoc>("outbox"))]) {
    stored.set(d.conversation!, [...(stored.get(d.conversation!) ?? []), d.message].sort());
  }
  const expected = new Map((await oracle(store)).map((g) => [g.id, g.items.map((i) => i.doc.message).sort()]));
  return { stored: Object.fromEntries([...stored].sort()), expected: Object.fromEntries([...expected].sort()) };
}

/** The summaries stored, as the owner list shows them, and as recomputed from scratch by the oracle. */
async function summaries(pm: PmServer, store: Store) {
  const listed = (await pm.conversations({ site: BOB, limit: 1000 })).map((c) => [
    c.id,
    c.messages,
    c.unread,
    c.subject,
    c.lastSender,
    [...c.participants].sort(),
  ]);
  const expected = (await oracle(store))
    .map((g) => {
      const named = g.items.find((i) => i.doc.name);
      const last = g.items.reduce((a, b) => (b.at >= a.at ? b : a));
      const people = new Set(
        g.items.flatMap((i) => (i.kind === "in" ? [i.doc.sender, i.doc.recipient, ...(i.doc.to ?? [])] : [i.doc.sender, ...i.doc.recipients])),
      );
      people.delete(BOB);
      return {
        at: last.at,
        row: [
          g.id,
          g.items.length,
          g.items.filter((i) => i.kind === "in" && !i.doc.read).length,
          g.items[0]!.doc.name ?? named?.doc.name,
          last.doc.sender,
          [...people].sort(),
        ],
      };
    })
    .sort((a, b) => b.at - a.at)
    .map((x) => x.row);
  return { listed, expected };
}

/** A small deterministic random source (mulberry32), so a failing seed can be replayed. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const server = (store: Store) => createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet, ownerToken: TOKEN });

describe("the conversation is stored when a message is written", () => {
  it.each([
    ["a reply joins the message it answers", () => [received("urn:a", ALICE), received("urn:b", ALICE, { inReplyTo: "urn:a" })]],
    [
      "a reply that arrives first is moved when its parent arrives answering an older one",
      () => [
        received("urn:a", ALICE),
        received("urn:c", ALICE, { inReplyTo: "urn:b" }),
        received("urn:d", CAROL, { inReplyTo: "urn:c" }),
        sent("urn:b", [ALICE], { inReplyTo: "urn:a" }),
      ],
    ],
    [
      "replies to a message not held share a conversation",
      () => [received("urn:b", ALICE, { inReplyTo: "urn:x" }), received("urn:c", CAROL, { inReplyTo: "urn:x" })],
    ],
    [
      "a root that arrives late naming an unknown parent moves its replies",
      () => [received("urn:c", ALICE, { inReplyTo: "urn:b" }), received("urn:b", ALICE, { inReplyTo: "urn:x" })],
    ],
    ["a forged cycle of two", () => [received("urn:a", ALICE, { inReplyTo: "urn:b" }), received("urn:b", ALICE, { inReplyTo: "urn:a" })]],
    ["a forged cycle closed by its smallest ID", () => [received("urn:b", ALICE, { inReplyTo: "urn:a" }), received("urn:a", ALICE, { inReplyTo: "urn:b" })]],
    [
      "a cycle of three with a tail",
      () => [
        received("urn:t", CAROL, { inReplyTo: "urn:q" }),
        received("urn:q", ALICE, { inReplyTo: "urn:r" }),
        received("urn:r", ALICE, { inReplyTo: "urn:p" }),
        received("urn:p", ALICE, { inReplyTo: "urn:q" }),
      ],
    ],
    ["a message answering itself", () => [received("urn:self", ALICE, { inReplyTo: "urn:self" })]],
  ])("%s (same grouping as groupThreads)", async (_, docs) => {
    const store = createMemoryStore();
    for (const doc of docs()) await write(store, doc);
    const { stored, expected } = await groupings(store);
    expect(stored).toEqual(expected);
  });

  it("random threads in random arrival order: the grouping and summaries groupThreads gives, for every seed", async () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rnd = random(seed);
      const ids = Array.from({ length: 3 + Math.floor(rnd() * 25) }, (_, i) => `urn:m${i}`);
      const docs = ids.map((id) => {
        const r = rnd();
        // Mostly answers to another message of the set (earlier or later: cycles happen), some to unknown ones.
        const inReplyTo = r < 0.2 ? undefined : r < 0.3 ? `urn:unknown${Math.floor(rnd() * 3)}` : ids[Math.floor(rnd() * ids.length)];
        const extra = { ...(inReplyTo ? { inReplyTo } : {}), ...(rnd() < 0.3 ? { name: `subject ${id}` } : {}) };
        return rnd() < 0.3 ? sent(id, [ALICE], extra) : received(id, rnd() < 0.5 ? ALICE : CAROL, extra);
      });
      for (let i = docs.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [docs[i], docs[j]] = [docs[j]!, docs[i]!];
      }
      const store = createMemoryStore();
      for (const doc of docs) await write(store, doc);
      const { stored, expected } = await groupings(store);
      expect(stored, `seed ${seed}`).toEqual(expected);
      const pm = server(store);
      const { listed, expected: sums } = await summaries(pm, store);
      const byId = (rows: unknown[][]) => [...rows].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      expect(byId(listed), `seed ${seed}`).toEqual(byId(sums));
      await pm.close();
    }
  });

  it("writes at once by several callers to one conversation, replies racing the messages they answer, leave one summary counting every one", async () => {
    for (let round = 0; round < 10; round++) {
      const rnd = random(round + 1);
      // Every store call takes a random moment, as over a network: the writers' steps interleave.
      const memory = createMemoryStore();
      const store = new Proxy(memory, {
        get(target, name, receiver) {
          const value = Reflect.get(target, name, receiver);
          if (typeof value !== "function") return value;
          return async (...args: unknown[]) => {
            await new Promise((resolve) => setTimeout(resolve, rnd() * 2));
            return value.apply(target, args);
          };
        },
      });
      await write(store, received("urn:root", ALICE));
      // urn:r7 answers urn:r2, written at the same time: either may be stored first.
      const replies = Array.from({ length: 40 }, (_, i) => received(`urn:r${i}`, i % 2 ? ALICE : CAROL, { inReplyTo: i < 5 ? "urn:root" : `urn:r${i - 5}` }));
      await Promise.all(
        replies.map(async (doc) => {
          await new Promise((resolve) => setTimeout(resolve, rnd() * 5));
          await write(store, doc);
        }),
      );
      const summaries = await store.find<ConversationDoc>("conversations", { where: { site: BOB } });
      expect(summaries, `round ${round}`).toHaveLength(1);
      expect(summaries[0], `round ${round}`).toMatchObject({ _id: conversationId(BOB, "urn:root"), messages: 41, unread: 41 });
      const { stored, expected } = await groupings(store);
      expect(stored, `round ${round}`).toEqual(expected);
    }
  });
});

describe("summaries kept in step with reads and deletes", () => {
  it("counts, unread, subject and last message after read, unread, delete of one and of a conversation", async () => {
    const store = createMemoryStore();
    const pm = server(store);
    const docs = [
      received("urn:1", ALICE, { name: "Lunch?", to: [BOB, CAROL] }),
      sent("urn:2", [ALICE, CAROL], { inReplyTo: "urn:1" }),
      received("urn:3", CAROL, { inReplyTo: "urn:2" }),
      received("urn:4", ALICE, { name: "Other" }),
      received("urn:5", CAROL, { inReplyTo: "urn:4" }),
    ];
    for (const d of docs) await write(store, d);
    const check = async () => {
      const { listed, expected } = await summaries(pm, store);
      expect(listed).toEqual(expected);
    };
    await check();
    const lunch = conversationId(BOB, "urn:1");
    expect(await pm.markRead({ conversation: lunch }, true)).toBe(2);
    await check();
    expect(await pm.markRead({ sender: CAROL, message: "urn:3" }, false)).toBe(1);
    await check();
    expect((await pm.conversations()).find((c) => c.id === lunch)).toMatchObject({ unread: 1, messages: 3, lastSender: CAROL });
    // The latest message goes: the summary's last message is the one before it.
    expect(await pm.deleteMessage("urn:3")).toBe(1);
    await check();
    expect((await pm.conversations()).find((c) => c.id === lunch)).toMatchObject({ unread: 0, messages: 2, lastSender: BOB, snippet: "text of urn:2" });
    expect(await pm.deleteConversation(conversationId(BOB, "urn:4"))).toBe(2);
    expect(await store.get("conversations", conversationId(BOB, "urn:4"))).toBeNull();
    expect((await pm.conversations()).map((c) => c.id)).toEqual([lunch]);
    expect(await pm.deleteAll()).toBe(2);
    expect(await store.count("conversations", { site: BOB })).toBe(0);
    await pm.close();
  });
});

/** GET on the owner API; the body and the `before` of the Link rel=next, if any. */
async function getPage(pm: PmServer, url: string): Promise<{ body: unknown[]; next?: string }> {
  const response = await pm.handle(new Request(new URL(url, "http://127.0.0.1:9/"), { headers: { authorization: `Bearer ${TOKEN}` } }));
  expect(response.status).toBe(200);
  const link = /^<([^>]*)>; rel="next"$/.exec(response.headers.get("link") ?? "");
  const next = link ? (new URL(link[1]!, new URL(url, "http://127.0.0.1:9/")).searchParams.get("before") ?? undefined) : undefined;
  return { body: (await response.json()) as unknown[], ...(next ? { next } : {}) };
}

describe("keyset pages through the owner API", () => {
  it("pages through 250 messages with no gap and no repeat while new ones arrive, in every list", async () => {
    const store = createMemoryStore();
    const pm = server(store);
    const written: string[] = [];
    for (let i = 0; i < 250; i++) {
      // Many in one millisecond: the page key's tiebreak keeps them apart.
      if (i % 5 !== 0) clock.ms -= 1000;
      const doc =
        i % 3 === 2
          ? sent(`urn:p${i}`, [ALICE], i % 2 ? { inReplyTo: `urn:p${i - 1}` } : {})
          : received(`urn:p${i}`, ALICE, i % 2 ? { inReplyTo: `urn:p${i - 1}` } : {});
      await write(store, doc);
      written.push(doc.message);
    }
    for (const [route, field] of [
      ["api/inbox", "message"],
      ["api/outbox", "message"],
      ["api/conversations", "id"],
    ] as const) {
      const seen: string[] = [];
      const fresh = new Set<string>();
      let url: string | undefined = `${route}?limit=40`;
      let pages = 0;
      while (url !== undefined) {
        const { body, next }: { body: unknown[]; next?: string } = await getPage(pm, url);
        seen.push(...body.map((x) => (x as Record<string, string>)[field]!));
        pages++;
        // A message arrives between two pages: newer than the cursor, so on no later page.
        const arrival = received(`urn:new-${route}-${pages}`, CAROL);
        await write(store, arrival);
        fresh.add(arrival.message).add(conversationId(BOB, arrival.message));
        url = next === undefined ? undefined : `${route}?limit=40&before=${encodeURIComponent(next)}`;
      }
      const before = route === "api/conversations" ? await pm.conversations({ limit: 1000 }) : null;
      const expected =
        route === "api/inbox"
          ? (await store.find<InboxDoc>("inbox", { sort: { field: "pageKey", order: "desc" } })).map((d) => d.message)
          : route === "api/outbox"
            ? (await store.find<OutboxDoc>("outbox", { sort: { field: "pageKey", order: "desc" } })).map((d) => d.message)
            : before!.map((c) => c.id);
      expect(new Set(seen).size, route).toBe(seen.length);
      expect(
        seen.filter((s) => !fresh.has(s)),
        route,
      ).toEqual(expected.filter((s) => !fresh.has(s)));
      expect(pages, route).toBeGreaterThan(1);
    }
    expect(written.length).toBe(250);
    // A conversation's messages, 7 at a time, oldest last; the thread route names the next page too.
    const long = conversationId(BOB, "urn:p0");
    const whole = (await pm.thread(long))!.items.map((i) => i.message);
    const paged: string[] = [];
    let before: string | undefined;
    do {
      const part = (await pm.thread(long, { limit: 1, ...(before ? { before } : {}) }))!;
      paged.unshift(...part.items.map((i) => i.message));
      before = part.next;
    } while (before);
    expect(paged).toEqual(whole);
    await pm.close();
  });

  it("keeps today's answers: an array, limit 100 by default, and refuses a cursor it did not give", async () => {
    const store = createMemoryStore();
    const pm = server(store);
    for (let i = 0; i < 120; i++) await write(store, received(`urn:d${i}`, ALICE));
    const first = await getPage(pm, "api/inbox");
    expect(first.body).toHaveLength(100);
    expect(first.next).toBeDefined();
    const rest = await getPage(pm, `api/inbox?before=${first.next}`);
    expect(rest.body).toHaveLength(20);
    expect(rest.next).toBeUndefined();
    const bad = await pm.handle(new Request("http://127.0.0.1:9/api/inbox?before=nope", { headers: { authorization: `Bearer ${TOKEN}` } }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: "invalid_request" });
    await pm.close();
  });
});

describe("search", () => {
  it("uses the store's search when it has one, with the conversations' shape", async () => {
    const store = createMemoryStore();
    for (const d of [received("urn:1", ALICE, { content: "The Picnic is on" }), received("urn:2", ALICE, { inReplyTo: "urn:1" }), received("urn:3", CAROL)])
      await write(store, d);
    const asked: [string, TextSearch][] = [];
    const searching: Store = Object.assign(Object.create(store) as Store, {
      async search<T>(collection: "inbox" | "outbox", query: TextSearch): Promise<T[]> {
        asked.push([collection, query]);
        const docs = await store.find<InboxDoc>(collection, { where: query.where ?? {} });
        return docs.filter((d) => d.content.includes("Picnic") && query.text === "picnic") as T[];
      },
    });
    const pm = server(searching);
    expect((await pm.conversations({ q: "picnic" })).map((c) => [c.root, c.messages])).toEqual([["urn:1", 2]]);
    expect(asked.map(([c, q]) => [c, q.where, q.text])).toEqual([
      ["inbox", { recipient: BOB }, "picnic"],
      ["outbox", { sender: BOB }, "picnic"],
    ]);
    await pm.close();
  });
});

describe("a data folder written before conversations were stored", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("on a shared store, a document an older version writes later (a rolling upgrade) is filed by a read after REFILE_CHECK_MS", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const memory = createMemoryStore();
      // The same documents, as a store several processes share (only `shared` differs).
      const shared: Store = Object.assign(Object.create(memory) as Store, { shared: {} as SharedStore });
      const sharedCtx = { store: shared };
      const memoryCtx = { store: memory };
      await write(memory, received("urn:new-shape", ALICE));
      await ensureFiled(sharedCtx, [BOB]);
      await ensureFiled(memoryCtx, [BOB]);
      await memory.insert("inbox", received("urn:old-shape", CAROL, { inReplyTo: "urn:new-shape" }));
      await ensureFiled(sharedCtx, [BOB]);
      expect(await memory.count("inbox", { conversation: null })).toBe(1);
      vi.setSystemTime(Date.now() + REFILE_CHECK_MS);
      // One process alone on its store looked once: nobody else writes there.
      await ensureFiled(memoryCtx, [BOB]);
      expect(await memory.count("inbox", { conversation: null })).toBe(1);
      await ensureFiled(sharedCtx, [BOB]);
      expect(await memory.count("inbox", { conversation: null })).toBe(0);
      const pm = server(memory);
      expect((await pm.inbox()).map((m) => m.message)).toEqual(["urn:old-shape", "urn:new-shape"]);
      expect((await pm.conversations()).map((c) => [c.root, c.messages])).toEqual([["urn:new-shape", 2]]);
      await pm.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it("is filed on the first read after opening, once: the grouping groupThreads gives, the pages, and nothing more the second time", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "indiepm-convo-upgrade-"));
    // The old code's shape: inbox and outbox documents without conversation or page key, no conversations.
    const rnd = random(7);
    const ids = Array.from({ length: 150 }, (_, i) => `urn:old${i}`);
    const docs = ids.map((id, i) => {
      const r = rnd();
      const inReplyTo = r < 0.3 ? undefined : r < 0.4 ? "urn:gone" : ids[Math.floor(rnd() * ids.length)];
      return i % 4 === 0 ? sent(id, [ALICE], inReplyTo ? { inReplyTo } : {}) : received(id, ALICE, inReplyTo ? { inReplyTo } : {});
    });
    const old = await openNedbStore({ dir });
    for (const d of docs) await old.insert(isSent(d) ? "outbox" : "inbox", d);
    await old.close();

    const store = await openNedbStore({ dir });
    expect(await store.count("inbox", { conversation: null })).toBeGreaterThan(0);
    const pm = server(store);
    const page = await pm.inboxPage({ limit: 50 });
    expect(page.items).toHaveLength(50);
    expect(await store.count("inbox", { conversation: null })).toBe(0);
    expect(await store.count("outbox", { conversation: null })).toBe(0);
    const { stored, expected } = await groupings(store);
    expect(stored).toEqual(expected);
    const { listed, expected: sums } = await summaries(pm, store);
    expect(listed).toEqual(sums);
    await pm.close();
    await store.close();

    // Opened again: nothing left to file, nothing rewritten.
    const again = await openNedbStore({ dir });
    const before = JSON.stringify([await again.find("inbox"), await again.find("outbox"), await again.find("conversations")]);
    const pm2 = server(again);
    expect((await pm2.conversations({ limit: 1000 })).map((c) => c.id).sort()).toEqual(Object.keys(expected).sort());
    expect(JSON.stringify([await again.find("inbox"), await again.find("outbox"), await again.find("conversations")])).toBe(before);
    await pm2.close();
    await again.close();
  });
});
