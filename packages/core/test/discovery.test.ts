/**
 * PROTOCOL.md §1 Discovery, one row per case, each against its own loopback server
 * serving the row's pages. `{o}` in a row stands for the server's origin
 * (`http://127.0.0.1:PORT`, or `https://site.example.test:PORT` for production rows).
 */
import { afterEach, describe, expect, it } from "vitest";
import { discoverEndpoint, endpointFromResponse, type DiscoveryLimits } from "../src/discovery/discover.js";
import { identityRedirectRefusal } from "../src/discovery/identity.js";
import { PmError, type ErrorCode } from "../src/errors.js";
import { createHttpClient, type ClosableHttpClient } from "../src/http/client.js";
import type { FetchedPage, HttpClient } from "../src/http/types.js";
import { closedPort, startServer, TEST_TLS, type LoopbackServer } from "./support/loopback.js";

interface Route {
  status?: number;
  /** Header values may use `{o}`; `content-type` defaults to text/html when there is a body. */
  headers?: Record<string, string | string[]>;
  body?: string;
  /** Send the body, then keep the response open forever. */
  stall?: boolean;
  /** Wait before answering. */
  delayMs?: number;
}

interface Row {
  name: string;
  /** Path → answer; anything else is a 404. */
  routes: Record<string, Route>;
  /** Path discovery starts from (default `/`). */
  start?: string;
  /** Production mode: HTTPS server, `site.example.test` resolving to an allowed 127.0.0.1. */
  production?: boolean;
  limits?: Partial<DiscoveryLimits>;
  expected:
    | { endpoint: string | null; source: "link-header" | "html" | "none"; url?: string; chain?: Array<[path: string, status: number]> }
    | { error: ErrorCode; message?: string };
  /** Most body bytes the client may have read. */
  maxRead?: number;
  /** The answer must come within this many ms. */
  within?: number;
}

const html = (s: string) => `<!doctype html><html>${s}</html>`;
const page = (body: string, headers: Record<string, string | string[]> = {}): Route => ({ body, headers });
const KiB = 1024;
const MiB = 1024 * KiB;
/** A page of `size` bytes: filler paragraphs, with `link` placed at byte `at` (in the body). */
function bigPage(size: number, link: string, at: number): string {
  const head = "<!doctype html><html><head><title>big</title></head><body>";
  const tail = "</body></html>";
  const fillerUnit = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n";
  const filler = (n: number) =>
    fillerUnit
      .repeat(Math.ceil(n / fillerUnit.length))
      .slice(0, n)
      .replace(/<[^>]*$/, "");
  const before = filler(Math.max(0, at - head.length));
  const after = filler(Math.max(0, size - head.length - before.length - link.length - tail.length));
  return head + before + link + after + tail;
}

