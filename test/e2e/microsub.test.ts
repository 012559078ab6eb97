/**
 * Issue 13: each message bob receives is pushed to his Microsub channel (core
 * jobs/microsub.ts), a loopback channel following Aperture's contract
 * (test-support microsub-receiver.ts): once, as jf2 with his key, retried while the
 * channel is down, given up with the refusal when the channel refuses the key, never
 * holding up the `deliver`'s 201; and the key is never shown, exported or logged.
 * On each store (harness/stores.ts).
 */
import { JF2_CONTENT_TYPE } from "@indiepm/core";
import { startMicrosubReceiver, type MicrosubReceiver } from "@indiepm/test-support";
import { describe, expect, it, onTestFinished } from "vitest";
import { settled, waitFor, type FourHosts } from "../harness/hosts.js";
import { startHosts } from "../harness/scoped.js";
import { storesForTests, useStore } from "../harness/stores.js";

const KEY = "channel-key-of-bob-0123456789-wxyz";

async function receiver(): Promise<MicrosubReceiver> {
  const r = await startMicrosubReceiver({ apiKeys: [KEY] });
  onTestFinished(() => r.close());
  return r;
}

/** bob's pm server pushes to `r` with the API key. */
async function connect(h: FourHosts, r: MicrosubReceiver): Promise<void> {
  await h.bob.pm.pm.setMicrosub(h.bob.site.url, { micropub: r.micropubUrl, token: KEY, via: "api-key", inboxUrl: h.bob.pm.url });
}

const send = (h: FourHosts, content: string, extra: { subject?: string; html?: string } = {}) =>
  h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content, ...extra });

