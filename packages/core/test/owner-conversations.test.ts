/**
 * The owner's view of PROTOCOL.md §5 threads: conversations built by following
 * `in-reply-to`, read/unread, deleting, search, the unread indicator, export and
 * delete-all — on a real PmServer over the memory store.
 */
import { describe, expect, it } from "vitest";
import { ALICE, BOB, CAROL, bobsMessages } from "./support/messages.js";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import { groupThreads } from "../src/owner/conversations.js";
import type { InboxDoc, OutboxDoc } from "../src/protocol/records.js";

const { received, sent } = bobsMessages();
const quiet = { info() {}, warn() {}, error() {} };

async function setup(docs: (InboxDoc | OutboxDoc)[]) {
  const store = createMemoryStore();
  for (const d of docs) await store.insert("recipients" in d ? "outbox" : "inbox", d);
  return createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet });
}

describe("§5 threads: grouping by in-reply-to", () => {
  const item = (doc: InboxDoc) => ({ kind: "in" as const, doc, at: doc.receivedAt });

  it.each([
    ["a message alone is its own thread", [received("urn:a", ALICE)], [["urn:a"]]],
    ["a reply joins the message it answers", [received("urn:a", ALICE), received("urn:b", ALICE, { inReplyTo: "urn:a" })], [["urn:a", "urn:b"]]],
    ["a reply that arrives first still joins", [received("urn:b", ALICE, { inReplyTo: "urn:a" }), received("urn:a", ALICE)], [["urn:a", "urn:b"]]],
    [
      "replies to a message not held share a thread",
      [received("urn:b", ALICE, { inReplyTo: "urn:x" }), received("urn:c", CAROL, { inReplyTo: "urn:x" })],
      [["urn:b", "urn:c"]],
    ],
    [
      "a cycle of forged in-reply-to ends",
      [received("urn:a", ALICE, { inReplyTo: "urn:b" }), received("urn:b", ALICE, { inReplyTo: "urn:a" })],
      [["urn:a", "urn:b"]],
    ],
    ["unrelated messages are apart", [received("urn:a", ALICE), received("urn:b", CAROL)], [["urn:a"], ["urn:b"]]],
  ])("%s", (_, docs, expected) => {
    const groups = groupThreads(BOB, docs.map(item));
    expect(groups.map((g) => g.items.map((i) => i.doc.message)).sort()).toEqual(expected);
  });

  it("orders a reply after what it answers even when it arrived first", () => {
    const reply = received("urn:b", ALICE, { inReplyTo: "urn:a" });
    const first = received("urn:a", ALICE);
    expect(groupThreads(BOB, [item(reply), item(first)])[0]!.items.map((i) => i.doc.message)).toEqual(["urn:a", "urn:b"]);
  });
});

