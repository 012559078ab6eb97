/**
 * PROTOCOL.md §6 "Outgoing requests … checked after DNS resolution", attacked through
 * name lookups. A notify or authorize makes a receiver resolve a name the sender chose;
 * `dns.lookup` would resolve it on libuv's four-thread pool, which the store's file I/O
 * shares, so an attacker's name server that never answers could stall every read and
 * write. The client resolves with c-ares instead, within a deadline. Every DNS server
 * here is one this test runs on 127.0.0.1 (`support/dns-server.ts`); no other is asked.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PmError } from "@indiepm/core";
import { tempDir } from "@indiepm/test-support";
import { afterEach, describe, expect, it } from "vitest";
import { closingClients, type Cleanups } from "../../packages/core/test/support/client.js";
import { startServer } from "../../packages/core/test/support/loopback.js";
import { startDnsServer, type TestDnsServer } from "./support/dns-server.js";
import { startTls, TEST_TLS, type TlsServer } from "./support/tls.js";

const cleanups: Cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function dnsServer(options: { silent?: boolean } = {}): Promise<TestDnsServer> {
  const server = await startDnsServer(options);
  cleanups.push(() => server.close());
  return server;
}

const client = closingClients(cleanups);

async function tls(host = "127.0.0.1"): Promise<TlsServer> {
  const server = await startTls(host, 0, (_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("reached"));
  cleanups.push(() => server.close());
  return server;
}

/** How a request ended, and after how long. */
async function outcome(promise: Promise<unknown>): Promise<{ code: string; ms: number; message: string }> {
  const started = performance.now();
  try {
    await promise;
    return { code: "ok", ms: performance.now() - started, message: "" };
  } catch (error) {
    const ms = performance.now() - started;
    return { code: error instanceof PmError ? error.code : `not a PmError: ${String(error)}`, ms, message: error instanceof Error ? error.message : "" };
  }
}

const waitUntil = async (check: () => boolean, what: string, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("§6 name lookups stay off libuv's thread pool", () => {
  const DNS_TIMEOUT_MS = 1_500;
  const LOOKUPS = 20;

  it(`${LOOKUPS} lookups of attacker-chosen names hang at a silent DNS server: file reads keep answering in a few ms, each lookup fails timeout in bounded time`, async () => {
    const dns = await dnsServer({ silent: true });
    const dir = await tempDir("indiepm-dns-");
    cleanups.push(dir.remove);
    const file = join(dir.path, "store.db");
    await writeFile(file, "x".repeat(4096));
    const http = client({ dev: false, dnsServers: [dns.address], dnsTimeoutMs: DNS_TIMEOUT_MS });

    const lookups = Array.from({ length: LOOKUPS }, (_, i) => outcome(http.get(`https://slow${i}.attacker.example.test/`)));
    // Every name reached the silent server (A and AAAA each): the lookups are hanging now.
    await waitUntil(() => new Set(dns.questions.map((q) => q.name)).size === LOOKUPS, `${LOOKUPS} names asked`);

    const reads: number[] = [];
    const results = Promise.all(lookups);
    let settled = false;
    void results.then(() => (settled = true));
    while (!settled && reads.length < 2_000) {
      const started = performance.now();
      await readFile(file);
      reads.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 5));
    }
    const ended = await results;

    const sorted = [...reads].sort((a, b) => a - b);
    const figures = { reads: reads.length, medianMs: sorted[Math.floor(sorted.length / 2)]!, maxMs: sorted.at(-1)! };
    console.info(
      `dns-lookups: ${LOOKUPS} hung lookups; file reads meanwhile ${JSON.stringify(figures)}; lookups ended after ${Math.min(...ended.map((e) => e.ms)).toFixed(0)}–${Math.max(...ended.map((e) => e.ms)).toFixed(0)} ms`,
    );
    // File I/O went on while every lookup hung: dozens of reads in a few ms each. On a pool
    // held by the lookups (getaddrinfo) the first read alone waits for them to time out; the
    // bound on the slowest read leaves room for a busy CI machine, not for that.
    expect(figures.reads).toBeGreaterThan(20);
    expect(figures.medianMs).toBeLessThan(20);
    expect(figures.maxMs).toBeLessThan(DNS_TIMEOUT_MS / 2);
    // Each lookup failed as a timeout, within its deadline (and a little scheduling).
    expect(ended.map((e) => e.code)).toEqual(new Array(LOOKUPS).fill("timeout"));
    for (const e of ended) {
      expect(e.message).toMatch(/slow\d+\.attacker\.example\.test/);
      expect(e.ms).toBeGreaterThanOrEqual(DNS_TIMEOUT_MS * 0.6); // c-ares may give up a little before the deadline
      expect(e.ms).toBeLessThan(DNS_TIMEOUT_MS + 1_500);
    }
  });
});

describe("§6 the resolver's answers are checked like any other", () => {
  // [what, the name's addresses (undefined: NXDOMAIN), expected outcome]
  const rows: Array<[string, string[] | undefined, string]> = [
    ["an allowed address", ["127.0.0.1"], "ok"],
    ["a private address (A)", ["10.0.0.1"], "address_refused"],
    ["a loopback address (AAAA)", ["::1"], "address_refused"],
    ["an allowed and a documentation address", ["127.0.0.1", "3fff::1"], "address_refused"],
    ["no such name (NXDOMAIN)", undefined, "network_error"],
  ];

  it.each(rows)("a name that resolves to %s: %s", async (_what, addresses, expected) => {
    const dns = await dnsServer();
    const server = await tls();
    if (addresses) dns.names.set("site.example.test", addresses);
    const http = client({ dev: false, dnsServers: [dns.address], allowedAddresses: ["127.0.0.1"], ca: TEST_TLS.cert });
    const result = await outcome(http.get(`https://site.example.test:${server.port}/`));
    expect(result.code).toBe(expected);
    expect(dns.questions.map((q) => `${q.name} ${q.type}`).sort()).toEqual(["site.example.test 1", "site.example.test 28"]);
    expect(server.connections).toBe(expected === "ok" ? 1 : 0);
  });
});

describe("§6 localhost: loopback in development mode without asking DNS, refused in production", () => {
  it.each(["localhost", "pm.localhost"])("dev: http://%s:PORT/ reaches 127.0.0.1, and the DNS server is not asked", async (host) => {
    const dns = await dnsServer({ silent: true });
    const server = await startServer((_req, res) => void res.end("local"));
    cleanups.push(() => server.close());
    const page = await client({ dev: true, dnsServers: [dns.address] }).get(`http://${host}:${server.port}/`);
    expect(new TextDecoder().decode(page.body)).toBe("local");
    expect(dns.questions).toEqual([]);
  });

  it("production: a redirect to localhost is refused (the URL rules), and nothing asks DNS for it", async () => {
    const dns = await dnsServer();
    dns.names.set("site.example.test", ["127.0.0.1"]);
    const local = await tls();
    const server = await startTls("127.0.0.1", 0, (_req, res) => res.writeHead(302, { location: `https://localhost:${local.port}/` }).end());
    cleanups.push(() => server.close());
    const http = client({ dev: false, dnsServers: [dns.address], allowedAddresses: ["127.0.0.1"], ca: TEST_TLS.cert });
    const result = await outcome(http.get(`https://site.example.test:${server.port}/`));
    expect(result.code).toBe("address_refused");
    expect(dns.questions.every((q) => q.name === "site.example.test")).toBe(true);
    expect(local.connections).toBe(0);
  });
});