const rows: Row[] = [
  // §1 step 2: Link headers
  {
    name: "Link: absolute",
    routes: { "/": page(html("<p>hi"), { link: '<https://pm.example/endpoint>; rel="pm"' }) },
    expected: { endpoint: "https://pm.example/endpoint", source: "link-header" },
  },
  {
    name: "Link: relative, resolved against the page",
    routes: { "/dir/page": page(html(""), { link: "<pm?x=1>; rel=pm" }) },
    start: "/dir/page",
    expected: { endpoint: "{o}/dir/pm?x=1", source: "link-header" },
  },
  {
    name: "Link: empty target is the page",
    routes: { "/p?q=1": page(html(""), { link: "<>; rel=pm" }) },
    start: "/p?q=1",
    expected: { endpoint: "{o}/p?q=1", source: "link-header" },
  },
  {
    name: "Link: several headers",
    routes: { "/": page(html(""), { link: ['</wm>; rel="webmention"', '</pm>; rel="pm"'] }) },
    expected: { endpoint: "{o}/pm", source: "link-header" },
  },
  {
    name: "Link: several links in one header",
    routes: { "/": page(html(""), { link: '</wm>; rel="webmention", </pm>; rel="pm", </pm2>; rel=pm' }) },
    expected: { endpoint: "{o}/pm", source: "link-header" },
  },
  {
    name: "Link: rel with several values",
    routes: { "/": page(html(""), { link: '</pm>; rel="me PM webmention"' }) },
    expected: { endpoint: "{o}/pm", source: "link-header" },
  },
  { name: "Link: unquoted rel=pm", routes: { "/": page(html(""), { link: "</pm>; rel=pm" }) }, expected: { endpoint: "{o}/pm", source: "link-header" } },
  {
    name: "Link: commas and semicolons inside <> and quotes",
    routes: { "/": page(html(""), { link: '</a,b;c>; title="x, y; z"; rel="pm"' }) },
    expected: { endpoint: "{o}/a,b;c", source: "link-header" },
  },
  {
    name: 'Link: rel="not-pm" is not pm',
    routes: { "/": page(html("<p>none"), { link: '</x>; rel="not-pm"' }) },
    expected: { endpoint: null, source: "none" },
  },
  {
    name: 'Link: rel="not-pm" header, pm in the HTML',
    routes: { "/": page(html('<link rel=pm href="/html">'), { link: '</x>; rel="not-pm"' }) },
    expected: { endpoint: "{o}/html", source: "html" },
  },
  {
    name: "Link header beats HTML",
    routes: { "/": page(html('<link rel=pm href="/html">'), { link: "</header>; rel=pm" }) },
    expected: { endpoint: "{o}/header", source: "link-header" },
  },
  {
    name: "Link header on a non-HTML answer",
    routes: { "/": page("{}", { "content-type": "application/json", link: "</pm>; rel=pm" }) },
    expected: { endpoint: "{o}/pm", source: "link-header" },
  },
  {
    name: "Link header: the body is not read",
    routes: { "/": { headers: { link: "</pm>; rel=pm" }, body: bigPage(2 * MiB, "", 0) } },
    expected: { endpoint: "{o}/pm", source: "link-header" },
    maxRead: 256 * KiB,
  },

  // §1 step 3: HTML
  {
    name: "<link> in the head",
    routes: { "/": page(html('<head><link rel="pm" href="https://pm.example/"></head>')) },
    expected: { endpoint: "https://pm.example/", source: "html" },
  },
  { name: "<a> in the body", routes: { "/": page(html('<body><a href="/pm" rel="pm">write to me</a>')) }, expected: { endpoint: "{o}/pm", source: "html" } },
  {
    name: "<link> in the head before <a> in the body",
    routes: { "/": page(html("<head><link rel=pm href=/link></head><body><a rel=pm href=/a>x</a>")) },
    expected: { endpoint: "{o}/link", source: "html" },
  },
  {
    name: "<a> before <link> in document order",
    routes: { "/": page(html("<body><a rel=pm href=/a>x</a><link rel=pm href=/link>")) },
    expected: { endpoint: "{o}/a", source: "html" },
  },
  { name: "rel=PM (case-insensitive)", routes: { "/": page(html('<link rel="PM" href="/upper">')) }, expected: { endpoint: "{o}/upper", source: "html" } },
  { name: 'rel="me pm"', routes: { "/": page(html('<link rel="me pm" href="/two">')) }, expected: { endpoint: "{o}/two", source: "html" } },
  {
    name: 'rel="not-pm" skipped',
    routes: { "/": page(html('<link rel="not-pm" href="/no"><a rel="pm" href="/yes">')) },
    expected: { endpoint: "{o}/yes", source: "html" },
  },
  { name: "<LINK REL=PM HREF> in upper case", routes: { "/": page(html('<LINK REL=pm HREF="/caps">')) }, expected: { endpoint: "{o}/caps", source: "html" } },
  {
    name: "elements inside comments do not exist",
    routes: { "/": page(html('<!-- <link rel=pm href="/commented"> --><a rel=pm href="/real">')) },
    expected: { endpoint: "{o}/real", source: "html" },
  },
  {
    name: "<link>/<a> without href skipped",
    routes: { "/": page(html('<link rel=pm><a rel=pm>no href</a><a rel=pm href="/with">')) },
    expected: { endpoint: "{o}/with", source: "html" },
  },
  {
    name: "<template> contents skipped",
    routes: { "/": page(html('<template><link rel=pm href="/template"></template><a rel=pm href="/real">')) },
    expected: { endpoint: "{o}/real", source: "html" },
  },
  {
    name: "<script> text skipped",
    routes: { "/": page(html('<script>let s = "<link rel=pm href=/script>";</script><a rel=pm href="/real">')) },
    expected: { endpoint: "{o}/real", source: "html" },
  },
  { name: "no rel=pm at all", routes: { "/": page(html('<link rel=me href="/me"><a href="/pm">pm</a>')) }, expected: { endpoint: null, source: "none" } },

  // §1 step 4: resolution
  {
    name: "relative href against the page URL",
    routes: { "/dir/page": page(html('<a rel=pm href="pm/endpoint">')) },
    start: "/dir/page",
    expected: { endpoint: "{o}/dir/pm/endpoint", source: "html" },
  },
  {
    name: "relative href after redirects: against the final URL",
    routes: {
      "/old": { status: 301, headers: { location: "/new/" } },
      "/new/": { status: 302, headers: { location: "/final/dir/" } },
      "/final/dir/": page(html('<a rel=pm href="pm">')),
    },
    start: "/old",
    expected: {
      endpoint: "{o}/final/dir/pm",
      source: "html",
      url: "{o}/final/dir/",
      chain: [
        ["/old", 301],
        ["/new/", 302],
        ["/final/dir/", 200],
      ],
    },
  },
  {
    name: "relative Link after a redirect: against the final URL",
    routes: { "/": { status: 307, headers: { location: "/home/" } }, "/home/": page(html(""), { link: "<pm>; rel=pm" }) },
    expected: { endpoint: "{o}/home/pm", source: "link-header", url: "{o}/home/" },
  },
  {
    name: "<base href> absolute",
    routes: { "/": page(html('<head><base href="https://elsewhere.example/x/"><link rel=pm href="pm"></head>')) },
    expected: { endpoint: "https://elsewhere.example/x/pm", source: "html" },
  },
  {
    name: "<base href> relative, itself resolved against the page",
    routes: { "/a/b": page(html('<head><base href="../base/"><link rel=pm href="pm"></head>')) },
    start: "/a/b",
    expected: { endpoint: "{o}/base/pm", source: "html" },
  },
  {
    name: "<base href> after the <link>, in the head",
    routes: { "/": page(html('<head><link rel=pm href="pm"><base href="/late/"></head>')) },
    expected: { endpoint: "{o}/late/pm", source: "html" },
  },
  {
    name: "only the first <base href> counts",
    routes: { "/": page(html('<head><base href="/one/"><base href="/two/"><link rel=pm href="pm"></head>')) },
    expected: { endpoint: "{o}/one/pm", source: "html" },
  },
  {
    name: "empty href names the page itself",
    routes: { "/me?x=1": page(html('<link rel=pm href="">')) },
    start: "/me?x=1",
    expected: { endpoint: "{o}/me?x=1", source: "html" },
  },
  {
    name: "empty href with a <base> names the base",
    routes: { "/": page(html('<base href="/b/x"><link rel=pm href="">')) },
    expected: { endpoint: "{o}/b/x", source: "html" },
  },
  {
    name: "the query string is kept",
    routes: { "/": page(html('<link rel=pm href="/pm?site=alice&amp;v=2">')) },
    expected: { endpoint: "{o}/pm?site=alice&v=2", source: "html" },
  },
  {
    name: "character references in attributes are decoded",
    routes: { "/": page(html('<link rel="&#x70;m" href="&#47;p&#109;?a=&lt;1&gt;&amp;b">')) },
    expected: { endpoint: "{o}/pm?a=%3C1%3E&b", source: "html" },
  },
  {
    name: "a fragment in the href is kept (WHATWG serialization)",
    routes: { "/": page(html('<link rel=pm href="/pm#here">')) },
    expected: { endpoint: "{o}/pm#here", source: "html" },
  },
  {
    name: "surrounding whitespace in href is ignored",
    routes: { "/": page(html('<link rel=pm href="  /pm\n">')) },
    expected: { endpoint: "{o}/pm", source: "html" },
  },

  // §1 step 3: what is HTML
  {
    name: "application/xhtml+xml is HTML",
    routes: {
      "/": page('<html xmlns="http://www.w3.org/1999/xhtml"><head><link rel="pm" href="/x"/></head></html>', { "content-type": "application/xhtml+xml" }),
    },
    expected: { endpoint: "{o}/x", source: "html" },
  },
  {
    name: "content-type with parameters and capitals",
    routes: { "/": page(html('<link rel=pm href="/c">'), { "content-type": "Text/HTML; Charset=UTF-8" }) },
    expected: { endpoint: "{o}/c", source: "html" },
  },
  {
    name: "text/plain is not HTML",
    routes: { "/": page('<link rel=pm href="/plain">', { "content-type": "text/plain" }) },
    expected: { endpoint: null, source: "none" },
  },
  {
    name: "application/json is not HTML",
    routes: { "/": page('{"html": "<link rel=pm href=/j>"}', { "content-type": "application/json" }) },
    expected: { endpoint: null, source: "none" },
  },
  { name: "an empty HTML page", routes: { "/": page("") }, expected: { endpoint: null, source: "none" } },
  {
    name: "the page's charset is used (ISO-8859-1)",
    routes: { "/": { headers: { "content-type": "text/html; charset=iso-8859-1" }, body: '<a rel=pm href="/caf\u00e9">' } },
    expected: { endpoint: "{o}/caf%C3%A9", source: "html" },
  },

  // §1 step 5: only http(s) endpoints; the URL rules
  {
    name: "mailto: endpoint is no endpoint",
    routes: { "/": page(html('<a rel=pm href="mailto:me@example.com">')) },
    expected: { endpoint: null, source: "none" },
  },
  {
    name: "javascript: endpoint is no endpoint",
    routes: { "/": page(html('<a rel=pm href="javascript:alert(1)">')) },
    expected: { endpoint: null, source: "none" },
  },
  {
    name: "Link: ftp: endpoint is no endpoint",
    routes: { "/": page(html(""), { link: "<ftp://pm.example/>; rel=pm" }) },
    expected: { endpoint: null, source: "none" },
  },
  {
    name: "an href that is not a URL is no endpoint",
    routes: { "/": page(html('<a rel=pm href="http://[bad">')) },
    expected: { endpoint: null, source: "none" },
  },
  {
    name: "an endpoint with a password is refused",
    routes: { "/": page(html('<a rel=pm href="http://u:p@pm.example/">')) },
    expected: { error: "address_refused", message: "user name or password" },
  },
  {
    name: "development mode accepts http and IP endpoints",
    routes: { "/": page(html('<a rel=pm href="http://10.0.0.1:8080/pm">')) },
    expected: { endpoint: "http://10.0.0.1:8080/pm", source: "html" },
  },

  // §1: failures
  { name: "404 fails", routes: {}, expected: { error: "discovery_failed", message: "answered 404" } },
  {
    name: "500 fails, even with a Link header",
    routes: { "/": { status: 500, headers: { link: "</pm>; rel=pm" }, body: "oops" } },
    expected: { error: "discovery_failed", message: "answered 500" },
  },
  {
    name: "404 after a redirect fails",
    routes: { "/": { status: 302, headers: { location: "/gone" } } },
    expected: { error: "discovery_failed", message: "/gone answered 404" },
  },
  {
    name: "5 redirects are followed",
    routes: Object.fromEntries(
      [...Array(5).keys()]
        .map((n): [string, Route] => [`/${n}`, { status: 302, headers: { location: `/${n + 1}` } }])
        .concat([["/5", page(html("<a rel=pm href=pm>"))]]),
    ),
    start: "/0",
    expected: { endpoint: "{o}/pm", source: "html", url: "{o}/5" },
  },
  {
    name: "a 6th redirect fails",
    routes: Object.fromEntries(
      [...Array(6).keys()]
        .map((n): [string, Route] => [`/${n}`, { status: 302, headers: { location: `/${n + 1}` } }])
        .concat([["/6", page(html("<a rel=pm href=pm>"))]]),
    ),
    start: "/0",
    expected: { error: "discovery_failed", message: "more than 5" },
  },
  {
    name: "a redirect loop fails",
    routes: { "/a": { status: 301, headers: { location: "/b" } }, "/b": { status: 308, headers: { location: "/a" } } },
    start: "/a",
    expected: { error: "discovery_failed", message: "loop" },
  },
  { name: "a silent server times out", routes: { "/": { delayMs: 60_000 } }, limits: { timeoutMs: 300 }, expected: { error: "timeout" }, within: 2_000 },
  {
    name: "a body that stalls before any match times out",
    routes: { "/": { body: "<html><head><title>slow", stall: true } },
    limits: { timeoutMs: 300 },
    expected: { error: "timeout" },
    within: 2_000,
  },
  {
    name: "5 s in all: slow redirects add up",
    routes: {
      "/": { status: 302, headers: { location: "/2" }, delayMs: 200 },
      "/2": { status: 302, headers: { location: "/3" }, delayMs: 200 },
      "/3": page(html("<a rel=pm href=pm>")),
    },
    limits: { timeoutMs: 300 },
    expected: { error: "timeout" },
  },

  // §1: at most 1 MiB read; a parser MAY stop at the first match
  {
    name: "a match then a stalled body: no waiting for the rest",
    routes: { "/": { body: '<html><body><a rel=pm href="/pm">', stall: true } },
    expected: { endpoint: "{o}/pm", source: "html" },
    within: 2_000,
  },
  {
    name: "2 MiB page, link in the head: reading stops early",
    routes: { "/": page(bigPage(2 * MiB, '<link rel=pm href="/early">', 0).replace("<title>", '<link rel=pm href="/early"><title>')) },
    expected: { endpoint: "{o}/early", source: "html" },
    maxRead: 256 * KiB,
  },
  {
    name: "2 MiB page, link just within the first 1 MiB",
    routes: { "/": page(bigPage(2 * MiB, '<a rel=pm href="/within">x</a>', MiB - 200)) },
    expected: { endpoint: "{o}/within", source: "html" },
    maxRead: MiB,
  },
  {
    name: "2 MiB page, link beyond 1 MiB: no endpoint",
    routes: { "/": page(bigPage(2 * MiB, '<a rel=pm href="/beyond">x</a>', MiB + 100)) },
    expected: { endpoint: null, source: "none" },
    maxRead: MiB,
  },
  {
    name: "2 MiB page, link at the very end: no endpoint",
    routes: { "/": page(bigPage(2 * MiB, '<a rel=pm href="/end">x</a>', 2 * MiB - 100)) },
    expected: { endpoint: null, source: "none" },
    maxRead: MiB,
  },

  // Production mode (PROTOCOL.md "URLs", §6)
  {
    name: "production: an https endpoint on a domain is accepted",
    production: true,
    routes: { "/": page(html('<link rel=pm href="https://pm.example.net/">')) },
    expected: { endpoint: "https://pm.example.net/", source: "html" },
  },
  {
    name: "production: a relative endpoint on an https page",
    production: true,
    routes: { "/": page(html("<link rel=pm href=/pm>")) },
    expected: { endpoint: "{o}/pm", source: "html" },
  },
  {
    name: "production: an http endpoint is refused",
    production: true,
    routes: { "/": page(html('<link rel=pm href="http://pm.example.net/">')) },
    expected: { error: "address_refused", message: "names the pm endpoint http://pm.example.net/, which is refused: production servers accept only https" },
  },
  {
    name: "production: an IP endpoint is refused",
    production: true,
    routes: { "/": page(html('<link rel=pm href="https://10.0.0.1/pm">')) },
    expected: { error: "address_refused", message: "not IP addresses" },
  },
  {
    name: "production: an IP endpoint in decimal is refused",
    production: true,
    routes: { "/": page(html('<link rel=pm href="https://167772161/pm">')) },
    expected: { error: "address_refused", message: "https://10.0.0.1/pm" },
  },
  {
    name: "production: a localhost endpoint is refused",
    production: true,
    routes: { "/": page(html("<link rel=pm href=https://localhost/pm>")) },
    expected: { error: "address_refused", message: "localhost" },
  },
  {
    name: "production: a Link header http endpoint is refused",
    production: true,
    routes: { "/": page(html(""), { link: "<http://pm.example.net/>; rel=pm" }) },
    expected: { error: "address_refused", message: "only https" },
  },
  {
    name: "production: a redirect to http is refused",
    production: true,
    routes: { "/": { status: 301, headers: { location: "http://site.example.test/" } } },
    expected: { error: "address_refused", message: "only https" },
  },
];

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function serveRow(row: Row): Promise<{ server: LoopbackServer; origin: string }> {
  let origin = "";
  const server = await startServer(
    async (req, res) => {
      const route = row.routes[req.url ?? "/"] ?? { status: 404, body: "not found" };
      if (route.delayMs) await new Promise((r) => setTimeout(r, route.delayMs));
      if (res.destroyed) return;
      const headers: Record<string, string | string[]> = {};
      if (route.body !== undefined) headers["content-type"] = "text/html; charset=utf-8";
      for (const [name, value] of Object.entries(route.headers ?? {})) {
        headers[name] = Array.isArray(value) ? value.map((v) => v.replaceAll("{o}", origin)) : value.replaceAll("{o}", origin);
      }
      const charset = /charset=iso-8859-1/i.test(String(headers["content-type"])) ? "latin1" : "utf8";
      res.writeHead(route.status ?? 200, headers);
      if (route.body !== undefined) res.write(Buffer.from(route.body, charset));
      if (!route.stall) res.end();
    },
    { tls: row.production === true },
  );
  cleanups.push(() => server.close());
  origin = row.production ? `https://site.example.test:${server.port}` : server.origin;
  return { server, origin };
}

