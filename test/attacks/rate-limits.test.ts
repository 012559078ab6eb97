/**
 * PROTOCOL.md §6 "Abuse": `notify` and `authorize` make the receiver fetch URLs (the
 * sender's site, its endpoint, a vouch page), so they are rate limited per sender site
 * and per client address, answering `429` with `Retry-After` in seconds. What matters
 * here is what a limited request costs the receiver: nothing. Every row counts the
 * fetches the receiver made — requests seen by the sites and endpoints named, and every
 * outbound request of bob's pm through a counting client — and checks that only the
 * requests under the limit caused any.
 *
 * (test/e2e/section2-errors.test.ts has the §2 rows: check order, Retry-After's range,
 * deliver not limited, the sender waiting for Retry-After.)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PmServerOptions } from "@indiepm/core";
import { describe, expect, it, onTestFinished } from "vitest";
import { allIdle, PmHost, Site, waitFor } from "../harness/hosts.js";
import { ScriptedEndpoint, movableClock } from "../harness/rogue.js";
import { judgeShape } from "./support/answers.js";
import { fencedClient } from "./support/outbound.js";

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** A form POST from a chosen local address (the server's "client address", §6), with more headers if given. */
function postFrom(localAddress: string, url: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
  const body = new URLSearchParams(params).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", localAddress, headers: { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(body), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v);
          resolve({ status: res.statusCode!, headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const KiB = 1024;
const msg = () => `urn:uuid:${crypto.randomUUID()}`;

/**
 * bob's pm with small limits and a movable clock, its outbound requests counted; sender
 * sites are real pages whose endpoint (a yes-man) records what it is asked.
 */
async function receiver(limits: { perSenderPerMinute?: number; perClientPerMinute?: number }, more: Partial<PmServerOptions> = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), "indiepm-limits-"));
  const clock = movableClock();
  const fence = fencedClient();
  const bobSite = await new Site().listen();
  const bob = await new PmHost().listen();
  bobSite.endpoint = bob.url;
  const contactsOnly = `${bobSite.url}contacts/`;
  const senderEndpoint = await new ScriptedEndpoint().listen();
  const contactSite = await new Site().listen();
  contactSite.endpoint = senderEndpoint.url;
  await bob.startServer({
    sites: [bobSite.url, `${bobSite.url}second/`, contactsOnly],
    dataDir,
    overrides: { http: fence, now: clock.now, rateLimits: limits, policies: { [contactsOnly]: { policy: "contacts", contacts: [contactSite.url] } }, ...more },
  });
  const sites: Site[] = [bobSite, contactSite];
  onTestFinished(async () => {
    await bob.shutdown();
    await Promise.allSettled([...sites.map((s) => s.stop()), senderEndpoint.stop(), fence.close()]);
    await rm(dataDir, { recursive: true, force: true });
  });
  return {
    bob,
    bobSite,
    contactsOnly,
    contactSite,
    senderEndpoint,
    clock,
    fence,
    /** A sender site of its own, naming the recording endpoint. */
    async senderSite(): Promise<Site> {
      const site = await new Site().listen();
      site.endpoint = senderEndpoint.url;
      sites.push(site);
      return site;
    },
    /** Waits for every dialback bob started to end, then says what bob fetched from where. */
    async fetches() {
      await waitFor(async () => (await bob.store.count("handshakes", { state: "active" })) === 0, 10_000, "bob's dialbacks to end");
      await allIdle();
      return fence.fetched;
    },
  };
}

function expectLimited(answer: Answer, maxSeconds = 60): number {
  expect(judgeShape(answer, answer.body)).toEqual({ label: "429 rate_limited" });
  const retryAfter = answer.headers.get("retry-after")!;
  expect(retryAfter).toMatch(/^[1-9]\d*$/);
  expect(Number(retryAfter)).toBeLessThanOrEqual(maxSeconds);
  return Number(retryAfter);
}

