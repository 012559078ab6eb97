/**
 * PROTOCOL.md §6 "Identity" at §3/§4 step 3, in production mode: when bob's pm discovers
 * the sender site S, a redirect to another origin counts only when it is permanent (301,
 * 308); a temporary one (302, 303, 307) fails the handshake, so an open redirect on
 * alice's site cannot lend her name to mallory. Everything runs over HTTPS on 127.0.0.1
 * with the test certificate, and every name is resolved by the client's real resolver
 * (c-ares) asking a DNS server this test runs on 127.0.0.1 — no name table.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createHttpClient, createMemoryStore, createPmServer, type ClosableHttpClient, type PmServer, type Store } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietLogger, waitFor } from "../harness/hosts.js";
import { startDnsServer, type TestDnsServer } from "./support/dns-server.js";
import { startTls, TEST_TLS, type TlsServer } from "./support/tls.js";

const LOOPBACK = "127.0.0.1";

let dns: TestDnsServer;
let world: TlsServer;
let bobTls: TlsServer;
let bob: PmServer;
let bobStore: Store;
let http: ClosableHttpClient;
/** Pages by `host + path`. */
const pages = new Map<string, (res: ServerResponse) => void>();
/** Every POST the world received, by host. */
const posted: Array<{ host: string; action: string | null; sender: string | null }> = [];
let serial = 0;

const urlOf = (host: string, path = "/") => `https://${host}:${world.port}${path}`;

function named(prefix: string): string {
  const host = `${prefix}${++serial}.example.test`;
  dns.names.set(host, [LOOPBACK]);
  return host;
}

function namesEndpoint(endpoint: string) {
  return (res: ServerResponse) => res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><link rel="pm" href="${endpoint}"><p>home`);
}

function worldHandler(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
    if (req.method !== "POST") {
      const page = pages.get(host + (req.url ?? "/"));
      if (page) page(res);
      else res.writeHead(404).end();
      return;
    }
    // A yes-man pm endpoint: it would verify anything and take any token.
    const params = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
    posted.push({ host, action: params.get("action"), sender: params.get("sender") });
    const verify = params.get("action") === "verify";
    res.writeHead(verify ? 200 : 202, { "content-type": "application/json" }).end(JSON.stringify(verify ? { valid: true } : { status: "accepted" }));
  });
}

beforeAll(async () => {
  dns = await startDnsServer();
  world = await startTls(LOOPBACK, 0, worldHandler);
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  bobTls = await startTls(LOOPBACK, 0, (req, res) => handler(req, res));
  dns.names.set("pm-bob.example.test", [LOOPBACK]);
  http = createHttpClient({
    dev: false,
    dnsServers: [dns.address],
    allowedAddresses: [LOOPBACK],
    ca: TEST_TLS.cert,
    getTimeoutMs: 3_000,
    postTimeoutMs: 3_000,
  });
  bobStore = createMemoryStore();
  bob = createPmServer({
    endpoint: `https://pm-bob.example.test:${bobTls.port}/`,
    sites: [urlOf("bob.example.test")],
    store: bobStore,
    dev: false,
    http,
    logger: quietLogger,
    rateLimits: { perSenderPerMinute: 1e6, perClientPerMinute: 1e6 },
    retry: { baseDelayMs: 50, maxDelayMs: 400, handshakeTimeoutMs: 5_000, giveUpAfterMs: 60_000 },
  });
  handler = createNodeHandler(bob, { logger: quietLogger });
  await bob.start();
});

afterAll(async () => {
  await bob?.close(1_000);
  await Promise.allSettled([bobTls?.close(), world?.close(), dns?.close()]);
  await http?.close();
});

/** bob's dialback for `sender`, once it ended. */
async function handshakeOf(sender: string) {
  return waitFor(
    async () => {
      const [doc] = await bobStore.find<{ _id: string; state: string; error?: string; detail?: string }>("handshakes", { where: { sender } });
      return doc && doc.state !== "active" ? doc : undefined;
    },
    8_000,
    `bob's dialback for ${sender} to end`,
  );
}

interface Row {
  name: string;
  /** alice's pages by path (`/home` names her endpoint unless a row says otherwise), given the hosts of this row. */
  alicePages: (hosts: { alice: string; mallory: string }) => Record<string, (res: ServerResponse) => void>;
  /** Whose endpoint bob's pm verifies at, or `null`: the handshake fails and nobody is asked. */
  verifiedAt: "mallory" | "alice" | null;
}

const to = (status: number, location: string) => (res: ServerResponse) => res.writeHead(status, { location }).end();

const rows: Row[] = [
  ...[302, 303, 307].map(
    (status): Row => ({
      name: `${status} to mallory's site: the handshake fails, mallory's endpoint is never asked`,
      alicePages: (h) => ({ "/": to(status, urlOf(h.mallory)) }),
      verifiedAt: null,
    }),
  ),
  {
    name: "302 within alice's origin, then 302 to mallory's site: fails",
    alicePages: (h) => ({ "/": to(302, urlOf(h.alice, "/go")), "/go": to(302, urlOf(h.mallory)) }),
    verifiedAt: null,
  },
  ...[301, 308].map(
    (status): Row => ({
      name: `${status} to another site: a permanent move counts, bob's pm verifies at the endpoint it names`,
      alicePages: (h) => ({ "/": to(status, urlOf(h.mallory)) }),
      verifiedAt: "mallory",
    }),
  ),
  { name: "302 within alice's origin: counts", alicePages: (h) => ({ "/": to(302, urlOf(h.alice, "/home")) }), verifiedAt: "alice" },
];

describe("§6 Identity: redirects of the sender site at §3/§4 step 3 (production, real resolver)", () => {
  it.each(rows.map((r) => [r.name, r] as const))("%s", async (_name, row) => {
    const alice = named("alice");
    const mallory = named("mallory");
    const [alicePm, malloryPm] = [named("pm-alice"), named("pm-mallory")];
    pages.set(`${alice}/home`, namesEndpoint(urlOf(alicePm)));
    pages.set(`${mallory}/`, namesEndpoint(urlOf(malloryPm)));
    for (const [path, page] of Object.entries(row.alicePages({ alice, mallory }))) pages.set(alice + path, page);
    const sender = urlOf(alice);

    const answer = await http.postForm(
      bob.endpoint,
      new URLSearchParams({ action: "notify", sender, recipient: urlOf("bob.example.test"), message: `urn:uuid:${crypto.randomUUID()}` }),
    );
    expect(answer.status).toBe(202);
    const handshake = await handshakeOf(sender);

    const asked = (host: string) => posted.filter((p) => p.host === host).map((p) => p.action);
    if (row.verifiedAt === null) {
      expect(handshake).toMatchObject({ state: "failed", error: "discovery_failed" });
      expect(handshake.detail).toMatch(/temporary redirect \(30[237]\) to another origin/);
      expect({ mallory: asked(malloryPm), alice: asked(alicePm) }).toEqual({ mallory: [], alice: [] });
    } else {
      expect(handshake).toMatchObject({ state: "done" });
      const pm = row.verifiedAt === "mallory" ? malloryPm : alicePm;
      expect(asked(pm)).toEqual(["verify", "request"]);
      expect(asked(row.verifiedAt === "mallory" ? alicePm : malloryPm)).toEqual([]);
    }
    // Every name went through the DNS server this test runs (A and AAAA).
    expect(dns.questions.some((q) => q.name === alice && q.type === 28)).toBe(true);
  });
});
