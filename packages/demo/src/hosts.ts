/**
 * The seed's four hosts, each a real HTTP server on loopback, each built the way a real
 * owner would build it:
 *
 * | seed name            | here                                                           |
 * | -------------------- | -------------------------------------------------------------- |
 * | alice.example.org    | a static site whose pages carry `<link rel="pm">`              |
 * | pm.alice.example.uk  | the standalone server (`indiepm serve`'s engine and handler)   |
 * | bob.example.com      | an Express app made discoverable by `pmLink()` (a Link header) |
 * | pm.bob.example.net   | an Express app mounting `indiepm()`                            |
 */
import { mkdir } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import express from "express";
import { createPmServer, openNedbStore, type PmServer, type ProtocolEvent } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import { indiepm, pmLink } from "@indiepm/express";

export interface DemoHost {
  name: string;
  url: string;
  server: Server;
}

export interface Demo {
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

function page(title: string, body: string, head = ""): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
${head}
</head>
<body>
<h1>${title}</h1>
${body}
</body>
</html>
`;
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

  // alice.example.org: a static page with <link rel="pm"> in its head (§1 step 3).
  const alicePage = page("Alice's home page", "<p>Hi, I'm Alice. Write to me privately: my pm endpoint is linked in this page's head.</p>", `<link rel="pm" href="${alicePmUrl}">`);
  aliceSiteServer.on("request", (req, res) => {
    res.writeHead(req.url === "/" ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
    res.end(req.url === "/" ? alicePage : page("Not found", ""));
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
  alicePmServer.on("request", createNodeHandler(alicePm));
  await alicePm.start();

  // bob.example.com: an existing Express site; one line (pmLink) makes it discoverable (§1 step 2).
  const bobSite = express();
  bobSite.use(pmLink({ endpoint: bobPmUrl }));
  bobSite.get("/", (_req, res) => {
    res.type("html").send(page("Bob's home page", "<p>Hi, I'm Bob. My pm endpoint is named by this page's <code>Link</code> header.</p>"));
  });
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
  bobPmApp.use("/", indiepm({ server: bobPm }));
  bobPmServer.on("request", bobPmApp);
  await bobPm.start();

  const close = async () => {
    for (const s of [aliceSiteServer, alicePmServer, bobSiteServer, bobPmServer]) s.closeAllConnections();
    await Promise.all([aliceSiteServer, alicePmServer, bobSiteServer, bobPmServer].map((s) => new Promise((r) => s.close(r))));
    await Promise.all([alicePm.close(2_000), bobPm.close(2_000)]);
  };
  return {
    aliceSite: { name: "alice.example.org", url: aliceSiteUrl, server: aliceSiteServer },
    alicePm: { name: "pm.alice.example.uk", url: alicePmUrl, server: alicePmServer, pm: alicePm, ownerToken: token("alice") },
    bobSite: { name: "bob.example.com", url: bobSiteUrl, server: bobSiteServer },
    bobPm: { name: "pm.bob.example.net", url: bobPmUrl, server: bobPmServer, pm: bobPm, ownerToken: token("bob") },
    close,
  };
}
