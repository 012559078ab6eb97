/**
 * Chats (issue 12, "conversations by person"): a site's messages by the people in them,
 * one row per correspondent or set of them, latest activity first — on a real PmServer
 * over the memory store. Each case is written both as the engine writes messages (the
 * chat stored at write, its summary kept by `messageWritten`) and as an older version
 * left them (no `chat`, no conversation: filed on the first owner read); both must list the same.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openNedbStore } from "../src/store/nedb/adapter.js";
import { ALICE, BOB, CAROL, bobsMessages } from "./support/messages.js";
import { insertStandingToken } from "./support/standing-token.js";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import { type ChatDoc, chatKey } from "../src/owner/chats.js";
import { conversationFields, messageWritten } from "../src/owner/conversations.js";
import type { InboxDoc, OutboxDoc } from "../src/protocol/records.js";
import { PmError } from "../src/errors.js";
import { keyOf } from "../src/secrets.js";
import type { CollectionName, Doc, Patch, Scalar, Store } from "../src/store/types.js";

const quiet = { info() {}, warn() {}, error() {} };
const DAVE = "https://dave.example/";

/** Writes a document as actions/deliver.ts (received) and PmServer.send (sent) do. */
async function written(store: Store, doc: InboxDoc | OutboxDoc): Promise<void> {
  const kind = "recipients" in doc ? "out" : "in";
  Object.assign(doc, await conversationFields(store, kind, doc));
  doc.chat = chatKey(kind, doc);
  await store.insert(kind === "in" ? "inbox" : "outbox", doc);
  await messageWritten(store, kind, doc);
}

type Kind = "memory" | "nedb";

/** A fresh store of either kind (nedb in a folder of its own, removed when the test file ends). */
async function openStore(kind: Kind): Promise<Store> {
  if (kind === "memory") return createMemoryStore();
  const dir = await mkdtemp(join(tmpdir(), "indiepm-chats-"));
  folders.push(dir);
  return openNedbStore({ dir });
}
const folders: string[] = [];
afterAll(async () => {
  for (const dir of folders) await rm(dir, { recursive: true, force: true });
});

async function setup(docs: (InboxDoc | OutboxDoc)[], how: "written" | "filed", kind: Kind = "memory") {
  const store = await openStore(kind);
  for (const d of docs) {
    if (how === "written") await written(store, { ...d });
    else await store.insert("recipients" in d ? "outbox" : "inbox", d);
  }
  return { store, pm: createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet }) };
}

