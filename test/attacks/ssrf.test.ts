/**
 * PROTOCOL.md §6 "Outgoing requests" in production mode: every outbound path × every
 * kind of refused address. Two pm servers (alice's and bob's) run with `dev: false` over
 * HTTPS on 127.0.0.2, with `createHttpClient({ dev: false, lookup, allowedAddresses:
 * ["127.0.0.2"], ca })`: the test's name table stands in for DNS, and 127.0.0.2 is the
 * one address the test allows on purpose. Everything else an attacker can make a server
 * reach — a name that resolves to loopback, private, link-local, unique-local,
 * IPv4-mapped, unspecified or multicast addresses (also written in decimal, octal, hex),
 * a redirect, a name that changes its answer between two requests — must be refused
 * before a socket is opened: trap servers listen on 127.0.0.1 and ::1 on the port every
 * refused URL names, and a spy sees every TCP connection this process starts. After each
 * test, both must have seen nothing but 127.0.0.2.
 *
 * One HTTPS server ("the world", 127.0.0.2) plays every site page (by Host) and every
 * attacker endpoint (a yes-man that records what it is sent).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createHttpClient, createMemoryStore, createPmServer, type ClosableHttpClient, type PmServer, type Store } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { quietLogger, settled, waitFor } from "../harness/hosts.js";
import { nameTable, spyOnConnections, startTls, TEST_TLS, type TlsServer } from "./support/tls.js";

const ALLOWED = "127.0.0.2";

/** §6: addresses a production server refuses, as a name's lookup returns them. */
const REFUSED: ReadonlyArray<{ kind: string; addresses: string[] }> = [
  { kind: "loopback 127.0.0.1", addresses: ["127.0.0.1"] },
  { kind: "loopback 127.1.2.3", addresses: ["127.1.2.3"] },
  { kind: "loopback ::1", addresses: ["::1"] },
  { kind: "private 10.0.0.1", addresses: ["10.0.0.1"] },
  { kind: "private 172.16.0.1", addresses: ["172.16.0.1"] },
  { kind: "private 192.168.1.1", addresses: ["192.168.1.1"] },
  { kind: "link-local 169.254.169.254 (cloud metadata)", addresses: ["169.254.169.254"] },
  { kind: "link-local fe80::1", addresses: ["fe80::1"] },
  { kind: "unique-local fc00::1", addresses: ["fc00::1"] },
  { kind: "IPv4-mapped ::ffff:127.0.0.1", addresses: ["::ffff:127.0.0.1"] },
  { kind: "IPv4-mapped ::ffff:169.254.169.254", addresses: ["::ffff:169.254.169.254"] },
  { kind: "decimal 2130706433", addresses: ["2130706433"] },
  { kind: "octal 0177.0.0.1", addresses: ["0177.0.0.1"] },
  { kind: "hex 0x7f000001", addresses: ["0x7f000001"] },
  { kind: "unspecified 0.0.0.0", addresses: ["0.0.0.0"] },
  { kind: "unspecified ::", addresses: ["::"] },
  { kind: "multicast 224.0.0.1", addresses: ["224.0.0.1"] },
  // Registry blocks beyond §6's named kinds (IANA special-purpose, "Globally Reachable" false).
  { kind: "shared address space (CGNAT) 100.64.0.1", addresses: ["100.64.0.1"] },
  { kind: "NAT64 of a private address 64:ff9b::a00:1", addresses: ["64:ff9b::a00:1"] },
  { kind: "documentation 3fff::1", addresses: ["3fff::1"] },
  { kind: "the allowed address and a refused one", addresses: [ALLOWED, "127.0.0.1"] },
];

/** Hosts the URL rules refuse before any lookup: IP literals in every spelling (production takes domain names only). */
const LITERALS = [
  "127.0.0.1",
  "[::1]",
  "2130706433",
  "0177.0.0.1",
  "0x7f000001",
  "[::ffff:127.0.0.1]",
  "10.0.0.1",
  "169.254.169.254",
  "[fe80::1]",
  "[fc00::1]",
];

interface Posted {
  host: string;
  action: string | null;
  params: URLSearchParams;
}

