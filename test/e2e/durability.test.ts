/**
 * PROTOCOL.md §6 "Durability" and "Retries" end to end: restarts in the middle of a
 * delivery or a handshake, a receiver that goes away and comes back, idempotent receipt
 * of a message sent twice, and `Retry-After` honoured. Run on each store (harness/stores.ts):
 * a restarted pm server reopens its own state, the same data folder or the same
 * PostgreSQL schema. Nothing here is about nedb's files (a torn line, its lock: test/faults).
 */
import { PROFILE_ACCEPT, type Flow } from "@indiepm/core";
import { describe, expect, it, onTestFinished } from "vitest";
import { startHosts as start, scriptedEndpoint as scripted } from "../harness/scoped.js";
import { postForm, settled, waitFor, type FourHosts } from "../harness/hosts.js";
import { actAsReceiver, slowNextDueReads, tappedHttp, type Answer, type Received } from "../harness/rogue.js";
import { storesForTests, useStore } from "../harness/stores.js";

const send = (h: FourHosts, content: string, flow: Flow) => h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content, flow });
const stepsOf = (h: FourHosts, action: string) => h.events.filter((e) => e.action === action).map((e) => e.status);
const failedTry = (h: FourHosts, action: string) =>
  waitFor(() => h.events.find((e) => e.action === action && e.status === "network_error"), 3_000, `a ${action} that fails`);
const FLOWS: Flow[] = ["message", "token"];
const step2 = (flow: Flow) => (flow === "message" ? "notify" : "authorize");

