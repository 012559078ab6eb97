/**
 * Issue 13: the Micropub endpoint's limits on several instances. Two pm servers, each with
 * its own `openPostgresStore` on one PostgreSQL database and its own web inbox at the same
 * URL, answer requests in turn (as behind a load balancer): the posts of a site and the
 * requests of a client address are counted in the store, across both.
 */
import { createServer, type Server } from "node:http";
import { createPmServer, type PmServer } from "@indiepm/core";
import { openPostgresStore } from "@indiepm/store-postgres";
import {
  closeServer,
  type DevAuthorizationServer,
  type FreshDatabase,
  freshDatabase,
  listenLoopback,
  postgresForTests,
  startDevAuthorizationServer,
} from "@indiepm/test-support";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createWebInbox, type WebInbox } from "../src/index.js";
import { MICROPUB_LIMITS } from "../src/micropub/config.js";
import { micropubUrl } from "../src/micropub/profile.js";
import { quiet } from "./support.js";

const server = await postgresForTests();

describe.skipIf(server.skipReason)("the Micropub endpoint on two instances sharing one PostgreSQL database", () => {
  let database: FreshDatabase;
  let servers: Server[];
  let auth: DevAuthorizationServer;
  let pms: PmServer[];
  let inboxes: WebInbox[];
  let site: string;
  let bob: string;
  let endpoint: string;
  let token: string;

  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  async function start(schema: string) {
    const siteServer = createServer();
    const bobSite = createServer((_req, res) => {
      res.setHeader("content-type", "text/html; charset=utf-8");
      res.end('<!doctype html><title>Bob</title><link rel="pm" href="http://127.0.0.1:9/">');
    });
    servers = [siteServer, bobSite];
    site = await listenLoopback(siteServer);
    bob = await listenLoopback(bobSite);
    auth = await startDevAuthorizationServer({ sites: [site] });
    siteServer.on("request", (_req, res) => {
      res.setHeader("content-type", "text/html; charset=utf-8");
      res.setHeader("link", auth.linkHeader);
      res.end("<!doctype html><title>Home</title><h1>Home</h1>");
    });
    const url = "http://127.0.0.1:9/";
    pms = [];
    inboxes = [];
    for (let i = 0; i < 2; i++) {
      const store = await openPostgresStore(database.url, { schema, poolSize: 3 });
      const pm = createPmServer({ endpoint: url, sites: [site], store, dev: true, logger: quiet });
      await pm.start();
      pms.push(pm);
      inboxes.push(createWebInbox({ server: pm, url, logger: quiet }));
    }
    await pms[0]!.updateSettings(site, { addContacts: [bob] });
    endpoint = micropubUrl(url, pms[0]!.sites, site);
    token = auth.issueToken({ me: site, scope: "create" });
  }
  afterEach(async () => {
    await Promise.all(servers.map(closeServer));
    await auth.close();
    for (const inbox of inboxes) await inbox.close();
    for (const pm of pms) await pm.close(500);
  });

  const post = (i: number, clientAddress: string) =>
    inboxes[i % 2]!.handle(
      new Request(endpoint, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams([
          ["h", "entry"],
          ["content", `note ${i}`],
          ["mp-syndicate-to[]", bob],
        ]),
      }),
      { clientAddress },
    );

  it("counts a site's posts across both: the one over the limit is refused on either, and not sent", async () => {
    await start("posts");
    for (let i = 0; i < MICROPUB_LIMITS.postsPerSitePerMinute; i++) expect((await post(i, `192.0.2.${i}`)).status).toBe(201);
    for (const i of [0, 1]) {
      const over = await post(i, "198.51.100.1");
      expect(over.status).toBe(429);
      expect((await over.json()).error).toBe("rate_limited");
    }
    expect(await pms[1]!.outbox({ limit: 1000 })).toHaveLength(MICROPUB_LIMITS.postsPerSitePerMinute);
  });

  it("counts a client address's requests across both, before its token is checked", async () => {
    await start("clients");
    const ask = (i: number) =>
      inboxes[i % 2]!.handle(new Request(`${endpoint}?q=config`, { headers: { authorization: "Bearer not-a-token-0000" } }), { clientAddress: "203.0.113.9" });
    for (let i = 0; i < MICROPUB_LIMITS.requestsPerClientPerMinute; i++) expect((await ask(i)).status).toBe(401);
    expect((await ask(0)).status).toBe(429);
    expect((await ask(1)).status).toBe(429);
  });
});
