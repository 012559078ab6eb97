/**
 * `indiepm({ …, store: await openPostgresStore(url) })` (issue 11): the router runs the
 * engine on the PostgreSQL store it is given. Two real Express apps on loopback, each on
 * its own database, exchange a message (token flow); a second router on one database
 * (another process of the same app) answers what the first stored. Skipped with a
 * sentence where no PostgreSQL can be had (failing in CI).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import express from "express";
import request from "supertest";
import { afterAll, describe, expect, it } from "vitest";
import { openPostgresStore } from "@indiepm/store-postgres";
import { freshDatabase, postgresForTests, startLoopbackServer, type FreshDatabase, type LoopbackServer } from "@indiepm/test-support";
import { indiepm, type IndiePmRouter } from "../src/index.js";

const OWNER_TOKEN = "owner-token-for-tests-0123456789";
const quiet = { info() {}, warn() {}, error() {} };
const pg = await postgresForTests();

describe.skipIf(pg.skipReason !== undefined)("indiepm() on the PostgreSQL store", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** A site page naming `endpoint()` with rel=pm. */
  async function site(endpoint: () => string): Promise<LoopbackServer> {
    const server = await startLoopbackServer((_req: IncomingMessage, res: ServerResponse) => {
      res.setHeader("content-type", "text/html");
      res.end(`<link rel="pm" href="${endpoint()}">`);
    });
    cleanups.push(() => server.close());
    return server;
  }

  /** An Express app on loopback whose /pm is `indiepm()` on a fresh PostgreSQL database. */
  async function app(siteUrl: string, db: FreshDatabase): Promise<{ url: string; router: IndiePmRouter; app: express.Express }> {
    let router: IndiePmRouter | undefined;
    const application = express();
    application.use("/pm", (req, res, next) => router!(req, res, next));
    const server = await startLoopbackServer(application);
    cleanups.push(() => server.close());
    router = indiepm({
      endpoint: `${server.url}pm/`,
      sites: [siteUrl],
      store: await openPostgresStore(db.url),
      dev: true,
      ownerToken: OWNER_TOKEN,
      logger: quiet,
    });
    cleanups.push(() => router!.close(0));
    await router.ready;
    return { url: `${server.url}pm/`, router, app: application };
  }

  it("delivers between two apps on PostgreSQL, and a second router on the same database answers what the first stored", async () => {
    const aliceDb = await freshDatabase();
    const bobDb = await freshDatabase();
    cleanups.push(
      () => aliceDb.drop(),
      () => bobDb.drop(),
    );
    let aliceEndpoint = "";
    let bobEndpoint = "";
    const aliceSite = await site(() => aliceEndpoint);
    const bobSite = await site(() => bobEndpoint);
    const alice = await app(aliceSite.url, aliceDb);
    const bob = await app(bobSite.url, bobDb);
    aliceEndpoint = alice.url;
    bobEndpoint = bob.url;

    const health = await request(alice.app).get("/pm/health");
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: "ok" });

    const sent = await alice.router.server.send({ from: aliceSite.url, to: [bobSite.url], content: "Hello Bob, on PostgreSQL" });
    const deadline = Date.now() + 20_000;
    while ((await alice.router.server.getMessage(sent.message)).sent?.deliveries[0]?.status !== "delivered") {
      if (Date.now() > deadline) throw new Error("the delivery did not end in time");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const inbox = await request(bob.app).get("/pm/api/inbox").set("authorization", `Bearer ${OWNER_TOKEN}`);
    expect(inbox.status).toBe(200);
    expect(inbox.body.map((m: { content: string; sender: string }) => [m.sender, m.content])).toEqual([[aliceSite.url, "Hello Bob, on PostgreSQL"]]);

    // Another process of bob's app: a router of its own on the same database.
    const again = indiepm({
      endpoint: bob.url,
      sites: [bobSite.url],
      store: await openPostgresStore(bobDb.url),
      dev: true,
      ownerToken: OWNER_TOKEN,
      logger: quiet,
    });
    cleanups.push(() => again.close(0));
    await again.ready;
    const other = express();
    other.use("/pm", again);
    const seen = await request(other).get("/pm/api/inbox").set("authorization", `Bearer ${OWNER_TOKEN}`);
    expect(seen.body).toEqual(inbox.body);
  }, 60_000);

  it("router.close() closes the store it was given", async () => {
    const db = await freshDatabase();
    cleanups.push(() => db.drop());
    const store = await openPostgresStore(db.url);
    const router = indiepm({ endpoint: "http://127.0.0.1:9/pm/", sites: ["http://127.0.0.1:8/"], store, dev: true, ownerToken: OWNER_TOKEN, logger: quiet });
    await router.ready;
    expect(await store.count("inbox")).toBe(0);
    await router.close(0);
    await expect(store.count("inbox")).rejects.toThrow();
  });
});