let world: TlsServer;
let trap4: TlsServer;
let trap6: TlsServer;
let port: number;
const dns = nameTable();
const spy = spyOnConnections();
let http: ClosableHttpClient;
/** Site pages by host name. */
const pages = new Map<string, (res: ServerResponse) => void>();
/** Called before the world answers a POST to this host (a name can change its answer in between). */
const beforeAnswer = new Map<string, (p: Posted) => void>();
const posted: Posted[] = [];
/** What the pm servers logged as warnings (the local detail that answers leave out). */
const warnings: Array<{ who: "alice" | "bob"; message: string; data: Record<string, unknown> }> = [];
const pm: Record<"alice" | "bob", { server: PmServer; tls: TlsServer; store: Store }> = {} as never;
let aliceSite: string;
let bobSite: string;
let bobContacts: string;
let bobHook: string;
let serial = 0;

const name = (prefix: string) => `${prefix}${++serial}.example.test`;
const urlOf = (host: string, path = "/") => `https://${host}:${port}${path}`;

function namesEndpoint(endpoint: string) {
  return (res: ServerResponse) => res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><link rel="pm" href="${endpoint}"><p>home`);
}
function redirectsTo(location: string) {
  return (res: ServerResponse) => res.writeHead(302, { location }).end();
}

/** A site on an allowed name whose page is `page`. */
function site(page: (res: ServerResponse) => void): string {
  const host = name("site");
  dns.set(host, ALLOWED);
  pages.set(host, page);
  return urlOf(host);
}

/** A name that resolves to the refused addresses of `kind`. */
function refusedName(kind: (typeof REFUSED)[number]): string {
  const host = name("x");
  dns.set(host, ...kind.addresses);
  return host;
}

function worldHandler(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
    // A new connection for every request, so every request resolves its name again.
    res.setHeader("connection", "close");
    if (req.method !== "POST") {
      const page = pages.get(host);
      if (page) page(res);
      else res.writeHead(404).end();
      return;
    }
    const params = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
    const p: Posted = { host, action: params.get("action"), params };
    posted.push(p);
    beforeAnswer.get(host)?.(p);
    const body = p.action === "verify" ? { valid: true } : p.action === "deliver" ? { status: "delivered" } : { status: "accepted" };
    res.writeHead(p.action === "deliver" ? 201 : p.action === "verify" ? 200 : 202, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
}

async function startPm(
  who: "alice" | "bob",
  sites: (port: number) => string[],
  extra: (sites: string[]) => Partial<Parameters<typeof createPmServer>[0]> = () => ({}),
) {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const tls = await startTls(ALLOWED, 0, (req, res) => handler(req, res));
  const endpointHost = `pm-${who}.example.test`;
  dns.set(endpointHost, ALLOWED);
  const store = createMemoryStore();
  const siteUrls = sites(port);
  const server = createPmServer({
    endpoint: `https://${endpointHost}:${tls.port}/`,
    sites: siteUrls,
    store,
    dev: false,
    http,
    logger: { ...quietLogger, warn: (message: string, data?: Record<string, unknown>) => void warnings.push({ who, message, data: data ?? {} }) },
    rateLimits: { perSenderPerMinute: 1e6, perClientPerMinute: 1e6 },
    retry: { baseDelayMs: 50, maxDelayMs: 400, handshakeTimeoutMs: 5_000, giveUpAfterMs: 60_000 },
    ...extra(siteUrls),
  });
  handler = createNodeHandler(server, { logger: quietLogger });
  await server.start();
  pm[who] = { server, tls, store };
  return server.endpoint;
}

/** The world on 127.0.0.2 and traps on 127.0.0.1 and ::1, all on one port number. */
async function listenWithTraps(): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    world = await startTls(ALLOWED, 0, worldHandler);
    try {
      trap4 = await startTls("127.0.0.1", world.port, (_req, res) => res.writeHead(418).end());
      trap6 = await startTls("::1", world.port, (_req, res) => res.writeHead(418).end());
      port = world.port;
      return;
    } catch (error) {
      await Promise.allSettled([world.close(), trap4?.close()]);
      if (attempt > 10) throw error;
    }
  }
}

