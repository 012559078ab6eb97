/**
 * The outbound client against real loopback servers: §1 limits (redirects, time,
 * size, streaming stop) and §6 "Outgoing requests" (URL rules and address checks on
 * every hop, after DNS resolution, before anything connects).
 */
import { afterEach, describe, expect, it } from "vitest";
import { PmError } from "../src/errors.js";
import { createHttpClient, DEFAULT_USER_AGENT, GET_ACCEPT, type HttpClientOptions, type Lookup } from "../src/http/client.js";
import { closingClients, type Cleanups } from "./support/client.js";
import { closedPort, startServer, TEST_TLS, type Handler, type LoopbackServer } from "./support/loopback.js";

const cleanups: Cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function serve(handler: Handler, options?: Parameters<typeof startServer>[1]): Promise<LoopbackServer> {
  const server = await startServer(handler, options);
  cleanups.push(() => server.close());
  return server;
}

const client = closingClients(cleanups);

/** A `lookup` answering from a table, recording every name asked. */
function fakeDns(table: Record<string, string[]>): Lookup & { asked: string[] } {
  const asked: string[] = [];
  const lookup = async (hostname: string) => {
    asked.push(hostname);
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? (6 as const) : (4 as const) }));
  };
  return Object.assign(lookup, { asked });
}

async function pmError(promise: Promise<unknown>): Promise<PmError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PmError);
  return error as PmError;
}

