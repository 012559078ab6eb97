/**
 * Several instances, real processes (issue 11, "How it is checked"): three built-bin
 * `indiepm serve --dev --database URL` on one PostgreSQL database behind a round-robin
 * proxy (nginx where installed), and a peer `indiepm serve` on nedb. The cluster receives
 * 1,000 token-flow messages from the peer and sends 1,000 to it, at the same time, while
 * one instance is killed with SIGKILL and restarted and PostgreSQL is stopped and started.
 * Then, on stored state: every accepted message is stored exactly once on the receiving
 * side and marked delivered on the sending side; every `deliver` the peer saw answered 2xx
 * is in the cluster's inbox (PROTOCOL.md §6 Durability); no message was delivered by two
 * instances at once (the job lease). While the database is down, federation requests get
 * `503 temporarily_unavailable` and `/health` answers 503.
 *
 * Skips (saying why) where PostgreSQL's binaries or the built CLI are missing; fails in CI.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import type { ReceivedMessage, SentMessage } from "@indiepm/core";
import { postgresServerSkipReason } from "@indiepm/test-support";
import { CLI_BUILT, ownerApi } from "../faults/processes.js";
import { Cluster, deliversOf, eachLimited, until, type DeliverRecord } from "./harness.js";

/** Messages each way: the 1,000 (env INDIEPM_CLUSTER_MESSAGES, for trying the harness out, never lower in CI). */
const MESSAGES = process.env.CI ? 1_000 : Number(process.env.INDIEPM_CLUSTER_MESSAGES ?? 1_000);
const INSTANCES = 3;
/** Owner API calls in flight per direction. */
const SENDERS = 4;

function skipReason(): string | undefined {
  if (!CLI_BUILT) {
    const reason = "the CLI is not built (packages/cli/dist): run `pnpm build` (tsc -b) first";
    if (process.env.CI) throw new Error(`The several-instance test cannot run in CI: ${reason}`);
    console.warn(`Several-instance test skipped: ${reason}`);
    return reason;
  }
  return postgresServerSkipReason();
}

const SKIP = skipReason();

let dir: string;
let cluster: Cluster;

beforeAll(async () => {
  if (SKIP) return;
  dir = await mkdtemp(join(tmpdir(), "indiepm-cluster-"));
  cluster = await Cluster.start({ dir, instances: INSTANCES, ...(process.env.INDIEPM_CLUSTER_NODE_PROXY ? { preferNodeProxy: true } : {}) });
}, 120_000);

