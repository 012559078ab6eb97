/**
 * The seed's four hosts, each a real HTTP server on loopback, each built the way a real
 * owner would build it:
 *
 * | seed name            | here                                                                                  |
 * | -------------------- | ------------------------------------------------------------------------------------- |
 * | alice.example.org    | an Eleventy site (examples/alice-site) whose pages the plugin gives `<link rel="pm">` |
 * | pm.alice.example.uk  | the standalone server (`indiepm serve`'s engine and handler)                          |
 * | bob.example.com      | an Eleventy site (examples/bob-site) served by Express, discoverable by `pmLink()`    |
 * | pm.bob.example.net   | an Express app mounting `indiepm()`                                                   |
 *
 * The sites are built at start-up, once the ports are known: each names its pm server's URL.
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import Eleventy from "@11ty/eleventy";
import express from "express";
import { createPmServer, openNedbStore, type PmServer, type ProtocolEvent } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import eleventyPmPlugin, { type IndiepmPluginOptions } from "@indiepm/eleventy-plugin";
import { indiepm, indiepmInbox, pmLink } from "@indiepm/express";
import { withWebInbox } from "@indiepm/cli";
import { createWebInbox } from "@indiepm/web";
import { startDevAuthorizationServer, type DevAuthorizationServer } from "@indiepm/test-support";

export interface DemoHost {
  name: string;
  url: string;
  server: Server;
}

export interface Demo {
  /** The small IndieAuth authorization server both sites name, so their owners can sign in to their inboxes. */
  auth: DevAuthorizationServer;
  /** The owners' web inboxes: alice's at her standalone server's root, bob's under /inbox/ of his Express app. */
  inboxes: { alice: string; bob: string };
  aliceSite: DemoHost;
  alicePm: DemoHost & { pm: PmServer; ownerToken: string };
  bobSite: DemoHost;
  bobPm: DemoHost & { pm: PmServer; ownerToken: string };
  close(): Promise<void>;
}

/** Listens on `port` (0 or busy: any free port) and returns the base URL. */
async function listen(server: Server, port: number): Promise<string> {
  const tryPort = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(p, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  try {
    await tryPort(port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || port === 0) throw error;
    await tryPort(0);
  }
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const quiet = { info: () => {}, warn: () => {}, error: (m: string, d?: unknown) => console.error(m, d ?? "") };

/** The example sites (examples/ at the repository root; this file is in packages/demo/src or dist). */
const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));

/**
 * Builds examples/<name> into `output` with Eleventy and the rel=pm plugin: the one config
 * line of the plugin's README, added from code because the endpoint is a loopback URL
 * known only now.
 */
async function buildSite(name: string, output: string, plugin: IndiepmPluginOptions): Promise<void> {
  const elev = new Eleventy(join(EXAMPLES, name), output, {
    quietMode: true,
    config: (eleventyConfig) => {
      eleventyConfig.addPlugin(eleventyPmPlugin, plugin);
    },
  });
  elev.disableLogger(); // the demo's output is the protocol trace
  await elev.write();
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".xml": "application/atom+xml; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** A URL path decoded, or one that matches no file when its %-escapes are malformed. */
function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return "/.malformed/";
  }
}

/** A static host for a built site: `/x/` serves `x/index.html`; nothing outside `root`, no `_headers`. */
function staticSite(folder: string) {
  const root = resolve(folder);
  return async (req: IncomingMessage, res: ServerResponse) => {
    const path = safeDecode(new URL(req.url ?? "/", "http://site").pathname);
    const file = resolve(root, `.${path.endsWith("/") ? `${path}index.html` : path}`);
    const found = file.startsWith(root + sep) && !file.endsWith(`${sep}_headers`) && (await stat(file).catch(() => null))?.isFile();
    if (!found || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(found ? 405 : 404, { "content-type": "text/plain; charset=utf-8" }).end(found ? "Method not allowed\n" : "Not found\n");
      return;
    }
    const body = await readFile(file);
    res.writeHead(200, { "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream", "content-length": body.length });
    res.end(req.method === "HEAD" ? undefined : body);
  };
}

