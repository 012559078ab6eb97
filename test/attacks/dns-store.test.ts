/**
 * PROTOCOL.md §6 Abuse, through DNS: `notify` makes the receiver resolve a sender name of
 * the attacker's choice. With `dns.lookup` those lookups would sit on libuv's thread
 * pool while the attacker's name server keeps silent, and the store's file writes (the
 * nedb store appends every handshake) would queue behind them: every later request
 * would hang. A production pm server (HTTPS on 127.0.0.1, nedb in a temp folder) whose
 * client asks a DNS server this test runs on 127.0.0.1 — silent for the attacker's names.
 */
import { mkdtemp, rm } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHttpClient, createPmServer, openNedbStore, type ClosableHttpClient, type PmServer, type Store } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { quietLogger, waitFor } from "../harness/hosts.js";
import { startDnsServer, type TestDnsServer } from "./support/dns-server.js";
import { startTls, TEST_TLS, type TlsServer } from "./support/tls.js";

const LOOPBACK = "127.0.0.1";
const DNS_TIMEOUT_MS = 2_500;
const ATTACKS = 20;

let dns: TestDnsServer;
let bobTls: TlsServer;
let bob: PmServer;
let store: Store;
let http: ClosableHttpClient;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "indiepm-dns-store-"));
  dns = await startDnsServer({ silent: (name) => name.includes("attacker") });
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  bobTls = await startTls(LOOPBACK, 0, (req, res) => handler(req, res));
  dns.names.set("pm-bob.example.test", [LOOPBACK]);
  http = createHttpClient({ dev: false, dnsServers: [dns.address], dnsTimeoutMs: DNS_TIMEOUT_MS, allowedAddresses: [LOOPBACK], ca: TEST_TLS.cert });
  store = await openNedbStore({ dir });
  bob = createPmServer({
    endpoint: `https://pm-bob.example.test:${bobTls.port}/`,
    sites: ["https://bob.example.test/"],
    store,
    dev: false,
    http,
    logger: quietLogger,
    rateLimits: { perSenderPerMinute: 1e6, perClientPerMinute: 1e6 },
    // One try per handshake within the test: the next is a minute away.
    retry: { baseDelayMs: 60_000, maxDelayMs: 60_000, handshakeTimeoutMs: 5_000, giveUpAfterMs: 600_000 },
  });
  handler = createNodeHandler(bob, { logger: quietLogger });
  await bob.start();
});

afterAll(async () => {
  await bob?.close(1_000);
  await Promise.allSettled([bobTls?.close(), dns?.close()]);
  await http?.close();
  await rm(dir, { recursive: true, force: true });
});

function notify(sender: string) {
  return http.postForm(
    bob.endpoint,
    new URLSearchParams({ action: "notify", sender, recipient: "https://bob.example.test/", message: `urn:uuid:${crypto.randomUUID()}` }),
  );
}

it(`${ATTACKS} notifies naming senders whose name server never answers: the store keeps answering while their lookups hang, and each dialback fails timeout`, async () => {
  const senders = Array.from({ length: ATTACKS }, (_, i) => `https://slow${i}.attacker.example.test/`);
  expect((await Promise.all(senders.map(notify))).map((a) => a.status)).toEqual(new Array(ATTACKS).fill(202));
  // The dialbacks are hanging in DNS now (the queue runs up to 16 at once).
  await waitFor(() => new Set(dns.questions.filter((q) => q.name.includes("attacker")).map((q) => q.name)).size >= 16, 5_000, "16 attacker names asked");

  // Meanwhile: more notifies (each one a nedb write) and owner reads, timed.
  const timings: number[] = [];
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    expect((await notify(`https://later${i}.attacker.example.test/`)).status).toBe(202);
    await bob.inbox();
    timings.push(performance.now() - started);
  }
  console.info(
    `dns-store: 10 notify+inbox while ${ATTACKS} dialbacks hung in DNS: max ${Math.max(...timings).toFixed(1)} ms, each ${timings.map((t) => t.toFixed(0)).join(", ")} ms`,
  );
  // Blocked behind lookups on the pool, a write would wait for them to time out (2.5 s); the
  // bound leaves room for a busy CI machine, not for that.
  expect(Math.max(...timings)).toBeLessThan(DNS_TIMEOUT_MS / 2);

  // Each of the first dialbacks ended its try as a timeout, in bounded time.
  const started = Date.now();
  const docs = await waitFor(
    async () => {
      const found = await store.find<{ _id: string; sender: string; error?: string; state: string }>("handshakes", {});
      const first = found.filter((d) => senders.includes(d.sender));
      return first.length === ATTACKS && first.every((d) => d.error !== undefined) ? first : undefined;
    },
    3 * DNS_TIMEOUT_MS + 5_000,
    "every dialback's first try to end",
  );
  expect(new Set(docs.map((d) => d.error))).toEqual(new Set(["timeout"]));
  expect(Date.now() - started).toBeLessThan(3 * DNS_TIMEOUT_MS + 2_000);
});
