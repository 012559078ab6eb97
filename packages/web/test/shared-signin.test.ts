/**
 * The web inbox on several instances (issue 11): two pm servers, each with its own
 * `openPostgresStore` on one PostgreSQL database, each with its web inbox at the same URL
 * behind one front on loopback that the test points at one instance or the other for each
 * request (as a load balancer may). Sign-in started on one instance completes on the
 * other; a session works on both; a form token is used once across both; the sign-in limit
 * counts across both.
 */
import { createServer } from "node:http";
import { createPmServer, type PmServer } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
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
import { createWebInbox } from "../src/index.js";
import { Browser, quiet } from "./support.js";

const server = await postgresForTests();

interface Pair {
  /** The inbox's URL (the front). */
  url: string;
  site: string;
  auth: DevAuthorizationServer;
  /** Which instance the front passes the next requests to. */
  route: "a" | "b";
  /** Requests each instance answered. */
  answered: { a: number; b: number };
  pms: PmServer[];
  close(): Promise<void>;
}

/** Two instances on one database (schema `schema`), one site, one inbox URL. */
async function startPair(database: FreshDatabase, schema: string, signInsPerMinute?: number): Promise<Pair> {
  const front = createServer();
  const siteServer = createServer();
  const url = await listenLoopback(front);
  const site = await listenLoopback(siteServer);
  const auth = await startDevAuthorizationServer({ sites: [site] });
  siteServer.on("request", (_req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.setHeader("link", auth.linkHeader);
    res.end(`<!doctype html><title>Home</title><link rel="pm" href="${url}"><h1>Home</h1>`);
  });
  const pms: PmServer[] = [];
  const inboxes: ReturnType<typeof createWebInbox>[] = [];
  const handlers: Record<"a" | "b", ReturnType<typeof createNodeHandler>> = {} as never;
  for (const name of ["a", "b"] as const) {
    const store = await openPostgresStore(database.url, { schema, poolSize: 3 });
    const pm = createPmServer({ endpoint: url, sites: [site], store, dev: true, logger: quiet });
    const inbox = createWebInbox({ server: pm, url, logger: quiet, ...(signInsPerMinute ? { signInsPerMinute } : {}) });
    pms.push(pm);
    inboxes.push(inbox);
    handlers[name] = createNodeHandler({ handle: (request, context) => inbox.handle(request, context), trustProxy: pm.trustProxy }, { logger: quiet });
  }
  const pair: Pair = {
    url,
    site,
    auth,
    route: "a",
    answered: { a: 0, b: 0 },
    pms,
    async close() {
      await Promise.all([front, siteServer].map(closeServer));
      await auth.close();
      for (const inbox of inboxes) await inbox.close();
      for (const pm of pms) await pm.close(500);
    },
  };
  front.on("request", (req, res) => {
    pair.answered[pair.route]++;
    void handlers[pair.route](req, res);
  });
  return pair;
}

describe.skipIf(server.skipReason)("the web inbox on two instances sharing one PostgreSQL database", () => {
  let database: FreshDatabase;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it("completes on B a sign-in whose form A gave, and on A one B started; the session works on both; the form is used once across both", async () => {
    const pair = await startPair(database, "signin");
    cleanups.push(() => pair.close());
    const browser = new Browser();

    pair.route = "a";
    const form = await (await browser.fetch(pair.url)).text();
    const csrf = Browser.csrf(form);
    // The form A issued is good on B (one HMAC key for both, kept in the store).
    pair.route = "b";
    const started = await browser.post(`${pair.url}signin`, { csrf, me: pair.site });
    const page = await started.text();
    const authUrl = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(page)?.[1]?.replace(/&amp;/g, "&");
    expect(started.status, page.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ")).toBe(200);
    expect(authUrl).toBeDefined();
    const approve = await (await browser.fetch(authUrl!)).text();
    const fields = Object.fromEntries(
      [...approve.matchAll(/<input type="(?:hidden|radio)" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replace(/&amp;/g, "&")]),
    );
    const back = await browser.post(
      `${pair.auth.url}auth/approve`,
      { ...fields, me: pair.site, decision: "approve" },
      { from: pair.auth.url.replace(/\/$/, "") },
    );
    // The sign-in B started (its state in the store) completes on A.
    pair.route = "a";
    const done = await browser.fetch(back.headers.get("location")!);
    expect(done.status).toBe(303);

    // The session works on both.
    for (const route of ["a", "b"] as const) {
      pair.route = route;
      const home = await browser.fetch(pair.url);
      expect(home.status).toBe(200);
      expect(await home.text()).toContain("Conversations");
    }
    // And its CSRF token, kept with the session, on both: B signs out with A's page's token.
    pair.route = "a";
    const signedIn = await (await browser.fetch(`${pair.url}settings`)).text();
    pair.route = "b";
    const out = await browser.post(`${pair.url}signout`, { csrf: Browser.csrf(signedIn) });
    expect(out.status).toBe(303);

    // The form's token was used on B: on A it is refused before anything is fetched.
    pair.route = "a";
    const replay = await browser.post(`${pair.url}signin`, { csrf, me: pair.site });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain("already used or has expired");
    expect(pair.answered.a).toBeGreaterThan(0);
    expect(pair.answered.b).toBeGreaterThan(0);
  });

  it("counts the sign-in limit across instances", async () => {
    const pair = await startPair(database, "signin_limit", 2);
    cleanups.push(() => pair.close());
    const browser = new Browser();
    const post = async (route: "a" | "b") => {
      pair.route = route;
      const form = await (await browser.fetch(pair.url)).text();
      return browser.post(`${pair.url}signin`, { csrf: Browser.csrf(form), me: "http://127.0.0.1:9/elsewhere/" });
    };
    // Two posts (refused for the site, but counted), one on each instance: the third, on either, is over the limit of 2.
    expect((await post("a")).status).toBe(400);
    expect((await post("b")).status).toBe(400);
    const third = await post("a");
    expect(third.status).toBe(429);
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