beforeAll(async () => {
  await listenWithTraps();
  http = createHttpClient({ dev: false, lookup: dns.lookup, allowedAddresses: [ALLOWED], ca: TEST_TLS.cert, getTimeoutMs: 3_000, postTimeoutMs: 3_000 });
  const alicePm = await startPm("alice", (p) => [`https://alice.example.test:${p}/`]);
  const bobPm = await startPm(
    "bob",
    (p) => [`https://bob.example.test:${p}/`, `https://bob.example.test:${p}/contacts/`, `https://bob.example.test:${p}/hook/`],
    // bob's contacts-only site counts as contacts sites whose names resolve to refused addresses (vouch rows).
    (s) => ({ policies: { [s[1]!]: { policy: "contacts", contacts: REFUSED.map((_k, i) => urlOf(`vouch${i}.example.test`)) } } }),
  );
  for (const [i, k] of REFUSED.entries()) dns.set(`vouch${i}.example.test`, ...k.addresses);
  [aliceSite, bobSite, bobContacts, bobHook] = [
    `https://alice.example.test:${port}/`,
    `https://bob.example.test:${port}/`,
    `https://bob.example.test:${port}/contacts/`,
    `https://bob.example.test:${port}/hook/`,
  ];
  dns.set("alice.example.test", ALLOWED);
  dns.set("bob.example.test", ALLOWED);
  pages.set("alice.example.test", namesEndpoint(alicePm));
  pages.set("bob.example.test", namesEndpoint(bobPm));
  // The harness works in production mode: alice writes to bob.
  const sent = await pm.alice.server.send({ from: aliceSite, to: [bobSite], content: "production mode works" });
  expect((await settled(pm.alice.server, sent.message)).deliveries[0]).toMatchObject({ status: "delivered" });
}, 60_000);

afterAll(async () => {
  spy.restore();
  await Promise.allSettled([pm.alice?.server.close(1_000), pm.bob?.server.close(1_000)]);
  await Promise.allSettled([pm.alice?.tls.close(), pm.bob?.tls.close(), world?.close(), trap4?.close(), trap6?.close()]);
  await http?.close();
});

let before = { attempts: 0, trap4: 0, trap6: 0 };
beforeEach(() => {
  before = { attempts: spy.attempts.length, trap4: trap4.connections, trap6: trap6.connections };
});
afterEach(async () => {
  // Once both engines are idle (nothing running or due now), nothing but the allowed
  // address was connected to during the test, and the traps saw nobody.
  await Promise.all([pm.alice.server.idle(), pm.bob.server.idle()]);
  expect(spy.attempts.slice(before.attempts).filter((a) => a.host !== ALLOWED)).toEqual([]);
  expect({ trap4: trap4.connections - before.trap4, trap6: trap6.connections - before.trap6 }).toEqual({ trap4: 0, trap6: 0 });
});

/** POST a federation request to a pm server, as a peer would (through the production client). */
function post(to: "alice" | "bob", params: Record<string, string>) {
  return http.postForm(pm[to].server.endpoint, new URLSearchParams(params));
}

async function deliveryOf(message: string) {
  return (await settled(pm.alice.server, message, 8_000)).deliveries[0]!;
}

/** bob's dialback for `sender`, once it ended. */
async function handshakeOf(sender: string) {
  return waitFor(
    async () => {
      const [doc] = await pm.bob.store.find<{ _id: string; state: string; error?: string; detail?: string }>("handshakes", { where: { sender } });
      return doc && doc.state !== "active" ? doc : undefined;
    },
    8_000,
    `bob's dialback for ${sender} to end`,
  );
}

const msg = () => `urn:uuid:${crypto.randomUUID()}`;

/** IPv4 (dotted) and IPv6 (two colons or more) literals in a text a remote party was sent. */
const ipLiteralsIn = (text: string) => text.match(/\b(?:\d{1,3}\.){3}\d{1,3}\b|(?:[0-9a-f]{0,4}:){2,}[0-9a-f]{0,4}/gi) ?? [];
const postedTo = (host: string) => posted.filter((p) => p.host === host);

