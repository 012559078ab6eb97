/**
 * PROTOCOL.md §6 "Retries": every outgoing job has a hard cap on its tries (retry.ts
 * `JOB_LIMITS`), whatever the schedule the options set or a peer's answers. A peer that
 * answers `503` to everything, against a schedule of 10 ms, gets exactly the cap's number
 * of requests from a handshake, a delivery and a webhook, and each job then ends failed,
 * saying why. Requests are counted at the peer, a real loopback server.
 */
import { JOB_LIMITS, type JobKind } from "@indiepm/core";
import { describe, expect, it, type TestContext } from "vitest";
import { fourHosts, postForm, waitFor, type FourHosts, type FourHostsOptions, type PmHost } from "../harness/hosts.js";
import { ScriptedEndpoint, yes, type Answer, type Received } from "../harness/rogue.js";

/** So fast that only the cap ends a job within the test: the horizon is an hour away. */
const RETRY = { baseDelayMs: 10, maxDelayMs: 10, handshakeTimeoutMs: 3_000, giveUpAfterMs: 60 * 60_000 };
const unavailable: Answer = { status: 503, body: { error: "temporarily_unavailable", error_description: "Not now." } };

interface Row {
  job: JobKind;
  hosts: FourHostsOptions;
  start(h: FourHosts, peer: ScriptedEndpoint): Promise<void>;
  counted(peer: ScriptedEndpoint): Received[];
  /** The pm server that makes the job, and where it keeps it. */
  maker(h: FourHosts): { pm: PmHost; collection: "deliveries" | "handshakes" | "webhooks"; ended: Record<string, string> };
}

const rows: Row[] = [
  {
    job: "handshake",
    hosts: { bob: { retry: RETRY } },
    async start(h, peer) {
      h.alice.site.endpoint = peer.url;
      peer.answer = (r) => (r.action === "verify" ? unavailable : yes(r));
      expect((await postForm(h.bob.pm.url, { action: "notify", sender: h.alice.site.url, recipient: h.bob.site.url, message: `${peer.url}m/1` })).status).toBe(
        202,
      );
    },
    counted: (peer) => peer.of("verify"),
    maker: (h) => ({ pm: h.bob.pm, collection: "handshakes", ended: { state: "failed" } }),
  },
  {
    job: "delivery",
    hosts: { alice: { retry: RETRY } },
    async start(h, peer) {
      h.bob.site.endpoint = peer.url;
      peer.answer = (r) => (r.action === "notify" ? unavailable : yes(r));
      await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "never accepted", flow: "message" });
    },
    counted: (peer) => peer.of("notify"),
    maker: (h) => ({ pm: h.alice.pm, collection: "deliveries", ended: { status: "failed" } }),
  },
  {
    job: "webhook",
    hosts: { bob: { retry: RETRY } },
    async start(h, peer) {
      peer.answer = () => unavailable;
      await h.bob.pm.pm.updateSettings(h.bob.site.url, { webhook: `${peer.url}hook` });
      await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "a new message", flow: "token" });
    },
    counted: (peer) => peer.received,
    maker: (h) => ({ pm: h.bob.pm, collection: "webhooks", ended: { status: "failed" } }),
  },
];

describe("§6 Retries: the attempt cap ends a job however fast its schedule", () => {
  const capped = rows.map((row) => ({ ...row, cap: JOB_LIMITS[row.job].maxAttempts }));
  it.concurrent.for(capped)("a $job that meets only 503s makes exactly its cap of $cap tries, then fails", async (row, ctx: TestContext) => {
    const h = await fourHosts(row.hosts);
    ctx.onTestFinished(() => h.close());
    const peer = await new ScriptedEndpoint().listen();
    ctx.onTestFinished(() => peer.stop());
    await row.start(h, peer);
    const { pm, collection, ended } = row.maker(h);
    const [failed] = await waitFor(
      async () => {
        const found = await pm.store.find<{ _id: string; error?: string; detail?: string; attempts: number }>(collection, { where: ended });
        return found.length > 0 ? found : undefined;
      },
      25_000,
      `the ${row.job} to fail`,
    );
    const { cap } = row;
    expect(failed).toMatchObject({
      error: expect.stringMatching(/^(temporarily_unavailable|server_error)$/),
      detail: expect.stringContaining(`after ${cap} tries`),
    });
    expect(row.counted(peer)).toHaveLength(cap);
  });
});
