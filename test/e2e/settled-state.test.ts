/**
 * `PmServer.idle()` (issue 10 item 7, "tests that cannot pass by luck"): a test that
 * expects nothing to happen awaits settled state, then looks. These rows defer the work on
 * purpose and check that `idle()` still waits for it, so a "nothing happened" check built
 * on it cannot pass because it looked too early.
 */
import { PROFILE_ACCEPT } from "@indiepm/core";
import { describe, expect, it } from "vitest";
import { scriptedEndpoint as scripted, startHosts as start } from "../harness/scoped.js";
import { postForm, settled, storeCounts } from "../harness/hosts.js";
import { movableClock, yes } from "../harness/rogue.js";

const DEFER_MS = 80;

describe("PmServer.idle()", () => {
  it("waits for a dialback whose every request starts 80 ms late (§3 steps 3–4)", async () => {
    const h = await start({ deferOutboundMs: { bob: DEFER_MS } });
    const aliceEndpoint = await scripted();
    h.alice.site.endpoint = aliceEndpoint.url;
    const message = `${aliceEndpoint.url}messages/1`;
    // alice's page is read by bob's discovery (§3 step 3), and by nothing else: a notify alone
    // makes no correspondent (anyone may name any site as sender), so bob reads no h-card.
    const reads = { discoveries: 0, profiles: 0 };
    const page = h.alice.site.handler;
    h.alice.site.handler = (req, res) => {
      if (req.headers.accept === PROFILE_ACCEPT) reads.profiles++;
      else reads.discoveries++;
      page(req, res);
    };
    const startedAt = Date.now();
    expect((await postForm(h.bob.pm.url, { action: "notify", sender: h.alice.site.url, recipient: h.bob.site.url, message })).status).toBe(202);
    // Answered before any of the dialback: stored, nothing fetched or sent yet.
    expect(await h.bob.pm.store.find("handshakes", {})).toEqual([expect.objectContaining({ state: "active" })]);
    expect({ reads, aliceEndpoint: aliceEndpoint.received }).toEqual({ reads: { discoveries: 0, profiles: 0 }, aliceEndpoint: [] });
    await h.bob.pm.pm.idle();
    // Discovery, verify and request, each 80 ms late, all made and the handshake ended.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(3 * DEFER_MS);
    expect({ reads, actions: aliceEndpoint.received.map((r) => r.action) }).toEqual({
      reads: { discoveries: 1, profiles: 0 },
      actions: ["verify", "request"],
    });
    expect(await h.bob.pm.store.find("handshakes", {})).toEqual([expect.objectContaining({ state: "done" })]);
    expect(await storeCounts(h.bob.pm.store)).toMatchObject({ handshakes: 1, secrets: 1, inbox: 0 });
    expect(await h.bob.pm.store.count("profiles")).toBe(0);
  });

  it("waits for the read of a correspondent's h-card that a stored message started, answered late", async () => {
    const h = await start();
    // bob stores alice's message, so alice is a correspondent: bob reads her h-card, which answers late.
    let profileReads = 0;
    const page = h.alice.site.handler;
    h.alice.site.handler = (req, res) => {
      if (req.headers.accept !== PROFILE_ACCEPT) return page(req, res);
      profileReads++;
      setTimeout(() => page(req, res), 4 * DEFER_MS);
    };
    const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "x", flow: "message" });
    expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
    await h.bob.pm.pm.idle();
    // Only bob read alice's h-card (alice read bob's, on bob's site); idle() waited for it to be stored.
    expect(profileReads).toBe(1);
    expect(await h.bob.pm.store.count("profiles")).toBe(1);
  });

  it("waits for the wake an answer deferred with setImmediate (§3 step 5 `request`, then step 6)", async () => {
    const h = await start();
    const bobEndpoint = await scripted();
    h.bob.site.endpoint = bobEndpoint.url;
    const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "x", flow: "message" });
    await bobEndpoint.next("notify");
    await h.alice.pm.pm.idle();
    const form = new URLSearchParams({
      action: "request",
      sender: h.alice.site.url,
      recipient: h.bob.site.url,
      message: sent.message,
      endpoint: bobEndpoint.url,
      token: "t".repeat(43),
    });
    // In-process, so nothing between the answer and `idle()` lets the deferred wake run first.
    const answer = await h.alice.pm.pm.handle(new Request(h.alice.pm.url, { method: "POST", body: form }), { clientAddress: "127.0.0.1" });
    expect(answer.status).toBe(202);
    expect(bobEndpoint.of("deliver")).toEqual([]);
    await h.alice.pm.pm.idle();
    expect(bobEndpoint.of("deliver").map((r) => r.authorization)).toEqual([`Bearer ${"t".repeat(43)}`]);
    expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]).toMatchObject({ status: "delivered" });
  });

  it("does not wait for a back-off, and starts work the engine's clock says is due", async () => {
    const clock = movableClock();
    const h = await start({ alice: { now: clock.now, retry: { baseDelayMs: 60_000, maxDelayMs: 60_000, handshakeTimeoutMs: 3_000, giveUpAfterMs: 600_000 } } });
    const bobEndpoint = await scripted();
    h.bob.site.endpoint = bobEndpoint.url;
    bobEndpoint.answer = (r) =>
      r.action === "notify" && bobEndpoint.of("notify").length === 1
        ? { status: 503, body: { error: "temporarily_unavailable", error_description: "Later." } }
        : yes(r);
    const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "x", flow: "message" });
    await h.alice.pm.pm.idle();
    // One notify, then a back-off of a minute: pending, and idle() did not wait for it.
    expect(bobEndpoint.of("notify")).toHaveLength(1);
    const [delivery] = await h.alice.pm.store.find<{ _id: string; status: string; error?: string; nextAttemptAt: number }>("deliveries", {});
    expect(delivery).toMatchObject({ status: "pending", error: "temporarily_unavailable" });
    expect(delivery!.nextAttemptAt - clock.now()).toBeGreaterThan(30_000);
    // A minute later by the engine's clock the retry is due now: idle() runs it.
    clock.advance(61_000);
    await h.alice.pm.pm.idle();
    expect(bobEndpoint.of("notify")).toHaveLength(2);
    expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]).toMatchObject({ status: "pending" });
  });
});
