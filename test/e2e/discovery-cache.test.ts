/**
 * PROTOCOL.md §1 caching end to end: "A server MAY cache a discovery result for as long
 * as the response's Cache-Control allows (default: not at all). Before refusing anything
 * because a cached endpoint does not match, it MUST discover once more without the
 * cache." The sender reuses R's endpoint for step 1 only; step 3 (identity) and step 5
 * (afresh) still fetch the page.
 */
import { join } from "node:path";
import type { Flow } from "@indiepm/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fourHosts, PmHost, settled, type FourHosts } from "../harness/hosts.js";

let h: FourHosts;
/** bob's new pm servers, shut down before the hosts' folder goes. */
let moved: PmHost[] = [];
beforeEach(async () => {
  h = await fourHosts();
});
afterEach(async () => {
  await Promise.allSettled(moved.map((m) => m.shutdown()));
  moved = [];
  await h.close();
});

/** bob's endpoint moves to a new pm server holding his site. */
const moveBob = async (): Promise<PmHost> => {
  const host = new PmHost();
  moved.push(host);
  await host.startServer({ sites: [h.bob.site.url], dataDir: join(h.dataDir, "bob-moved"), events: h.events });
  h.bob.site.endpoint = host.url;
  return host;
};

const FLOWS: Flow[] = ["message", "token"];
const send = async (content: string, flow: Flow) => {
  const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content, flow });
  const done = await settled(h.alice.pm.pm, sent.message);
  await h.idle();
  return done.deliveries[0]!.status;
};
const step1Discoveries = () => h.events.filter((e) => e.action === "discover" && e.step === 1 && e.to === h.bob.site.url).length;

describe("§1 discovery caching, token flow steady state", () => {
  it("with Cache-Control: max-age=60 on bob's page, alice's second message makes no GET of bob's site", async () => {
    h.bob.site.headers = { "cache-control": "max-age=60" };
    expect(await send("first", "token")).toBe("delivered");
    const before = h.bob.site.requests;
    expect(await send("second", "token")).toBe("delivered");
    expect(h.bob.site.requests - before).toBe(0);
    expect(step1Discoveries()).toBe(1);
    expect((await h.bob.pm.pm.inbox()).map((m) => m.content).sort()).toEqual(["first", "second"]);
  });

  it.each([
    ["no Cache-Control", {}],
    ["no-store", { "cache-control": "no-store, max-age=60" }],
    ["no-cache", { "cache-control": "no-cache, max-age=60" }],
  ])("with %s, every delivery discovers", async (_name, headers) => {
    h.bob.site.headers = headers;
    expect(await send("first", "token")).toBe("delivered");
    const before = h.bob.site.requests;
    expect(await send("second", "token")).toBe("delivered");
    expect(h.bob.site.requests - before).toBe(1);
    expect(step1Discoveries()).toBe(2);
  });

  it("the message flow's step 5 still discovers afresh, and step 3 still checks the sender's page", async () => {
    h.bob.site.headers = { "cache-control": "max-age=60" };
    h.alice.site.headers = { "cache-control": "max-age=60" };
    expect(await send("first", "message")).toBe("delivered");
    const bobBefore = h.bob.site.requests;
    const aliceBefore = h.alice.site.requests;
    expect(await send("second", "message")).toBe("delivered");
    // Step 1 came from the cache; step 5 (alice checks R afresh) is bob's one GET.
    expect(h.bob.site.requests - bobBefore).toBe(1);
    expect(h.alice.site.requests - aliceBefore).toBe(1);
    expect(step1Discoveries()).toBe(1);
  });
});

describe("§1: a cached endpoint that fails is discovered once more", () => {
  it.each(FLOWS)("%s flow: bob moves his endpoint while alice holds a cached one; the next message reaches the new one", async (flow) => {
    h.bob.site.headers = { "cache-control": "max-age=600" };
    expect(await send("before the move", flow)).toBe("delivered");

    // bob moves to a new pm server; the old one is gone (connection refused).
    const bob2 = await moveBob();
    await h.bob.pm.shutdown();

    expect(await send("after the move", flow)).toBe("delivered");
    expect((await bob2.pm.inbox()).map((m) => m.content)).toEqual(["after the move"]);
    // The cached endpoint was tried once, failed, and step 1 ran afresh.
    expect(step1Discoveries()).toBe(2);
    expect(h.events.some((e) => e.to === h.bob.pm.url && e.status === "network_error")).toBe(true);
  });

  it("token flow: the old endpoint still answers but no longer holds bob (404 unknown_recipient); the next message reaches the new one", async () => {
    h.bob.site.headers = { "cache-control": "max-age=600" };
    expect(await send("before the move", "token")).toBe("delivered");

    const bob2 = await moveBob();
    // The old server now answers for nobody: its handler says 404 unknown_recipient to everything.
    h.bob.pm.handler = (_req, res) => {
      res.statusCode = 404;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ error: "unknown_recipient", error_description: "bob has moved" }));
    };

    expect(await send("after the move", "token")).toBe("delivered");
    expect((await bob2.pm.inbox()).map((m) => m.content)).toEqual(["after the move"]);
    expect(step1Discoveries()).toBe(2);
    expect(h.events.some((e) => e.to === h.bob.pm.url && e.action === "deliver" && e.status === 404)).toBe(true);
  });
});