function clientFor(row: Row): ClosableHttpClient {
  const http = row.production
    ? createHttpClient({
        dev: false,
        lookup: async (name) => (name === "site.example.test" ? [{ address: "127.0.0.1", family: 4 }] : []),
        allowedAddresses: ["127.0.0.1"],
        ca: TEST_TLS.cert,
      })
    : createHttpClient({ dev: true });
  cleanups.push(() => http.close());
  return http;
}

/** Wraps a client to see what it read (STYLE: tests may wrap the HttpClient). */
function recording(http: HttpClient): HttpClient & { pages: FetchedPage[] } {
  const pages: FetchedPage[] = [];
  return {
    pages,
    get: async (url, options) => {
      const fetched = await http.get(url, options);
      pages.push(fetched);
      return fetched;
    },
    postForm: (url, form, options) => http.postForm(url, form, options),
  };
}

describe("§1 Discovery", () => {
  it.each(rows.map((row) => [row.name, row] as const))("%s", async (_name, row) => {
    const { origin } = await serveRow(row);
    const http = recording(clientFor(row));
    const fill = (s: string) => s.replaceAll("{o}", origin);
    const started = Date.now();
    const outcome = await discoverEndpoint(origin + (row.start ?? "/"), http, { dev: !row.production }, row.limits).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    if (row.within !== undefined) expect(Date.now() - started).toBeLessThan(row.within);
    if ("error" in row.expected) {
      expect("error" in outcome && outcome.error).toBeInstanceOf(PmError);
      const error = (outcome as { error: PmError }).error;
      expect(error.code).toBe(row.expected.error);
      if (row.expected.message) expect(error.message).toContain(fill(row.expected.message));
    } else {
      if ("error" in outcome) throw outcome.error;
      const { chain, ...found } = outcome.value;
      // The chain ends with the final answer; rows with redirects spell it out.
      expect(chain.at(-1)?.url).toBe(found.url);
      if (row.expected.chain) expect(chain).toEqual(row.expected.chain.map(([path, status]) => ({ url: origin + path, status })));
      expect(found).toEqual({
        endpoint: row.expected.endpoint === null ? null : fill(row.expected.endpoint),
        source: row.expected.source,
        url: fill(row.expected.url ?? origin + (row.start ?? "/")),
      });
    }
    if (row.maxRead !== undefined) {
      for (const fetched of http.pages) expect(fetched.body.byteLength).toBeLessThanOrEqual(row.maxRead);
    }
  });

  it("network errors pass through as the client's network_error", async () => {
    const port = await closedPort();
    const http = createHttpClient({ dev: true });
    cleanups.push(() => http.close());
    await expect(discoverEndpoint(`http://127.0.0.1:${port}/`, http, { dev: true })).rejects.toMatchObject({ code: "network_error" });
  });

  it("the default time limit is 5 s in all", async () => {
    const { origin } = await serveRow({ name: "", routes: { "/": { delayMs: 60_000 } }, expected: { error: "timeout" } });
    const http = createHttpClient({ dev: true });
    cleanups.push(() => http.close());
    const started = Date.now();
    await expect(discoverEndpoint(`${origin}/`, http, { dev: true })).rejects.toMatchObject({ code: "timeout" });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(4_900);
    expect(elapsed).toBeLessThan(7_000);
  });
});

