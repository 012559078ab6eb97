/**
 * A pm server with its web inbox, a site that names it and an IndieAuth authorization
 * server, all on loopback (STYLE.md practice 9: real servers, fresh ports, fresh store);
 * and a small browser-like client that keeps cookies and sends `Origin` and
 * `Sec-Fetch-Site` as a browser would.
 */
import { createServer } from "node:http";
import { createMemoryStore, createPmServer, type PmServer, type PmServerOptions, type Store } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import { closeServer, listenLoopback as listen, startDevAuthorizationServer, type DevAuthorizationServer } from "@indiepm/test-support";
import { createWebInbox, type WebInbox, type WebInboxOptions } from "../src/index.js";

export const quiet = { info() {}, warn() {}, error() {} };

/**
 * The inbox alone on its pm server's port, the client address taken by the engine's
 * `trustProxy` rule. (The standalone server's composition with the engine's `POST /` and
 * `/api/` is `@indiepm/cli`'s `withWebInbox`, tested there.)
 */
function inboxHandler(pm: PmServer, inbox: WebInbox) {
  return createNodeHandler({ handle: (request, context) => inbox.handle(request, context), trustProxy: pm.trustProxy }, { logger: quiet });
}

export interface InboxHost {
  site: string;
  siteHead: { html: string; links: string[] };
  /** GETs of the site's page so far: each sign-in that gets past the form's checks makes one. */
  siteFetches(): number;
  pmUrl: string;
  pm: PmServer;
  store: Store;
  inbox: WebInbox;
  auth: DevAuthorizationServer;
  close(): Promise<void>;
}

/** One site (its page names the pm server and the authorization server), its pm server with the inbox at `/`. */
export async function startInboxHost(
  options: {
    authSites?: (site: string) => string[];
    trustProxy?: PmServerOptions["trustProxy"];
    inbox?: Partial<Omit<WebInboxOptions, "server" | "url">>;
    /** Documents written before the server starts (as an older version left them: filed by the passes it looks for at start). */
    seed?: (store: Store, site: string) => Promise<void>;
  } = {},
): Promise<InboxHost> {
  const siteServer = createServer();
  const pmServer = createServer();
  const site = await listen(siteServer);
  const pmUrl = await listen(pmServer);
  const auth = await startDevAuthorizationServer({ sites: [site] });
  if (options.authSites) auth.sites = options.authSites(site);
  const siteHead = { html: "", links: [auth.linkHeader] };
  let fetches = 0;
  siteServer.on("request", (_req, res) => {
    fetches++;
    res.setHeader("content-type", "text/html; charset=utf-8");
    if (siteHead.links.length) res.setHeader("link", siteHead.links.join(", "));
    res.end(`<!doctype html><title>Home</title><link rel="pm" href="${pmUrl}">${siteHead.html}<h1>Home</h1>`);
  });
  const store = createMemoryStore();
  const pm = createPmServer({
    endpoint: pmUrl,
    sites: [site],
    store,
    dev: true,
    logger: quiet,
    ownerToken: "owner-token-0123456789abcdef",
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
  });
  await options.seed?.(store, site);
  await pm.start();
  const inbox = createWebInbox({ server: pm, url: pmUrl, logger: quiet, ...options.inbox });
  pmServer.on("request", inboxHandler(pm, inbox));
  return {
    site,
    siteHead,
    siteFetches: () => fetches,
    pmUrl,
    pm,
    store,
    inbox,
    auth,
    async close() {
      await Promise.all([siteServer, pmServer].map(closeServer));
      await auth.close();
      await pm.close(500);
      await inbox.close();
    },
  };
}

export interface SharedHost {
  /** `http://127.0.0.1:PORT/~alice/` and `…/~bob/`: two sites on one host, both held by one pm server. */
  alice: string;
  bob: string;
  /** The `Link` header each site's page sends (change it to point a site elsewhere). */
  links: { alice: string; bob: string };
  /** An authorization server for each site; each may sign in both (so that one can answer with the other's `me`). */
  aliceAuth: DevAuthorizationServer;
  bobAuth: DevAuthorizationServer;
  pm: PmServer;
  store: Store;
  /** As `InboxHost`, for `Browser.signIn`, with alice's authorization server. */
  asInboxHost(site: string, auth: DevAuthorizationServer): InboxHost;
  close(): Promise<void>;
}

