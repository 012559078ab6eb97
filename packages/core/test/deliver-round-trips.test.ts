/**
 * What a `deliver` asks of the store (protocol/actions/deliver.ts; issue 11: delivery
 * throughput on PostgreSQL, where each call is a round trip). On a store that reads and
 * writes together (`Store.getEach`, `Store.writeAfter`: one statement each on PostgreSQL),
 * a new message costs one read — the token, the recipient's settings (§7) and the
 * duplicate check — and, when it starts its conversation, one write: the message with its
 * conversation's summary. A repeat (§3/§5: 200 duplicate) costs the read alone. The same
 * requests on a store without them (one call each) store the same documents.
 */
import { describe, expect, it } from "vitest";
import { hashSecret, keyOf } from "../src/secrets.js";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import { getEach, writeAfter, writeIfUnchanged } from "../src/store/together.js";
import type { Doc, GivenDoc, Store, Write } from "../src/store/types.js";
import { insertStandingToken } from "./support/standing-token.js";

type Row = Doc & Record<string, unknown>;

const ENDPOINT = "https://pm.bob.example/";
const BOB = "https://bob.example/";
const ALICE = "https://alice.example/";
const TOKEN = "standing-token-of-alice-for-bob-0123456789abc";
const quiet = { info() {}, warn() {}, error() {} };