describe.each([
  ["written", "memory"],
  ["filed", "memory"],
  ["written", "nedb"],
  ["filed", "nedb"],
] as const)("chats, %s, %s store", (how, kind) => {
  it("groups by the people in a message: 1:1, a group, a reply in a thread, own sent messages; latest activity first", async () => {
    const { received, sent } = bobsMessages();
    const { pm } = await setup(
      [
        received("urn:1", ALICE, { name: "Lunch?", to: [BOB, CAROL] }),
        received("urn:2", ALICE),
        sent("urn:3", [ALICE, CAROL], { inReplyTo: "urn:1", to: [ALICE, CAROL] }),
        sent("urn:4", [ALICE]),
        received("urn:5", CAROL, { inReplyTo: "urn:3", to: [BOB, ALICE] }),
        received("urn:6", DAVE, { to: [BOB] }),
      ],
      how,
      kind,
    );
    const { items } = await pm.chatsPage({ site: BOB });
    expect(items.map((c) => [c.people, c.last?.message, c.unread])).toEqual([
      [[DAVE], "urn:6", 1],
      [[ALICE, CAROL], "urn:5", 2],
      [[ALICE], "urn:4", 1],
    ]);
    // The group's chat holds the thread's received and sent messages, oldest first.
    const group = (await pm.chat(items[1]!.id))!;
    expect(group.items.map((i) => [i.direction, i.message])).toEqual([
      ["received", "urn:1"],
      ["sent", "urn:3"],
      ["received", "urn:5"],
    ]);
    // Each message names its thread (the /c/ view and the read/delete forms use it).
    expect(new Set(group.items.map((i) => i.conversation)).size).toBe(1);
    const alice = (await pm.chat(items[2]!.id))!;
    expect(alice.items.map((i) => [i.direction, i.message])).toEqual([
      ["received", "urn:2"],
      ["sent", "urn:4"],
    ]);
  });

  it("makes 25 subject-less messages from one person one row showing the latest text, not 25 conversations", async () => {
    const { received } = bobsMessages();
    const docs = Array.from({ length: 25 }, (_, i) => received(`urn:m${i}`, ALICE, { content: `message ${i}` }));
    const { pm } = await setup(docs, how, kind);
    expect(await pm.conversations({ site: BOB })).toHaveLength(25);
    const { items, next } = await pm.chatsPage({ site: BOB });
    expect(next).toBeUndefined();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ people: [ALICE], unread: 25, last: { content: "message 24", direction: "received" } });
    const chat = (await pm.chat(items[0]!.id))!;
    expect(chat.items.map((i) => i.content)).toEqual(docs.map((d) => d.content));
    // Paged from the newest: the latest 10, then the 10 before them.
    const latest = (await pm.chat(items[0]!.id, { limit: 10 }))!;
    expect(latest.items.map((i) => i.content)).toEqual(docs.slice(15).map((d) => d.content));
    const older = (await pm.chat(items[0]!.id, { limit: 10, before: latest.next! }))!;
    expect(older.items.map((i) => i.content)).toEqual(docs.slice(5, 15).map((d) => d.content));
  });

  it("pages 105 people 100 at a time (keyset: the cursor of the last row)", async () => {
    const { received } = bobsMessages();
    const { pm } = await setup(
      Array.from({ length: 105 }, (_, i) => received(`urn:p${i}`, `https://p${i}.example/`)),
      how,
      kind,
    );
    const first = await pm.chatsPage({ site: BOB });
    expect(first.items).toHaveLength(100);
    expect(first.items[0]!.people).toEqual(["https://p104.example/"]);
    const second = await pm.chatsPage({ site: BOB, before: first.next! });
    expect(second.items).toHaveLength(5);
    expect(second.next).toBeUndefined();
    expect(new Set([...first.items, ...second.items].map((c) => c.people[0])).size).toBe(105);
  });

  it("follows read marks, deletes and delete-all", async () => {
    const { received, sent } = bobsMessages();
    const { pm } = await setup([received("urn:1", ALICE), received("urn:2", ALICE), sent("urn:3", [ALICE]), received("urn:4", CAROL)], how, kind);
    const [carol, alice] = (await pm.chatsPage()).items;
    expect(alice!.unread).toBe(2);
    expect(await pm.markChatRead(alice!.id, true)).toBe(2);
    expect((await pm.chat(alice!.id))!.unread).toBe(0);
    expect(await pm.inboxStatus({ site: BOB })).toMatchObject({ unread: 1 });
    // A read mark from the thread view reaches the chat too.
    await pm.markRead({ sender: ALICE, message: "urn:1" }, false);
    expect((await pm.chat(alice!.id))!.unread).toBe(1);
    // Deleting the latest message: the one before is the chat's latest.
    await pm.deleteMessage("urn:3", { site: BOB });
    expect((await pm.chat(alice!.id))!.last?.message).toBe("urn:2");
    // Deleting a whole conversation, and the chat goes with its last message.
    const [c] = await pm.conversations({ q: "urn:4" });
    await pm.deleteConversation(c!.id);
    expect(await pm.chat(carol!.id)).toBeNull();
    expect(await pm.deleteAll({ site: BOB })).toBe(2);
    expect((await pm.chatsPage()).items).toEqual([]);
  });
});

describe("chats: as the engine writes", () => {
  it("a message older than the chat's latest (clocks, a race) does not become its latest, and is counted once", async () => {
    const { clock, received } = bobsMessages();
    const store = createMemoryStore();
    const newer = received("urn:new", ALICE);
    clock.ms -= 5000;
    const older = received("urn:old", ALICE);
    await written(store, newer);
    await written(store, older);
    const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet });
    const [chat] = (await pm.chatsPage()).items;
    expect(chat).toMatchObject({ unread: 2, last: { message: "urn:new" } });
    expect((await pm.chat(chat!.id))!.items.map((i) => i.message)).toEqual(["urn:old", "urn:new"]);
  });

  it("PmServer.send stores the chat: a message to alice joins her chat, a group its own", async () => {
    const store = createMemoryStore();
    // Each send a moment after the last: two in one millisecond are ordered by their _id (pageKeyOf's tiebreak), not by call order.
    let last = 0;
    const now = () => (last = Math.max(Date.now(), last + 1));
    const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet, now });
    await pm.send({ from: BOB, to: [ALICE], content: "one" });
    await pm.send({ from: BOB, to: [ALICE], content: "two" });
    await pm.send({ from: BOB, to: [ALICE, CAROL], content: "both" });
    const { items } = await pm.chatsPage();
    expect(items.map((c) => [c.people, c.last?.content])).toEqual([
      [[ALICE, CAROL], "both"],
      [[ALICE], "two"],
    ]);
    expect((await store.find<OutboxDoc>("outbox")).every((d) => d.chat !== undefined)).toBe(true);
    // A page of chats lists a sent latest message without its deliveries (no read per row); the chat has them.
    expect(items[0]!.last).toMatchObject({ direction: "sent", deliveries: [] });
    expect((await pm.chat(items[0]!.id))!.items.at(-1)).toMatchObject({ deliveries: [{ recipient: ALICE }, { recipient: CAROL }] });
    await pm.close();
  });

  it("answers GET /api/people and /api/people/{id} for the owner", async () => {
    const { received } = bobsMessages();
    const store = createMemoryStore();
    for (let i = 0; i < 3; i++) await written(store, received(`urn:${i}`, ALICE));
    const token = "t".repeat(40);
    const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet, ownerToken: token });
    const get = (path: string) => pm.handle(new Request(`http://127.0.0.1:9${path}`, { headers: { authorization: `Bearer ${token}` } }));
    const list = await get("/api/people?limit=1");
    expect(list.status).toBe(200);
    const [chat] = (await list.json()) as { id: string; people: string[] }[];
    expect(chat!.people).toEqual([ALICE]);
    const one = await get(`/api/people/${chat!.id}?limit=2`);
    expect(((await one.json()) as { items: unknown[] }).items).toHaveLength(2);
    expect(one.headers.get("link")).toMatch(/rel="next"/);
    expect((await get("/api/people/nothing")).status).toBe(404);
  });
});

