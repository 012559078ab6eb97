/**
 * Benchmark of several instances on one PostgreSQL database (issue 11): `deliver`
 * requests stored per second by two `indiepm serve --database` processes behind a
 * round-robin proxy, over the same by one of them behind the same kind of proxy.
 *
 * - Two real processes of the built CLI (`packages/cli/bin/indiepm.js serve --dev
 *   --database URL --site … --public-url PROXY`), one database, as an operator runs them.
 * - The proxy is test/cluster/proxy.ts's `startRoundRobin` (nginx where installed, else the
 *   harness's small Node proxy), compiled from the TypeScript by `typescript.transpileModule`
 *   at start (the bench runs plain Node). Two proxies run side by side: one with both
 *   instances upstream, one with only the first, so both setups pay the same proxy hop.
 * - A real token-flow handshake first (alice's pm server on nedb in this process writes
 *   to bob's site, whose page names the two-instance proxy), then the standing token is
 *   replayed by raw `deliver` POSTs as in bench/delivery.js, `concurrency` at a time.
 *   Within each round the two setups take turns every slice; the figure is the median of
 *   the per-round ratios (two instances ÷ one).
 *
 * This machine has two cores, shared by the load generator, the proxy, the instances and
 * PostgreSQL: it cannot show scaling. What the figure shows is that a second instance
 * costs nothing in throughput (leases and notifications do not get in the way of
 * `deliver`), not what a second machine would add.
 *
 *   pnpm build && node bench/postgres-instances.js [--rounds 7] [--requests 600]
 *
 * `runPostgresInstancesBench()` returns the figures for bench/run.js.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { deliveredWaiter, eventWaiters, quietLogger } from "./delivery.js";
import { benchServer, coreModule, createDatabase, loadAverage, median, root } from "./postgres-server.js";

const BIN = join(root, "packages", "cli", "bin", "indiepm.js");
const PROXY_TS = join(root, "test", "cluster", "proxy.ts");
const testSupportIndex = join(root, "packages", "test-support", "dist", "index.js");
const undiciFrom = createRequire(join(root, "packages", "core", "package.json"));
const OWNER_TOKEN = "bench-instances-owner-token-0123456789";

/** test/cluster/proxy.ts as an ES module in `dir` (types stripped; its one workspace import pointed at the built file). */
async function loadProxy(dir) {
  const ts = createRequire(join(root, "package.json"))("typescript");
  const source = await readFile(PROXY_TS, "utf8");
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const file = join(dir, "proxy.mjs");
  await writeFile(file, outputText.replace(/from "@indiepm\/test-support"/, `from ${JSON.stringify(pathToFileURL(testSupportIndex).href)}`));
  return import(pathToFileURL(file).href);
}