describe("§6 Identity at §3/§4 step 3: which redirect chains speak for S", () => {
  const S = "https://alice.example/";
  // [name, chain as [url, status]…, refused?]
  const rows: Array<[string, Array<[string, number]>, boolean]> = [
    ["no redirect", [[S, 200]], false],
    [
      "same-origin 302",
      [
        [S, 302],
        ["https://alice.example/home", 200],
      ],
      false,
    ],
    [
      "same-origin 303, then 307",
      [
        [S, 303],
        ["https://alice.example/a", 307],
        ["https://alice.example/b", 200],
      ],
      false,
    ],
    [
      "301 to another origin",
      [
        [S, 301],
        ["https://alice.example.net/", 200],
      ],
      false,
    ],
    [
      "308 to another origin",
      [
        [S, 308],
        ["https://alice.example.net/", 200],
      ],
      false,
    ],
    [
      "301 to another origin, then 302 within it",
      [
        [S, 301],
        ["https://new.example/", 302],
        ["https://new.example/home", 200],
      ],
      false,
    ],
    [
      "302 to another origin",
      [
        [S, 302],
        ["https://mallory.example/", 200],
      ],
      true,
    ],
    [
      "303 to another origin",
      [
        [S, 303],
        ["https://mallory.example/", 200],
      ],
      true,
    ],
    [
      "307 to another origin",
      [
        [S, 307],
        ["https://mallory.example/", 200],
      ],
      true,
    ],
    [
      "302 to the same host over http (another origin)",
      [
        [S, 302],
        ["http://alice.example/", 200],
      ],
      true,
    ],
    [
      "302 to another port (another origin)",
      [
        [S, 302],
        ["https://alice.example:8443/", 200],
      ],
      true,
    ],
    [
      "same-origin 302, then 302 to another origin",
      [
        [S, 302],
        ["https://alice.example/go", 302],
        ["https://mallory.example/", 200],
      ],
      true,
    ],
    [
      "301 away, then 302 back to S (not the origin S moved to)",
      [
        [S, 301],
        ["https://new.example/", 302],
        [`${S}x`, 200],
      ],
      true,
    ],
    [
      "301 away, then 307 to a third origin",
      [
        [S, 301],
        ["https://new.example/", 307],
        ["https://mallory.example/", 200],
      ],
      true,
    ],
  ];

  it.each(rows)("%s", (_name, chain, refused) => {
    const why = identityRedirectRefusal(chain.map(([url, status]) => ({ url, status })));
    if (!refused) expect(why).toBeUndefined();
    else expect(why).toMatch(/temporary redirect \(30[237]\) to another origin/);
  });

  it("a page from a client that gave no statuses: a cross-origin redirect does not count (fails closed)", () => {
    const page: FetchedPage = {
      url: "https://mallory.example/",
      status: 200,
      headers: new Headers(),
      body: new Uint8Array(),
      truncated: false,
      redirects: [S, "https://mallory.example/"],
    };
    const found = endpointFromResponse(page, { dev: false });
    expect(found.chain).toEqual([
      { url: S, status: 0 },
      { url: "https://mallory.example/", status: 200 },
    ]);
    expect(identityRedirectRefusal(found.chain)).toContain("unknown status");
  });
});