describe.each(REFUSED)("§6 outgoing requests refused in production: $kind", (kind) => {
  // ---- the sender's side (E_S) ----
  it("§3/§4 step 1: discovery of the recipient site — the delivery fails address_refused", async () => {
    const sent = await pm.alice.server.send({ from: aliceSite, to: [urlOf(refusedName(kind))], content: "x" });
    expect(await deliveryOf(sent.message)).toMatchObject({ status: "failed", error: "address_refused" });
  });

  it("§1: the recipient site redirects to a refused address — address_refused", async () => {
    const recipient = site(redirectsTo(urlOf(refusedName(kind))));
    const sent = await pm.alice.server.send({ from: aliceSite, to: [recipient], content: "x" });
    expect(await deliveryOf(sent.message)).toMatchObject({ status: "failed", error: "address_refused" });
  });

  it.each(["message", "token"] as const)("§3/§4 step 2: notify/authorize (%s flow) to the endpoint the recipient names — address_refused", async (flow) => {
    const recipient = site(namesEndpoint(urlOf(refusedName(kind))));
    const sent = await pm.alice.server.send({ from: aliceSite, to: [recipient], content: "x", flow });
    expect(await deliveryOf(sent.message)).toMatchObject({ status: "failed", error: "address_refused" });
  });

  it("§3 step 6: deliver to the endpoint a request names (the recipient's page switched to it) — address_refused", async () => {
    let page = namesEndpoint(urlOf("endpoint.example.test"));
    dns.set("endpoint.example.test", ALLOWED);
    const recipient = site((res) => page(res));
    const sent = await pm.alice.server.send({ from: aliceSite, to: [recipient], content: "x", flow: "message" });
    await waitFor(() => posted.find((p) => p.action === "notify" && p.params.get("recipient") === recipient));
    const refused = urlOf(refusedName(kind));
    page = namesEndpoint(refused);
    const answer = await post("alice", { action: "request", sender: aliceSite, recipient, message: sent.message, endpoint: refused, token: "t".repeat(43) });
    expect(answer.status).toBe(202);
    expect(await deliveryOf(sent.message)).toMatchObject({ status: "failed", error: "address_refused" });
  });

  it("§4 step 6: deliver after the endpoint's name starts resolving to a refused address (DNS rebinding) — address_refused", async () => {
    const endpointHost = name("e");
    dns.set(endpointHost, ALLOWED);
    const recipient = site(namesEndpoint(urlOf(endpointHost)));
    const sent = await pm.alice.server.send({ from: aliceSite, to: [recipient], content: "x", flow: "token" });
    const authorize = await waitFor(() => posted.find((p) => p.action === "authorize" && p.params.get("recipient") === recipient));
    dns.set(endpointHost, ...kind.addresses);
    const code = authorize.params.get("code")!;
    const answer = await post("alice", {
      action: "grant",
      sender: aliceSite,
      recipient,
      code,
      endpoint: urlOf(endpointHost),
      token: "t".repeat(43),
      expires_in: "3600",
    });
    expect(answer.status).toBe(202);
    expect(await deliveryOf(sent.message)).toMatchObject({ status: "failed", error: "address_refused" });
    expect(postedTo(endpointHost).map((p) => p.action)).toEqual(["authorize"]);
  });

  it("§3 step 5: the recipient site resolves to a refused address when request comes — 503, still pending, nothing fetched", async () => {
    dns.set("endpoint.example.test", ALLOWED);
    const recipientHost = name("site");
    dns.set(recipientHost, ALLOWED);
    pages.set(recipientHost, namesEndpoint(urlOf("endpoint.example.test")));
    const recipient = urlOf(recipientHost);
    const sent = await pm.alice.server.send({ from: aliceSite, to: [recipient], content: "x", flow: "message" });
    await waitFor(() => posted.find((p) => p.action === "notify" && p.params.get("recipient") === recipient));
    dns.set(recipientHost, ...kind.addresses);
    const answer = await post("alice", {
      action: "request",
      sender: aliceSite,
      recipient,
      message: sent.message,
      endpoint: urlOf("endpoint.example.test"),
      token: "t".repeat(43),
    });
    expect({ status: answer.status, error: (answer.json as { error?: string }).error }).toEqual({ status: 503, error: "temporarily_unavailable" });
    // §2: the answer says why without the address the name resolved to (that detail is logged locally).
    expect(answer.text).toContain("refused address");
    expect(ipLiteralsIn(answer.text)).toEqual([]);
    // …and alice's own log has the detail: the name and the address it resolved to.
    const logged = warnings.find((w) => w.who === "alice" && w.data.recipient === recipient);
    expect(String(logged?.data.detail)).toContain(`${recipientHost} (${kind.addresses.at(-1)})`);
    expect((await pm.alice.server.getMessage(sent.message)).sent!.deliveries[0]!.status).toBe("pending");
  });

  // ---- the receiver's side (E_R) ----
  it.each(["notify", "authorize"] as const)("§3/§4 step 3: discovery of the sender site named by %s — the dialback fails address_refused", async (action) => {
    const sender = urlOf(refusedName(kind));
    const answer = await post("bob", { action, sender, recipient: bobSite, ...(action === "notify" ? { message: msg() } : { code: "c".repeat(43) }) });
    expect(answer.status).toBe(202);
    expect(await handshakeOf(sender)).toMatchObject({ state: "failed", error: "address_refused" });
  });

  it("§1: the sender site redirects to a refused address — the dialback fails address_refused", async () => {
    const sender = site(redirectsTo(urlOf(refusedName(kind))));
    expect((await post("bob", { action: "notify", sender, recipient: bobSite, message: msg() })).status).toBe(202);
    expect(await handshakeOf(sender)).toMatchObject({ state: "failed", error: "address_refused" });
  });

  it("§3 step 3: verify to the endpoint the sender site names — address_refused", async () => {
    const sender = site(namesEndpoint(urlOf(refusedName(kind))));
    expect((await post("bob", { action: "notify", sender, recipient: bobSite, message: msg() })).status).toBe(202);
    expect(await handshakeOf(sender)).toMatchObject({ state: "failed", error: "address_refused" });
  });

  it.each([
    ["notify", "request"],
    ["authorize", "grant"],
  ] as const)("§3/§4 step 4: after %s, the sender endpoint's name rebinds between verify and %s — address_refused", async (action, step4) => {
    const endpointHost = name("e");
    dns.set(endpointHost, ALLOWED);
    beforeAnswer.set(endpointHost, (p) => {
      if (p.action === "verify") dns.set(endpointHost, ...kind.addresses);
    });
    const sender = site(namesEndpoint(urlOf(endpointHost)));
    const answer = await post("bob", { action, sender, recipient: bobSite, ...(action === "notify" ? { message: msg() } : { code: "c".repeat(43) }) });
    expect(answer.status).toBe(202);
    expect(await handshakeOf(sender)).toMatchObject({ state: "failed", error: "address_refused" });
    // verify reached the endpoint while its name was allowed; `request`/`grant` never did.
    expect(postedTo(endpointHost).map((p) => p.action)).toEqual(["verify"]);
    expect(postedTo(endpointHost).some((p) => p.action === step4)).toBe(false);
  });

  it("§7 vouch: a first contact's vouch page on a contact's site that resolves to a refused address — not admitted, nothing fetched", async () => {
    const i = REFUSED.indexOf(kind);
    const sender = site(namesEndpoint(urlOf("endpoint.example.test")));
    const answer = await post("bob", { action: "notify", sender, recipient: bobContacts, message: msg(), vouch: urlOf(`vouch${i}.example.test`, "/vouch") });
    expect(answer.status).not.toBe(202);
    expect([403, 503]).toContain(answer.status);
    expect(ipLiteralsIn(answer.text)).toEqual([]);
    if (answer.status === 503) expect(answer.text).toContain("refused address");
  });

  // ---- the owner's side ----
  it("webhook: the notification of a new message to a webhook that resolves to a refused address fails address_refused", async () => {
    await pm.bob.server.updateSettings(bobHook, { webhook: urlOf(refusedName(kind), "/hook") });
    const sent = await pm.alice.server.send({ from: aliceSite, to: [bobHook], content: "x" });
    expect(await deliveryOf(sent.message)).toMatchObject({ status: "delivered" });
    const hook = await waitFor(async () => {
      const docs = await pm.bob.store.find<{ _id: string; status: string; error?: string; payload: { message: string } }>("webhooks", {
        where: { site: bobHook },
      });
      const doc = docs.find((d) => d.payload.message === sent.message);
      return doc && doc.status !== "pending" ? doc : undefined;
    });
    expect(hook).toMatchObject({ status: "failed", error: "address_refused" });
  });
});