/** A clock whose every reading is a moment after the last: sends made at once are ordered as they were called (pageKeyOf's tiebreak is the _id). */
function increasing() {
  let last = 0;
  return () => (last = Math.max(Date.now(), last + 1));
}

describe.each(["memory", "nedb"] as const)("chats: many writers of one chat at once, %s store", (kind) => {
  it("50 sends to alice at once: each answered, one chat at rev 50 holding all 50, the last one latest", async () => {
    const store = await openStore(kind);
    const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet, now: increasing() });
    const n = 50;
    const sent = await Promise.allSettled(Array.from({ length: n }, (_, i) => pm.send({ from: BOB, to: [ALICE], content: `number ${i}` })));
    expect(sent.filter((s) => s.status === "rejected")).toEqual([]);
    const { items } = await pm.chatsPage();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ people: [ALICE], unread: 0, last: { content: `number ${n - 1}` } });
    // One write of the summary per message, none lost or made twice.
    expect((await store.get<ChatDoc>("chats", items[0]!.id))!.rev).toBe(n);
    const chat = (await pm.chat(items[0]!.id))!;
    expect(chat.items.map((i) => i.content)).toEqual(Array.from({ length: n }, (_, i) => `number ${i}`));
    await pm.close();
  });

  it("200 delivers from alice at once while bob sends her 50 (one chat, as a peer in a burst): each answered, the summary written without a lost write or a recount", async () => {
    const { store, lost, recounts } = countingLosses(await openStore(kind));
    await standingToken(store);
    const pm = createPmServer({ endpoint: ENDPOINT, sites: [BOB], store, dev: true, logger: quiet, now: increasing() });
    const deliver = (i: number) => deliverFromAlice(pm, i);
    const [statuses, sent] = await Promise.all([
      Promise.all(Array.from({ length: 200 }, (_, i) => deliver(i))),
      Promise.allSettled(Array.from({ length: 50 }, (_, i) => pm.send({ from: BOB, to: [ALICE], content: `out ${i}` }))),
    ]);
    expect(statuses.filter((s) => s !== 201)).toEqual([]);
    expect(sent.filter((s) => s.status === "rejected")).toEqual([]);
    // This process is the summary's only writer: its writes of it are made one at a time, none
    // refused, and a message older than the summary's latest is added to it, not recounted.
    expect(lost()).toBe(0);
    expect(recounts()).toBe(0);
    const { items } = await pm.chatsPage();
    expect(items).toHaveLength(1);
    const all = [...(await store.find<InboxDoc>("inbox")), ...(await store.find<OutboxDoc>("outbox"))].sort((a, b) => (a.pageKey! < b.pageKey! ? -1 : 1));
    expect(items[0]).toMatchObject({ people: [ALICE], unread: 200, last: { message: all.at(-1)!.message } });
    await pm.close();
  });
});

