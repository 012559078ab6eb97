/**
 * Faults with real processes (PROTOCOL.md §6 Durability): a `201` to `deliver` means
 * stored, a `202` means the work survives a restart, and a sender keeps every
 * undelivered message until it is delivered. Servers are killed with SIGKILL in the
 * middle of a burst of token-flow deliveries and restarted; afterwards every message
 * is in the inbox exactly once.
 */
import { mkdtemp, readdir, readFile, appendFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ReceivedMessage, SentMessage } from "@indiepm/core";
import { Site } from "../harness/hosts.js";
import { ServeProcess, freePort } from "./processes.js";

const BURST = 1_000;
let dir: string;
let sites: Site[];
let alice: ServeProcess;
let bob: ServeProcess;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "indiepm-faults-"));
  const aliceSite = await new Site().listen();
  const bobSite = await new Site().listen();
  sites = [aliceSite, bobSite];
  alice = new ServeProcess(await freePort(), join(dir, "alice"), aliceSite.url);
  bob = new ServeProcess(await freePort(), join(dir, "bob"), bobSite.url);
  aliceSite.endpoint = alice.url;
  bobSite.endpoint = bob.url;
  await alice.start();
  await bob.start();
});

afterEach(async () => {
  await Promise.allSettled([alice.kill9(), bob.kill9(), ...sites.map((s) => s.stop())]);
  await rm(dir, { recursive: true, force: true });
});

/** Sends message `i` through alice's owner API; resolves its ID, or undefined when alice is down. */
async function send(i: number): Promise<string | undefined> {
  try {
    const { status, body } = await alice.api<{ message: string }>("api/messages", {
      method: "POST",
      body: JSON.stringify({ from: sites[0]!.url, to: [sites[1]!.url], content: `message ${i}` }),
    });
    return status === 202 ? body.message : undefined;
  } catch {
    return undefined;
  }
}

/** Every message of alice's outbox delivered (or the deadline passed). */
async function allDelivered(expected: number, timeoutMs = 120_000): Promise<SentMessage[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await alice.api<SentMessage[]>("api/outbox?limit=1000");
    const done = body.filter((m) => m.deliveries.every((d) => d.status === "delivered")).length;
    if (done === expected || Date.now() > deadline) return body;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function inbox(): Promise<ReceivedMessage[]> {
  return (await bob.api<ReceivedMessage[]>("api/inbox?limit=1000")).body;
}

function expectExactlyOnce(accepted: string[], received: ReceivedMessage[]): void {
  const ids = received.map((m) => m.message);
  expect(new Set(ids).size).toBe(ids.length);
  expect(new Set(ids)).toEqual(new Set(accepted));
}

/**
 * When the sender is killed between storing a message and answering the owner, the
 * owner never learns its ID and writes again: such a message is delivered too, so the
 * inbox may hold more than was acknowledged. Every acknowledged one is there once.
 */
async function expectEachOnce(accepted: string[]): Promise<void> {
  const missing: string[] = [];
  for (const id of accepted) {
    const { status, body } = await bob.api<{ received: ReceivedMessage[] }>(`api/messages/${encodeURIComponent(id)}`);
    if (status !== 200 || body.received.length !== 1) missing.push(id);
  }
  expect(missing).toEqual([]);
}

describe("§6 Durability under SIGKILL", () => {
  it(`kill -9 the receiving server repeatedly during ${BURST} token-flow deliveries: each message stored exactly once`, async () => {
    const accepted: string[] = [];
    const killer = (async () => {
      for (let k = 0; k < 4; k++) {
        await new Promise((r) => setTimeout(r, 1_500));
        await bob.kill9();
        await new Promise((r) => setTimeout(r, 300));
        await bob.start();
      }
    })();
    for (let i = 0; i < BURST; i++) {
      const id = await send(i);
      if (id) accepted.push(id);
    }
    await killer;
    expect(accepted).toHaveLength(BURST);
    const outbox = await allDelivered(BURST);
    const received = await inbox();
    console.log(
      `receiver killed ${bob.starts - 1} times: ${accepted.length} accepted, ${outbox.filter((m) => m.deliveries[0]?.status === "delivered").length} delivered, ${received.length} in the inbox`,
    );
    expect(outbox.map((m) => m.deliveries[0]?.status)).toEqual(Array(BURST).fill("delivered"));
    expectExactlyOnce(accepted, received);
    expect(bob.starts).toBe(5);
  }, 240_000);

  it(`kill -9 the sending server repeatedly during ${BURST} token-flow deliveries: each accepted message delivered exactly once`, async () => {
    const accepted: string[] = [];
    let sending = true;
    const killer = (async () => {
      for (let k = 0; k < 4 && sending; k++) {
        await new Promise((r) => setTimeout(r, 1_500));
        await alice.kill9();
        await new Promise((r) => setTimeout(r, 300));
        await alice.start();
      }
    })();
    for (let i = 0; accepted.length < BURST; i++) {
      const id = await send(i);
      if (id) accepted.push(id);
      else await new Promise((r) => setTimeout(r, 20));
    }
    sending = false;
    await killer;
    // Newest 1000 of the outbox (a message whose answer was lost may be one more).
    const outbox = await allDelivered(BURST);
    expect(outbox.map((m) => m.deliveries[0]?.status)).toEqual(Array(BURST).fill("delivered"));
    await expectEachOnce(accepted);
    const received = await inbox();
    expect(new Set(received.map((m) => m.message)).size).toBe(received.length);
    console.log(
      `sender killed ${alice.starts - 1} times: ${accepted.length} acknowledged, each delivered and stored once; ${received.length} newest in the inbox, no duplicates`,
    );
    expect(alice.starts).toBeGreaterThan(1);
  }, 240_000);

  it("the receiver down for longer than several back-off steps, then back: every queued delivery completes", async () => {
    await bob.kill9();
    const accepted: string[] = [];
    for (let i = 0; i < 20; i++) accepted.push((await send(i))!);
    // Back-off from 100 ms doubling to 1 s: 4 s down is several steps.
    await new Promise((r) => setTimeout(r, 4_000));
    const { body: waiting } = await alice.api<SentMessage[]>("api/outbox?limit=1000");
    expect(waiting.map((m) => m.deliveries[0]?.status)).toEqual(Array(20).fill("pending"));
    await bob.start();
    const outbox = await allDelivered(20, 30_000);
    expect(outbox.map((m) => m.deliveries[0]?.status)).toEqual(Array(20).fill("delivered"));
    expectExactlyOnce(accepted, await inbox());
  }, 60_000);

  it("a torn last line in an nedb file (killed mid-write): the server starts, keeps every message, and sets the torn line aside", async () => {
    const accepted: string[] = [];
    for (let i = 0; i < 3; i++) accepted.push((await send(i))!);
    await allDelivered(3);
    await bob.kill9();
    // A crash in the middle of appending a document leaves half a line at the end.
    await appendFile(join(bob.dataDir, "inbox.db"), '{"_id":"torn","message":"https://x.example/m","sen');
    await bob.start();
    expectExactlyOnce(accepted, await inbox());
    const files = await readdir(bob.dataDir);
    const aside = files.find((f) => f.startsWith("inbox.db.torn-"));
    expect(aside).toBeDefined();
    expect(await readFile(join(bob.dataDir, aside!), "utf8")).toContain('"sen');
    // And the server still receives.
    accepted.push((await send(3))!);
    await allDelivered(4);
    expectExactlyOnce(accepted, await inbox());
  }, 60_000);
});
