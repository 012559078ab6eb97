/**
 * Every query a flow makes is one src/indexes.ts lists (so test/explain.test.ts checks
 * its index): two engines, each on its own schema of one database with `onQuery`
 * collecting shapes, exchange messages both ways (the token flow: handshake, grant,
 * deliver) and their owners use the owner API. Proved able to fail: with a row of
 * QUERY_SHAPES removed, the shape it listed is reported here.
 */
import { createServer } from "node:http";
import { createPmServer, type PmServer } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import { closeServer, type FreshDatabase, freshDatabase, listenLoopback, postgresForTests } from "@indiepm/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isListedShape, openPostgresStore, type PostgresStore, type QueryShape } from "../src/index.js";

const quiet = { info() {}, warn() {}, error() {} };
const server = await postgresForTests();

interface Host {
  site: string;
  pm: PmServer;
  store: PostgresStore;
  close(): Promise<void>;
}

async function startHost(database: FreshDatabase, schema: string, seen: QueryShape[]): Promise<Host> {
  const endpointServer = createServer();
  const siteServer = createServer();
  const endpoint = await listenLoopback(endpointServer);
  const site = await listenLoopback(siteServer);
  siteServer.on("request", (_req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end(`<!doctype html><title>${schema}</title><link rel="pm" href="${endpoint}"><h1>${schema}</h1>`);
  });
  const store = await openPostgresStore(database.url, { schema, poolSize: 4, onQuery: (shape) => seen.push(shape) });
  const pm = createPmServer({ endpoint, sites: [site], store, dev: true, logger: quiet });
  endpointServer.on("request", createNodeHandler(pm, { logger: quiet }));
  await pm.start();
  return {
    site,
    pm,
    store,
    async close() {
      await Promise.all([endpointServer, siteServer].map(closeServer));
      await pm.close(500);
    },
  };
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(server.skipReason)("the query shapes of a flow", () => {
  let database: FreshDatabase;
  let alice: Host;
  let bob: Host;
  const seen: QueryShape[] = [];

  beforeAll(async () => {
    database = await freshDatabase();
    alice = await startHost(database, "alice", seen);
    bob = await startHost(database, "bob", seen);
  });
  afterAll(async () => {
    await alice?.close();
    await bob?.close();
    await database?.drop();
  });

  it("messages both ways and the owner API make only listed shapes", async () => {
    const first = await alice.pm.send({ from: alice.site, to: [bob.site], content: "hello bob", subject: "lunch" });
    await until("bob's inbox", async () => (await bob.pm.inbox()).length === 1);
    await bob.pm.send({ from: bob.site, to: [alice.site], content: "hello alice", inReplyTo: first.message });
    await until("alice's inbox", async () => (await alice.pm.inbox()).length === 1);
    await alice.pm.send({ from: alice.site, to: [bob.site], content: "and again", inReplyTo: first.message });
    await until("bob's second message", async () => (await bob.pm.inbox()).length === 2);

    for (const host of [alice, bob]) {
      await host.pm.inbox({ site: host.site });
      await host.pm.inboxPage();
      await host.pm.outbox();
      await host.pm.outboxPage({ site: host.site });
      const conversations = await host.pm.conversations();
      await host.pm.conversationsPage({ site: host.site });
      await host.pm.conversations({ q: "hello" });
      for (const conversation of conversations) {
        await host.pm.thread(conversation.id);
        await host.pm.markRead({ conversation: conversation.id }, true);
      }
      // Muting (owner/live.ts): the unread count less a muted correspondent's; the live updates' arrivals.
      await host.pm.updateSettings(host.site, { mute: [host === alice ? bob.site : alice.site] });
      const { cursor } = await host.pm.inboxStatus({ site: host.site });
      await host.pm.arrivals({ site: host.site, after: cursor });
      await host.pm.inboxStatus({ site: host.site });
      await host.pm.getMessage(first.message);
      await host.pm.tokens();
      await host.pm.exportAll({ site: host.site });
      // Failures the owner sees (owner/deliveries.ts): a site's failed and stuck deliveries, and how many.
      await host.pm.deliveryProblems({ site: host.site });
      await host.pm.deliveryProblemCounts({ site: host.site });
      await host.pm.idle();
    }

    expect(seen.length).toBeGreaterThan(20);
    const unlisted = [...new Set(seen.filter((shape) => !isListedShape(shape)).map((shape) => JSON.stringify(shape)))];
    expect(unlisted).toEqual([]);
  });
});
