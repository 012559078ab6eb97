/**
 * Issue 9 item 4: what strangers can make a pm server keep is bounded (PROTOCOL.md §2
 * Formats, §6 Abuse). Over a real loopback server with its nedb data folder:
 *
 * - 10,000 notifies with sender URLs of 2,048 characters — refused by the rate limit,
 *   refused by policy, and accepted but abandoned (the sender's site never answers) —
 *   leave the heap (after GC) and the data folder within 20 MiB of where they were, once
 *   the abandoned handshakes have given up and been swept;
 * - past `MAX_ACTIVE_HANDSHAKES_PER_SENDER_HOST` handshakes under way for one sender
 *   host, a notify is `429 rate_limited` with `Retry-After`, and starts nothing;
 * - finished handshakes and expired codes and tokens leave the store (and the datafile)
 *   after their keep time, not before;
 * - a discovered endpoint over 2,048 characters is refused, and nothing is posted to it.
 */
import { execFileSync } from "node:child_process";
import { Agent, request } from "node:http";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { closedPort, tempDir } from "@indiepm/test-support";
import { describe, expect, it, onTestFinished } from "vitest";
import { allIdle, PmHost, Site, waitFor } from "../harness/hosts.js";
import { ScriptedEndpoint, movableClock } from "../harness/rogue.js";
import { fencedClient } from "./support/outbound.js";
import {
  EXPIRED_SECRET_KEEP_MS,
  FINISHED_HANDSHAKE_KEEP_MS,
  HANDSHAKE_CAP_RETRY_AFTER_SECONDS,
  MAX_ACTIVE_HANDSHAKES_PER_SENDER_HOST,
  SWEEP_INTERVAL_MS,
} from "../../packages/core/src/limits.js";

const MiB = 1024 * 1024;
const MINUTE = 60_000;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Heap in use after full collections (nedb's documents, the limiter's keys and every other map live there). */
function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** `du -sb` of a folder: bytes of every file in it. */
function du(dir: string): number {
  return Number(execFileSync("du", ["-sb", dir], { encoding: "utf8" }).split("\t")[0]);
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** A form POST from a chosen loopback address (the server's "client address", §6); resolves the status and Retry-After. */
function postFrom(localAddress: string, url: string, params: Record<string, string>): Promise<{ status: number; retryAfter: string | undefined }> {
  const body = new URLSearchParams(params).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", agent, localAddress, headers: { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode!, retryAfter: res.headers["retry-after"] }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Runs `lanes` one after another inside each lane, `parallel` lanes at a time. */
async function inLanes<T>(lanes: T[], parallel: number, run: (lane: T) => Promise<void>): Promise<void> {
  const queue = [...lanes];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let lane = queue.shift(); lane !== undefined; lane = queue.shift()) await run(lane);
    }),
  );
}

/** A site URL of exactly `length` characters under `origin`. */
const siteOfLength = (origin: string, tag: string, length: number) => `${origin}/${tag}-`.padEnd(length, "x");

const tally = (statuses: Map<string, number>, key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);

/** bob's pm (default §6 limits, a movable clock, a fenced outbound client) with one open site and one that takes nothing. */
async function receiver(retry?: { baseDelayMs: number; maxDelayMs: number; handshakeTimeoutMs: number; giveUpAfterMs: number }) {
  const data = await tempDir("indiepm-bounds-");
  const dataDir = data.path;
  const clock = movableClock();
  const fence = fencedClient({ timeoutMs: 2_000 });
  const bobSite = await new Site().listen();
  const bob = await new PmHost().listen();
  bobSite.endpoint = bob.url;
  const closed = `${bobSite.url}closed/`;
  /** What each sweep that removed something reported (protocol/jobs/sweeper.ts). */
  const swept: Array<Record<string, unknown>> = [];
  const logger = {
    info: (message: string, data?: Record<string, unknown>) => void (message.startsWith("swept") && swept.push(data ?? {})),
    warn: () => {},
    error: () => {},
  };
  await bob.startServer({
    sites: [bobSite.url, closed],
    dataDir,
    overrides: { http: fence, now: clock.now, logger, grantLifetimeSeconds: 120, policies: { [closed]: { policy: "nobody" } }, ...(retry ? { retry } : {}) },
  });
  const extra: Array<{ stop(): Promise<void> }> = [];
  onTestFinished(async () => {
    await bob.shutdown();
    await Promise.allSettled([bobSite.stop(), ...extra.map((s) => s.stop()), fence.close()]);
    await data.remove();
  });
  return { bob, bobSite, closed, clock, fence, dataDir, extra, swept };
}