for (const { store, skipReason } of await storesForTests()) {
  describe.skipIf(skipReason)(`on ${store}`, () => {
    useStore(store);

    it("each received message lands in the channel once, as a jf2 entry with the key, the sender named by their kept h-card", async () => {
      const h = await startHosts();
      const r = await receiver();
      h.alice.site.body = `<div class="h-card"><a class="u-url u-uid p-name" href="${h.alice.site.url}">Alice Person</a></div>`;
      await h.bob.pm.pm.refreshPeople([h.alice.site.url]);
      await connect(h, r);
      const first = await send(h, "Lunch on Friday?", { subject: "Friday", html: "<p>Lunch on <em>Friday</em>?</p>" });
      expect((await settled(h.alice.pm.pm, first.message)).deliveries[0]!.status).toBe("delivered");
      const second = await send(h, "Or Saturday.");
      await settled(h.alice.pm.pm, second.message);
      await h.idle();

      expect(r.posts()).toBe(2);
      const entries = r.entries();
      expect(entries.map((e) => [e.contentType, e.token, e.posts])).toEqual([
        [JF2_CONTENT_TYPE, KEY, 1],
        [JF2_CONTENT_TYPE, KEY, 1],
      ]);
      // As bob's store holds them: the conversation each was filed in.
      const stored = async (message: string) =>
        (await h.bob.pm.store.find<{ _id: string; message: string; published: string; conversation: string }>("inbox", { where: { message } }))[0]!;
      const [received1, received2] = [await stored(first.message), await stored(second.message)];
      const author = { type: "card", name: "Alice Person", url: h.alice.site.url };
      expect(entries[0]!.entry).toEqual({
        type: "entry",
        author,
        name: "Friday",
        content: { text: "Lunch on Friday?", html: "<p>Lunch on <em>Friday</em>?</p>" },
        published: received1!.published,
        url: expect.stringMatching(new RegExp(`^${h.bob.pm.url}c/${received1!.conversation}#pm-[\\w-]{16}$`)),
      });
      expect(entries[1]!.entry).toEqual({
        type: "entry",
        author,
        content: { text: "Or Saturday." },
        published: received2!.published,
        url: expect.stringMatching(new RegExp(`^${h.bob.pm.url}c/${received2!.conversation}#pm-[\\w-]{16}$`)),
      });
      // Two messages, two URLs: Aperture keeps one entry per url.
      expect(entries[0]!.entry.url).not.toBe(entries[1]!.entry.url);
      const status = await h.bob.pm.pm.microsub(h.bob.site.url);
      expect(status).toMatchObject({ micropub: r.micropubUrl, via: "api-key", keyEnd: "wxyz", pending: 0, lastPushAt: expect.any(String) });
      expect(status!.lastFailure).toBeUndefined();
    });

    it("a sender whose h-card is not known is named by their host", async () => {
      const h = await startHosts();
      const r = await receiver();
      await connect(h, r);
      await settled(h.alice.pm.pm, (await send(h, "hello")).message);
      await h.idle();
      expect(r.entries().map((e) => e.entry.author)).toEqual([{ type: "card", name: new URL(h.alice.site.url).host, url: h.alice.site.url }]);
    });

    it("a push made while the channel is down is retried and lands exactly once when it is back", async () => {
      const h = await startHosts();
      const r = await receiver();
      await connect(h, r);
      await r.stop();
      const sent = await send(h, "while the channel was down");
      expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
      const failing = await waitFor(async () => (await h.bob.pm.pm.microsub(h.bob.site.url))?.lastFailure, 5_000, "a failed push");
      expect(failing).toMatchObject({ state: "retrying", error: "network_error" });
      await r.start();
      await waitFor(() => r.entries().length === 1, 10_000, "the push after the channel came back");
      await h.idle();
      expect(r.posts()).toBe(1);
      expect(r.entries()[0]!.entry.content).toEqual({ text: "while the channel was down" });
      const status = await h.bob.pm.pm.microsub(h.bob.site.url);
      expect(status).toMatchObject({ pending: 0, lastPushAt: expect.any(String) });
      expect(status!.lastFailure).toBeUndefined();
    });

    it.each([401, 403])("a %i from the channel fails the push for good, and nothing more is pushed until the owner saves the target again", async (refusal) => {
      const h = await startHosts();
      const r = await receiver();
      await connect(h, r);
      r.answerWith(refusal);
      await settled(h.alice.pm.pm, (await send(h, "refused")).message);
      await h.idle();
      const status = await h.bob.pm.pm.microsub(h.bob.site.url);
      expect(status).toMatchObject({ refusedAt: expect.any(String), pending: 0, lastFailure: { state: "failed", error: "invalid_token", attempts: 1 } });
      expect(r.requests()).toHaveLength(1);

      r.answerWith(undefined);
      await settled(h.alice.pm.pm, (await send(h, "after the refusal")).message);
      await h.idle();
      expect(r.requests()).toHaveLength(1);

      await connect(h, r);
      expect((await h.bob.pm.pm.microsub(h.bob.site.url))!.refusedAt).toBeUndefined();
      await settled(h.alice.pm.pm, (await send(h, "authorized again")).message);
      await h.idle();
      expect(r.entries().map((e) => e.entry.content)).toEqual([{ text: "authorized again" }]);
    });

    it("a channel that never answers does not hold up the deliver's 201", async () => {
      const h = await startHosts();
      const r = await receiver();
      await connect(h, r);
      r.hang(true);
      const started = Date.now();
      const sent = await send(h, "the channel hangs");
      expect((await settled(h.alice.pm.pm, sent.message, 5_000)).deliveries[0]!.status).toBe("delivered");
      // The push was under way (its POST unanswered) when the delivery was already done.
      await waitFor(() => r.requests().length === 1, 5_000, "the push to reach the channel");
      expect(r.requests()[0]!.status).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(h.events.filter((e) => e.action === "deliver").map((e) => e.status)).toEqual([201]);
    });

    it("the key is never exported nor logged; the owner sees its last 4 characters", async () => {
      const logged: unknown[] = [];
      const logger = { info: (...a: unknown[]) => logged.push(a), warn: (...a: unknown[]) => logged.push(a), error: (...a: unknown[]) => logged.push(a) };
      const h = await startHosts({ bob: { logger } });
      const r = await receiver();
      await connect(h, r);
      r.answerWith(403);
      await settled(h.alice.pm.pm, (await send(h, "refused, and logged")).message);
      await h.idle();
      expect(JSON.stringify(logged)).toContain("microsub push failed");
      expect(JSON.stringify(logged)).not.toContain(KEY);
      const exported = JSON.stringify(await h.bob.pm.pm.exportAll());
      expect(exported).toContain("refused, and logged");
      expect(exported).not.toContain(KEY.slice(4));
      expect(JSON.stringify(await h.bob.pm.pm.microsub(h.bob.site.url))).not.toContain(KEY.slice(0, -4));
      expect(JSON.stringify(await h.bob.pm.pm.settings(h.bob.site.url))).not.toContain(KEY.slice(4));
    });

    it("a muted correspondent's message is stored but not posted, as the webhook does not announce it", async () => {
      const h = await startHosts();
      const r = await receiver();
      await connect(h, r);
      await h.bob.pm.pm.updateSettings(h.bob.site.url, { mute: [h.alice.site.url] });
      await settled(h.alice.pm.pm, (await send(h, "muted")).message);
      await h.idle();
      expect((await h.bob.pm.pm.inbox()).map((m) => m.content)).toEqual(["muted"]);
      expect(r.requests()).toHaveLength(0);
    });

    it("removing the channel drops what was queued for it", async () => {
      const h = await startHosts();
      const r = await receiver();
      await connect(h, r);
      await r.stop();
      await settled(h.alice.pm.pm, (await send(h, "queued, then removed")).message);
      await waitFor(async () => (await h.bob.pm.pm.microsub(h.bob.site.url))?.lastFailure, 5_000, "a failed push");
      expect(await h.bob.pm.pm.clearMicrosub(h.bob.site.url)).toBe(true);
      expect(await h.bob.pm.pm.microsub(h.bob.site.url)).toBeNull();
      await r.start();
      await h.idle();
      expect(r.requests()).toHaveLength(0);
      expect(await h.bob.pm.store.count("webhooks")).toBe(0);
    });
  });
}