/** The store's calls, each as `method collection…`. */
function counted(store: Store, withTogether: boolean, withGiven = false): { store: Store; calls: string[] } {
  const calls: string[] = [];
  const base: Store = withTogether
    ? {
        ...store,
        getEach: (keys) => getEach(store, keys),
        writeAfter: (first, then) => writeAfter(store, first, then),
        ...(withGiven ? { writeIfUnchanged: (given, first, then) => writeIfUnchanged(store, given, first, then) } : {}),
      }
    : store;
  const proxy = new Proxy(base, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== "function" || prop === "close") return value;
      return (...args: unknown[]) => {
        const [a, b] = args as [unknown, unknown];
        if (prop === "getEach") calls.push(`getEach ${(a as [string, string][]).map(([c]) => c).join(" ")}`);
        else if (prop === "writeAfter")
          calls.push(
            `writeAfter ${([a, ...(b as object[])] as object[]).map((w) => ("insert" in w ? `insert:${w.insert}` : "merge" in w ? `merge:${w.merge}` : `update:${(w as { update: string }).update}`)).join(" ")}`,
          );
        else if (prop === "writeIfUnchanged") {
          const [given, first, then] = args as [GivenDoc[], Write, Write[]];
          calls.push(
            `writeIfUnchanged ${given.map(([c]) => c).join(" ")} | ${[first, ...then].map((w) => ("insert" in w ? `insert:${w.insert}` : "merge" in w ? `merge:${w.merge}` : `update:${w.update}`)).join(" ")}`,
          );
        } else calls.push(`${String(prop)} ${String(a)}`);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

async function setup(withTogether: boolean, withGiven = false) {
  const memory = createMemoryStore();
  // A standing token (§4) used within the minute: no "last used" write is due.
  await insertStandingToken(memory, TOKEN, ALICE, BOB);
  const { store, calls } = counted(memory, withTogether, withGiven);
  const pm = createPmServer({ endpoint: ENDPOINT, sites: [BOB], store, logger: quiet });
  const deliver = async (message: string, more: Record<string, string> = {}) => {
    const body = new URLSearchParams({
      action: "deliver",
      sender: ALICE,
      recipient: BOB,
      message,
      published: "2026-12-07T07:00:00Z",
      content: `text of ${message}`,
      ...more,
    });
    const answer = await pm.handle(
      new Request(ENDPOINT, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${TOKEN}` }, body }),
    );
    return { status: answer.status, body: await answer.json() };
  };
  return { memory, calls, pm, deliver };
}

describe("deliver: what it asks of a store that reads and writes together", () => {
  it("a new message that starts its conversation: one read (token, settings, duplicate check) and one write (message, conversation and chat summaries)", async () => {
    const { calls, pm, deliver } = await setup(true);
    calls.length = 0;
    expect(await deliver("urn:uuid:1")).toEqual({ status: 201, body: { status: "delivered" } });
    await pm.idle();
    // After the answer, apart from it: the sender is now a correspondent, whose h-card is read
    // once in the background and kept (owner/profiles.ts: a get, then a put of what was found).
    expect(calls).toEqual(["getEach secrets settings inbox", "writeAfter insert:inbox insert:conversations merge:chats", "get profiles", "put profiles"]);
    // The next message from the same person: merged into its chat's summary in the same write.
    calls.length = 0;
    expect((await deliver("urn:uuid:2")).status).toBe(201);
    expect(calls).toEqual(["getEach secrets settings inbox", "writeAfter insert:inbox insert:conversations merge:chats"]);
    await pm.close();
  });

  it("a repeat: 200 duplicate for the read alone", async () => {
    const { calls, pm, deliver } = await setup(true);
    await deliver("urn:uuid:1");
    calls.length = 0;
    expect(await deliver("urn:uuid:1")).toEqual({ status: 200, body: { status: "duplicate" } });
    expect(calls).toEqual(["getEach secrets settings inbox"]);
    await pm.close();
  });

  it("an unknown token: 401 after the one read, nothing written", async () => {
    const { calls, pm, deliver, memory } = await setup(true);
    await memory.remove("secrets", hashSecret(TOKEN));
    calls.length = 0;
    expect((await deliver("urn:uuid:1")).status).toBe(401);
    expect(calls).toEqual(["getEach secrets settings inbox"]);
    await pm.close();
  });

  it("stores the same documents as a store of one call each: messages, replies, a repeat, the conversation and chat summaries", async () => {
    const outcomes = [];
    for (const together of [true, false]) {
      const { memory, pm, deliver } = await setup(together);
      const answers = [
        await deliver("urn:uuid:1"),
        await deliver("urn:uuid:2", { "in-reply-to": "urn:uuid:1" }),
        await deliver("urn:uuid:1"),
        await deliver("urn:uuid:3", { name: "Subject" }),
      ];
      const strip = (docs: Record<string, unknown>[]) => docs.map(({ receivedAt: _r, pageKey: _p, lastAt: _l, lastKey: _k, lastPageKey: _q, ...rest }) => rest);
      outcomes.push({
        answers,
        inbox: strip(await memory.find<Row>("inbox", { sort: { field: "_id", order: "asc" } })),
        chats: strip(await memory.find<Row>("chats", { sort: { field: "_id", order: "asc" } })),
        conversations: strip(await memory.find<Row>("conversations", { sort: { field: "_id", order: "asc" } })).sort((a, b) =>
          String(a.root) < String(b.root) ? -1 : 1,
        ),
      });
      await pm.close();
    }
    expect(outcomes[0]).toEqual(outcomes[1]);
    expect(outcomes[0]!.answers.map((a) => a.status)).toEqual([201, 201, 200, 201]);
    expect(outcomes[0]!.conversations).toEqual([
      expect.objectContaining({ messages: 2, unread: 2, root: "urn:uuid:1" }),
      expect.objectContaining({ messages: 1, subject: "Subject", root: "urn:uuid:3" }),
    ]);
  });
});

describe("deliver: a later one with the same token, on a store that writes given reads (Store.writeIfUnchanged)", () => {
  const given = "writeIfUnchanged secrets settings | insert:inbox insert:conversations merge:chats";

  it("is one call: the token and settings as the last deliver read them, checked by the write itself", async () => {
    const { calls, pm, deliver, memory } = await setup(true, true);
    expect((await deliver("urn:uuid:1")).status).toBe(201);
    await pm.idle();
    calls.length = 0;
    expect(await deliver("urn:uuid:2")).toEqual({ status: 201, body: { status: "delivered" } });
    expect(await deliver("urn:uuid:3")).toEqual({ status: 201, body: { status: "delivered" } });
    expect(calls).toEqual([given, given]);
    // A repeat: the write finds its _id taken, 200 duplicate, nothing else written.
    calls.length = 0;
    expect(await deliver("urn:uuid:2")).toEqual({ status: 200, body: { status: "duplicate" } });
    expect(calls).toEqual([given]);
    expect(await memory.count("inbox")).toBe(3);
    await pm.close();
  });

  it.each([
    ["the token revoked since (by any instance)", 401, { set: { revokedAt: 1 } }, undefined],
    ["the token removed since", 401, "remove", undefined],
    ["the sender blocked since", 403, undefined, { blocked: [ALICE] }],
    ["a policy of contacts only since", 403, undefined, { policy: "contacts" }],
  ] as const)("%s: the write is refused, all read again and answered from it (%i), nothing stored", async (_, status, secretChange, settings) => {
    const { calls, pm, deliver, memory } = await setup(true, true);
    expect((await deliver("urn:uuid:1")).status).toBe(201);
    await pm.idle();
    if (secretChange === "remove") await memory.remove("secrets", hashSecret(TOKEN));
    else if (secretChange) await memory.update<Row>("secrets", hashSecret(TOKEN), secretChange);
    if (settings) await memory.put("settings", { _id: BOB, ...settings });
    calls.length = 0;
    expect((await deliver("urn:uuid:2")).status).toBe(status);
    expect(calls).toEqual([given, "getEach secrets settings inbox"]);
    expect(await memory.get("inbox", keyOf(BOB, ALICE, "urn:uuid:2"))).toBeNull();
    await pm.close();
  });

  it("settings changed in a way that lets the sender in: read again, then 201 (the next deliver is one call again)", async () => {
    const { calls, pm, deliver, memory } = await setup(true, true);
    expect((await deliver("urn:uuid:1")).status).toBe(201);
    await pm.idle();
    await memory.put("settings", { _id: BOB, contacts: ["https://carol.example/"] });
    calls.length = 0;
    expect((await deliver("urn:uuid:2")).status).toBe(201);
    expect((await deliver("urn:uuid:3")).status).toBe(201);
    expect(calls).toEqual([given, "getEach secrets settings inbox", "writeAfter insert:inbox insert:conversations merge:chats", given]);
    await pm.close();
  });

  it("a refusal is of what is stored now: blocked, then let back in on another instance, the next deliver is 201", async () => {
    const { calls, pm, deliver, memory } = await setup(true, true);
    expect((await deliver("urn:uuid:1")).status).toBe(201);
    await pm.idle();
    await memory.put("settings", { _id: BOB, blocked: [ALICE] });
    expect((await deliver("urn:uuid:2")).status).toBe(403);
    // Let back in: the 403 above was answered from a fresh read, which this server keeps, so it is what is now checked.
    await memory.put("settings", { _id: BOB, blocked: [] });
    calls.length = 0;
    expect((await deliver("urn:uuid:3")).status).toBe(201);
    expect(calls).toEqual(["getEach secrets settings inbox", "writeAfter insert:inbox insert:conversations merge:chats"]);
    await pm.close();
  });

  it("HTML to sanitize, or a token's last use to note: read as before", async () => {
    const { calls, pm, deliver, memory } = await setup(true, true);
    expect((await deliver("urn:uuid:1")).status).toBe(201);
    await pm.idle();
    calls.length = 0;
    // content-html: whether it is a duplicate is known before sanitizing (issue 9), so it is read.
    expect((await deliver("urn:uuid:2", { "content-html": "<p>hi</p>" })).status).toBe(201);
    expect(calls[0]).toBe("getEach secrets settings inbox");
    // A "last used" due: written after the answer's write, and the token then read again by the next deliver.
    await memory.update<Row>("secrets", hashSecret(TOKEN), { set: { lastUsedAt: Date.now() - 120_000 } });
    calls.length = 0;
    expect((await deliver("urn:uuid:3")).status).toBe(201);
    expect((await deliver("urn:uuid:4")).status).toBe(201);
    expect((await deliver("urn:uuid:5")).status).toBe(201);
    expect(calls).toEqual([
      given,
      "getEach secrets settings inbox",
      "writeAfter insert:inbox insert:conversations merge:chats",
      `update secrets`,
      "getEach secrets settings inbox",
      "writeAfter insert:inbox insert:conversations merge:chats",
      given,
    ]);
    await pm.close();
  });
});