describe("issue 9 item 4: memory and disk after 10,000 refused or abandoned notifies", () => {
  it("10,000 notifies with 2,048-character senders — rate-limited, forbidden, abandoned — leave heap and data folder within 20 MiB", async () => {
    // Abandoned handshakes retry once a minute (engine clock) and give up within the hour §6 allows.
    const r = await receiver({ baseDelayMs: MINUTE, maxDelayMs: 10 * MINUTE, handshakeTimeoutMs: 3_000, giveUpAfterMs: 60 * MINUTE });
    const port = await closedPort();
    const message = (i: number) => `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
    // A live sender: its notify after each jump of the clock wakes the queue as any traffic would.
    const liveEndpoint = await new ScriptedEndpoint().listen();
    const liveSite = await new Site().listen();
    liveSite.endpoint = liveEndpoint.url;
    r.extra.push(liveEndpoint, liveSite);
    let nudges = 0;
    const nudge = async () => {
      expect(
        (
          await postFrom("127.0.0.1", r.bob.url, {
            action: "notify",
            sender: liveSite.url,
            recipient: r.bobSite.url,
            message: `urn:uuid:${crypto.randomUUID()}`,
          })
        ).status,
      ).toBe(202);
      nudges++;
      await waitFor(async () => (await r.bob.store.count("handshakes", { state: "active" })) === 0 || undefined, 90_000, "the queue to take up due work");
    };

    // Warm up (JIT, sockets, nedb indexes), then measure.
    await nudge();
    const before = { heap: heapAfterGc(), disk: du(r.dataDir) };
    const statuses = new Map<string, number>();

    // A. Refused by the rate limit: one client address, 3,400 notifies (§6: 300 a minute per
    // client; the 300 under it name a recipient bob's pm does not hold: 404).
    await inLanes(
      Array.from({ length: 8 }, (_, lane) => lane),
      8,
      async (lane) => {
        for (let i = lane; i < 3_400; i += 8) {
          const answer = await postFrom("127.0.0.2", r.bob.url, {
            action: "notify",
            sender: siteOfLength(`http://127.0.0.50:${port}`, `a${i}`, 2048),
            recipient: `${r.bobSite.url}nobody/`,
            message: message(i),
          });
          tally(statuses, `A ${answer.status}`);
        }
      },
    );
    // B. Refused by policy: 3,300 notifies to a site that takes nothing, from 11 client addresses.
    await inLanes(
      Array.from({ length: 11 }, (_, c) => c),
      8,
      async (c) => {
        for (let i = 0; i < 300; i++) {
          const answer = await postFrom(`127.0.0.${3 + c}`, r.bob.url, {
            action: "notify",
            sender: siteOfLength(`http://127.0.0.51:${port}`, `b${c}-${i}`, 2048),
            recipient: r.closed,
            message: message(i),
          });
          tally(statuses, `B ${answer.status}`);
        }
      },
    );
    // C. Abandoned: 3,300 notifies from senders on 30 host names whose sites never answer,
    // 110 per host (each from its own client address): 100 start a handshake, 10 are past the cap.
    await inLanes(
      Array.from({ length: 30 }, (_, h) => h),
      8,
      async (h) => {
        for (let i = 0; i < 110; i++) {
          const answer = await postFrom(`127.0.1.${h + 1}`, r.bob.url, {
            action: "notify",
            sender: siteOfLength(`http://127.0.2.${h + 1}:${port}`, `c${i}`, 2048),
            recipient: r.bobSite.url,
            message: message(i),
          });
          tally(statuses, `C ${answer.status}`);
          if (answer.status === 429) expect(answer.retryAfter).toBe(String(HANDSHAKE_CAP_RETRY_AFTER_SECONDS));
        }
      },
    );
    expect(Object.fromEntries([...statuses].sort())).toEqual({ "A 404": 300, "A 429": 3_100, "B 403": 3_300, "C 202": 3_000, "C 429": 300 });
    expect(await r.bob.store.count("handshakes", { state: "active" })).toBe(3_000);

    // Every abandoned handshake has tried once (connection refused) and waits for its next try.
    await waitFor(
      async () => (await r.bob.store.count("handshakes", { state: "active", attempts: 0 })) === 0 || undefined,
      60_000,
      "every handshake's first try",
    );
    const peak = { heap: heapAfterGc(), disk: du(r.dataDir) };

    // Past the hour §6 gives a dialback: the next try gives up (failed).
    r.clock.advance(61 * MINUTE);
    await nudge();
    expect(await r.bob.store.count("handshakes", { state: "failed" })).toBe(3_000);
    // Past the keep time of a finished handshake: the next sweep removes them and rewrites the datafile.
    r.clock.advance(FINISHED_HANDSHAKE_KEEP_MS + SWEEP_INTERVAL_MS);
    await nudge();
    await waitFor(async () => (await r.bob.store.count("handshakes")) <= nudges || undefined, 20_000, "the sweep");
    await waitFor(() => du(r.dataDir) - before.disk < 1 * MiB || undefined, 20_000, "the datafile to be rewritten");

    r.fence.fetched.length = 0; // the harness's own record of what was fetched
    const after = { heap: heapAfterGc(), disk: du(r.dataDir) };
    const figures = {
      heapBeforeMiB: +(before.heap / MiB).toFixed(1),
      heapPeakMiB: +(peak.heap / MiB).toFixed(1),
      heapAfterMiB: +(after.heap / MiB).toFixed(1),
      diskBeforeKiB: Math.round(before.disk / 1024),
      diskPeakKiB: Math.round(peak.disk / 1024),
      diskAfterKiB: Math.round(after.disk / 1024),
    };
    console.log("bounds: 10,000 refused or abandoned notifies", figures);
    expect(after.heap - before.heap).toBeLessThan(20 * MiB);
    expect(after.disk - before.disk).toBeLessThan(20 * MiB);
  }, 240_000);
});

