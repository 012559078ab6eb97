/**
 * PROTOCOL.md §6 "Identity", "Secrets" and "Unsolicited answers are refused", attacked
 * over the wire: the spoofing matrix as a table. mallory is a fifth loopback endpoint
 * that would say yes to anything; each row asserts that nobody ever sent mallory a
 * request, a code, a token or a message, what bob's inbox holds afterwards, and what
 * became of alice's delivery. Run on each store (harness/stores.ts).
 */
import { PROFILE_ACCEPT } from "@indiepm/core";
import { describe, expect, it, onTestFinished } from "vitest";
import { scriptedEndpoint as scripted } from "../harness/scoped.js";
import { fourHosts, OWNER_TOKEN, postForm, settled, Site, storeCounts, waitFor, type FourHosts, type FourHostsOptions } from "../harness/hosts.js";
import { type ScriptedEndpoint, actAsReceiver, movableClock, yes, type Answer } from "../harness/rogue.js";
import { storesForTests, useStore } from "../harness/stores.js";

type Params = Record<string, string | string[]>;

interface World {
  h: FourHosts;
  /** The attacker's endpoint: records everything, answers yes to everything. */
  mallory: ScriptedEndpoint;
  /** A site URL of mallory's own. */
  mallorySite: string;
}

interface Attack {
  name: string;
  hosts?: FourHostsOptions;
  /** Makes the attack and checks its answers and alice's delivery. */
  run: (w: World) => Promise<void>;
  /** Contents of bob's inbox afterwards (default: empty). */
  inbox?: string[];
}

const PUBLISHED = "2024-05-01T10:00:00Z";
const invalidToken: Answer = {
  status: 401,
  headers: { "www-authenticate": 'Bearer error="invalid_token"' },
  body: { error: "invalid_token", error_description: "Unknown token." },
};
const OTHER_SITE = "http://127.0.0.1:9/carol/";

function expectError(answer: { status: number; body: unknown }, status: number, error: string) {
  expect({ status: answer.status, body: answer.body }).toEqual({ status, body: { error, error_description: expect.any(String) } });
}

const sites = (h: FourHosts) => ({ sender: h.alice.site.url, recipient: h.bob.site.url });
const deliverForm = (h: FourHosts, message: string, extra: Params = {}): Params => ({
  action: "deliver",
  ...sites(h),
  message,
  published: PUBLISHED,
  content: `content of ${message}`,
  ...extra,
});
const deliverTo = (h: FourHosts, token: string, form: Params) => postForm(h.bob.pm.url, form, { authorization: `Bearer ${token}` });

/** A stand-in for an endpoint of the four hosts: a yes-saying scripted endpoint the site names instead. */
async function standIn(site: FourHosts["alice"]["site"]): Promise<ScriptedEndpoint> {
  const endpoint = await scripted();
  site.endpoint = endpoint.url;
  return endpoint;
}

/**
 * §3 steps 2–4 with bob's real pm as E_R and a stand-in as alice's endpoint: returns the
 * message token T bob's pm issued for (alice, bob, message).
 */
async function messageToken(h: FourHosts, aliceEndpoint: ScriptedEndpoint, message: string): Promise<string> {
  expect((await postForm(h.bob.pm.url, { action: "notify", ...sites(h), message })).status).toBe(202);
  const request = await waitFor(() => aliceEndpoint.of("request").find((r) => r.params.get("message") === message));
  return request.params.get("token")!;
}

/** §4 steps 2–4 the same way: the standing token bob's pm granted alice. */
async function standingToken(h: FourHosts, aliceEndpoint: ScriptedEndpoint): Promise<{ token: string; expiresIn: string }> {
  expect((await postForm(h.bob.pm.url, { action: "authorize", ...sites(h), code: "c".repeat(43) })).status).toBe(202);
  const grant = await aliceEndpoint.next("grant");
  return { token: grant.params.get("token")!, expiresIn: grant.params.get("expires_in")! };
}

/** alice's one delivery, once it is no longer pending. */
async function aliceDelivery(h: FourHosts, message: string) {
  return (await settled(h.alice.pm.pm, message)).deliveries[0]!;
}