const text = (body: Uint8Array) => new TextDecoder().decode(body);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("createHttpClient options", () => {
  it.each([
    [{ dev: "yes" }, "`dev` must be true or false"],
    [{ dev: false, getTimeoutMs: 0 }, "`getTimeoutMs` must be a positive whole number"],
    [{ dev: false, maxRedirects: -1 }, "`maxRedirects` must be a non-negative"],
    [{ dev: false, postMaxBytes: 1.5 }, "`postMaxBytes`"],
    [{ dev: false, allowedAddresses: ["example.com"] }, "not an IP address"],
    [{ dev: false, userAgent: " " }, "`userAgent`"],
    [{ dev: false, dnsTimeoutMs: 0 }, "`dnsTimeoutMs` must be a positive whole number"],
    [{ dev: false, dnsServers: [] }, "`dnsServers` must be a non-empty list"],
    [{ dev: false, dnsServers: ["dns.example"] }, "`dnsServers` must be IP addresses"],
    [{ dev: false, dnsServers: ["127.0.0.1"], lookup: async () => [] }, "give `lookup` or `dnsServers`, not both"],
  ])("%j is invalid_config", (options, message) => {
    let error: unknown;
    try {
      createHttpClient(options as unknown as HttpClientOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PmError);
    expect((error as PmError).code).toBe("invalid_config");
    expect((error as PmError).message).toContain(message);
  });
});

describe("GET in development mode (§1)", () => {
  it("fetches a loopback page with the client's User-Agent and Accept", async () => {
    const server = await serve((_req, res) => res.writeHead(200, { "content-type": "text/html", link: "</pm>; rel=pm" }).end("<p>hi</p>"));
    const page = await client({ dev: true }).get(`${server.origin}/a?b=1`);
    expect(page).toMatchObject({ url: `${server.origin}/a?b=1`, status: 200, truncated: false, redirects: [`${server.origin}/a?b=1`] });
    expect(text(page.body)).toBe("<p>hi</p>");
    expect(page.headers.get("link")).toBe("</pm>; rel=pm");
    expect(page.headers).toBeInstanceOf(Headers);
    expect(server.requests[0]!.headers["user-agent"]).toBe(DEFAULT_USER_AGENT);
    expect(server.requests[0]!.headers.accept).toBe(GET_ACCEPT);
  });

  it("lets the userAgent option and per-call headers (any case) replace the defaults", async () => {
    const server = await serve((_req, res) => res.end("ok"));
    await client({ dev: true, userAgent: "custom/1" }).get(server.origin);
    await client({ dev: true }).get(server.origin, { headers: { "User-Agent": "per-call/2", ACCEPT: "text/plain" } });
    expect(server.requests.map((r) => [r.headers["user-agent"], r.headers.accept])).toEqual([
      ["custom/1", GET_ACCEPT],
      ["per-call/2", "text/plain"],
    ]);
  });

  it("uses an injected lookup, and dev mode lets it name loopback", async () => {
    const server = await serve((_req, res) => res.end("ok"));
    const lookup = fakeDns({ "site.test": ["127.0.0.1"] });
    const page = await client({ dev: true, lookup }).get(`http://site.test:${server.port}/`);
    expect(text(page.body)).toBe("ok");
    expect(lookup.asked).toEqual(["site.test"]);
    expect(server.requests[0]!.headers.host).toBe(`site.test:${server.port}`);
  });

  it("tries the next address when the first refuses the connection", async () => {
    const server = await serve((_req, res) => res.end("second"));
    const lookup = fakeDns({ "site.test": ["127.0.0.3", "127.0.0.1"] });
    const page = await client({ dev: true, lookup }).get(`http://site.test:${server.port}/`);
    expect(text(page.body)).toBe("second");
  });

  it("follows up to 5 redirects, relative ones included, and lists them", async () => {
    const server = await serve((req, res) => {
      const n = Number(req.url!.slice(1));
      if (n < 5) res.writeHead(n % 2 ? 301 : 307, { location: `/${n + 1}` }).end();
      else res.end("done");
    });
    const page = await client({ dev: true }).get(`${server.origin}/0`);
    expect(page.url).toBe(`${server.origin}/5`);
    expect(page.redirects).toEqual([0, 1, 2, 3, 4, 5].map((n) => `${server.origin}/${n}`));
    // Each answer with its status, the final one last (§6 Identity reads these).
    expect(page.hops).toEqual([0, 1, 2, 3, 4, 5].map((n) => ({ url: `${server.origin}/${n}`, status: n === 5 ? 200 : n % 2 ? 301 : 307 })));
    expect(text(page.body)).toBe("done");
  });

  it("fails on a 6th redirect (discovery_failed)", async () => {
    const server = await serve((req, res) => res.writeHead(302, { location: `/${Number(req.url!.slice(1)) + 1}` }).end());
    const error = await pmError(client({ dev: true }).get(`${server.origin}/0`));
    expect(error.code).toBe("discovery_failed");
    expect(error.message).toContain("more than 5");
    expect(server.requests).toHaveLength(6);
  });

  it("honours maxRedirects per call", async () => {
    const server = await serve((req, res) => (req.url === "/2" ? res.end("x") : res.writeHead(302, { location: req.url === "/0" ? "/1" : "/2" }).end()));
    await expect(client({ dev: true }).get(`${server.origin}/0`, { maxRedirects: 1 })).rejects.toMatchObject({ code: "discovery_failed" });
    await expect(client({ dev: true }).get(`${server.origin}/0`, { maxRedirects: 2 })).resolves.toMatchObject({ status: 200 });
  });

  it.each([
    ["a → a", { "/a": "/a" }],
    ["a → b → a", { "/a": "/b", "/b": "/a" }],
    ["a → b → a#x", { "/a": "/b", "/b": "/a#x" }],
  ])("fails on a redirect loop %s", async (_name, table: Record<string, string>) => {
    const server = await serve((req, res) => res.writeHead(302, { location: table[req.url!] }).end());
    const error = await pmError(client({ dev: true }).get(`${server.origin}/a`));
    expect(error.code).toBe("discovery_failed");
    expect(error.message).toMatch(/loop/i);
  });

  it("returns a 3xx without Location as the answer", async () => {
    const server = await serve((_req, res) => res.writeHead(302).end("nowhere"));
    await expect(client({ dev: true }).get(server.origin)).resolves.toMatchObject({ status: 302 });
  });

  it("reads at most maxBytes (default 1 MiB) and says it cut the body", async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, "a");
    const server = await serve((_req, res) => res.end(big));
    const page = await client({ dev: true }).get(server.origin);
    expect(page.body.byteLength).toBe(1024 * 1024);
    expect(page.truncated).toBe(true);
    const small = await client({ dev: true }).get(server.origin, { maxBytes: 10 });
    expect(small).toMatchObject({ truncated: true });
    expect(small.body.byteLength).toBe(10);
  });

  it("a body of exactly maxBytes is not truncated", async () => {
    const server = await serve((_req, res) => {
      res.write("12345");
      setTimeout(() => res.end("67890"), 20);
    });
    const page = await client({ dev: true }).get(server.origin, { maxBytes: 10 });
    expect(page).toMatchObject({ truncated: false });
    expect(text(page.body)).toBe("1234567890");
  });

  it("stops reading when stopWhen says so, and cancels the body", async () => {
    let closed = false;
    const server = await serve((_req, res) => {
      res.on("close", () => (closed = true));
      res.writeHead(200, { "content-type": "text/html" });
      res.write("<link rel=pm href=/pm>");
      // The rest never comes: the client must not wait for it.
    });
    const seen: Array<{ status: number; url: string }> = [];
    const started = Date.now();
    const page = await client({ dev: true }).get(server.origin, {
      stopWhen: (chunk, response) => {
        seen.push({ status: response.status, url: response.url });
        return text(chunk).includes("rel=pm");
      },
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(text(page.body)).toBe("<link rel=pm href=/pm>");
    expect(page.truncated).toBe(false);
    expect(seen).toEqual([{ status: 200, url: `${server.origin}/` }]);
    await expect.poll(() => closed).toBe(true);
  });

  it("passes on an error thrown by stopWhen as it is", async () => {
    const server = await serve((_req, res) => res.end("x"));
    const boom = new Error("boom");
    await expect(
      client({ dev: true }).get(server.origin, {
        stopWhen: () => {
          throw boom;
        },
      }),
    ).rejects.toBe(boom);
  });

  it("times out when no answer comes (timeout)", async () => {
    const server = await serve(() => undefined);
    const started = Date.now();
    const error = await pmError(client({ dev: true, getTimeoutMs: 300 }).get(server.origin));
    expect(error.code).toBe("timeout");
    expect(error.message).toContain("300 ms");
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("times out when the body stalls, the limit counting redirects and body together", async () => {
    const server = await serve(async (req, res) => {
      if (req.url === "/") {
        await sleep(150);
        res.writeHead(302, { location: "/slow" }).end();
        return;
      }
      res.writeHead(200);
      res.write("start");
    });
    const error = await pmError(client({ dev: true }).get(server.origin, { timeoutMs: 400 }));
    expect(error.code).toBe("timeout");
  });

  it("reports a refused connection as network_error with its cause", async () => {
    const port = await closedPort();
    const error = await pmError(client({ dev: true }).get(`http://127.0.0.1:${port}/`));
    expect(error.code).toBe("network_error");
    expect(error.message).toContain("ECONNREFUSED");
    expect(error.cause).toBeDefined();
  });

  it("reports a name that does not resolve as network_error", async () => {
    const error = await pmError(client({ dev: true, lookup: fakeDns({}) }).get("http://nowhere.test/"));
    expect(error.code).toBe("network_error");
    expect(error.message).toContain("ENOTFOUND");
  });

  it.each([
    ["ftp://example.com/", "address_refused"],
    ["http://user:pw@example.com/", "address_refused"],
    ["not a url", "invalid_request"],
  ])("refuses to fetch %s (%s)", async (url, code) => {
    await expect(client({ dev: true }).get(url)).rejects.toMatchObject({ code });
  });
});

describe("postForm (§2, §6 limits)", () => {
  it("sends a form and parses a JSON answer", async () => {
    let body = "";
    const server = await serve(async (req, res) => {
      for await (const chunk of req) body += String(chunk);
      res.writeHead(202, { "content-type": "application/json" }).end('{"status":"accepted"}');
    });
    const form = new URLSearchParams({ action: "notify", sender: "https://a.example/" });
    const answer = await client({ dev: true }).postForm(`${server.origin}/pm?x=1`, form, { headers: { authorization: "Bearer t" } });
    expect(answer).toMatchObject({ url: `${server.origin}/pm?x=1`, status: 202, json: { status: "accepted" } });
    expect(body).toBe(form.toString());
    const headers = server.requests[0]!.headers;
    expect(server.requests[0]!.method).toBe("POST");
    expect(headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(headers.accept).toBe("application/json");
    expect(headers.authorization).toBe("Bearer t");
    expect(headers["user-agent"]).toBe(DEFAULT_USER_AGENT);
  });

  it("leaves json undefined for an answer that is not JSON", async () => {
    const server = await serve((_req, res) => res.writeHead(500, { "content-type": "text/html" }).end("<h1>oops</h1>"));
    const answer = await client({ dev: true }).postForm(server.origin, new URLSearchParams());
    expect(answer).toMatchObject({ status: 500, text: "<h1>oops</h1>", json: undefined });
  });

  it("does not follow redirects", async () => {
    const server = await serve((_req, res) => res.writeHead(307, { location: "/elsewhere" }).end());
    const answer = await client({ dev: true }).postForm(server.origin, new URLSearchParams());
    expect(answer.status).toBe(307);
    expect(server.requests).toHaveLength(1);
  });

  it("refuses an answer over 64 KiB (bad_response)", async () => {
    const server = await serve((_req, res) => res.end(Buffer.alloc(64 * 1024 + 1, "x")));
    const error = await pmError(client({ dev: true }).postForm(server.origin, new URLSearchParams()));
    expect(error.code).toBe("bad_response");
    const exact = await serve((_req, res) => res.end(Buffer.alloc(64 * 1024, "x")));
    await expect(client({ dev: true }).postForm(exact.origin, new URLSearchParams())).resolves.toMatchObject({ status: 200 });
  });

  it("times out (timeout)", async () => {
    const server = await serve(() => undefined);
    const error = await pmError(client({ dev: true, postTimeoutMs: 300 }).postForm(server.origin, new URLSearchParams()));
    expect(error.code).toBe("timeout");
  });

  it("is cut by the caller's signal (a job's lease) long before its own limit, throwing the signal's reason as it is", async () => {
    let closed!: () => void;
    const cut = new Promise<void>((resolve) => (closed = resolve));
    const server = await serve((_req, res) => void res.on("close", closed));
    const reason = new Error("the lease runs out");
    const started = Date.now();
    const post = new AbortController();
    setTimeout(() => post.abort(reason), 100);
    await expect(client({ dev: true }).postForm(server.origin, new URLSearchParams(), { signal: post.signal })).rejects.toBe(reason);
    await cut; // the server saw the connection go
    expect(Date.now() - started).toBeLessThan(2_000);
    const get = new AbortController();
    setTimeout(() => get.abort(reason), 100);
    await expect(client({ dev: true }).get(server.origin, { signal: get.signal })).rejects.toBe(reason);
  });

  it("refuses http in production", async () => {
    const server = await serve((_req, res) => res.end("{}"));
    const error = await pmError(client({ dev: false }).postForm(server.origin, new URLSearchParams()));
    expect(error.code).toBe("address_refused");
    expect(server.connections).toBe(0);
  });
});

describe("§6 production mode refuses before connecting", () => {
  it.each([
    ["http://", (port: number) => `http://allowed.test:${port}/`, "only https"],
    ["an IPv4 literal", (port: number) => `https://127.0.0.1:${port}/`, "not IP addresses"],
    ["an IPv4 literal in decimal", (port: number) => `https://2130706433:${port}/`, "not IP addresses"],
    ["an IPv6 literal", (port: number) => `https://[::ffff:127.0.0.1]:${port}/`, "not IP addresses"],
    ["localhost", (port: number) => `https://localhost:${port}/`, "localhost"],
    ["a .localhost name", (port: number) => `https://pm.localhost:${port}/`, "localhost"],
  ])("%s", async (_name, url, message) => {
    const server = await serve((_req, res) => res.end("reached"));
    const lookup = fakeDns({ "allowed.test": ["127.0.0.1"] });
    const error = await pmError(client({ dev: false, lookup, allowedAddresses: ["127.0.0.1"] }).get(url(server.port)));
    expect(error.code).toBe("address_refused");
    expect(error.message).toContain(message);
    expect(server.connections).toBe(0);
    expect(lookup.asked).toEqual([]);
  });

  it.each([
    ["10.0.0.1", ["10.0.0.1"], "Private-Use (10.0.0.0/8, RFC 1918)"],
    ["::ffff:127.0.0.1", ["::ffff:127.0.0.1"], "IPv4-mapped Address"],
    ["169.254.169.254 (cloud metadata)", ["169.254.169.254"], "Link Local"],
    ["127.0.0.1", ["127.0.0.1"], "Loopback"],
    ["::1", ["::1"], "Loopback Address"],
    ["100.64.0.1 (CGNAT)", ["100.64.0.1"], "Shared Address Space"],
    ["3fff::1 (documentation)", ["3fff::1"], "Documentation (3fff::/20, RFC 9637)"],
    ["a public and a loopback address", ["93.184.215.14", "127.0.0.1"], "127.0.0.1"],
  ])("a name resolving to %s", async (_name, addresses, reason) => {
    const server = await serve((_req, res) => res.end("reached"), { tls: true });
    const lookup = fakeDns({ "evil.example.test": addresses });
    const error = await pmError(client({ dev: false, lookup, ca: TEST_TLS.cert }).get(`https://evil.example.test:${server.port}/`));
    expect(error.code).toBe("address_refused");
    expect(error.message).toContain("evil.example.test");
    expect(error.message).toContain(reason);
    expect(error.message).toContain("§6");
    expect(lookup.asked).toEqual(["evil.example.test"]);
    expect(server.connections).toBe(0);
  });

  it("connects to an address it allows, over TLS checked against the name", async () => {
    const server = await serve((_req, res) => res.end("secure"), { tls: true });
    const lookup = fakeDns({ "allowed.test": ["127.0.0.1"] });
    const http = client({ dev: false, lookup, ca: TEST_TLS.cert, allowedAddresses: ["127.0.0.1"] });
    const page = await http.get(`https://allowed.test:${server.port}/`);
    expect(text(page.body)).toBe("secure");
    expect(lookup.asked).toEqual(["allowed.test"]);
  });

  it("still verifies the certificate against the host name (not the address)", async () => {
    const server = await serve((_req, res) => res.end("secure"), { tls: true });
    const lookup = fakeDns({ "other.test": ["127.0.0.1"] });
    const http = client({ dev: false, lookup, ca: TEST_TLS.cert, allowedAddresses: ["127.0.0.1"] });
    const error = await pmError(http.get(`https://other.test:${server.port}/`));
    expect(error.code).toBe("network_error");
    expect(error.message).toMatch(/CERT|altname/i);
    expect(server.requests).toHaveLength(0);
  });

  describe("every redirect hop is checked", () => {
    async function redirector(location: (refused: LoopbackServer) => string) {
      // The refused server listens on 127.0.0.2 so a connection to it would be seen.
      const refused = await serve((_req, res) => res.end("reached"), { tls: true, host: "127.0.0.2" });
      const allowed = await serve((_req, res) => res.writeHead(302, { location: location(refused) }).end(), { tls: true });
      const lookup = fakeDns({ "allowed.test": ["127.0.0.1"], "refused.test": ["127.0.0.2"] });
      const http = client({ dev: false, lookup, ca: TEST_TLS.cert, allowedAddresses: ["127.0.0.1"] });
      return { refused, allowed, lookup, http };
    }

    it.each([
      ["to a name resolving to a refused address", (r: LoopbackServer) => `https://refused.test:${r.port}/`, "127.0.0.2"],
      ["to http://", (r: LoopbackServer) => `http://refused.test:${r.port}/`, "only https"],
      ["to an IP literal", (r: LoopbackServer) => `https://127.0.0.2:${r.port}/`, "not IP addresses"],
      ["to localhost", (r: LoopbackServer) => `https://localhost:${r.port}/`, "localhost"],
    ])("a redirect %s is refused", async (_name, location, message) => {
      const { refused, allowed, http } = await redirector(location);
      const error = await pmError(http.get(`https://allowed.test:${allowed.port}/`));
      expect(error.code).toBe("address_refused");
      expect(error.message).toContain(message);
      expect(allowed.requests).toHaveLength(1);
      expect(refused.connections).toBe(0);
    });

    it("the same redirect is followed in development mode", async () => {
      const refused = await serve((_req, res) => res.end("reached"), { host: "127.0.0.2" });
      const allowed = await serve((_req, res) => res.writeHead(302, { location: `http://refused.test:${refused.port}/` }).end());
      const lookup = fakeDns({ "allowed.test": ["127.0.0.1"], "refused.test": ["127.0.0.2"] });
      const page = await client({ dev: true, lookup }).get(`http://allowed.test:${allowed.port}/`);
      expect(text(page.body)).toBe("reached");
      expect(page.redirects).toEqual([`http://allowed.test:${allowed.port}/`, `http://refused.test:${refused.port}/`]);
    });
  });
});