describe("the loopback channel itself follows Aperture's contract", () => {
  const post = (r: MicrosubReceiver, type: string, body: string, token?: string) =>
    fetch(r.micropubUrl, { method: "POST", body, headers: { "content-type": type, ...(token ? { authorization: `Bearer ${token}` } : {}) } });

  it("takes jf2 as is, and form and JSON Micropub as jf2, with the key; none is 401, an unknown one 403", async () => {
    const r = await receiver();
    expect((await post(r, "application/x-www-form-urlencoded", "h=entry&content=hi", undefined)).status).toBe(401);
    expect((await post(r, "application/x-www-form-urlencoded", "h=entry&content=hi", "wrong")).status).toBe(403);
    const jf2 = await post(r, JF2_CONTENT_TYPE, JSON.stringify({ type: "entry", content: { text: "one" }, url: "https://x.example/1" }), KEY);
    expect(jf2.status).toBe(201);
    expect(jf2.headers.get("location")).toMatch(/\/entry\/[0-9a-f]{32}$/);
    expect((await post(r, "application/x-www-form-urlencoded", "h=entry&content=two&category[]=a&category[]=b", KEY)).status).toBe(201);
    expect((await post(r, "application/json", JSON.stringify({ type: ["h-entry"], properties: { content: ["three"], name: ["Three"] } }), KEY)).status).toBe(
      201,
    );
    expect((await post(r, JF2_CONTENT_TYPE, JSON.stringify({ content: "no type" }), KEY)).status).toBe(400);
    expect(r.entries().map((e) => e.entry)).toEqual([
      { type: "entry", content: { text: "one" }, url: "https://x.example/1" },
      { type: "entry", content: { text: "two" }, category: ["a", "b"] },
      { type: "entry", content: { text: "three" }, name: "Three" },
    ]);
    // One entry per url: the same url again replaces it.
    await post(r, JF2_CONTENT_TYPE, JSON.stringify({ type: "entry", content: { text: "one again" }, url: "https://x.example/1" }), KEY);
    expect(r.entries()).toHaveLength(3);
    expect(r.entries()[0]).toMatchObject({ posts: 2, entry: { content: { text: "one again" } } });
    expect(r.posts()).toBe(4);
  });

  it("stops and starts again on the same port", async () => {
    const r = await receiver();
    await r.stop();
    await expect(post(r, JF2_CONTENT_TYPE, "{}", KEY)).rejects.toThrow();
    await r.start();
    expect((await post(r, JF2_CONTENT_TYPE, JSON.stringify({ type: "entry" }), KEY)).status).toBe(201);
  });
});
