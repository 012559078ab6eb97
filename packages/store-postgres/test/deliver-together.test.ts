/**
 * `deliver` on PostgreSQL (core's protocol/actions/deliver.ts with Store.getEach and
 * Store.writeAfter): many new messages from one person at once, through two instances on
 * one database, each stored once with its conversation, and the one chat they share
 * (issue 12's by-person list) counting every one of them — its summary merged in each
 * message's own statement, so no writer is refused (bench/postgres-delivery.js sends 8 at once);
 * likewise many replies to one message, which start no conversation.
 */
import { createPmServer, type PmServer } from "@indiepm/core";
import { freshDatabase, postgresForTests } from "@indiepm/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertStandingToken } from "../../core/test/support/standing-token.js";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

const server = await postgresForTests();
const ENDPOINT = "https://pm.bob.example/";
const BOB = "https://bob.example/";
const ALICE = "https://alice.example/";
const TOKEN = "standing-token-of-alice-for-bob-0123456789abc";
const quiet = { info() {}, warn() {}, error() {} };

describe.skipIf(server.skipReason)("deliver on PostgreSQL: one person's messages at once", () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let stores: PostgresStore[];
  let servers: PmServer[];
  beforeAll(async () => {
    database = await freshDatabase();
    stores = [await openPostgresStore(database.url, { poolSize: 6 }), await openPostgresStore(database.url, { poolSize: 6 })];
    servers = stores.map((store) => createPmServer({ endpoint: ENDPOINT, sites: [BOB], store, logger: quiet }));
    await insertStandingToken(stores[0]!, TOKEN, ALICE, BOB);
  });
  afterAll(async () => {
    for (const pm of servers ?? []) await pm.close();
    await database?.drop();
  });

  it("48 delivers at once through two instances: each 201, stored once, one chat counting 48 unread", async () => {
    const n = 48;
    const answers = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const body = new URLSearchParams({
          action: "deliver",
          sender: ALICE,
          recipient: BOB,
          message: `urn:uuid:at-once-${i}`,
          published: "2026-12-07T08:00:00Z",
          content: `number ${i}`,
        });
        const answer = await servers[i % 2]!.handle(
          new Request(ENDPOINT, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${TOKEN}` }, body }),
        );
        return answer.status;
      }),
    );
    expect(answers).toEqual(Array.from({ length: n }, () => 201));
    expect(await stores[1]!.count("inbox")).toBe(n);
    expect(await stores[1]!.count("conversations")).toBe(n);
    const chats = await stores[1]!.find<{ _id: string; unread: number; rev: number; lastDoc: string; lastPageKey: string }>("chats");
    expect(chats).toHaveLength(1);
    expect(chats[0]).toMatchObject({ unread: n, rev: n });
    const [latest] = await stores[1]!.find<{ _id: string; pageKey: string }>("inbox", { sort: { field: "pageKey", order: "desc" }, limit: 1 });
    expect(chats[0]!.lastPageKey).toBe(latest!.pageKey);
  });

  it("48 replies to one message at once through two instances: each 201, the chat counting every one, merged in each reply's own statement", async () => {
    const deliver = (pm: PmServer, message: string, extra: Record<string, string> = {}) =>
      pm.handle(
        new Request(ENDPOINT, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${TOKEN}` },
          body: new URLSearchParams({
            action: "deliver",
            sender: ALICE,
            recipient: BOB,
            message,
            published: "2026-12-07T08:00:00Z",
            content: message,
            ...extra,
          }),
        }),
      );
    const [chat] = await stores[0]!.find<{ _id: string; unread: number; rev: number }>("chats");
    expect((await deliver(servers[0]!, "urn:uuid:thread-root")).status).toBe(201);
    // The chat's compare-and-sets counted from here: a reply's merge is in its own statement, so there is none.
    let chatUpdates = 0;
    const counted = stores.map((store) =>
      createPmServer({
        endpoint: ENDPOINT,
        sites: [BOB],
        logger: quiet,
        store: Object.assign(Object.create(store) as PostgresStore, {
          update: (...args: Parameters<PostgresStore["update"]>) => {
            if (args[0] === "chats") chatUpdates++;
            return store.update(...args);
          },
        }),
      }),
    );
    const n = 48;
    const answers = await Promise.all(
      Array.from({ length: n }, async (_, i) => (await deliver(counted[i % 2]!, `urn:uuid:reply-${i}`, { "in-reply-to": "urn:uuid:thread-root" })).status),
    );
    expect(answers).toEqual(Array.from({ length: n }, () => 201));
    const after = await stores[1]!.get<{ _id: string; unread: number; rev: number }>("chats", chat!._id);
    expect(after).toMatchObject({ unread: chat!.unread + 1 + n, rev: chat!.rev + 1 + n });
    expect(chatUpdates).toBe(0);
    const conversation = (await stores[1]!.find<{ _id: string; root: string; messages: number }>("conversations")).find(
      (c) => c.root === "urn:uuid:thread-root",
    );
    expect(conversation?.messages).toBe(n + 1);
  });
});