async function listen(handler) {
  const server = createServer(handler);
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

const page = (endpoint) => (_req, res) => {
  res.setHeader("content-type", "text/html; charset=utf-8");
  res.end(`<!doctype html><html><head><title>Home</title><link rel="pm" href="${endpoint}"></head><body><h1>Home</h1></body></html>`);
};

/** One `indiepm serve --database` process; resolves once it listens. */
async function serve(dir, port, { database, site, publicUrl }) {
  const config = join(dir, `config-${port}.json`);
  await writeFile(config, JSON.stringify({ trustProxy: "loopback" }));
  const child = spawn(
    process.execPath,
    [BIN, "serve", "--dev", "--port", String(port), "--database", database, "--site", site, "--public-url", publicUrl, "--config", config],
    {
      env: { ...process.env, INDIEPM_TOKEN: OWNER_TOKEN },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (c) => (stderr = (stderr + c).slice(-4000)));
  await new Promise((resolve, reject) => {
    let out = "";
    const onData = (chunk) => {
      out += chunk;
      if (out.includes("indiepm listening on")) {
        child.stdout.off("data", onData);
        child.stdout.resume();
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`indiepm serve exited ${code} before listening: ${stderr}`)));
  });
  /** CPU time of the process so far, µs (user + system, from /proc). */
  const cpu = async () => {
    const stat = (await readFile(`/proc/${child.pid}/stat`, "utf8")).split(") ")[1].split(" ");
    return ((Number(stat[11]) + Number(stat[12])) * 1e6) / 100; // clock ticks of 10 ms
  };
  return {
    url: `http://127.0.0.1:${port}/`,
    cpu,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

const CONTENT =
  "Hi Bob, thanks for the notes from Tuesday. I put the draft of the post on my site; the link is in the thread above. " +
  "Could you have a look before Friday? If the photos are too large I can resize them. See you at the meetup — Alice";

/** 502s the proxies answered (a connection to an instance closed under nginx); each was sent again, as a sender retries (§6). */
let badGateways = 0;

async function load(pool, target, requests, concurrency) {
  const headers = { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${target.token}` };
  const bodies = Array.from({ length: requests }, () =>
    new URLSearchParams({
      action: "deliver",
      sender: target.sender,
      recipient: target.recipient,
      message: `urn:uuid:${randomUUID()}`,
      published: new Date().toISOString(),
      content: CONTENT,
    }).toString(),
  );
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      for (let attempt = 1; ; attempt++) {
        const { statusCode, body: answer } = await pool.request({ method: "POST", path: "/", headers, body });
        const text = await answer.text();
        if (statusCode === 201 || (attempt > 1 && statusCode === 200)) break;
        if (statusCode === 502 && attempt < 3) {
          badGateways++;
          continue;
        }
        throw new Error(`deliver answered ${statusCode}: ${text}`);
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return requests / ((performance.now() - started) / 1000);
}

const round = (n, digits = 2) => Number(n.toFixed(digits));

/**
 * Returns `{pgInstancesRatio, pgInstancesTwoPerSecond, pgInstancesOnePerSecond, …}`:
 * deliveries per second through the proxy of two instances over the proxy of one.
 */
export async function runPostgresInstancesBench({ rounds = 7, requests = 600, slices = 6, concurrency = 16, print = true } = {}) {
  if (!existsSync(join(root, "packages", "cli", "dist", "main.js"))) throw new Error("packages/cli/dist is missing: run `pnpm build` first.");
  const { Pool } = undiciFrom("undici");
  const { createPmServer, createHttpClient, openNedbStore } = await import(pathToFileURL(coreModule).href);
  const { createNodeHandler } = await import(pathToFileURL(join(root, "packages", "core", "dist", "node-http.js")).href);
  const { closedPort } = await import(pathToFileURL(testSupportIndex).href);
  const dir = await mkdtemp(join(tmpdir(), "indiepm-bench-instances-"));
  const server = await benchServer();
  const cleanups = [];
  const figures = {};
  try {
    const proxyModule = await loadProxy(dir);
    const database = await createDatabase(server.url, "indiepm_bench_instances");
    const bobSite = await listen(() => {});
    cleanups.push(() => bobSite.server.close());
    const ports = [await closedPort(), await closedPort()];
    const upstreams = ports.map((p) => `http://127.0.0.1:${p}/`);
    await mkdir(join(dir, "two"), { recursive: true });
    await mkdir(join(dir, "one"), { recursive: true });
    const two = await proxyModule.startRoundRobin(upstreams, join(dir, "two"));
    cleanups.push(() => two.stop());
    const one = await proxyModule.startRoundRobin(upstreams.slice(0, 1), join(dir, "one"));
    cleanups.push(() => one.stop());
    bobSite.server.on("request", page(two.url));
    // The first instance migrates the empty database; then the second starts.
    const instances = [];
    for (const port of ports) {
      const instance = await serve(dir, port, { database, site: bobSite.url, publicUrl: two.url });
      instances.push(instance);
      cleanups.push(() => instance.stop());
    }
    // nginx left out the upstreams its start-up probe found closed, for fail_timeout (2 s).
    await new Promise((r) => setTimeout(r, 2_500));

    // alice: a pm server on nedb in this process, for the handshake.
    const aliceSite = await listen(() => {});
    const alicePm = await listen(() => {});
    cleanups.push(
      () => aliceSite.server.close(),
      () => alicePm.server.close(),
    );
    aliceSite.server.on("request", page(alicePm.url));
    const waiters = eventWaiters();
    const http = createHttpClient({ dev: true });
    const aliceStore = await openNedbStore({ dir: join(dir, "alice") });
    const alice = createPmServer({
      endpoint: alicePm.url,
      sites: [aliceSite.url],
      store: aliceStore,
      dev: true,
      http,
      logger: quietLogger,
      onEvent: (event) => waiters.onEvent(event, "alice"),
    });
    alicePm.server.on("request", createNodeHandler(alice, { logger: quietLogger }));
    await alice.start();
    cleanups.push(
      () => alice.close(1_000),
      () => http.close(),
    );
    const sent = await alice.send({ from: aliceSite.url, to: [bobSite.url], content: "Hello Bob." });
    await deliveredWaiter(waiters)(sent.message);
    const [grant] = await aliceStore.find("grants", {});
    if (!grant) throw new Error("No standing token after the first delivery.");
    await alice.close(1_000);

    const target = { token: grant.token, sender: aliceSite.url, recipient: bobSite.url };
    const setups = [
      { name: "two", url: two.url, instances },
      { name: "one", url: one.url, instances: instances.slice(0, 1) },
    ];
    const pools = new Map(setups.map((s) => [s, new Pool(s.url, { connections: concurrency, pipelining: 1 })]));
    cleanups.push(() => Promise.all([...pools.values()].map((p) => p.close())));
    for (const s of setups) await load(pools.get(s), target, requests, concurrency); // warm-up
    const load0 = await loadAverage();
    const slice = Math.ceil(requests / slices);
    const samples = { two: [], one: [], ratio: [], twoCpuUs: [], oneCpuUs: [] };
    for (let r = 0; r < rounds; r++) {
      const total = new Map(setups.map((s) => [s, { seconds: 0, count: 0, cpuUs: 0 }]));
      for (let i = 0; i < slices; i++) {
        for (const s of (r + i) % 2 === 0 ? setups : [...setups].reverse()) {
          const cpus = async () => (await Promise.all(s.instances.map((x) => x.cpu()))).reduce((a, b) => a + b, 0);
          const before = await cpus();
          const perSecond = await load(pools.get(s), target, slice, concurrency);
          const sum = total.get(s);
          sum.cpuUs += (await cpus()) - before;
          sum.seconds += slice / perSecond;
          sum.count += slice;
        }
      }
      const [t2, t1] = setups.map((s) => total.get(s));
      samples.two.push(t2.count / t2.seconds);
      samples.one.push(t1.count / t1.seconds);
      samples.ratio.push(t1.seconds / t2.seconds);
      samples.twoCpuUs.push(t2.cpuUs / t2.count);
      samples.oneCpuUs.push(t1.cpuUs / t1.count);
    }
    // Every 201 went to exactly one instance: the proxy of two answered from both.
    const records = await two.records();
    const byStatus = {};
    for (const rec of records) byStatus[rec.status] = (byStatus[rec.status] ?? 0) + 1;
    figures.pgInstancesRatio = round(median(samples.ratio));
    figures.pgInstancesTwoPerSecond = round(median(samples.two), 0);
    figures.pgInstancesOnePerSecond = round(median(samples.one), 0);
    figures.pgInstancesTwoCpuUs = round(median(samples.twoCpuUs), 0);
    figures.pgInstancesOneCpuUs = round(median(samples.oneCpuUs), 0);
    figures.pgInstancesLoadAverage = load0[0];
    figures.pgInstancesBadGateways = badGateways;
    if (print) {
      const pad = (s, w) => String(s).padStart(w);
      console.log(
        `deliver requests stored per second: two indiepm serve --database processes behind a round-robin proxy (${two.kind}) ÷ one behind the same\n` +
          `(${concurrency} concurrent senders, ${rounds} rounds alternating every ${slices}th of a round; medians; load average ${load0.join(", ")})\n`,
      );
      console.log(`${"setup".padEnd(16)}${pad("deliveries/s", 13)}${pad("CPU µs/req (instances)", 24)}  per-round`);
      console.log(
        `${"two instances".padEnd(16)}${pad(median(samples.two).toFixed(0), 13)}${pad(median(samples.twoCpuUs).toFixed(0), 24)}  ${samples.two.map((x) => x.toFixed(0)).join(" ")}`,
      );
      console.log(
        `${"one instance".padEnd(16)}${pad(median(samples.one).toFixed(0), 13)}${pad(median(samples.oneCpuUs).toFixed(0), 24)}  ${samples.one.map((x) => x.toFixed(0)).join(" ")}`,
      );
      console.log(
        `${"ratio two/one".padEnd(16)}${pad(median(samples.ratio).toFixed(2), 13)}${pad("", 24)}  ${samples.ratio.map((x) => x.toFixed(2)).join(" ")}`,
      );
      console.log(
        `\nThe proxy of two answered ${JSON.stringify(byStatus)}; ${badGateways} 502s in all were sent again. Two cores for everything here (load, proxy, instances, PostgreSQL): this cannot show scaling, only what a second instance costs.`,
      );
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    await server.close();
    if (process.env.BENCH_KEEP) console.error(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
  return figures;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const { values } = parseArgs({ options: { rounds: { type: "string" }, requests: { type: "string" }, json: { type: "boolean" } } });
  const figures = await runPostgresInstancesBench({ rounds: Number(values.rounds ?? 7), requests: Number(values.requests ?? 600) });
  if (values.json) console.log(JSON.stringify(figures, null, 2));
}