for (const { store, skipReason } of await storesForTests()) {
  describe.skipIf(skipReason)(`on ${store}`, () => {
    useStore(store);

    describe("§6 Durability: the sender restarts", () => {
      it.each(
        FLOWS.flatMap((flow) => [
          { name: `${flow} flow, recipient site down`, flow, down: "site" as const },
          { name: `${flow} flow, recipient endpoint down`, flow, down: "pm" as const },
        ]),
      )("a queued delivery resumes after a restart and completes exactly once ($name)", async ({ flow, down }) => {
        const h = await start();
        const unreachable = down === "site" ? h.bob.site : h.bob.pm;
        await unreachable.stop();
        const sent = await send(h, "survives a restart", flow);
        await failedTry(h, down === "site" ? "discover" : step2(flow));
        expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]!.status).toBe("pending");

        await h.alice.pm.shutdown();
        await unreachable.resume();
        await h.alice.pm.restart();
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        expect(stepsOf(h, "deliver")).toEqual([201]);
        expect((await h.bob.pm.pm.inbox()).map((m) => m.content)).toEqual(["survives a restart"]);
      });

      it.each(FLOWS)("a late %s-flow step 4 reaches the restarted sender and is honoured", async (flow) => {
        const h = await start();
        const bobEndpoint = await scripted();
        h.bob.site.endpoint = bobEndpoint.url;
        const sent = await send(h, "waiting for step 4", flow);
        const asked = await bobEndpoint.next(step2(flow));

        await h.alice.pm.shutdown();
        await h.alice.pm.restart();
        const sites = { sender: h.alice.site.url, recipient: h.bob.site.url };
        const token = "token-of-the-stand-in-receiver-0123456789ab";
        const step4 =
          flow === "message"
            ? { action: "request", ...sites, message: sent.message, endpoint: bobEndpoint.url, token }
            : { action: "grant", ...sites, code: asked.params.get("code")!, endpoint: bobEndpoint.url, token, expires_in: "3600" };
        expect((await postForm(h.alice.pm.url, step4)).status).toBe(202);
        expect((await bobEndpoint.next("deliver")).authorization).toBe(`Bearer ${token}`);
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        expect(bobEndpoint.of(step2(flow))).toHaveLength(1);
      });
    });

    describe("§4 late answers: step 4 after the sender stopped waiting", () => {
      it.each(FLOWS)("%s flow: alice's wait times out and she asks again; the late step 4 is still honoured", async (flow) => {
        const h = await start({ alice: { retry: { baseDelayMs: 50, maxDelayMs: 400, handshakeTimeoutMs: 200, giveUpAfterMs: 60_000 } } });
        const bobEndpoint = await scripted();
        h.bob.site.endpoint = bobEndpoint.url;
        const sent = await send(h, "late but fine", flow);
        const first = await bobEndpoint.next(step2(flow));
        // alice stops waiting (§6: a retryable failure) and makes a second step 2.
        await bobEndpoint.next(step2(flow), 2);
        const sites = { sender: h.alice.site.url, recipient: h.bob.site.url };
        const token = "token-of-the-late-receiver-0123456789abcdef";
        const late =
          flow === "message"
            ? { action: "request", ...sites, message: sent.message, endpoint: bobEndpoint.url, token }
            : { action: "grant", ...sites, code: first.params.get("code")!, endpoint: bobEndpoint.url, token, expires_in: "3600" };
        expect((await postForm(h.alice.pm.url, late)).status).toBe(202);
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        expect(bobEndpoint.of("deliver").map((r) => r.authorization)).toEqual([`Bearer ${token}`]);
      });
    });

    describe("§6 Retries: the receiver goes away and comes back", () => {
      it.each(FLOWS)("%s flow: bob's pm port closed, then open again: the pending delivery completes", async (flow) => {
        const h = await start();
        await h.bob.pm.stop();
        const sent = await send(h, "patience", flow);
        await failedTry(h, step2(flow));
        // The failure is recorded just after the event (the token flow first withdraws its code): wait for it.
        const waiting = await waitFor(
          async () => (await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries.find((d) => d.detail !== undefined),
          3_000,
          "the failure recorded",
        );
        expect(waiting).toMatchObject({ status: "pending", detail: expect.any(String) });
        await h.bob.pm.resume();
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        expect((await h.bob.pm.pm.inbox()).map((m) => m.content)).toEqual(["patience"]);
      });
    });

    describe("§6 Retries: a retry written while the queue looks for its next due time", () => {
      it("is taken up at its time, not at a later timer: the wake its write makes is not lost", async () => {
        // alice's queue reads its next due time 50 ms late and answers 250 ms after: the
        // failed step 1 below is written in between, its wakes arrive while the queue is
        // still looking, and the answer does not hold the retry (on PostgreSQL it holds the
        // job's lease, 30 s ahead).
        const h = await start({ wrapStore: { alice: slowNextDueReads(50, 250) } });
        let gets = 0;
        const page = h.bob.site.handler;
        h.bob.site.handler = (req, res) => {
          if (++gets > 1) return page(req, res);
          setTimeout(() => res.writeHead(500).end("a bad moment"), 150);
        };
        const sent = await send(h, "retried at its time", "message");
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        expect(gets).toBeGreaterThanOrEqual(2);
      });
    });

    describe("§6 Durability: the receiver restarts after a 202", () => {
      it.each(FLOWS)("%s flow: the handshake bob's pm accepted survives its restart and completes", async (flow) => {
        // alice waits long for step 4, so only bob's stored handshake can complete the delivery.
        const h = await start({ alice: { retry: { baseDelayMs: 50, maxDelayMs: 400, handshakeTimeoutMs: 30_000, giveUpAfterMs: 60_000 } } });
        // alice's site is down: bob's pm cannot take step 3 yet, and keeps the work for later.
        await h.alice.site.stop();
        const sent = await send(h, "accepted before the restart", flow);
        await waitFor(() => h.events.find((e) => e.action === step2(flow) && e.status === 202), 3_000, "the 202");
        await failedTry(h, "discover");

        await h.bob.pm.shutdown();
        await h.alice.site.resume();
        await h.bob.pm.restart();
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        expect(stepsOf(h, step2(flow))).toEqual([202]);
        expect(stepsOf(h, "verify")).toEqual([200]);
        expect((await h.bob.pm.pm.inbox()).map((m) => m.content)).toEqual(["accepted before the restart"]);
      });
    });

    describe("§3 step 6 / §4 step 6: idempotent receipt", () => {
      it.each(FLOWS)("%s flow: the answer to deliver is lost, alice delivers again: 200 duplicate, stored once", async (flow) => {
        let lost = 0;
        const http = tappedHttp((post) => {
          if (post.form.get("action") === "deliver" && lost++ === 0) throw new Error("the connection dropped before the answer arrived");
        });
        onTestFinished(() => http.close());
        const h = await start({ alice: { http } });
        const sent = await send(h, "once only", flow);
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        // The first deliver was stored by bob (201) although alice never saw the answer.
        expect(http.posts.filter((p) => p.form.get("action") === "deliver").map((p) => [p.answer?.status, p.answer?.json])).toEqual([
          [201, { status: "delivered" }],
          [200, { status: "duplicate" }],
        ]);
        // Both tries presented the same token.
        const [first, second] = http.posts.filter((p) => p.form.get("action") === "deliver");
        expect(second!.headers.authorization).toBe(first!.headers.authorization);
        expect((await h.bob.pm.pm.inbox()).map((m) => m.content)).toEqual(["once only"]);
      });

      it("a standing token delivering the same (sender, message) twice: 201, then 200 duplicate that changes nothing", async () => {
        const h = await start();
        const aliceEndpoint = await scripted();
        h.alice.site.endpoint = aliceEndpoint.url;
        const sites = { sender: h.alice.site.url, recipient: h.bob.site.url };
        expect((await postForm(h.bob.pm.url, { action: "authorize", ...sites, code: "c".repeat(43) })).status).toBe(202);
        const token = (await aliceEndpoint.next("grant")).params.get("token")!;
        const deliver = (content: string) =>
          postForm(
            h.bob.pm.url,
            { action: "deliver", ...sites, message: "urn:uuid:6f1c1d0e-6f9b-4c55-9d4e-1a2b3c4d5e6f", published: "2024-05-01T10:00:00Z", content },
            { authorization: `Bearer ${token}` },
          );
        expect(await deliver("first")).toMatchObject({ status: 201, body: { status: "delivered" } });
        expect(await deliver("second")).toMatchObject({ status: 200, body: { status: "duplicate" } });
        expect(await deliver("third")).toMatchObject({ status: 200, body: { status: "duplicate" } });
        expect((await h.bob.pm.pm.inbox()).map((m) => m.content)).toEqual(["first"]);
      });
    });

    describe("§6 Retries: Retry-After from the receiver is honoured", () => {
      const inOneSecond = () => "1";
      // An HTTP date has whole seconds: 2 s ahead is 1–2 s from now.
      const inTwoSecondsAsDate = () => new Date(Date.now() + 2_000).toUTCString();
      const rows: { name: string; flow: Flow; action: string; status: 429 | 503; retryAfter: () => string }[] = [
        { name: "429-to-notify", flow: "message", action: "notify", status: 429, retryAfter: inOneSecond },
        { name: "429-to-authorize", flow: "token", action: "authorize", status: 429, retryAfter: inOneSecond },
        { name: "429-to-deliver-message-flow", flow: "message", action: "deliver", status: 429, retryAfter: inOneSecond },
        { name: "429-to-deliver-token-flow", flow: "token", action: "deliver", status: 429, retryAfter: inOneSecond },
        { name: "429-to-deliver-retry-after-as-http-date", flow: "token", action: "deliver", status: 429, retryAfter: inTwoSecondsAsDate },
        { name: "503-to-deliver-with-retry-after", flow: "token", action: "deliver", status: 503, retryAfter: inOneSecond },
      ];
      it.each(rows)("$name: alice comes back after Retry-After (about 1 s), not after her back-off", async ({ flow, action, status, retryAfter }) => {
        const h = await start();
        // bob's endpoint is a raw server that plays E_R (verify, then request or grant) itself.
        const bobEndpoint = await scripted();
        h.bob.site.endpoint = bobEndpoint.url;
        actAsReceiver(bobEndpoint, h.alice.pm.url);
        const acting = bobEndpoint.answer;
        let refused = 0;
        bobEndpoint.answer = (r: Received): Answer | Promise<Answer> =>
          r.action === action && refused++ === 0
            ? {
                status,
                headers: { "retry-after": retryAfter() },
                body: { error: status === 429 ? "rate_limited" : "temporarily_unavailable", error_description: "Come back in a second." },
              }
            : acting(r);

        const sent = await send(h, "after a pause", flow);
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        const tries = bobEndpoint.of(action);
        expect(tries).toHaveLength(2);
        // The harness's back-off is 25–50 ms for a first retry; Retry-After asked for about 1 s.
        const gap = tries[1]!.at - tries[0]!.at;
        expect(gap).toBeGreaterThanOrEqual(950);
        expect(gap).toBeLessThan(3_000);
        expect(bobEndpoint.errors).toEqual([]);
        if (action === "deliver") expect(tries[1]!.authorization).toBe(tries[0]!.authorization);
      });
    });

    describe("§6 Retries: a discovery whose final answer is a 4xx other than 408/429, or names no endpoint, is final", () => {
      /**
       * The site answers `status` (with `Retry-After: 0` for 429/503) to its first `times`
       * discoveries, then its page; `gets` counts the discoveries. A server's read of a
       * correspondent's h-card (owner/profiles.ts: it asks for HTML only, PROFILE_ACCEPT) is
       * not a discovery: it gets the page and is not counted.
       */
      function answering(site: FourHosts["bob"]["site"], status: number, times: number): { gets: number } {
        const counter = { gets: 0 };
        const page = site.handler;
        site.handler = (req, res) => {
          if (req.headers.accept === PROFILE_ACCEPT) return page(req, res);
          if (++counter.gets > times) return page(req, res);
          res.statusCode = status;
          if (status === 429 || status === 503) res.setHeader("retry-after", "0");
          res.end(`answered ${status}`);
        };
        return counter;
      }
      const FINAL = [400, 401, 403, 404, 410, 451];
      const RETRIED = [408, 429, 500, 503];

      it.each(FINAL)("step 1: the recipient site answers %i: the delivery fails at once (discovery_failed), one fetch", async (status) => {
        const h = await start();
        const site = answering(h.bob.site, status, Number.POSITIVE_INFINITY);
        const sent = await send(h, "to a site that refuses", "message");
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]).toMatchObject({ status: "failed", error: "discovery_failed" });
        expect(site.gets).toBe(1);
      });

      it.each(RETRIED)("step 1: the recipient site answers %i once: retried, then delivered", async (status) => {
        const h = await start();
        const site = answering(h.bob.site, status, 1);
        const sent = await send(h, "after a bad moment", "message");
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        // The first answer and the rediscovery before step 2; step 5's fetch is the third.
        expect(site.gets).toBeGreaterThanOrEqual(2);
      });

      it("step 1: a page that names no endpoint ends the delivery (no_endpoint), one fetch", async () => {
        const h = await start();
        h.bob.site.mode = "none";
        const sent = await send(h, "to a site without pm", "token");
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]).toMatchObject({ status: "failed", error: "no_endpoint" });
        await h.idle();
        expect(h.bob.site.requests).toBe(1);
      });

      it.each(FINAL)("step 3: the sender's site answers %i to the receiver: the handshake fails at once, one fetch", async (status) => {
        const h = await start();
        const site = answering(h.alice.site, status, Number.POSITIVE_INFINITY);
        await send(h, "from a site that refuses", "message");
        const [handshake] = await waitFor(
          async () => {
            const found = await h.bob.pm.store.find<{ _id: string; state: string; error?: string }>("handshakes", { where: { state: "failed" } });
            return found.length > 0 ? found : undefined;
          },
          5_000,
          "bob's handshake to fail",
        );
        expect(handshake).toMatchObject({ state: "failed", error: "discovery_failed" });
        expect(site.gets).toBe(1);
      });

      it.each(RETRIED)("step 3: the sender's site answers %i once to the receiver: retried, then delivered", async (status) => {
        const h = await start();
        const site = answering(h.alice.site, status, 1);
        const sent = await send(h, "after a bad moment", "message");
        expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        expect(stepsOf(h, "notify")).toEqual([202]);
        expect(site.gets).toBe(2);
      });
    });
  });
}