describe("conversations, threads and read state (PmServer)", () => {
  it("lists conversations latest first, with subject, participants and unread counts", async () => {
    const pm = await setup([
      received("urn:1", ALICE, { name: "Lunch?", to: [BOB, CAROL] }),
      sent("urn:2", [ALICE, CAROL], { inReplyTo: "urn:1", to: [ALICE, CAROL] }),
      received("urn:3", CAROL, { inReplyTo: "urn:2", to: [BOB, ALICE] }),
      received("urn:4", ALICE, { name: "Other" }),
    ]);
    const list = await pm.conversations({ site: BOB });
    expect(list.map((c) => [c.subject, c.messages, c.unread])).toEqual([
      ["Other", 1, 1],
      ["Lunch?", 3, 2],
    ]);
    expect(list[1]!.participants.sort()).toEqual([ALICE, CAROL]);
    const thread = (await pm.thread(list[1]!.id))!;
    expect(thread.items.map((i) => [i.direction, i.message])).toEqual([
      ["received", "urn:1"],
      ["sent", "urn:2"],
      ["received", "urn:3"],
    ]);
  });

  it("marks a conversation or one message read and unread; the indicator follows", async () => {
    const pm = await setup([received("urn:1", ALICE), received("urn:2", ALICE, { inReplyTo: "urn:1" })]);
    const [c] = await pm.conversations();
    expect(await pm.inboxStatus({ site: BOB })).toMatchObject({ unread: 2 });
    expect(await pm.markRead({ conversation: c!.id }, true)).toBe(2);
    expect(await pm.inboxStatus()).toMatchObject({ unread: 0 });
    expect(await pm.markRead({ sender: ALICE, message: "urn:2" }, false)).toBe(1);
    expect((await pm.conversations())[0]!.unread).toBe(1);
    expect((await pm.inbox()).find((m) => m.message === "urn:1")?.read).toBe(true);
  });

  it("searches text, subjects and sites, case-insensitively", async () => {
    const pm = await setup([received("urn:1", ALICE, { content: "The Picnic is on" }), received("urn:2", CAROL, { name: "Budget" })]);
    expect((await pm.conversations({ q: "picnic" })).map((c) => c.root)).toEqual(["urn:1"]);
    expect((await pm.conversations({ q: "budget" })).map((c) => c.root)).toEqual(["urn:2"]);
    expect((await pm.conversations({ q: "carol.example" })).map((c) => c.root)).toEqual(["urn:2"]);
    expect(await pm.conversations({ q: "nothing like it" })).toEqual([]);
  });

  it("deletes a whole conversation, received and sent", async () => {
    const pm = await setup([received("urn:1", ALICE), sent("urn:2", [ALICE], { inReplyTo: "urn:1" }), received("urn:3", CAROL)]);
    const target = (await pm.conversations()).find((c) => c.root === "urn:1")!;
    expect(await pm.deleteConversation(target.id)).toBe(2);
    expect((await pm.conversations()).map((c) => c.root)).toEqual(["urn:3"]);
    expect(await pm.thread(target.id)).toBeNull();
  });

  it("exports every message and setting, then deletes everything", async () => {
    const pm = await setup([received("urn:1", ALICE), sent("urn:2", [ALICE], { inReplyTo: "urn:1" })]);
    await pm.updateSettings(BOB, { policy: "contacts" });
    const doc = await pm.exportAll();
    expect(doc.sites).toEqual([BOB]);
    expect(doc.inbox.map((m) => m.message)).toEqual(["urn:1"]);
    expect(doc.outbox.map((m) => m.message)).toEqual(["urn:2"]);
    expect(doc.settings[0]).toMatchObject({ site: BOB, policy: "contacts" });
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
    expect(await pm.deleteAll({ site: BOB })).toBe(2);
    expect(await pm.inbox()).toEqual([]);
    expect(await pm.outbox()).toEqual([]);
    expect((await pm.settings(BOB)).policy).toBe("contacts");
  });
});