export async function startDemo(options: { dataDir: string; portBase: number; onEvent: (e: ProtocolEvent) => void }): Promise<Demo> {
  const port = (i: number) => (options.portBase === 0 ? 0 : options.portBase + i);
  const token = (who: string) => `demo-owner-token-${who}-0123456789`;

  // Ports first: each site must name its pm server's URL, and each pm server its own.
  const aliceSiteServer = createServer();
  const alicePmServer = createServer();
  const bobSiteServer = createServer();
  const bobPmServer = createServer();
  const aliceSiteUrl = await listen(aliceSiteServer, port(1));
  const alicePmUrl = await listen(alicePmServer, port(2));
  const bobSiteUrl = await listen(bobSiteServer, port(3));
  const bobPmUrl = await listen(bobPmServer, port(4));

  // A small IndieAuth authorization server on loopback that both sites name (Link header),
  // so each owner can sign in to their web inbox with their own site, and Micropub apps with
  // the DM profile URLs (legacyClients: micropub-helper 1.6 and older apps send no PKCE).
  const authOptions = { sites: [aliceSiteUrl, bobSiteUrl], legacyClients: true };
  const auth = await startDevAuthorizationServer({ ...authOptions, port: port(5) }).catch(() => startDevAuthorizationServer(authOptions));

  // The two sites, built by Eleventy with the rel=pm plugin now that the endpoints are known.
  const sitesDir = join(options.dataDir, "sites");
  await buildSite("alice-site", join(sitesDir, "alice"), { endpoint: alicePmUrl });
  await buildSite("bob-site", join(sitesDir, "bob"), { endpoint: bobPmUrl, headers: true });

  // alice.example.org: a static site; every page has <link rel="pm"> in its head (§1 step 3).
  const serveAlice = staticSite(join(sitesDir, "alice"));
  aliceSiteServer.on("request", (req, res) => {
    res.setHeader("link", auth.linkHeader);
    serveAlice(req, res).catch((error: unknown) => {
      console.error("alice.example.org:", error);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });

  // pm.alice.example.uk: the standalone server's engine, nedb store, node:http handler.
  await mkdir(join(options.dataDir, "alice"), { recursive: true });
  const alicePm = createPmServer({
    endpoint: alicePmUrl,
    sites: [aliceSiteUrl],
    store: await openNedbStore({ dir: join(options.dataDir, "alice") }),
    dev: true,
    ownerToken: token("alice"),
    onEvent: options.onEvent,
    logger: quiet,
  });
  // Its web inbox at the root, as `indiepm serve` has it (POST / stays the endpoint).
  const aliceInbox = createWebInbox({ server: alicePm, url: alicePmUrl, logger: quiet });
  alicePmServer.on("request", createNodeHandler(withWebInbox(alicePm, aliceInbox)));
  await alicePm.start();

  // bob.example.com: his Eleventy site served by Express; one line (pmLink) adds the Link
  // header (§1 step 2), which discovery reads before the page's own <link rel="pm">.
  const bobSite = express();
  bobSite.use((_req, res, next) => {
    res.setHeader("link", auth.linkHeader);
    next();
  });
  bobSite.use(pmLink({ endpoint: bobPmUrl }));
  bobSite.use("/_headers", (_req, res) => void res.status(404).end()); // a static host's file, not a page
  bobSite.use(express.static(join(sitesDir, "bob")));
  bobSiteServer.on("request", bobSite);

  // pm.bob.example.net: an Express app mounting the indiepm router at its root.
  const bobPm = createPmServer({
    endpoint: bobPmUrl,
    sites: [bobSiteUrl],
    store: await openNedbStore({ dir: join(options.dataDir, "bob") }),
    dev: true,
    ownerToken: token("bob"),
    onEvent: options.onEvent,
    logger: quiet,
  });
  const bobPmApp = express();
  const bobInbox = indiepmInbox({ server: bobPm, url: `${bobPmUrl}inbox/`, logger: quiet });
  bobPmApp.use("/inbox", bobInbox); // the owner's web inbox, at a path of his choice
  bobPmApp.use("/", indiepm({ server: bobPm }));
  bobPmServer.on("request", bobPmApp);
  await bobPm.start();

  const close = async () => {
    for (const s of [aliceSiteServer, alicePmServer, bobSiteServer, bobPmServer]) s.closeAllConnections();
    await Promise.all([aliceSiteServer, alicePmServer, bobSiteServer, bobPmServer].map((s) => new Promise((r) => s.close(r))));
    await Promise.all([alicePm.close(2_000), bobPm.close(2_000)]);
    await Promise.all([aliceInbox.close(), bobInbox.close(), auth.close()]);
  };
  return {
    auth,
    inboxes: { alice: aliceInbox.url, bob: bobInbox.inbox.url },
    aliceSite: { name: "alice.example.org", url: aliceSiteUrl, server: aliceSiteServer },
    alicePm: { name: "pm.alice.example.uk", url: alicePmUrl, server: alicePmServer, pm: alicePm, ownerToken: token("alice") },
    bobSite: { name: "bob.example.com", url: bobSiteUrl, server: bobSiteServer },
    bobPm: { name: "pm.bob.example.net", url: bobPmUrl, server: bobPmServer, pm: bobPm, ownerToken: token("bob") },
    close,
  };
}