describe.each(LITERALS)("§6 and the URL rules: the IP literal %s is refused before any lookup", (literal) => {
  const literalUrl = (path = "/") => `https://${literal}:${port}${path}`;

  it("send() to it is invalid_request", async () => {
    await expect(pm.alice.server.send({ from: aliceSite, to: [literalUrl()], content: "x" })).rejects.toMatchObject({ code: "invalid_request" });
  });

  it.each([
    ["names it as its endpoint", (u: string) => namesEndpoint(u)],
    ["redirects to it", (u: string) => redirectsTo(u)],
  ])("a recipient site that %s: the delivery fails address_refused", async (_what, page) => {
    const recipient = site(page(literalUrl()));
    const sent = await pm.alice.server.send({ from: aliceSite, to: [recipient], content: "x" });
    expect(await deliveryOf(sent.message)).toMatchObject({ status: "failed", error: "address_refused" });
  });

  it.each([
    ["names it as its endpoint", (u: string) => namesEndpoint(u)],
    ["redirects to it", (u: string) => redirectsTo(u)],
  ])("a sender site that %s: bob's dialback fails address_refused", async (_what, page) => {
    const sender = site(page(literalUrl()));
    expect((await post("bob", { action: "notify", sender, recipient: bobSite, message: msg() })).status).toBe(202);
    expect(await handshakeOf(sender)).toMatchObject({ state: "failed", error: "address_refused" });
  });

  it.each(["sender", "vouch", "endpoint"] as const)("as %s of a federation request: 400 invalid_request", async (field) => {
    const params =
      field === "endpoint"
        ? { action: "request", sender: aliceSite, recipient: bobSite, message: msg(), endpoint: literalUrl(), token: "t".repeat(43) }
        : { action: "notify", sender: aliceSite, recipient: bobContacts, message: msg(), [field]: literalUrl() };
    const answer = await post(field === "endpoint" ? "alice" : "bob", params);
    expect({ status: answer.status, error: (answer.json as { error?: string }).error }).toEqual({ status: 400, error: "invalid_request" });
  });

  it("as a webhook: refused by updateSettings (invalid_request)", async () => {
    await expect(pm.bob.server.updateSettings(bobHook, { webhook: literalUrl("/hook") })).rejects.toMatchObject({ code: "invalid_request" });
  });
});

