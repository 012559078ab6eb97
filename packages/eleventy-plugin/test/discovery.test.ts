/**
 * The point of the plugin, end to end: build a site with it, serve the output on
 * loopback, and run the core's discovery (PROTOCOL.md §1) on it. The endpoint found is
 * the one configured — from the HTML (§1 step 3), or from the `Link` header that a host
 * reading `_headers` sends (§1 step 2).
 */
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { createHttpClient, discoverEndpoint, type ClosableHttpClient } from "@indiepm/core";
import { startLoopbackServer, type LoopbackServer } from "@indiepm/test-support";
import { afterEach, describe, expect, it } from "vitest";
import indiepm from "../src/index.js";
import { buildWrite, createSite, type Site } from "./support/sites.js";

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".xml": "application/atom+xml", ".css": "text/css" };

/** `_headers` rules as Netlify applies them, for the two kinds of path the plugin writes: exact, and `/*`. */
function headersFor(file: string, path: string): [string, string][] {
  const headers: [string, string][] = [];
  let applies = false;
  for (const line of file.split(/\r?\n/)) {
    if (line.trim() === "" || line.trim().startsWith("#")) continue;
    if (!/^\s/.test(line)) applies = line.trim() === path || line.trim() === "/*";
    else if (applies) {
      const [, name, value] = /^\s*([^:]+):\s*(.*)$/.exec(line)!;
      headers.push([name!, value!]);
    }
  }
  return headers;
}

/** A static file server for a build's output; with `headersFile`, it applies `_headers` as a static host would. */
function serve(root: string, options: { headersFile?: boolean } = {}): Promise<LoopbackServer> {
  return startLoopbackServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const file = join(root, normalize(path.endsWith("/") ? `${path}index.html` : path));
    try {
      const body = await readFile(file);
      if (options.headersFile) {
        const rules = await readFile(join(root, "_headers"), "utf8").catch(() => "");
        for (const [name, value] of headersFor(rules, path)) res.appendHeader(name, value);
      }
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
}

describe("PROTOCOL.md §1 discovery on a site built with the plugin", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  let http: ClosableHttpClient;
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((f) => f()));
  });

  const build = async (options: Record<string, unknown>): Promise<Site> => {
    const site = await createSite({
      "_includes/base.njk":
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{{ title }}</title>\n</head>\n<body>{{ content | safe }}</body>\n</html>\n',
      "index.md": "---\nlayout: base.njk\ntitle: Alice\n---\n# Alice\n\nHello.\n",
    });
    cleanups.push(() => site.remove());
    await buildWrite(site, { config: (eleventyConfig: any) => eleventyConfig.addPlugin(indiepm, options) });
    return site;
  };

  const discover = async (site: Site, serveOptions: { headersFile?: boolean } = {}) => {
    const { url, close } = await serve(site.output, serveOptions);
    http = createHttpClient({ dev: true });
    cleanups.push(close, () => http.close());
    return { url, found: await discoverEndpoint(url, http, { dev: true }) };
  };

  it("finds the endpoint in the page's head (§1 step 3)", async () => {
    const endpoint = "https://pm.alice.example.uk/";
    const { url, found } = await discover(await build({ endpoint }));
    expect(found).toEqual({ endpoint, url, source: "html", chain: [{ url, status: 200 }] });
  });

  it("finds a loopback http endpoint, as the demo uses", async () => {
    const endpoint = "http://127.0.0.1:4002/";
    const { found } = await discover(await build({ endpoint }));
    expect(found.endpoint).toBe(endpoint);
  });

  it("finds it in the Link header first where the host applies _headers (§1 step 2)", async () => {
    const endpoint = "https://pm.alice.example.uk/inbox?site=alice";
    const { url, found } = await discover(await build({ endpoint, headers: true }), { headersFile: true });
    expect(found).toEqual({ endpoint, url, source: "link-header", chain: [{ url, status: 200 }] });
  });
});