/** A site of its own on a fresh loopback port (another origin) whose page names `endpoint`. */
async function siteNaming(endpoint: string): Promise<Site & { discoveries: number }> {
  const site = Object.assign(await new Site().listen(), { discoveries: 0 });
  site.endpoint = endpoint;
  const page = site.handler;
  // Its GETs other than a read of an h-card (owner/profiles.ts asks with PROFILE_ACCEPT).
  site.handler = (req, res) => {
    if (req.headers.accept !== PROFILE_ACCEPT) site.discoveries++;
    return page(req, res);
  };
  onTestFinished(() => site.stop());
  return site;
}

/** bob's pm's one dialback (§3/§4 steps 3–4), once it ended. */
async function bobsHandshake(h: FourHosts) {
  return waitFor(
    async () => {
      const [doc, ...more] = await h.bob.pm.store.find<{ _id: string; state: string; error?: string; detail?: string }>("handshakes", {
        where: { sender: h.alice.site.url },
      });
      expect(more).toEqual([]);
      return doc && doc.state !== "active" ? doc : undefined;
    },
    5_000,
    "bob's dialback to end",
  );
}

/** `storeCounts` of a pm server that stored nothing. */
const NOTHING_STORED = { handshakes: 0, secrets: 0, deliveries: 0, inbox: 0, outbox: 0, grants: 0, webhooks: 0 };

const stepsBy = (h: FourHosts, from: string) => h.events.filter((e) => e.from === from).map((e) => `${e.step} ${e.action} ${e.status}`);