describe("§6 Abuse: handshakes under way per sender host", () => {
  it("429-past-the-cap: the 101st handshake for one host is refused with Retry-After and starts nothing; other hosts and a freed place are served", async () => {
    const r = await receiver({ baseDelayMs: 10 * MINUTE, maxDelayMs: 10 * MINUTE, handshakeTimeoutMs: 3_000, giveUpAfterMs: 60 * MINUTE });
    const port = await closedPort();
    const notify = (host: string, i: number, from = "127.0.0.1") =>
      postFrom(from, r.bob.url, {
        action: "notify",
        sender: `http://${host}:${port}/u/${i}/`,
        recipient: r.bobSite.url,
        message: `urn:uuid:${crypto.randomUUID()}`,
      });
    const cap = MAX_ACTIVE_HANDSHAKES_PER_SENDER_HOST;
    const statuses: number[] = [];
    // Ports do not make another host: half the senders on another port of the same name.
    for (let i = 0; i < cap; i++) statuses.push((await notify("127.0.3.1", i)).status);
    expect(statuses).toEqual(Array(cap).fill(202));
    const refused = await postFrom("127.0.0.1", r.bob.url, {
      action: "notify",
      sender: `http://127.0.3.1:${port + 1}/other-port/`,
      recipient: r.bobSite.url,
      message: `urn:uuid:${crypto.randomUUID()}`,
    });
    expect(refused).toEqual({ status: 429, retryAfter: String(HANDSHAKE_CAP_RETRY_AFTER_SECONDS) });
    expect(await r.bob.store.count("handshakes")).toBe(cap);
    // Another host is not affected.
    expect((await notify("127.0.3.2", 0)).status).toBe(202);
    // Once one of them has failed (given up), its place is free again.
    await waitFor(async () => (await r.bob.store.count("handshakes", { state: "active", attempts: 0 })) === 0 || undefined, 20_000, "first tries");
    r.clock.advance(61 * MINUTE);
    expect((await notify("127.0.3.3", 0)).status).toBe(202); // wakes the queue: the due ones give up
    await waitFor(
      async () => (await r.bob.store.count("handshakes", { state: "active", senderHost: "127.0.3.1" })) === 0 || undefined,
      20_000,
      "the abandoned handshakes to give up",
    );
    expect((await notify("127.0.3.1", cap + 1)).status).toBe(202);
  });
});

