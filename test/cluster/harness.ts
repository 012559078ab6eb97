/**
 * Several `indiepm serve --database` processes on one PostgreSQL database behind a
 * round-robin proxy (issue 11), and a peer: everything a real deployment has, on loopback.
 *
 * - PostgreSQL: a cluster of this test's own (`startPostgresServer` of test-support), so
 *   stopping and restarting it disturbs no other test file.
 * - The cluster: `instances` built-bin processes with the same `--site` and `--public-url`
 *   (the proxy's URL, which the cluster's site names with rel=pm).
 * - The peer: one `indiepm serve --dev` on nedb, with a site of its own, behind a tap (a
 *   one-upstream proxy) that records every request the cluster makes to it.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { startPostgresServer, type PostgresServer } from "@indiepm/test-support";
import { Site } from "../harness/hosts.js";
import { ServeProcess, freePort, ownerApi } from "../faults/processes.js";
import { startNodeProxy, startRoundRobin, type ProxyRecord, type RoundRobinProxy } from "./proxy.js";

/**
 * The fault tests' retry settings (back-off from 100 ms to 1 s) but 10 s, not 3 s, for the
 * other side's dialback: on two loaded cores a handshake can take longer than 3 s, and a
 * sender that gives up early starts another one for the same pair.
 */
const PATIENT = { retry: { baseDelayMs: 100, maxDelayMs: 1_000, handshakeTimeoutMs: 10_000, giveUpAfterMs: 600_000 } };

export interface ClusterOptions {
  /** A fresh folder for the processes' config files, the peer's data and nginx's files. */
  dir: string;
  instances: number;
  /** Engine settings for the cluster's processes (merged over the fault tests' retry and rate limits). */
  config?: Record<string, unknown>;
  /** Use the harness's round-robin proxy even where nginx is installed. */
  preferNodeProxy?: boolean;
}

export class Cluster {
  private constructor(
    readonly pg: PostgresServer,
    readonly site: Site,
    readonly instances: ServeProcess[],
    readonly proxy: RoundRobinProxy,
    readonly peerSite: Site,
    readonly peer: ServeProcess,
    readonly peerTap: RoundRobinProxy,
  ) {}

  static async start(options: ClusterOptions): Promise<Cluster> {
    const { dir } = options;
    const pg = await startPostgresServer();
    const site = await new Site().listen();
    const peerSite = await new Site().listen();
    const ports = await Promise.all(Array.from({ length: options.instances }, () => freePort()));
    await mkdir(join(dir, "nginx"), { recursive: true });
    const proxy = await startRoundRobin(
      ports.map((p) => `http://127.0.0.1:${p}/`),
      join(dir, "nginx"),
      options.preferNodeProxy ? { preferNode: true } : {},
    );
    const peerPort = await freePort();
    const peerTap = await startNodeProxy([`http://127.0.0.1:${peerPort}/`]);
    // The peer's site names the tap, so that is where the peer says it is (`--public-url`).
    // Both behind one proxy on this host, as an operator would say (`--trust-proxy loopback`).
    const peer = new ServeProcess(peerPort, join(dir, "peer", "data"), peerSite.url, {
      publicUrl: peerTap.url,
      config: { ...PATIENT, trustProxy: "loopback" },
      logFile: join(dir, "peer.log"),
    });
    site.endpoint = proxy.url;
    peerSite.endpoint = peerTap.url;
    const instances = ports.map(
      (port, i) =>
        new ServeProcess(port, join(dir, `instance-${i}`, "unused"), site.url, {
          database: pg.url,
          publicUrl: proxy.url,
          config: { ...PATIENT, trustProxy: "loopback", ...options.config },
          logFile: join(dir, `instance-${i}.log`),
        }),
    );
    await Promise.all([...instances.map((p) => mkdir(join(p.dataDir, ".."), { recursive: true })), mkdir(peer.dataDir, { recursive: true })]);
    const cluster = new Cluster(pg, site, instances, proxy, peerSite, peer, peerTap);
    try {
      // All at once: several processes migrating one empty database must all start.
      await Promise.all([peer.start(), ...instances.map((p) => p.start())]);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The owner API through the proxy: whichever instance's turn it is answers. */
  api<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
    return ownerApi<T>(this.proxy.url, path, init);
  }

  /** What each party did, for a failing test's message: requests by action and status at the proxy and the tap, each process's last stderr. */
  async describe(): Promise<string> {
    const tally = (records: ProxyRecord[]) => {
      const counts: Record<string, number> = {};
      for (const r of records) {
        const action = r.method === "POST" && r.path === "/" ? new URLSearchParams(r.body).get("action") : `${r.method} ${r.path.split("?")[0]}`;
        const key = `${action} ${r.status}`;
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return JSON.stringify(counts);
    };
    const exited = (p: ServeProcess) => (p.child?.exitCode == null ? "" : `, exited ${p.child.exitCode}`);
    const tail = (p: ServeProcess) =>
      p.stderr
        .split("\n")
        .slice(-8)
        .map((line) => line.slice(0, 400))
        .join("\n    ");
    return [
      `proxy (${this.proxy.kind}): ${tally(await this.proxy.records())}`,
      `peer tap: ${tally(await this.peerTap.records())}`,
      ...this.instances.map((p, i) => `instance ${i} (${p.url}, started ${p.starts}×${exited(p)}) stderr:\n    ${tail(p)}`),
      `peer (${this.peer.url}) stderr:\n    ${tail(this.peer)}`,
    ].join("\n");
  }

  /** Throws when a process of the cluster, or the peer, has exited without being told to (a crash). */
  expectRunning(): void {
    for (const [name, p] of [...this.instances.map((p, i) => [`instance ${i}`, p] as const), ["the peer", this.peer] as const]) {
      if (p.child && p.child.exitCode !== null) throw new Error(`${name} exited (${p.child.exitCode}) on its own: ${p.stderr.slice(-1500)}`);
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.instances.map((p) => p.kill9()), this.peer.kill9()]);
    await Promise.allSettled([this.proxy.stop(), this.peerTap.stop(), this.site.stop(), this.peerSite.stop()]);
    await this.pg.close();
  }
}

/** A `deliver` a proxy answered, with the form fields the checks need. */
export interface DeliverRecord extends ProxyRecord {
  sender: string;
  message: string;
}

/** The `action=deliver` federation requests among `records`. */
export function deliversOf(records: ProxyRecord[]): DeliverRecord[] {
  const out: DeliverRecord[] = [];
  for (const r of records) {
    if (r.method !== "POST" || r.path !== "/") continue;
    const form = new URLSearchParams(r.body);
    if (form.get("action") !== "deliver") continue;
    out.push({ ...r, sender: form.get("sender") ?? "", message: form.get("message") ?? "" });
  }
  return out;
}

/** Polls `condition` (stored or recorded state) every `everyMs` until it holds; throws with `what` after `timeoutMs`. */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 120_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Waited ${timeoutMs / 1000} s for ${what}.`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs `task` on each item, `concurrency` at a time. */
export async function eachLimited<T>(items: T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}