const attacks: Attack[] = [
  // §6 Identity: the notify/authorize does not say who speaks for S; S's own page does.
  {
    name: "forged-notify-claiming-alice: verify at alice's real endpoint answers 404 unknown_message",
    async run({ h, mallory }) {
      const message = `${mallory.url}messages/forged`;
      expect((await postForm(h.bob.pm.url, { action: "notify", ...sites(h), message })).status).toBe(202);
      expect(await bobsHandshake(h)).toMatchObject({ state: "failed", error: "unknown_message" });
      await h.idle();
      expect(stepsBy(h, h.bob.pm.url)).toEqual(["3 discover 200", "3 verify 404"]);
      expect(await storeCounts(h.bob.pm.store)).toMatchObject({ handshakes: 1, secrets: 0, inbox: 0 });
    },
  },
  {
    name: "forged-authorize-claiming-alice: verify at alice's real endpoint answers 400 invalid_code",
    async run({ h }) {
      expect((await postForm(h.bob.pm.url, { action: "authorize", ...sites(h), code: "m".repeat(43) })).status).toBe(202);
      expect(await bobsHandshake(h)).toMatchObject({ state: "failed", error: "invalid_code" });
      await h.idle();
      expect(stepsBy(h, h.bob.pm.url)).toEqual(["3 discover 200", "3 verify 400"]);
      expect(await storeCounts(h.bob.pm.store)).toMatchObject({ handshakes: 1, secrets: 0, grants: 0 });
    },
  },

  // §6 Identity at step 3: a redirect off S's origin speaks for S only when it is permanent.
  ...([302, 303, 307] as const).map(
    (status): Attack => ({
      name: `open-redirect-${status}-on-alice's-site-to-mallory's: the handshake fails (final), mallory's endpoint is never asked`,
      async run({ h, mallory }) {
        const malloryPage = await siteNaming(mallory.url);
        h.alice.site.handler = (_req, res) => res.writeHead(status, { location: malloryPage.url }).end();
        const message = `${mallory.url}messages/via-open-redirect`;
        expect((await postForm(h.bob.pm.url, { action: "notify", ...sites(h), message })).status).toBe(202);
        const handshake = await bobsHandshake(h);
        expect(handshake).toMatchObject({ state: "failed", error: "discovery_failed" });
        expect(handshake.detail).toContain(`temporary redirect (${status}) to another origin`);
        // bob's pm followed the redirect and read mallory's page, then verified nothing anywhere
        // (a read of alice's h-card, PROFILE_ACCEPT, is not a discovery: owner/profiles.ts).
        await h.idle();
        expect(malloryPage.discoveries).toBe(1);
        expect(stepsBy(h, h.bob.pm.url)).toEqual(["3 discover 200"]);
      },
    }),
  ),
  {
    name: "moved-permanently-301-to-a-new-site: it counts (§6), bob's pm verifies at the endpoint the new site names",
    async run({ h }) {
      const newEndpoint = await scripted();
      const newSite = await siteNaming(newEndpoint.url);
      h.alice.site.handler = (_req, res) => res.writeHead(301, { location: newSite.url }).end();
      const message = `${newEndpoint.url}messages/1`;
      expect((await postForm(h.bob.pm.url, { action: "notify", ...sites(h), message })).status).toBe(202);
      expect(await bobsHandshake(h)).toMatchObject({ state: "done" });
      expect(newEndpoint.received.map((r) => `${r.action} ${r.params.get("sender")}`)).toEqual([`verify ${h.alice.site.url}`, `request ${h.alice.site.url}`]);
      expect(stepsBy(h, h.bob.pm.url)).toEqual(["3 discover 200", "3 verify 200", "4 request 202"]);
    },
  },
  {
    name: "same-origin-302-on-alice's-site: it counts, alice's message is delivered",
    inbox: ["through a same-origin redirect"],
    async run({ h }) {
      const page = h.alice.site.handler;
      h.alice.site.handler = (req, res) => (req.url === "/" ? res.writeHead(302, { location: "/home" }).end() : page(req, res));
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "through a same-origin redirect", flow: "message" });
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "delivered" });
      expect(await bobsHandshake(h)).toMatchObject({ state: "done" });
    },
  },

  // A stolen message ID: the request still goes to alice's real endpoint, the message to bob's.
  {
    name: "stolen-message-id-while-pending: bob's pm asks alice's real endpoint, which delivers the real message once",
    // alice's first notify fails and her next try is seconds away, so mallory's notify comes first.
    hosts: { alice: { retry: { baseDelayMs: 8_000, maxDelayMs: 8_000, handshakeTimeoutMs: 3_000, giveUpAfterMs: 60_000 } } },
    inbox: ["the real message"],
    async run({ h }) {
      await h.bob.pm.stop();
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "the real message", flow: "message" });
      await waitFor(() => h.events.find((e) => e.action === "notify" && e.status === "network_error"), 3_000, "the first notify to fail");
      await h.bob.pm.resume();
      expect((await postForm(h.bob.pm.url, { action: "notify", ...sites(h), message: sent.message })).status).toBe(202);
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "delivered" });
      expect(h.events.filter((e) => e.action === "request")).toEqual([expect.objectContaining({ from: h.bob.pm.url, to: h.alice.pm.url, status: 202 })]);
      expect(h.events.filter((e) => e.action === "deliver")).toEqual([expect.objectContaining({ from: h.alice.pm.url, to: h.bob.pm.url, status: 201 })]);
    },
  },
  {
    name: "stolen-message-id-after-delivery: notify answers 202 and starts nothing",
    inbox: ["delivered already"],
    async run({ h }) {
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "delivered already", flow: "message" });
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "delivered" });
      await h.idle();
      const before = {
        events: h.events.length,
        bob: await storeCounts(h.bob.pm.store),
        alice: await storeCounts(h.alice.pm.store),
        aliceSite: h.alice.site.requests,
      };
      expect((await postForm(h.bob.pm.url, { action: "notify", ...sites(h), message: sent.message })).status).toBe(202);
      await h.idle();
      expect(h.events.slice(before.events)).toEqual([]);
      expect({ bob: await storeCounts(h.bob.pm.store), alice: await storeCounts(h.alice.pm.store), aliceSite: h.alice.site.requests }).toEqual({
        bob: before.bob,
        alice: before.alice,
        aliceSite: before.aliceSite,
      });
    },
  },
  {
    name: "stolen-message-id-request-naming-mallory-after-delivery: 404 unknown_message, nothing sent",
    inbox: ["delivered already"],
    async run({ h, mallory }) {
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "delivered already", flow: "message" });
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "delivered" });
      const answer = await postForm(h.alice.pm.url, { action: "request", ...sites(h), message: sent.message, endpoint: mallory.url, token: "m".repeat(43) });
      expectError(answer, 404, "unknown_message");
    },
  },

  // §3/§4 step 5: a message goes only to the endpoint R names now. §3 steps 5–6 (amended
  // 2026-12-04): M is no secret, so a `request` alone cannot end or take over a delivery.
  {
    name: "request-naming-mallory-while-pending: 409 endpoint_mismatch and nothing changes; bob's own request is delivered",
    async run({ h, mallory }) {
      const bobEndpoint = await standIn(h.bob.site);
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "for bob only", flow: "message" });
      await bobEndpoint.next("notify");
      const answer = await postForm(h.alice.pm.url, { action: "request", ...sites(h), message: sent.message, endpoint: mallory.url, token: "m".repeat(43) });
      expectError(answer, 409, "endpoint_mismatch");
      // bob's site still names the endpoint alice notified: the delivery keeps waiting for it.
      expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]).toMatchObject({ status: "pending" });
      const real = await postForm(h.alice.pm.url, { action: "request", ...sites(h), message: sent.message, endpoint: bobEndpoint.url, token: "b".repeat(43) });
      expect(real.status).toBe(202);
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "delivered" });
      expect(bobEndpoint.of("deliver").map((r) => r.authorization)).toEqual([`Bearer ${"b".repeat(43)}`]);
    },
  },
  {
    name: "request-after-the-recipient-moved: 409 endpoint_mismatch ends the delivery (final)",
    async run({ h }) {
      const bobEndpoint = await standIn(h.bob.site);
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "for bob only", flow: "message" });
      await bobEndpoint.next("notify");
      // bob's site now names another endpoint than the one alice notified.
      const moved = await scripted();
      h.bob.site.endpoint = moved.url;
      const answer = await postForm(h.alice.pm.url, {
        action: "request",
        ...sites(h),
        message: sent.message,
        endpoint: bobEndpoint.url,
        token: "b".repeat(43),
      });
      expectError(answer, 409, "endpoint_mismatch");
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "failed", error: "endpoint_mismatch" });
      expect([...bobEndpoint.of("deliver"), ...moved.received]).toEqual([]);
    },
  },
  {
    // Formerly "anyone who knows a pending message ID can make its delivery fail for good":
    // a `request` is not authenticated, so its token may be anyone's. The 401 now starts one
    // new handshake (§3 step 6) and bob's own `request` delivers.
    name: "request-with-a-bogus-token-naming-bob's-real-endpoint: bob refuses it, alice notifies once more and delivers",
    inbox: ["for bob only"],
    async run({ h }) {
      // bob's pm cannot reach alice's site yet, so alice's delivery waits for step 4.
      await h.alice.site.stop();
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "for bob only", flow: "message" });
      await waitFor(() => h.events.find((e) => e.action === "notify" && e.status === 202), 3_000, "notify 202");
      const answer = await postForm(h.alice.pm.url, { action: "request", ...sites(h), message: sent.message, endpoint: h.bob.pm.url, token: "m".repeat(43) });
      expect(answer.status).toBe(202);
      await waitFor(() => h.events.filter((e) => e.action === "notify" && e.status === 202).length === 2, 5_000, "a second notify");
      await h.alice.site.resume();
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "delivered" });
      expect(h.events.filter((e) => e.action === "deliver").map((e) => `${e.from === h.alice.pm.url && e.to === h.bob.pm.url} ${e.status}`)).toEqual([
        "true 401",
        "true 201",
      ]);
    },
  },
  {
    name: "group-co-recipient-request-naming-her-endpoint: mallory, who got the same M, is refused 409; bob's delivery is delivered",
    async run({ h }) {
      // mallory is a real co-recipient: her site names her own endpoint, which plays E_R honestly.
      const malloryInbox = await scripted();
      const malloryHome = await scripted();
      malloryHome.handler = (_req, res) => {
        res.setHeader("content-type", "text/html");
        res.end(`<link rel="pm" href="${malloryInbox.url}">`);
      };
      actAsReceiver(malloryInbox, h.alice.pm.url);
      const bobEndpoint = await standIn(h.bob.site);
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url, malloryHome.url], content: "for the group", flow: "message" });
      await bobEndpoint.next("notify");
      // mallory learns M from her own notify and asks for bob's copy at her endpoint.
      const message = (await malloryInbox.next("notify")).params.get("message")!;
      expect(message).toBe(sent.message);
      const answer = await postForm(h.alice.pm.url, { action: "request", ...sites(h), message, endpoint: malloryInbox.url, token: "m".repeat(43) });
      expectError(answer, 409, "endpoint_mismatch");
      const real = await postForm(h.alice.pm.url, { action: "request", ...sites(h), message, endpoint: bobEndpoint.url, token: "b".repeat(43) });
      expect(real.status).toBe(202);
      const done = await settled(h.alice.pm.pm, sent.message);
      expect(done.deliveries.map((d) => [d.recipient, d.status])).toEqual(
        expect.arrayContaining([
          [h.bob.site.url, "delivered"],
          [malloryHome.url, "delivered"],
        ]),
      );
      expect(bobEndpoint.of("deliver").map((r) => r.authorization)).toEqual([`Bearer ${"b".repeat(43)}`]);
      // mallory got her own copy, and nothing of bob's.
      expect(malloryInbox.of("deliver").map((r) => r.params.get("recipient"))).toEqual([malloryHome.url]);
    },
  },
  {
    name: "second-valid-request-for-the-same-delivery: 202, but the first token is kept",
    async run({ h }) {
      const bobEndpoint = await standIn(h.bob.site);
      // The first deliver meets a 503, so a second request arrives while the first token is held.
      bobEndpoint.answer = (r) =>
        r.action === "deliver" && bobEndpoint.of("deliver").length === 1
          ? { status: 503, body: { error: "temporarily_unavailable", error_description: "Later." } }
          : yes(r);
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "for bob only", flow: "message" });
      await bobEndpoint.next("notify");
      const request = (token: string) => postForm(h.alice.pm.url, { action: "request", ...sites(h), message: sent.message, endpoint: bobEndpoint.url, token });
      expect((await request("1".repeat(43))).status).toBe(202);
      await bobEndpoint.next("deliver");
      expect((await request("2".repeat(43))).status).toBe(202);
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "delivered" });
      expect(bobEndpoint.of("deliver").map((r) => r.authorization)).toEqual([`Bearer ${"1".repeat(43)}`, `Bearer ${"1".repeat(43)}`]);
    },
  },
  {
    name: "401-to-a-message-flow-deliver: one new notify, then delivered with the new token",
    async run({ h }) {
      const bobEndpoint = await standIn(h.bob.site);
      const tokens = actAsReceiver(bobEndpoint, h.alice.pm.url, (r) =>
        r.action === "deliver" && bobEndpoint.of("deliver").length === 1 ? invalidToken : yes(r),
      );
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "for bob only", flow: "message" });
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "delivered" });
      expect(bobEndpoint.of("notify")).toHaveLength(2);
      expect(bobEndpoint.of("deliver").map((r) => r.authorization)).toEqual(tokens.map((t) => `Bearer ${t}`));
      expect(tokens).toHaveLength(2);
      expect(bobEndpoint.errors).toEqual([]);
    },
  },
  {
    name: "two-401s-to-a-message-flow-deliver: failed invalid_token (final) after one new notify",
    async run({ h }) {
      const bobEndpoint = await standIn(h.bob.site);
      actAsReceiver(bobEndpoint, h.alice.pm.url, (r) => (r.action === "deliver" ? invalidToken : yes(r)));
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "for bob only", flow: "message" });
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "failed", error: "invalid_token" });
      expect(bobEndpoint.of("notify")).toHaveLength(2);
      expect(bobEndpoint.of("deliver")).toHaveLength(2);
    },
  },
  {
    name: "grant-naming-mallory: 409 endpoint_mismatch, the code is withdrawn and the delivery fails (final)",
    async run({ h, mallory }) {
      const bobEndpoint = await standIn(h.bob.site);
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "for bob only", flow: "token" });
      const code = (await bobEndpoint.next("authorize")).params.get("code")!;
      const grant = (endpoint: string) => postForm(h.alice.pm.url, { action: "grant", ...sites(h), code, endpoint, token: "m".repeat(43), expires_in: "3600" });
      expectError(await grant(mallory.url), 409, "endpoint_mismatch");
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "failed", error: "endpoint_mismatch" });
      expectError(await grant(bobEndpoint.url), 400, "invalid_code");
      expect(bobEndpoint.of("deliver")).toEqual([]);
    },
  },

  // §3 step 6, §6 Secrets: tokens are single use, expire, and are bound to (S, R[, M]).
  {
    name: "replayed-message-token-same-message: 201, then 200 duplicate that changes nothing",
    inbox: ["original"],
    async run({ h }) {
      const aliceEndpoint = await standIn(h.alice.site);
      const message = `${aliceEndpoint.url}messages/1`;
      const token = await messageToken(h, aliceEndpoint, message);
      expect(await deliverTo(h, token, deliverForm(h, message, { content: "original" }))).toMatchObject({ status: 201, body: { status: "delivered" } });
      expect(await deliverTo(h, token, deliverForm(h, message, { content: "replayed" }))).toMatchObject({ status: 200, body: { status: "duplicate" } });
    },
  },
  {
    name: "replayed-message-token-another-message: 401 invalid_token",
    inbox: ["content of first"],
    async run({ h }) {
      const aliceEndpoint = await standIn(h.alice.site);
      const first = `${aliceEndpoint.url}messages/1`;
      const token = await messageToken(h, aliceEndpoint, first);
      expect((await deliverTo(h, token, deliverForm(h, first, { content: "content of first" }))).status).toBe(201);
      expectError(await deliverTo(h, token, deliverForm(h, `${aliceEndpoint.url}messages/2`)), 401, "invalid_token");
    },
  },
  {
    name: "message-token-for-another-message-before-use: 401, and the token still works for its own",
    inbox: ["content of own"],
    async run({ h }) {
      const aliceEndpoint = await standIn(h.alice.site);
      const own = `${aliceEndpoint.url}messages/own`;
      const token = await messageToken(h, aliceEndpoint, own);
      expectError(await deliverTo(h, token, deliverForm(h, `${aliceEndpoint.url}messages/other`)), 401, "invalid_token");
      expect((await deliverTo(h, token, deliverForm(h, own, { content: "content of own" }))).status).toBe(201);
    },
  },
  {
    name: "message-token-for-another-sender: 401 invalid_token",
    async run({ h, mallorySite }) {
      const aliceEndpoint = await standIn(h.alice.site);
      const message = `${aliceEndpoint.url}messages/1`;
      const token = await messageToken(h, aliceEndpoint, message);
      expectError(await deliverTo(h, token, deliverForm(h, message, { sender: mallorySite })), 401, "invalid_token");
    },
  },
  {
    name: "message-token-for-another-recipient-on-the-same-server: 401 invalid_token",
    hosts: { bob: (u) => ({ sites: [u.bobSite, OTHER_SITE] }) },
    async run({ h }) {
      const aliceEndpoint = await standIn(h.alice.site);
      const message = `${aliceEndpoint.url}messages/1`;
      const token = await messageToken(h, aliceEndpoint, message);
      expectError(await deliverTo(h, token, deliverForm(h, message, { recipient: OTHER_SITE })), 401, "invalid_token");
      expect(await h.bob.pm.pm.inbox({ site: OTHER_SITE })).toEqual([]);
    },
  },
  {
    name: "expired-message-token: 401 invalid_token after 10 minutes",
    hosts: { bob: () => ({ now: clock.now }) },
    async run({ h }) {
      const aliceEndpoint = await standIn(h.alice.site);
      const message = `${aliceEndpoint.url}messages/1`;
      const token = await messageToken(h, aliceEndpoint, message);
      clock.advance(10 * 60_000 + 1_000);
      expectError(await deliverTo(h, token, deliverForm(h, message)), 401, "invalid_token");
    },
  },
  {
    name: "expired-standing-token: 401 invalid_token after grantLifetimeSeconds",
    hosts: { bob: () => ({ now: clock.now, grantLifetimeSeconds: 60 }) },
    async run({ h }) {
      const aliceEndpoint = await standIn(h.alice.site);
      const { token, expiresIn } = await standingToken(h, aliceEndpoint);
      expect(expiresIn).toBe("60");
      clock.advance(61_000);
      expectError(await deliverTo(h, token, deliverForm(h, `${aliceEndpoint.url}messages/1`)), 401, "invalid_token");
    },
  },
  {
    name: "standing-token-for-another-sender: 401 invalid_token",
    async run({ h, mallorySite }) {
      const aliceEndpoint = await standIn(h.alice.site);
      const { token } = await standingToken(h, aliceEndpoint);
      expectError(await deliverTo(h, token, deliverForm(h, `${mallorySite}m/1`, { sender: mallorySite })), 401, "invalid_token");
    },
  },
  {
    name: "standing-token-for-another-recipient-on-the-same-server: 401 invalid_token",
    hosts: { bob: (u) => ({ sites: [u.bobSite, OTHER_SITE] }) },
    async run({ h }) {
      const aliceEndpoint = await standIn(h.alice.site);
      const { token } = await standingToken(h, aliceEndpoint);
      expectError(await deliverTo(h, token, deliverForm(h, `${aliceEndpoint.url}messages/1`, { recipient: OTHER_SITE })), 401, "invalid_token");
    },
  },
  {
    name: "revoked-standing-token: 401 invalid_token; alice's pm makes one new handshake and delivers",
    inbox: ["after", "before"],
    async run({ h }) {
      const before = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "before", flow: "token" });
      expect(await aliceDelivery(h, before.message)).toMatchObject({ status: "delivered" });
      // bob's owner revokes the token (§4) through the owner API.
      const listed = await fetch(`${h.bob.pm.url}api/tokens`, { headers: { authorization: `Bearer ${OWNER_TOKEN}` } });
      const granted = (await listed.json()) as { id: string; sender: string; revokedAt?: string }[];
      expect(granted).toEqual([expect.objectContaining({ sender: h.alice.site.url })]);
      expect(granted[0]).not.toHaveProperty("revokedAt");
      const revoked = await fetch(`${h.bob.pm.url}api/tokens/${granted[0]!.id}`, { method: "DELETE", headers: { authorization: `Bearer ${OWNER_TOKEN}` } });
      expect(revoked.status).toBe(200);
      expect((await h.bob.pm.pm.tokens())[0]).toHaveProperty("revokedAt");
      const after = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "after", flow: "token" });
      expect(await aliceDelivery(h, after.message)).toMatchObject({ status: "delivered" });
      expect(h.events.filter((e) => ["authorize", "grant", "deliver"].includes(e.action)).map((e) => `${e.action} ${e.status}`)).toEqual([
        "authorize 202",
        "grant 202",
        "deliver 201",
        "deliver 401",
        "authorize 202",
        "grant 202",
        "deliver 201",
      ]);
    },
  },
  {
    name: "code-presented-as-a-token: 401 invalid_token",
    async run({ h }) {
      // bob writes to alice by the token flow; the code bob's pm issued reaches alice's stand-in.
      const aliceEndpoint = await standIn(h.alice.site);
      await h.bob.pm.pm.send({ from: h.bob.site.url, to: [h.alice.site.url], content: "to alice", flow: "token" });
      const code = (await aliceEndpoint.next("authorize")).params.get("code")!;
      expectError(
        await deliverTo(h, code, deliverForm(h, `${aliceEndpoint.url}messages/1`, { sender: h.bob.site.url, recipient: h.bob.site.url })),
        401,
        "invalid_token",
      );
      expectError(await deliverTo(h, code, deliverForm(h, `${aliceEndpoint.url}messages/1`)), 401, "invalid_token");
    },
  },

  // §6 Unsolicited answers are refused: alice's pm answers only about what it issued.
  {
    name: "unsolicited-verify-of-a-message-never-sent: 404 unknown_message",
    async run({ h, mallory }) {
      expectError(await postForm(h.alice.pm.url, { action: "verify", ...sites(h), message: `${mallory.url}messages/1` }), 404, "unknown_message");
      await h.idle();
      expect(h.events).toEqual([]);
      expect([await storeCounts(h.alice.pm.store), await storeCounts(h.bob.pm.store)]).toEqual([NOTHING_STORED, NOTHING_STORED]);
    },
  },
  {
    name: "unsolicited-verify-of-a-message-sent-to-someone-else: 404 unknown_message",
    inbox: ["for bob"],
    async run({ h, mallorySite }) {
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "for bob", flow: "message" });
      await aliceDelivery(h, sent.message);
      expectError(
        await postForm(h.alice.pm.url, { action: "verify", sender: h.alice.site.url, recipient: mallorySite, message: sent.message }),
        404,
        "unknown_message",
      );
    },
  },
  {
    name: "unsolicited-verify-of-a-code-never-issued: 400 invalid_code",
    async run({ h }) {
      expectError(await postForm(h.alice.pm.url, { action: "verify", ...sites(h), code: "m".repeat(43) }), 400, "invalid_code");
      await h.idle();
      expect(h.events).toEqual([]);
      expect([await storeCounts(h.alice.pm.store), await storeCounts(h.bob.pm.store)]).toEqual([NOTHING_STORED, NOTHING_STORED]);
    },
  },
  {
    name: "verify-and-grant-of-a-code-issued-for-another-recipient: 400 invalid_code, the code still works for its own",
    async run({ h, mallorySite }) {
      const bobEndpoint = await standIn(h.bob.site);
      const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "for bob", flow: "token" });
      const code = (await bobEndpoint.next("authorize")).params.get("code")!;
      const asMallory = { sender: h.alice.site.url, recipient: mallorySite, code };
      expectError(await postForm(h.alice.pm.url, { action: "verify", ...asMallory }), 400, "invalid_code");
      expectError(
        await postForm(h.alice.pm.url, { action: "grant", ...asMallory, endpoint: bobEndpoint.url, token: "m".repeat(43), expires_in: "3600" }),
        400,
        "invalid_code",
      );
      const real = await postForm(h.alice.pm.url, { action: "grant", ...sites(h), code, endpoint: bobEndpoint.url, token: "b".repeat(43), expires_in: "3600" });
      expect(real.status).toBe(202);
      expect(await aliceDelivery(h, sent.message)).toMatchObject({ status: "delivered" });
      expect((await bobEndpoint.next("deliver")).authorization).toBe(`Bearer ${"b".repeat(43)}`);
    },
  },
  {
    name: "unsolicited-request: 404 unknown_message, nothing fetched or sent",
    async run({ h, mallory }) {
      const answer = await postForm(h.alice.pm.url, {
        action: "request",
        ...sites(h),
        message: `${h.alice.pm.url}messages/never`,
        endpoint: mallory.url,
        token: "m".repeat(43),
      });
      expectError(answer, 404, "unknown_message");
      await h.idle();
      expect(h.events).toEqual([]);
      expect([await storeCounts(h.alice.pm.store), await storeCounts(h.bob.pm.store)]).toEqual([NOTHING_STORED, NOTHING_STORED]);
      expect(h.bob.site.requests).toBe(0);
    },
  },
  {
    name: "unsolicited-grant: 400 invalid_code, nothing fetched or sent",
    async run({ h, mallory }) {
      const answer = await postForm(h.alice.pm.url, {
        action: "grant",
        ...sites(h),
        code: "m".repeat(43),
        endpoint: mallory.url,
        token: "m".repeat(43),
        expires_in: "3600",
      });
      expectError(answer, 400, "invalid_code");
      await h.idle();
      expect(h.events).toEqual([]);
      expect([await storeCounts(h.alice.pm.store), await storeCounts(h.bob.pm.store)]).toEqual([NOTHING_STORED, NOTHING_STORED]);
      expect(h.bob.site.requests).toBe(0);
    },
  },
];

/** Rows that move time share this clock; each row starts it afresh. */
let clock = movableClock();

for (const { store, skipReason } of await storesForTests()) {
  describe.skipIf(skipReason)(`on ${store}`, () => {
    useStore(store);

    describe("§6 spoofing matrix", () => {
      it.each(attacks)("$name", async (attack) => {
        clock = movableClock();
        const h = await fourHosts(attack.hosts);
        onTestFinished(() => h.close());
        const mallory = await scripted();
        const w: World = { h, mallory, mallorySite: `${mallory.url}~mallory/` };
        await attack.run(w);
        // Once nothing more will happen (every engine idle, nothing in flight): nobody ever
        // sent mallory anything, no request, code, token or message, nor fetched from her.
        await h.idle();
        expect(mallory.received).toEqual([]);
        expect(mallory.handled).toBe(0);
        expect((await h.bob.pm.pm.inbox()).map((m) => m.content)).toEqual(attack.inbox ?? []);
      });
    });
  });
}