describe("the sweep: finished handshakes and expired codes and tokens leave the store", () => {
  it("sweep-after-keep-time: done handshakes and expired message and standing tokens go after their keep time, not before; live ones stay", async () => {
    const r = await receiver();
    // A real sender that says yes to everything: each notify/authorize ends in a token (§3/§4 step 4).
    const endpoint = await new ScriptedEndpoint().listen();
    const site = await new Site().listen();
    site.endpoint = endpoint.url;
    r.extra.push(endpoint, site);
    const notify = () =>
      postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: site.url, recipient: r.bobSite.url, message: `urn:uuid:${crypto.randomUUID()}` });
    for (let i = 0; i < 5; i++) expect((await notify()).status).toBe(202);
    expect((await postFrom("127.0.0.1", r.bob.url, { action: "authorize", sender: site.url, recipient: r.bobSite.url, code: "c".repeat(43) })).status).toBe(
      202,
    );
    await waitFor(async () => (await r.bob.store.count("handshakes", { state: "done" })) === 6 || undefined, 10_000, "six handshakes done");
    expect(await r.bob.store.count("secrets")).toBe(6);

    /** Moves the clock, then a notify wakes the queue (and with it the sweeper); resolves once that handshake is done. */
    const later = async (ms: number, doneAfter: number) => {
      r.clock.advance(ms);
      expect((await notify()).status).toBe(202);
      await waitFor(async () => (await r.bob.store.count("handshakes", { state: "done" })) === doneAfter || undefined, 10_000, `${doneAfter} handshakes done`);
      await waitFor(async () => (await r.bob.store.count("handshakes", { state: "active" })) === 0 || undefined, 10_000, "no handshake under way");
    };
    const held = async () => ({ handshakes: await r.bob.store.count("handshakes"), secrets: await r.bob.store.count("secrets") });

    /** Waits for the next sweep that removes something, and says what it removed. */
    const nextSweep = async () => {
      const n = r.swept.length + 1;
      return waitFor(() => r.swept[n - 1], 10_000, `sweep number ${n}`);
    };

    // t0 + 9 min: nothing is past its keep time (finished 9 minutes ago; tokens not yet expired, or the standing one 7 minutes ago).
    await later(9 * MINUTE, 7);
    expect(await held()).toEqual({ handshakes: 7, secrets: 7 });
    // t0 + 15 min: the first six handshakes finished 15 minutes ago: gone. The standing token
    // expired 13 minutes ago: gone. The message tokens expired 5 minutes ago: kept.
    const at15 = nextSweep();
    await later(6 * MINUTE, 2);
    expect(await at15).toEqual({ handshakes: 6, secrets: 1 });
    expect(await held()).toEqual({ handshakes: 2, secrets: 5 + 1 + 1 });
    // t0 + 21 min: the first message tokens expired 11 minutes ago, the seventh handshake finished 12 minutes ago: gone.
    const at21 = nextSweep();
    await later(6 * MINUTE, 2);
    expect(await at21).toEqual({ handshakes: 1, secrets: 5 });
    expect(await held()).toEqual({ handshakes: 2, secrets: 3 });
    // The one sweep that found nothing to remove (t0 + 9 min) reported nothing.
    expect(r.swept).toHaveLength(2);
    expect(FINISHED_HANDSHAKE_KEEP_MS).toBeLessThanOrEqual(10 * MINUTE);
    expect(EXPIRED_SECRET_KEEP_MS).toBeLessThanOrEqual(10 * MINUTE);
  });
});

describe("§2 Formats: a discovered endpoint over 2,048 characters", () => {
  it("address_refused-long-endpoint: the receiver's dialback fails at discovery and posts nothing there", async () => {
    const r = await receiver();
    const endpoint = await new ScriptedEndpoint().listen();
    const site = await new Site().listen();
    site.endpoint = siteOfLength(endpoint.url.replace(/\/$/, ""), "pm", 2049);
    r.extra.push(endpoint, site);
    expect(
      (await postFrom("127.0.0.1", r.bob.url, { action: "notify", sender: site.url, recipient: r.bobSite.url, message: `urn:uuid:${crypto.randomUUID()}` }))
        .status,
    ).toBe(202);
    const failed = await waitFor(
      async () => (await r.bob.store.find<{ _id: string; error?: string; detail?: string }>("handshakes", { where: { state: "failed" } }))[0],
      10_000,
      "the dialback to fail",
    );
    expect(failed).toMatchObject({ error: "address_refused" });
    expect(String(failed.detail)).toMatch(/2,?048 characters/);
    await allIdle();
    expect(endpoint.received).toEqual([]);
    expect(site.requests).toBe(1);
  });
});
