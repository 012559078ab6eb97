/**
 * One-time compose keys across instances (issue 12, web compose-keys.ts): the web inbox
 * sends a form under a message ID made from its key, and relies on the store to let one
 * write of that ID win when the same form reaches two instances at once (a double click
 * behind a load balancer). Two engines on one PostgreSQL database send the same ID at the
 * same moment: one message is stored, with its deliveries once; the other send is refused
 * (a duplicate, or "already sent"), and nothing of it stays queued.
 */
import { createPmServer, DuplicateKeyError, PmError, type PmServer } from "@indiepm/core";
import { freshDatabase, postgresForTests, type FreshDatabase } from "@indiepm/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

const quiet = { info() {}, warn() {}, error() {} };
const SITE = "https://alice.example.org/";
const ROUNDS = 20;

const server = await postgresForTests();

describe.skipIf(server.skipReason)("the same message ID sent by two instances at once (PostgreSQL)", () => {
  let database: FreshDatabase;
  const stores: PostgresStore[] = [];
  const engines: PmServer[] = [];

  beforeAll(async () => {
    database = await freshDatabase();
    for (let i = 0; i < 2; i++) {
      const store = await openPostgresStore(database.url, { schema: "once", poolSize: 4 });
      stores.push(store);
      // Not started: nothing delivers, so what each send wrote stays to be counted.
      engines.push(createPmServer({ endpoint: "https://pm.alice.example.org/", sites: [SITE], store, dev: true, logger: quiet }));
    }
  }, 60_000);

  afterAll(async () => {
    for (const e of engines) await e.close(100);
    await database?.drop();
  });

  it(`one message and one delivery per recipient, in ${ROUNDS} races`, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const id = `https://pm.alice.example.org/messages/once-${i}`;
      const input = { from: SITE, to: ["https://bob.example.com/", "https://carol.example/"], content: `round ${i}`, id };
      const outcomes = await Promise.allSettled(engines.map((e) => e.send(input)));
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
      const refused = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
      expect(refused.reason instanceof DuplicateKeyError || (refused.reason instanceof PmError && refused.reason.code === "invalid_request")).toBe(true);
    }
    const store = stores[0]!;
    expect(await store.count("outbox")).toBe(ROUNDS);
    expect(await store.count("deliveries")).toBe(2 * ROUNDS);
  });
});
