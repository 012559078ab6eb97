/**
 * PROTOCOL.md §6 "Retries", attacked (issue 9 item 3): a peer that answers `429` or `503`
 * with `Retry-After: 0`, or with an HTTP date in the past, must not make this server
 * fetch it in a loop (it was fetched 1,695 times in 10 s for one handshake). A retry
 * waits at least its back-off whatever `Retry-After` says, and every kind of outgoing job
 * — a handshake (receiver, steps 3–4), a delivery (sender, steps 2 and 6) and the owner's
 * webhook — goes through the same lifecycle (protocol/attempt.ts). Requests are counted
 * at the peer, a real loopback server.
 *
 * The schedule here is 2 s doubling to at most 8 s, with "equal jitter": retries come at
 * least 1, 2, 4, 4… s apart, so 10 s hold at most 4 requests (tries at 0, ≥1, ≥3, ≥7 s).
 */
import { describe, expect, it, type TestContext } from "vitest";
import { fourHosts, postForm, waitFor, type FourHosts, type FourHostsOptions } from "../harness/hosts.js";
import { ScriptedEndpoint, actAsReceiver, yes, type Answer, type Received } from "../harness/rogue.js";

const RETRY = { baseDelayMs: 2_000, maxDelayMs: 8_000, handshakeTimeoutMs: 3_000, giveUpAfterMs: 60 * 60_000 };
const WINDOW_MS = 10_000;
/** The shortest gap the schedule allows (half the base delay), less a little for timer slack. */
const FLOOR_MS = RETRY.baseDelayMs / 2 - 50;

interface Refusal {
  name: string;
  answer: () => Answer;
  /** The error the job keeps while it waits. */
  error: string;
}

const refusals: Refusal[] = [
  {
    name: "429 Retry-After: 0",
    error: "rate_limited",
    answer: () => ({ status: 429, headers: { "retry-after": "0" }, body: { error: "rate_limited", error_description: "Now." } }),
  },
  {
    name: "503 Retry-After: 0",
    error: "temporarily_unavailable",
    answer: () => ({ status: 503, headers: { "retry-after": "0" }, body: { error: "temporarily_unavailable", error_description: "Now." } }),
  },
  {
    name: "429 Retry-After: a past HTTP date",
    error: "rate_limited",
    answer: () => ({
      status: 429,
      headers: { "retry-after": new Date(Date.now() - 60_000).toUTCString() },
      body: { error: "rate_limited", error_description: "Long ago." },
    }),
  },
];

interface Job {
  /** Short: the test's name shows 40 characters of it. */
  kind: string;
  name: string;
  /** Starts the job against `peer`, which answers every request of the counted kind with the refusal. */
  start(h: FourHosts, peer: ScriptedEndpoint, refuse: () => Answer): Promise<void>;
  /** The requests of the job the peer counts. */
  counted(peer: ScriptedEndpoint): Received[];
  /** The job as stored by the server that makes it: still pending, with the refusal as its error. */
  stored(h: FourHosts): Promise<{ error?: unknown; nextAttemptAt?: unknown } | undefined>;
  hosts: FourHostsOptions;
  /** A plain HTTP peer (the webhook): its body is not §2's, so a 503 is a `server_error`. */
  plainHttp?: boolean;
}

const findOne = async (h: FourHosts["alice"]["pm"], collection: "deliveries" | "handshakes" | "webhooks", where: Record<string, string>) =>
  (await h.store.find<{ _id: string; error?: unknown; nextAttemptAt?: unknown }>(collection, { where }))[0];