describe("§6 and the URL rules: plain http in production", () => {
  it("a recipient site that redirects to http:// — address_refused, nothing fetched", async () => {
    const target = name("plain");
    dns.set(target, ALLOWED);
    pages.set(target, namesEndpoint(urlOf("endpoint.example.test")));
    const recipient = site(redirectsTo(`http://${target}:${port}/`));
    const sent = await pm.alice.server.send({ from: aliceSite, to: [recipient], content: "x" });
    expect(await deliveryOf(sent.message)).toMatchObject({ status: "failed", error: "address_refused" });
    expect(posted.filter((p) => p.params.get("recipient") === recipient)).toEqual([]);
  });
});

describe("after every row", () => {
  it("the traps on 127.0.0.1 and ::1 never saw a connection, and nothing but 127.0.0.2 was ever connected to", async () => {
    // Work earlier rows left (retries of pending deliveries, dialbacks, webhooks) has ended.
    await waitFor(
      async () => {
        const left = await Promise.all(
          (["alice", "bob"] as const).flatMap((who) => [
            pm[who].store.count("deliveries", { status: "pending" }),
            pm[who].store.count("handshakes", { state: "active" }),
            pm[who].store.count("webhooks", { status: "pending" }),
          ]),
        );
        return left.every((n) => n === 0);
      },
      20_000,
      "the work of every row to end",
    );
    await Promise.all([pm.alice.server.idle(), pm.bob.server.idle()]);
    expect({ trap4: trap4.connections, trap6: trap6.connections }).toEqual({ trap4: 0, trap6: 0 });
    expect(spy.attempts.filter((a) => a.host !== ALLOWED)).toEqual([]);
    expect(spy.attempts.length).toBeGreaterThan(100);
  });
});