describe("§6 Abuse: notify and authorize are rate limited per sender site", () => {
  it("429-per-sender: past the limit the receiver fetches nothing for the sender — not its site, not its endpoint", async () => {
    const r = await receiver({ perSenderPerMinute: 3, perClientPerMinute: 1_000 });
    const victim = await r.senderSite();
    const notify = (recipient = r.bobSite.url) => postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: victim.url, recipient, message: msg() });
    // Three accepted, across bob's sites: the count is per sender, across all recipients.
    expect((await notify()).status).toBe(202);
    expect((await notify(`${r.bobSite.url}second/`)).status).toBe(202);
    expect((await postFrom("127.0.0.1", r.bob.url, { action: "authorize", sender: victim.url, recipient: r.bobSite.url, code: "c".repeat(43) })).status).toBe(
      202,
    );
    const accepted = await r.fetches();
    expect(victim.requests).toBe(3);
    // A flood past the limit: notify and authorize, to every recipient.
    for (let i = 0; i < 20; i++) {
      expectLimited(
        i % 2
          ? await notify(i % 4 === 1 ? r.bobSite.url : `${r.bobSite.url}second/`)
          : await postFrom("127.0.0.1", r.bob.url, { action: "authorize", sender: victim.url, recipient: r.bobSite.url, code: `${"d".repeat(40)}${i}` }),
      );
    }
    const after = await r.fetches();
    expect(after.length).toBe(accepted.length);
    expect(victim.requests).toBe(3);
    expect(r.senderEndpoint.received.filter((x) => x.action === "verify")).toHaveLength(3);
    expect(await r.bob.store.count("handshakes")).toBe(3);
    // Another sender from the same client is not limited.
    const other = await r.senderSite();
    expect((await postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: other.url, recipient: r.bobSite.url, message: msg() })).status).toBe(202);
    await r.fetches();
    expect(other.requests).toBe(1);
  });

  it("429-per-sender-from-many-addresses: naming a victim site from many client addresses cannot make the receiver fetch it more than the limit", async () => {
    const r = await receiver({ perSenderPerMinute: 4, perClientPerMinute: 1_000 });
    const victim = await r.senderSite();
    const answers: number[] = [];
    for (let i = 0; i < 16; i++) {
      answers.push((await postFrom(`127.0.0.${10 + i}`, r.bob.url, { action: "notify", sender: victim.url, recipient: r.bobSite.url, message: msg() })).status);
    }
    expect(answers).toEqual([...Array(4).fill(202), ...Array(12).fill(429)]);
    await r.fetches();
    expect(victim.requests).toBe(4);
  });

  it("429-window-resets: Retry-After counts down, and after it the sender may come back — and is fetched again", async () => {
    const r = await receiver({ perSenderPerMinute: 1, perClientPerMinute: 1_000 });
    const victim = await r.senderSite();
    const notify = () => postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: victim.url, recipient: r.bobSite.url, message: msg() });
    expect((await notify()).status).toBe(202);
    const first = expectLimited(await notify());
    expect(first).toBeGreaterThanOrEqual(59);
    r.clock.advance(30_000);
    const second = expectLimited(await notify());
    expect(second).toBeLessThanOrEqual(30);
    expect(second).toBeGreaterThanOrEqual(29);
    await r.fetches();
    expect(victim.requests).toBe(1);
    // Come back when told: accepted, and fetched once more.
    r.clock.advance(second * 1000);
    expect((await notify()).status).toBe(202);
    await r.fetches();
    expect(victim.requests).toBe(2);
  });

  it("429-vouch: a limited first contact's vouch page is not fetched", async () => {
    const r = await receiver({ perSenderPerMinute: 1, perClientPerMinute: 1_000 });
    const stranger = await r.senderSite();
    const vouch = `${r.contactSite.url}vouches-for-the-stranger`;
    const notify = () => postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: stranger.url, recipient: r.contactsOnly, message: msg(), vouch });
    // The first is checked: bob fetches the vouch page (which does not link to the stranger: 403).
    expect((await notify()).status).toBe(403);
    expect(r.fence.fetched.filter((f) => f.url === vouch)).toHaveLength(1);
    for (let i = 0; i < 5; i++) expectLimited(await notify());
    await r.fetches();
    expect(r.fence.fetched.filter((f) => f.url === vouch)).toHaveLength(1);
    expect(r.contactSite.requests).toBe(1);
  });
});