const jobs: Job[] = [
  {
    kind: "handshake (verify)",
    name: "a handshake (bob's pm verifies at alice's endpoint, §3 step 3)",
    hosts: { bob: { retry: RETRY } },
    async start(h, peer, refuse) {
      h.alice.site.endpoint = peer.url;
      peer.answer = (r) => (r.action === "verify" ? refuse() : yes(r));
      const sites = { sender: h.alice.site.url, recipient: h.bob.site.url };
      expect((await postForm(h.bob.pm.url, { action: "notify", ...sites, message: `${peer.url}messages/1` })).status).toBe(202);
    },
    counted: (peer) => peer.of("verify"),
    stored: (h) => findOne(h.bob.pm, "handshakes", { state: "active" }),
  },
  {
    kind: "delivery (notify)",
    name: "a delivery at step 2 (alice's pm notifies bob's endpoint)",
    hosts: { alice: { retry: RETRY } },
    async start(h, peer, refuse) {
      h.bob.site.endpoint = peer.url;
      peer.answer = (r) => (r.action === "notify" ? refuse() : yes(r));
      await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "refused", flow: "message" });
    },
    counted: (peer) => peer.of("notify"),
    stored: (h) => findOne(h.alice.pm, "deliveries", { status: "pending" }),
  },
  {
    kind: "delivery (deliver)",
    name: "a delivery at step 6 (alice's pm delivers to bob's endpoint with its token)",
    hosts: { alice: { retry: RETRY } },
    async start(h, peer, refuse) {
      h.bob.site.endpoint = peer.url;
      actAsReceiver(peer, h.alice.pm.url, (r) => (r.action === "deliver" ? refuse() : yes(r)));
      await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "refused", flow: "message" });
    },
    counted: (peer) => peer.of("deliver"),
    stored: (h) => findOne(h.alice.pm, "deliveries", { status: "pending" }),
  },
  {
    kind: "webhook",
    name: "a webhook (bob's pm tells its owner about a new message)",
    hosts: { bob: { retry: RETRY } },
    plainHttp: true,
    async start(h, peer, refuse) {
      peer.answer = refuse;
      await h.bob.pm.pm.updateSettings(h.bob.site.url, { webhook: `${peer.url}hook` });
      await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "a new message", flow: "token" });
    },
    counted: (peer) => peer.received,
    stored: (h) => findOne(h.bob.pm, "webhooks", { status: "pending" }),
  },
];

const rows = jobs.flatMap((job) =>
  refusals.map((refusal) => ({
    ...refusal,
    error: job.plainHttp && refusal.error === "temporarily_unavailable" ? "server_error" : refusal.error,
    job,
    kind: job.kind,
    label: `${job.kind}, ${refusal.name}`,
  })),
);

describe("§6 Retries: Retry-After never shortens the back-off (issue 9 item 3)", () => {
  it.concurrent.for(rows)("$kind, $name: at most 4 requests in 10 s, at least a back-off apart", async ({ job, answer, error, label }, ctx: TestContext) => {
    const h = await fourHosts(job.hosts);
    ctx.onTestFinished(() => h.close());
    const peer = await new ScriptedEndpoint().listen();
    ctx.onTestFinished(() => peer.stop());
    await job.start(h, peer, answer);

    const first = await waitFor(() => job.counted(peer)[0], 10_000, `the first request of ${job.name}`);
    // The job is retried at all (a second request comes within the first back-off)…
    await waitFor(() => job.counted(peer)[1], 3_000, `a retry of ${job.name}`);
    await new Promise((r) => setTimeout(r, first.at + WINDOW_MS - Date.now()));
    const inWindow = job.counted(peer).filter((r) => r.at < first.at + WINDOW_MS);
    // …at most 4 times in 10 s (it was 1,695), each try at least the back-off's floor after the last.
    expect(inWindow.length).toBeGreaterThanOrEqual(2);
    expect(inWindow.length).toBeLessThanOrEqual(4);
    const gaps = inWindow.slice(1).map((r, i) => r.at - inWindow[i]!.at);
    if (process.env.INDIEPM_TEST_LOG) console.log(`${label}: ${inWindow.length} requests in 10 s (gaps ${gaps.join(", ")} ms)`);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(FLOOR_MS);
    // The job keeps waiting (the refusal is retryable), its next try still ahead.
    expect(await job.stored(h)).toMatchObject({ error, nextAttemptAt: expect.any(Number) });
    expect(peer.errors).toEqual([]);
  });
});
