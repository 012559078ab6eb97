/**
 * `deliver` on PostgreSQL with the token and settings an earlier one read (core's
 * protocol/deliver-reads.ts, Store.writeIfUnchanged): a steady conversation costs one
 * statement per message, and what the owner changes on another instance — a token
 * revoked, a sender blocked, let back — holds from the next `deliver`, as when both were
 * read each time (§7 at `deliver`; PROTOCOL.md §2's 401 and 403).
 */
import { createPmServer, hashSecret, type PmServer } from "@indiepm/core";
import { freshDatabase, postgresForTests } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertStandingToken } from "../../core/test/support/standing-token.js";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

const server = await postgresForTests();
const ENDPOINT = "https://pm.bob.example/";
const BOB = "https://bob.example/";
const ALICE = "https://alice.example/";
const TOKEN = "standing-token-of-alice-for-bob-given-reads-0123";
const quiet = { info() {}, warn() {}, error() {} };

describe.skipIf(server.skipReason)("deliver on PostgreSQL: a later one answered from what an earlier one read", () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let stores: PostgresStore[];
  /** A (the instance that receives) and B (where the owner changes things). */
  let servers: PmServer[];
  let admin: pg.Client;
  beforeAll(async () => {
    database = await freshDatabase();
    stores = [await openPostgresStore(database.url, { poolSize: 4 }), await openPostgresStore(database.url, { poolSize: 4 })];
    servers = stores.map((store) => createPmServer({ endpoint: ENDPOINT, sites: [BOB], store, logger: quiet }));
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await insertStandingToken(stores[0]!, TOKEN, ALICE, BOB);
  });
  afterAll(async () => {
    await admin?.end();
    for (const pm of servers ?? []) await pm.close();
    await database?.drop();
  });

  const deliver = async (pm: PmServer, message: string) => {
    const body = new URLSearchParams({
      action: "deliver",
      sender: ALICE,
      recipient: BOB,
      message,
      published: "2026-12-07T10:00:00Z",
      content: `text of ${message}`,
    });
    const answer = await pm.handle(
      new Request(ENDPOINT, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${TOKEN}` }, body }),
    );
    return answer.status;
  };
  /** Statements the stores' connections send (the driver's Client.query, counted; not `admin`'s). */
  let sent = 0;
  const query = pg.Client.prototype.query;
  beforeAll(() => {
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      if (this !== admin) sent++;
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
  });
  afterAll(() => {
    pg.Client.prototype.query = query;
  });
  const stored = async (message: string) => (await stores[1]!.find("inbox", { where: { message } })).length;

  it("after the first message with a token, each costs one statement (a read and a write without what the first read)", async () => {
    expect(await deliver(servers[0]!, "urn:uuid:g1")).toBe(201);
    await servers[0]!.idle();
    const before = sent;
    for (let i = 2; i <= 11; i++) expect(await deliver(servers[0]!, `urn:uuid:g${i}`)).toBe(201);
    expect(sent - before).toBe(10);
    expect(await stores[1]!.count("inbox")).toBe(11);
  });

  it("a token the owner revokes on another instance is refused at the next deliver: 401, nothing stored", async () => {
    expect(await deliver(servers[0]!, "urn:uuid:r1")).toBe(201);
    expect(await servers[1]!.revokeToken(hashSecret(TOKEN))).toBe(true);
    expect(await deliver(servers[0]!, "urn:uuid:r2")).toBe(401);
    expect(await stored("urn:uuid:r2")).toBe(0);
    // Let back in for the next rows (the token record as it was).
    await stores[1]!.update<{ _id: string; revokedAt?: number }>("secrets", hashSecret(TOKEN), { unset: ["revokedAt"] });
    expect(await deliver(servers[0]!, "urn:uuid:r3")).toBe(201);
  });

  it("a sender blocked on another instance is refused at the next deliver (403), and let back in at the one after unblocking", async () => {
    expect(await deliver(servers[0]!, "urn:uuid:b1")).toBe(201);
    await servers[1]!.updateSettings(BOB, { block: [ALICE] });
    expect(await deliver(servers[0]!, "urn:uuid:b2")).toBe(403);
    expect(await stored("urn:uuid:b2")).toBe(0);
    await servers[1]!.updateSettings(BOB, { unblock: [ALICE] });
    expect(await deliver(servers[0]!, "urn:uuid:b3")).toBe(201);
    expect(await deliver(servers[0]!, "urn:uuid:b4")).toBe(201);
    expect(await stored("urn:uuid:b3")).toBe(1);
  });
});
