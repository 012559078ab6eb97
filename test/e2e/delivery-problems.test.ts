/**
 * Failures the owner sees (issue 12, "Sending"): a delivery that failed or is stuck
 * retrying is listed with its next try and the reason in plain words, counted, and the
 * owner can retry it now or cancel it (core owner/deliveries.ts, the owner API's
 * `/api/deliveries`). Run on each store (harness/stores.ts).
 */
import { createHttpClient, deliveryId, type HttpClient } from "@indiepm/core";
import { describe, expect, it } from "vitest";
import { startHosts as start } from "../harness/scoped.js";
import { OWNER_TOKEN, settled, waitFor, type FourHosts } from "../harness/hosts.js";
import { storesForTests, useStore } from "../harness/stores.js";

/** A back-off long enough that only "Retry now" can deliver within a test. */
const SLOW_RETRY = { baseDelayMs: 600_000, maxDelayMs: 3_600_000, handshakeTimeoutMs: 3_000, giveUpAfterMs: 86_400_000 };

const send = (h: FourHosts, content: string) => h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content, flow: "message" });
const problems = (h: FourHosts) => h.alice.pm.pm.deliveryProblems({ site: h.alice.site.url });
const counts = (h: FourHosts) => h.alice.pm.pm.deliveryProblemCounts({ site: h.alice.site.url });
const bobGot = async (h: FourHosts) => (await h.bob.pm.pm.inbox()).map((m) => m.content);
const stuck = (h: FourHosts) => waitFor(async () => (await problems(h)).find((p) => p.state === "stuck"), 5_000, "a stuck delivery");

/** alice's outbound client, whose first POST to `url` (of `action`, when given) waits until `release()`: a try under way. */
function heldHttp() {
  const real = createHttpClient({ dev: true });
  let hold: string | undefined;
  let holdAction: string | undefined;
  let held: (() => void) | undefined;
  let reached: (() => void) | undefined;
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  const client: HttpClient & { close(): Promise<void> } = {
    get: (url, options) => real.get(url, options),
    async postForm(url, form, options) {
      if (hold && url === hold && held === undefined && (holdAction === undefined || form.get("action") === holdAction)) {
        await new Promise<void>((resolve) => {
          held = resolve;
          reached?.();
        });
      }
      return real.postForm(url, form, options);
    },
    close: () => real.close(),
  };
  return {
    client,
    holdAt(url: string, action?: string) {
      hold = url;
      holdAction = action;
    },
    arrived,
    release: () => held?.(),
  };
}