afterAll(async () => {
  if (SKIP) return;
  // With INDIEPM_CLUSTER_KEEP, what the tap saw (each request to the peer: when, how answered, over which connection) is kept beside the logs.
  if (process.env.INDIEPM_CLUSTER_KEEP && cluster) await writeFile(join(dir, "peer-tap.json"), JSON.stringify(await cluster.peerTap.records()));
  await cluster?.stop();
  // env INDIEPM_CLUSTER_KEEP keeps the processes' logs (instance-N.log, peer.log), nginx's files and peer-tap.json.
  if (process.env.INDIEPM_CLUSTER_KEEP) console.log(`kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}, 120_000);

interface Accepted {
  id: string;
  at: number;
}

/**
 * Writes `count` messages through the owner API at `base`, `SENDERS` at a time, each until
 * the server takes it (`202` with its ID). A call whose answer is lost (the instance killed,
 * the database down) is written again: that message may then exist twice under two IDs, as
 * for any client; the acknowledged ones are what the checks follow.
 */
async function pump(base: string, from: string, to: string, count: number, accepted: Accepted[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      for (let i = next++; i < count; i = next++) {
        for (;;) {
          try {
            const { status, body } = await ownerApi<{ message: string }>(base, "api/messages", {
              method: "POST",
              body: JSON.stringify({ from, to: [to], content: `message ${i} from ${from}`, flow: "token" }),
            });
            if (status === 202) {
              accepted.push({ id: body.message, at: Date.now() });
              break;
            }
          } catch {
            // Refused connection, a proxy's 502 page, a time-out: write it again.
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }),
  );
}

/** One federation request straight to `url` (no proxy), answered how. */
async function federation(url: string, form: Record<string, string>, token?: string): Promise<{ status: number; body: { error?: string } }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: new URLSearchParams(form),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.json()) as { error?: string } };
}

const is2xx = (r: { status: number }) => r.status >= 200 && r.status < 300;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe.skipIf(SKIP)("several instances on one PostgreSQL database (issue 11)", () => {
  it(`${INSTANCES} instances behind a round-robin proxy receive ${MESSAGES} and send ${MESSAGES} token-flow messages through a SIGKILL and a PostgreSQL restart: each stored and delivered exactly once`, async () => {
    /** What happened when, printed as it happens (a slow or stuck run shows where it is). */
    const started = Date.now();
    const step = (what: string) => console.log(`${seconds(Date.now() - started)} ${what}`);
    onTestFailed(async () => console.error(`what each party did:\n${await cluster.describe()}`));
    const { instances, peer, proxy, peerTap, pg } = cluster;
    const site = cluster.site.url;
    const peerSite = cluster.peerSite.url;
    const received: Accepted[] = []; // the peer's messages to the cluster, acknowledged by the peer
    const sent: Accepted[] = []; // the cluster's messages to the peer, acknowledged through the proxy
    const figures: Record<string, string> = { proxy: proxy.kind };

    /** 2xx `deliver`s so far: at the proxy (the peer's, to the cluster) and at the tap (the cluster's, to the peer). */
    const delivered = async () => deliversOf(await proxy.records()).filter(is2xx).length + deliversOf(await peerTap.records()).filter(is2xx).length;

    const victim = instances[1]!;
    let downAt = 0;
    let upAt = 0;

    const faults = (async () => {
      // SIGKILL one instance a quarter of the way, restart it after another tenth went through the other two.
      await until("a quarter of the deliveries", async () => (await delivered()) >= MESSAGES / 2);
      const killedAt = Date.now();
      await victim.kill9();
      step("instance 1 killed (SIGKILL)");
      const atKill = await delivered();
      await until("a tenth more deliveries with one instance dead", async () => (await delivered()) >= atKill + MESSAGES / 5);
      const restartAt = Date.now();
      await victim.start();
      figures.restartToListening = seconds(Date.now() - restartAt);
      await until("the restarted instance healthy", async () => (await victim.health()) === 200, 30_000);
      figures.killedFor = seconds(restartAt - killedAt);
      figures.restartToHealthy = seconds(Date.now() - restartAt);
      step("instance 1 restarted and healthy");

      // PostgreSQL stopped when 60 % of the peer's messages are in (so the peer still has some to
      // deliver while it is down), started again once what the cluster answers meanwhile is checked.
      await until("60 % of the peer's deliveries", async () => deliversOf(await proxy.records()).filter(is2xx).length >= (MESSAGES * 6) / 10);
      await pg.stop();
      downAt = Date.now();
      step("PostgreSQL stopped");
      const direct = await federation(
        instances[0]!.url,
        {
          action: "deliver",
          sender: peerSite,
          recipient: site,
          message: `urn:uuid:${crypto.randomUUID()}`,
          published: new Date().toISOString(),
          content: "while the database is down",
        },
        "A".repeat(43),
      );
      expect(direct).toEqual({ status: 503, body: expect.objectContaining({ error: "temporarily_unavailable" }) });
      const notify = await federation(proxy.url, { action: "notify", sender: peerSite, recipient: site, message: `urn:uuid:${crypto.randomUUID()}` });
      expect(notify).toEqual({ status: 503, body: expect.objectContaining({ error: "temporarily_unavailable" }) });
      expect(await Promise.all(instances.map((p) => p.health()))).toEqual(instances.map(() => 503));
      // The peer keeps delivering: wait until the proxy has answered some of it (503, checked below).
      await until("a deliver from the peer while the database is down", async () => {
        cluster.expectRunning(); // every process outlives its database
        return deliversOf(await proxy.records()).some((r) => r.start > downAt);
      });
      upAt = Date.now();
      await pg.start();
      const startedAt = Date.now();
      step("PostgreSQL started");
      await until(
        "every instance healthy after PostgreSQL's restart",
        async () => {
          cluster.expectRunning();
          return (await Promise.all(instances.map((p) => p.health()))).every((s) => s === 200);
        },
        60_000,
      );
      figures.pgDown = seconds(Date.now() - downAt);
      figures.pgStartToHealthy = seconds(Date.now() - startedAt);
      await until("a 2xx deliver after PostgreSQL's restart", async () =>
        [...deliversOf(await proxy.records()), ...deliversOf(await peerTap.records())].some((r) => r.start > startedAt && is2xx(r)),
      );
      figures.pgStartToFirstDelivery = seconds(Date.now() - startedAt);
      step("delivering again");
    })();

    await Promise.all([
      pump(peer.url, peerSite, site, MESSAGES, received).then(() => step(`the peer took all ${MESSAGES} to send`)),
      pump(proxy.url, site, peerSite, MESSAGES, sent).then(() => step(`the cluster took all ${MESSAGES} to send`)),
      faults,
    ]);
    expect(received).toHaveLength(MESSAGES);
    expect(sent).toHaveLength(MESSAGES);

    // Every acknowledged message reached the other side: first on the records (cheap to poll), then stored state below.
    const firstDelivery = (records: DeliverRecord[]) => {
      const at = new Map<string, number>();
      for (const r of records) if (is2xx(r) && !at.has(r.message)) at.set(r.message, r.end);
      return at;
    };
    // A delivery that failed (final, §6) will never arrive: stop waiting on it and say what its sender holds.
    const senderSide = async (api: (path: string) => Promise<{ body: { sent?: SentMessage } }>, ids: string[]) =>
      Promise.all(ids.slice(0, 20).map(async (id) => (await api(`api/messages/${encodeURIComponent(id)}`)).body.sent));
    let missing: { toCluster: string[]; toPeer: string[] } = { toCluster: [], toPeer: [] };
    let lookedAt = Date.now();
    await until(
      "every message delivered, both ways",
      async () => {
        const atCluster = firstDelivery(deliversOf(await proxy.records()));
        const atPeer = firstDelivery(deliversOf(await peerTap.records()));
        missing = { toCluster: received.filter((m) => !atCluster.has(m.id)).map((m) => m.id), toPeer: sent.filter((m) => !atPeer.has(m.id)).map((m) => m.id) };
        if (missing.toCluster.length === 0 && missing.toPeer.length === 0) return true;
        if (Date.now() - lookedAt > 5_000) {
          lookedAt = Date.now();
          const held = [...(await senderSide((p) => peer.api(p), missing.toCluster)), ...(await senderSide((p) => cluster.api(p), missing.toPeer))];
          const failed = held.filter((m) => m?.deliveries.some((d) => d.status === "failed"));
          if (failed.length > 0) throw new Error(`Deliveries failed (final): ${JSON.stringify(failed)}`);
        }
        return false;
      },
      240_000,
    ).catch(async (error: Error) => {
      if (error.message.startsWith("Deliveries failed")) throw error;
      const held = [...(await senderSide((p) => peer.api(p), missing.toCluster)), ...(await senderSide((p) => cluster.api(p), missing.toPeer))];
      throw new Error(
        `${error.message} Not delivered: ${missing.toCluster.length} of the peer's, ${missing.toPeer.length} of the cluster's; their senders hold ${JSON.stringify(held)}`,
      );
    });
    cluster.expectRunning();
    const total = Date.now() - started;
    step("every message delivered, both ways");
    figures.allDelivered = seconds(total);
    figures.messagesPerSecond = ((2 * MESSAGES) / (total / 1000)).toFixed(0);

    const atPeer = firstDelivery(deliversOf(await peerTap.records()));
    const latencies = sent.map((m) => atPeer.get(m.id)! - m.at).sort((a, b) => a - b);
    figures.sendLatencyP50 = seconds(latencies[Math.floor(latencies.length / 2)]!);
    figures.sendLatencyMax = seconds(latencies.at(-1)!);

    // Stored state, message by message, through the owner APIs (the cluster's through the proxy).
    const storedOnce = async (api: (path: string) => Promise<{ status: number; body: { received: ReceivedMessage[]; sent?: SentMessage } }>, ids: string[]) => {
      const wrong: string[] = [];
      await eachLimited(ids, 8, async (id) => {
        const { status, body } = await api(`api/messages/${encodeURIComponent(id)}`);
        if (status !== 200 || body.received.length !== 1) wrong.push(`${id}: ${status} ${JSON.stringify(body.received?.length)}`);
      });
      return wrong;
    };
    /** Sent messages (at `api`) whose delivery is not yet marked delivered: polled, as the sender records the 201 after it. */
    const undelivered = async (api: (path: string) => Promise<{ status: number; body: { sent?: SentMessage } }>, ids: string[]) => {
      let left = ids;
      await until(
        "the senders' records of their deliveries",
        async () => {
          const still: string[] = [];
          await eachLimited(left, 8, async (id) => {
            const { body } = await api(`api/messages/${encodeURIComponent(id)}`);
            if (body.sent?.deliveries.map((d) => d.status).join() !== "delivered") still.push(id);
          });
          left = still;
          return left.length === 0;
        },
        60_000,
      ).catch(() => undefined);
      return left;
    };
    const atCluster = (path: string) => cluster.api<{ received: ReceivedMessage[]; sent?: SentMessage }>(path);
    const atPeerApi = (path: string) => peer.api<{ received: ReceivedMessage[]; sent?: SentMessage }>(path);

    expect(
      await storedOnce(
        atCluster,
        received.map((m) => m.id),
      ),
    ).toEqual([]);
    expect(
      await storedOnce(
        atPeerApi,
        sent.map((m) => m.id),
      ),
    ).toEqual([]);
    expect(
      await undelivered(
        atPeerApi,
        received.map((m) => m.id),
      ),
    ).toEqual([]);
    expect(
      await undelivered(
        atCluster,
        sent.map((m) => m.id),
      ),
    ).toEqual([]);

    // Every deliver the peer saw answered 2xx (through the proxy) is in the cluster's inbox, from the peer.
    const answered = [
      ...new Set(
        deliversOf(await proxy.records())
          .filter(is2xx)
          .map((r) => r.message),
      ),
    ];
    // (Those of the acknowledged messages were checked just above; the rest here.)
    const checked = new Set(received.map((m) => m.id));
    expect(answered.length).toBeGreaterThanOrEqual(MESSAGES);
    expect(
      await storedOnce(
        atCluster,
        answered.filter((id) => !checked.has(id)),
      ),
    ).toEqual([]);
    // While the database was down, the cluster answered the peer's delivers with 503 (retried later), nothing else.
    const whileDown = deliversOf(await proxy.records()).filter((r) => r.start > downAt && r.end < upAt);
    expect(whileDown.length).toBeGreaterThan(0);
    expect(new Set(whileDown.map((r) => r.status))).toEqual(new Set([503]));

    // At the peer: no message stored twice (one 201 each), and never two delivers of one message at once (the lease).
    const toPeer = deliversOf(await peerTap.records());
    const byMessage = new Map<string, DeliverRecord[]>();
    for (const r of toPeer) byMessage.set(r.message, [...(byMessage.get(r.message) ?? []), r]);
    const twiceStored = [...byMessage].filter(([, rs]) => rs.filter((r) => r.status === 201).length > 1).map(([id]) => id);
    expect(twiceStored).toEqual([]);
    const overlapping = [...byMessage]
      .filter(([, rs]) => rs.sort((a, b) => a.start - b.start).some((r, i) => i > 0 && r.start < rs[i - 1]!.end))
      .map(([id]) => id);
    expect(overlapping).toEqual([]);
    const repeated = [...byMessage.values()].filter((rs) => rs.length > 1).length;
    figures.delivers = `${toPeer.length} to the peer for ${byMessage.size} messages (${repeated} delivered more than once, one after the other)`;
    figures.loadAverage = loadavg()[0]!.toFixed(1);
    console.log(`several instances: ${JSON.stringify(figures)}`);
  }, 600_000);
});
