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
import { hashSecret } from "../src/secrets.js";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import { getEach, writeAfter } from "../src/store/together.js";
import type { Doc, Store } from "../src/store/types.js";

type Row = Doc & Record<string, unknown>;

const ENDPOINT = "https://pm.bob.example/";
const BOB = "https://bob.example/";
const ALICE = "https://alice.example/";
const TOKEN = "standing-token-of-alice-for-bob-0123456789abc";
const quiet = { info() {}, warn() {}, error() {} };

/** The store's calls, each as `method collection…`. */
function counted(store: Store, withTogether: boolean): { store: Store; calls: string[] } {
  const calls: string[] = [];
  const base: Store = withTogether ? { ...store, getEach: (keys) => getEach(store, keys), writeAfter: (first, then) => writeAfter(store, first, then) } : store;
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
        else calls.push(`${String(prop)} ${String(a)}`);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

async function setup(withTogether: boolean) {
  const memory = createMemoryStore();
  const now = Date.now();
  // A standing token (§4) used within the minute: no "last used" write is due.
  await memory.insert("secrets", {
    _id: hashSecret(TOKEN),
    kind: "standing-token",
    sender: ALICE,
    recipient: BOB,
    expiresAt: now + 3_600_000,
    createdAt: now,
    lastUsedAt: now,
  });
  const { store, calls } = counted(memory, withTogether);
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