/** Issue 9 item 6: one host serving `/~alice/` and `/~bob/`, each page naming its own authorization server. */
export async function startSharedHost(): Promise<SharedHost> {
  const siteServer = createServer();
  const pmServer = createServer();
  const origin = await listen(siteServer);
  const pmUrl = await listen(pmServer);
  const alice = `${origin}~alice/`;
  const bob = `${origin}~bob/`;
  const aliceAuth = await startDevAuthorizationServer({ sites: [alice, bob] });
  const bobAuth = await startDevAuthorizationServer({ sites: [alice, bob] });
  const links = { alice: aliceAuth.linkHeader, bob: bobAuth.linkHeader };
  siteServer.on("request", (req, res) => {
    const who = req.url === "/~alice/" ? "alice" : req.url === "/~bob/" ? "bob" : undefined;
    if (!who) return void res.writeHead(404).end();
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.setHeader("link", links[who]);
    res.end(`<!doctype html><title>${who}</title><link rel="pm" href="${pmUrl}"><h1>${who}</h1>`);
  });
  const store = createMemoryStore();
  const pm = createPmServer({ endpoint: pmUrl, sites: [alice, bob], store, dev: true, logger: quiet });
  await pm.start();
  const inbox = createWebInbox({ server: pm, url: pmUrl, logger: quiet });
  pmServer.on("request", inboxHandler(pm, inbox));
  const close = async () => {
    await Promise.all([siteServer, pmServer].map(closeServer));
    await aliceAuth.close();
    await bobAuth.close();
    await pm.close(500);
    await inbox.close();
  };
  return {
    alice,
    bob,
    links,
    aliceAuth,
    bobAuth,
    pm,
    store,
    asInboxHost: (site, auth) => ({ site, siteHead: { html: "", links: [] }, siteFetches: () => 0, pmUrl, pm, store, inbox, auth, close }),
    close,
  };
}

/** Cookies by name, redirects by hand, `Origin`/`Sec-Fetch-Site` as a browser sends them for its own forms. */
export class Browser {
  cookies = new Map<string, string>();
  setCookies: string[] = [];

  async fetch(url: string, init: RequestInit & { from?: string } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const target = new URL(url);
    const jar = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    if (jar) headers.set("cookie", jar);
    const from = init.from ?? target.origin;
    if ((init.method ?? "GET") !== "GET") headers.set("origin", from);
    headers.set("sec-fetch-site", from === target.origin ? "same-origin" : "cross-site");
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const c of response.headers.getSetCookie()) {
      this.setCookies.push(c);
      const [pair] = c.split(";");
      const [name, ...value] = pair!.split("=");
      if (/Max-Age=0/i.test(c)) this.cookies.delete(name!.trim());
      else this.cookies.set(name!.trim(), value.join("="));
    }
    return response;
  }

  async post(url: string, fields: Record<string, string>, init: { from?: string } = {}): Promise<Response> {
    return this.fetch(url, { method: "POST", body: new URLSearchParams(fields), headers: { "content-type": "application/x-www-form-urlencoded" }, ...init });
  }

  /** The first hidden `csrf` value of a page. */
  static csrf(page: string): string {
    const m = /name="csrf" value="([^"]*)"/.exec(page);
    if (!m) throw new Error("no csrf field on the page");
    return m[1]!;
  }

  /** Signs in through the sign-in form, the authorization server's page and the callback. Returns the inbox page. */
  async signIn(host: InboxHost, me = host.site, approveAs = me): Promise<string> {
    const form = await (await this.fetch(host.pmUrl)).text();
    const started = await this.post(`${host.pmUrl}signin`, { csrf: Browser.csrf(form), me });
    const page = await started.text();
    const authUrl = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(page)?.[1]?.replace(/&amp;/g, "&");
    if (!authUrl) throw new Error(`sign-in did not redirect: ${started.status} ${page.slice(0, 500)}`);
    const approve = await (await this.fetch(authUrl)).text();
    const fields = Object.fromEntries(
      [...approve.matchAll(/<input type="(?:hidden|radio)" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replace(/&amp;/g, "&")]),
    );
    const back = await this.post(`${host.auth.url}auth/approve`, { ...fields, me: approveAs, decision: "approve" }, { from: host.auth.url.replace(/\/$/, "") });
    const callback = back.headers.get("location")!;
    const done = await this.fetch(callback);
    if (done.status !== 303) throw new Error(`callback answered ${done.status}: ${(await done.text()).replace(/<[^>]+>/g, " ").replace(/\s+/g, " ")}`);
    return (await this.fetch(host.pmUrl)).text();
  }
}