for (const { store, skipReason } of await storesForTests()) {
  describe.skipIf(skipReason)(`on ${store}`, () => {
    useStore(store);

    it("a delivery to a server that is down is listed as stuck, with its next try and the reason in plain words, and counted", async () => {
      const h = await start({ alice: { retry: SLOW_RETRY } });
      await h.bob.pm.stop();
      const sent = await send(h, "are you there?");
      const problem = await stuck(h);
      expect(problem).toMatchObject({
        site: h.alice.site.url,
        recipient: h.bob.site.url,
        message: sent.message,
        state: "stuck",
        attempts: 1,
        error: "network_error",
        reason: `The server of ${new URL(h.bob.site.url).host} could not be reached.`,
        snippet: "are you there?",
      });
      expect(problem.conversation).toBeDefined();
      // The next try is after the back-off (§6: 5 to 10 min with jitter), not now.
      expect(Date.parse(problem.nextAttemptAt!) - Date.now()).toBeGreaterThan(20_000);
      expect(await counts(h)).toEqual({ failed: 0, stuck: 1 });
      expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]).toMatchObject({
        status: "pending",
        attempts: 1,
        nextAttemptAt: problem.nextAttemptAt,
      });
      // Only alice's own site's: bob's server has none.
      expect(await h.bob.pm.pm.deliveryProblemCounts()).toEqual({ failed: 0, stuck: 0 });
    });

    it("Retry now: a stuck delivery runs again at once and is delivered once the server is back, without waiting for the back-off", async () => {
      const h = await start({ alice: { retry: SLOW_RETRY } });
      await h.bob.pm.stop();
      const sent = await send(h, "retry me");
      const problem = await stuck(h);
      await h.alice.pm.pm.idle(); // its failed try has ended: the queue waits for the back-off
      await h.bob.pm.resume();
      expect(await h.alice.pm.pm.retryDelivery(problem.id, { site: h.alice.site.url })).toMatchObject({ recipient: h.bob.site.url, status: "pending" });
      expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
      expect(await bobGot(h)).toEqual(["retry me"]);
      expect(await problems(h)).toEqual([]);
      expect(await counts(h)).toEqual({ failed: 0, stuck: 0 });
    });

    it("Retry now: a failed delivery is tried again with a fresh budget of tries, and delivered", async () => {
      const h = await start({ alice: { retry: SLOW_RETRY } });
      h.bob.site.mode = "none"; // §6: a site naming no endpoint is a final failure
      const sent = await send(h, "second chance");
      expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]).toMatchObject({ status: "failed", error: "no_endpoint" });
      const [failed] = await problems(h);
      expect(failed).toMatchObject({ state: "failed", error: "no_endpoint", reason: `${new URL(h.bob.site.url).host} does not take private messages.` });
      expect(failed!.nextAttemptAt).toBeUndefined();
      expect(await counts(h)).toEqual({ failed: 1, stuck: 0 });

      h.bob.site.mode = "html";
      expect(await h.alice.pm.pm.retryDelivery(failed!.id)).toMatchObject({ status: "pending" });
      expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
      expect(await bobGot(h)).toEqual(["second chance"]);
      expect(await counts(h)).toEqual({ failed: 0, stuck: 0 });
    });

    it("Cancel: a stuck delivery is never tried again, shows as cancelled, and is no longer counted", async () => {
      const h = await start({ alice: { retry: { ...SLOW_RETRY, baseDelayMs: 300, maxDelayMs: 300 } } });
      await h.bob.pm.stop();
      const sent = await send(h, "never mind");
      const problem = await stuck(h);
      expect(await h.alice.pm.pm.cancelDelivery(problem.id, { site: h.alice.site.url })).toMatchObject({ status: "failed", error: "cancelled" });
      await h.bob.pm.resume();
      // Three back-offs' worth of time: a pending delivery would have been tried (and delivered) by now.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await h.alice.pm.pm.idle();
      expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]).toMatchObject({ status: "failed", error: "cancelled" });
      expect(await bobGot(h)).toEqual([]);
      expect(await problems(h)).toEqual([]);
      expect(await counts(h)).toEqual({ failed: 0, stuck: 0 });
      // Cancelled twice, or a delivered one: nothing to cancel.
      expect(await h.alice.pm.pm.cancelDelivery(problem.id)).toBeNull();
    });

    it("Cancel while a try is under way: the running try does not bring it back, and nothing is delivered", async () => {
      const held = heldHttp();
      const h = await start({ alice: { retry: SLOW_RETRY, http: held.client } });
      held.holdAt(h.bob.pm.url); // step 2 (notify) to bob's endpoint waits
      const sent = await send(h, "stopped in flight");
      await held.arrived;
      const [delivery] = (await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries;
      expect(delivery!.status).toBe("pending");
      const id = deliveryId(h.alice.site.url, h.bob.site.url, sent.message);
      expect(await h.alice.pm.pm.cancelDelivery(id)).toMatchObject({ status: "failed", error: "cancelled" });
      held.release();
      // bob's dialback (§3 step 3–4) finds the delivery no longer pending and nothing is delivered.
      await h.idle();
      expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]).toMatchObject({ status: "failed", error: "cancelled" });
      expect(await bobGot(h)).toEqual([]);
      await held.client.close();
    });

    it("Cancel while the message itself is on its way (step 6): the recipient has it, so it shows delivered", async () => {
      const held = heldHttp();
      const h = await start({ alice: { retry: SLOW_RETRY, http: held.client } });
      held.holdAt(h.bob.pm.url, "deliver");
      const sent = await send(h, "already on its way");
      await held.arrived;
      expect(await h.alice.pm.pm.cancelDelivery(deliveryId(h.alice.site.url, h.bob.site.url, sent.message))).toMatchObject({ error: "cancelled" });
      held.release();
      await h.idle();
      expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]!.status).toBe("delivered");
      expect(await bobGot(h)).toEqual(["already on its way"]);
      await held.client.close();
    });

    it("Retry now while a try is under way: that try is the retry (on a shared store its lease is left alone, so no second instance runs it beside it)", async () => {
      const held = heldHttp();
      const h = await start({ alice: { retry: SLOW_RETRY, http: held.client } });
      held.holdAt(h.bob.pm.url);
      const sent = await send(h, "in flight");
      await held.arrived;
      const id = deliveryId(h.alice.site.url, h.bob.site.url, sent.message);
      const before = await h.alice.pm.store.get<{ _id: string; nextAttemptAt: number; rev: number }>("deliveries", id);
      expect(await h.alice.pm.pm.retryDelivery(id)).toMatchObject({ status: "pending" });
      const after = await h.alice.pm.store.get<{ _id: string; nextAttemptAt: number; rev: number }>("deliveries", id);
      if (store === "postgres") expect(after).toEqual(before);
      held.release();
      expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
      expect(await bobGot(h)).toEqual(["in flight"]);
      await held.client.close();
    });

    it("another site's delivery is neither retried nor cancelled through a site that is not its own", async () => {
      const h = await start({ alice: { retry: SLOW_RETRY } });
      await h.bob.pm.stop();
      await send(h, "mine");
      const problem = await stuck(h);
      await expect(h.alice.pm.pm.cancelDelivery(problem.id, { site: h.bob.site.url })).rejects.toMatchObject({ code: "invalid_request" });
      expect(await h.alice.pm.pm.cancelDelivery("no-such-delivery")).toBeNull();
      expect(await h.alice.pm.pm.retryDelivery("no-such-delivery")).toBeNull();
      expect(await counts(h)).toEqual({ failed: 0, stuck: 1 });
    });

    it("the owner API lists, counts, retries and cancels them", async () => {
      const h = await start({ alice: { retry: SLOW_RETRY } });
      await h.bob.pm.stop();
      const sent = await send(h, "by API");
      await stuck(h);
      const call = (path: string, method = "GET", token = OWNER_TOKEN) =>
        fetch(new URL(path, h.alice.pm.url), { method, headers: { authorization: `Bearer ${token}` } });
      expect((await call("api/deliveries", "GET", "not-the-owner-token")).status).toBe(401);
      const listed = (await (await call(`api/deliveries?site=${encodeURIComponent(h.alice.site.url)}&state=stuck`)).json()) as { id: string }[];
      expect(listed).toHaveLength(1);
      expect(await (await call("api/deliveries?state=failed")).json()).toEqual([]);
      expect((await call("api/deliveries?state=lost")).status).toBe(400);
      expect(await (await call("api/deliveries/count")).json()).toEqual({ failed: 0, stuck: 1 });
      const cancelled = await call(`api/deliveries/${encodeURIComponent(listed[0]!.id)}/cancel`, "POST");
      expect(cancelled.status).toBe(200);
      expect(await cancelled.json()).toMatchObject({ recipient: h.bob.site.url, status: "failed", error: "cancelled" });
      expect((await call(`api/deliveries/${encodeURIComponent(listed[0]!.id)}/cancel`, "POST")).status).toBe(404);
      await h.bob.pm.resume();
      expect((await call(`api/deliveries/${encodeURIComponent(listed[0]!.id)}/retry`, "POST")).status).toBe(200);
      expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
    });
  });
}