describe("§6 Abuse: notify and authorize are rate limited per client address", () => {
  it("429-per-client: one address naming ever new sender sites gets as many fetches as the limit, then none", async () => {
    const r = await receiver({ perSenderPerMinute: 1_000, perClientPerMinute: 5 });
    const senders = await Promise.all(Array.from({ length: 12 }, () => r.senderSite()));
    const statuses: number[] = [];
    for (const [i, s] of senders.entries()) {
      const answer = await postFrom(
        "127.0.0.1",
        r.bob.url,
        i % 2
          ? { action: "notify", sender: s.url, recipient: r.bobSite.url, message: msg() }
          : { action: "authorize", sender: s.url, recipient: r.bobSite.url, code: "c".repeat(43) },
      );
      if (answer.status === 429) expectLimited(answer);
      statuses.push(answer.status);
    }
    expect(statuses).toEqual([...Array(5).fill(202), ...Array(7).fill(429)]);
    await r.fetches();
    expect(senders.map((s) => s.requests)).toEqual([...Array(5).fill(1), ...Array(7).fill(0)]);
    // Another client address has its own count (the limited senders themselves are not limited).
    const fromElsewhere = await postFrom("127.0.0.2", r.bob.url, { action: "notify", sender: senders[11]!.url, recipient: r.bobSite.url, message: msg() });
    expect(fromElsewhere.status).toBe(202);
    await r.fetches();
    expect(senders[11]!.requests).toBe(1);
  });

  it("429-counts-only-what-reaches-the-check: malformed and oversized requests neither count nor fetch; unknown recipients count but fetch nothing", async () => {
    const r = await receiver({ perSenderPerMinute: 1_000, perClientPerMinute: 3 });
    const s = await r.senderSite();
    // 400s and 413s are refused before the check (§2 order): they do not count.
    for (let i = 0; i < 10; i++) {
      expect((await postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: s.url, recipient: r.bobSite.url })).status).toBe(400);
      // (The 413 comes with `Connection: close` while the body is still arriving; a reset may beat it to the client.)
      const tooLarge = await postFrom("127.0.0.1", r.bob.url, {
        action: "notify",
        sender: s.url,
        recipient: r.bobSite.url,
        message: msg(),
        padding: "x".repeat(256 * KiB),
      }).catch((e: NodeJS.ErrnoException) => ({ status: e.code }));
      expect([413, "ECONNRESET", "EPIPE"]).toContain(tooLarge.status);
    }
    // A recipient bob does not hold reaches the check and counts (404 comes after 429), fetching nothing.
    expect((await postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: s.url, recipient: `${r.bobSite.url}nobody/`, message: msg() })).status).toBe(
      404,
    );
    expect((await postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: s.url, recipient: r.bobSite.url, message: msg() })).status).toBe(202);
    expect((await postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: s.url, recipient: r.bobSite.url, message: msg() })).status).toBe(202);
    expectLimited(await postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: s.url, recipient: r.bobSite.url, message: msg() }));
    await r.fetches();
    expect(s.requests).toBe(2);
    // The other federation actions are not rate limited (they fetch nothing the request names).
    expect((await postFrom("127.0.0.1", r.bob.url, { action: "verify", sender: r.bobSite.url, recipient: s.url, message: msg() })).status).toBe(404);
  });
});

describe("§6 Abuse: what a flood can make the limiter do (issue 9 item 4)", () => {
  it("429-flood-does-not-use-up-the-sender: a client past its own limit naming a victim site does not count against the victim", async () => {
    const r = await receiver({ perSenderPerMinute: 5, perClientPerMinute: 3 });
    const victim = await r.senderSite();
    const notify = (from: string) => postFrom(from, r.bob.url, { action: "notify", sender: victim.url, recipient: r.bobSite.url, message: msg() });
    const flood: number[] = [];
    for (let i = 0; i < 40; i++) flood.push((await notify("127.0.0.66")).status);
    expect(flood).toEqual([...Array(3).fill(202), ...Array(37).fill(429)]);
    // The victim's 5 a minute: 3 went to the flood while it was under its limit; 2 are left.
    const others: number[] = [];
    for (const from of ["127.0.0.77", "127.0.0.78", "127.0.0.79"]) others.push((await notify(from)).status);
    expect(others).toEqual([202, 202, 429]);
    await r.fetches();
    expect(victim.requests).toBe(5);
  });

  it("429-per-client-by-/64: behind a trusted proxy, IPv6 clients of one /64 share a count, and IPv4-mapped IPv6 counts as the IPv4 address", async () => {
    const r = await receiver({ perSenderPerMinute: 1_000, perClientPerMinute: 2 }, { trustProxy: "loopback" });
    const s = await r.senderSite();
    const from = async (client: string) =>
      (await postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: s.url, recipient: r.bobSite.url, message: msg() }, { "x-forwarded-for": client }))
        .status;
    expect([await from("2001:db8:0:7::1"), await from("2001:db8:0:7::2"), await from("2001:db8:0:7:ffff:ffff:ffff:ffff")]).toEqual([202, 202, 429]);
    expect(await from("2001:db8:0:8::1")).toBe(202);
    expect([await from("::ffff:192.0.2.7"), await from("::ffff:c000:207"), await from("192.0.2.7")]).toEqual([202, 202, 429]);
    expect(await from("192.0.2.8")).toBe(202);
    await r.fetches();
    expect(s.requests).toBe(6);
  });
});