describe("chats: a recount while a message is being stored", () => {
  it("a message stored while its chat is marked read (recounted) is counted as the recount found it, not once more", async () => {
    // The memory store, where the insert of inbox message `urn:in:2` resolves only when `release` is called (a slow append).
    const memory = createMemoryStore();
    let release = () => {};
    let held = () => {};
    const stored = new Promise<void>((resolve) => (held = resolve));
    const store: Store = Object.assign(Object.create(memory) as Store, {
      async insert<T extends Doc>(collection: CollectionName, doc: T) {
        await memory.insert(collection, doc);
        if (collection === "inbox" && (doc as unknown as InboxDoc).message === "urn:in:2") {
          held();
          await new Promise<void>((resolve) => (release = resolve));
        }
      },
    });
    await standingToken(store);
    const pm = createPmServer({ endpoint: ENDPOINT, sites: [BOB], store, dev: true, logger: quiet, now: increasing() });
    const deliver = (i: number) => deliverFromAlice(pm, i);
    expect(await deliver(1)).toBe(201);
    const second = deliver(2);
    await stored;
    const [chat] = (await pm.chatsPage()).items;
    // The chat marked read now, and so recounted: it counts urn:in:2 (read), whose own write of the summary is still to come.
    expect(await pm.markChatRead(chat!.id, true)).toBe(2);
    release();
    expect(await second).toBe(201);
    expect(await store.get<ChatDoc>("chats", chat!.id)).toMatchObject({ unread: 0, lastDoc: keyOf(BOB, ALICE, "urn:in:2") });
    await pm.close();
  });
});

const ENDPOINT = "http://127.0.0.1:9/";
const TOKEN = "standing-token-of-alice-for-bob-0123456789abc";

/** alice's standing token for bob (§4), used within the minute: no "last used" write is due. */
async function standingToken(store: Store): Promise<void> {
  await insertStandingToken(store, TOKEN, ALICE, BOB);
}

/** §5 `deliver` of alice's message `urn:in:<i>` to bob with the standing token; its status. */
async function deliverFromAlice(pm: { handle(request: Request): Promise<Response> }, i: number): Promise<number> {
  const body = new URLSearchParams({
    action: "deliver",
    sender: ALICE,
    recipient: BOB,
    message: `urn:in:${i}`,
    published: "2026-12-07T07:00:00Z",
    content: `in ${i}`,
  });
  const headers = { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${TOKEN}` };
  return (await pm.handle(new Request(ENDPOINT, { method: "POST", headers, body }))).status;
}

/** `store`, counting the compare-and-sets of a chat summary it refused (`lost`) and the counts of unread messages (`recounts`: `refreshChat`). */
function countingLosses(inner: Store): { store: Store; lost: () => number; recounts: () => number } {
  let lost = 0;
  let recounts = 0;
  const store = new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== "function") return value;
      if (prop === "count")
        return (...args: Parameters<Store["count"]>) => {
          if (args[0] === "inbox") recounts++;
          return target.count(...args);
        };
      if (prop !== "update") return value.bind(target);
      return async (...args: Parameters<Store["update"]>) => {
        const made = await target.update(...args);
        if (args[0] === "chats" && !made) lost++;
        return made;
      };
    },
  });
  return { store, lost: () => lost, recounts: () => recounts };
}

describe("chats: a summary other writers keep changing", () => {
  /** The memory store where, before each of the first `losses` updates of a chat summary, another writer changes it (its `rev`). */
  function busy(losses: number, change = true) {
    const memory = createMemoryStore();
    const store: Store = Object.assign(Object.create(memory) as Store, {
      async update<T extends Doc>(collection: CollectionName, id: string, patch: Patch<T>, expect?: Record<string, Scalar>) {
        if (collection === "chats" && losses > 0) {
          losses--;
          if (!change) return false;
          const current = await memory.get<ChatDoc>("chats", id);
          if (current) await memory.update<ChatDoc>("chats", id, { set: { rev: current.rev + 1 } });
        }
        return memory.update<T>(collection, id, patch, expect);
      },
    });
    return { memory, store };
  }

  it("a send whose chat write loses 60 times in a row to other writers is answered, the chat showing it", async () => {
    const { memory, store } = busy(60);
    const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet, now: increasing() });
    await pm.send({ from: BOB, to: [ALICE], content: "one" });
    await pm.send({ from: BOB, to: [ALICE], content: "two" });
    const { items } = await pm.chatsPage();
    expect(items.map((c) => [c.people, c.last?.content])).toEqual([[[ALICE], "two"]]);
    // Written once by each send, changed 60 times by the others.
    expect((await memory.get<ChatDoc>("chats", items[0]!.id))!.rev).toBe(62);
    await pm.close();
  });

  it("a store refusing writes of a summary nobody changes is an error, not a wait without end", async () => {
    const { store } = busy(Number.POSITIVE_INFINITY, false);
    const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet, now: increasing() });
    await pm.send({ from: BOB, to: [ALICE], content: "one" });
    const refused = await pm.send({ from: BOB, to: [ALICE], content: "two" }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PmError);
    expect(refused).toMatchObject({ code: "store_error" });
    await pm.close();
  });
});