describe("§2 Formats: a receiver keys messages by (sender, message ID)", () => {
  // Two senders, one ID: mallory reuses the ID of alice's message (IDs are no secret).
  const twoSenders = () => setup([received("urn:same", ALICE, { content: "alice's" }), received("urn:same", CAROL, { content: "carol's" })]);
  const state = async (pm: Awaited<ReturnType<typeof twoSenders>>) => (await pm.inbox()).map((m) => [m.sender, m.content, !!m.read]).sort();

  it("marks read only the message of the sender named", async () => {
    const pm = await twoSenders();
    expect(await pm.markRead({ sender: CAROL, message: "urn:same" }, true)).toBe(1);
    expect(await state(pm)).toEqual([
      [ALICE, "alice's", false],
      [CAROL, "carol's", true],
    ]);
    expect(await pm.markRead({ sender: CAROL, message: "urn:same", site: BOB }, false)).toBe(1);
    await expect(pm.markRead({ message: "urn:same" } as never, true)).rejects.toMatchObject({ code: "invalid_request" });
  });

  it("deletes only the message of the sender named, and refuses to guess between senders", async () => {
    const pm = await twoSenders();
    await expect(pm.deleteMessage("urn:same")).rejects.toThrow(/held from 2 senders .* name whose message to delete with sender/);
    expect(await pm.inbox()).toHaveLength(2);
    expect(await pm.deleteMessage("urn:same", { sender: CAROL })).toBe(1);
    expect(await state(pm)).toEqual([[ALICE, "alice's", false]]);
    // One sender left: the ID alone names it.
    expect(await pm.deleteMessage("urn:same")).toBe(1);
    expect(await pm.inbox()).toEqual([]);
  });

  it("the owner API deletes by ?sender=, and answers 400 naming the senders without it", async () => {
    const store = createMemoryStore();
    for (const d of [received("urn:same", ALICE), received("urn:same", CAROL)]) await store.insert("inbox", d);
    const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet, ownerToken: "owner-token-0123456789" });
    const del = (query: string) =>
      pm.handle(
        new Request(`http://127.0.0.1:9/api/messages/urn%3Asame${query}`, { method: "DELETE", headers: { authorization: "Bearer owner-token-0123456789" } }),
      );
    const ambiguous = await del("");
    expect(ambiguous.status).toBe(400);
    expect((await ambiguous.json()).error_description).toContain(`${ALICE}, ${CAROL}`);
    expect(await (await del(`?sender=${encodeURIComponent(ALICE)}`)).json()).toEqual({ deleted: 1 });
    expect((await pm.inbox()).map((m) => m.sender)).toEqual([CAROL]);
  });
});

describe("owner sessions", () => {
  it("keeps only a hash, expires, and is single use with take()", async () => {
    let now = 1_000_000;
    const store = createMemoryStore();
    const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet, now: () => now });
    const secret = await pm.sessions.create("session", { site: BOB }, 60_000);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(await store.find("sessions"))).not.toContain(secret);
    expect(await pm.sessions.get("session", secret)).toMatchObject({ data: { site: BOB } });
    expect(await pm.sessions.get("signin", secret)).toBeNull();
    now += 60_001;
    expect(await pm.sessions.get("session", secret)).toBeNull();

    const state = await pm.sessions.create("signin", { me: BOB }, 60_000);
    const [a, b] = await Promise.all([pm.sessions.take("signin", state), pm.sessions.take("signin", state)]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(await pm.sessions.remove("signin", state)).toBe(false);
  });
});

describe("owner API routes for the inbox", () => {
  it("reads and changes settings, lists conversations and exports, with the owner token", async () => {
    const store = createMemoryStore();
    await store.insert("inbox", received("urn:api", ALICE, { name: "API" }));
    const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet, ownerToken: "owner-token-0123456789" });
    const call = (path: string, init: RequestInit = {}) =>
      pm.handle(
        new Request(new URL(path, "http://127.0.0.1:9/"), { ...init, headers: { authorization: "Bearer owner-token-0123456789", ...(init.headers ?? {}) } }),
      );
    expect(await (await call("/api/settings")).json()).toMatchObject({ site: BOB, policy: "anyone" });
    const changed = await call("/api/settings", { method: "PATCH", body: JSON.stringify({ policy: "nobody", block: [CAROL] }) });
    expect(await changed.json()).toMatchObject({ policy: "nobody", blocked: [CAROL] });
    const list = (await (await call("/api/conversations?q=api")).json()) as { id: string }[];
    expect(list).toHaveLength(1);
    expect(await (await call(`/api/conversations/${list[0]!.id}`)).json()).toMatchObject({ subject: "API", items: [{ message: "urn:api" }] });
    expect((await call("/api/conversations/nope")).status).toBe(404);
    expect(await (await call("/api/export")).json()).toMatchObject({ sites: [BOB], inbox: [{ message: "urn:api" }] });
    expect((await pm.handle(new Request("http://127.0.0.1:9/api/settings"))).status).toBe(401);
  });
});
