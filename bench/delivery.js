/**
 * Benchmark of steady-state token-flow delivery (PROTOCOL.md §4 step 6): how many
 * `deliver` requests per second a pm server stores, against a baseline doing the least
 * any receiver must do.
 *
 * What is measured, and why this way: once a standing token exists, each message costs
 * the sender one discovery of R and one `deliver` POST, and the receiver one request. The
 * receiver's side is what "deliveries per second" bounds (a server receives from many
 * senders at once), and it is the side a baseline can do too. So both servers get the
 * same stream of real `deliver` POSTs over loopback HTTP, with keep-alive: distinct
 * message IDs, one valid standing token (obtained by a real token-flow handshake between
 * two pm servers, then replayed as any sender would).
 *
 * - subject: the engine (`createPmServer` + `createNodeHandler`, dev mode, nedb store in
 *   a temp folder) of the four-host setup of test/harness/hosts.ts;
 * - baseline: a bare Express 5 handler, `express.urlencoded()`, that builds the same
 *   inbox record (records.ts InboxDoc, same `_id`) and inserts it through the same
 *   nedb adapter (`openNedbStore`) in its own temp folder, answering `201`. It does not
 *   check the token, validate the parameters strictly, or mark the token used: that
 *   difference is what the ratio prices.
 *
 * Each server runs in a child process of its own; this process is the load generator
 * (undici, C connections). Within each round the two servers take turns every slice of
 * requests, so drift from other work on the machine lands on both; the figure is the
 * median of the per-round ratios. The servers' CPU time per request is reported too, as a
 * second view of the same cost (wall time also counts nedb's waits on the file system).
 *
 *   pnpm build && node bench/delivery.js [--rounds 9] [--requests 600]
 *
 * `runDeliveryBench()` returns the figures for bench/run.js; `fourHosts()` is shared with
 * bench/first-contact.js.
 */
import { fork } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
// INDIEPM_BENCH_CORE: another build of @indiepm/core (a folder with dist/), to compare engine versions.
const coreDir = process.env.INDIEPM_BENCH_CORE ?? join(here, "..", "packages", "core");
const coreModule = join(coreDir, "dist", "index.js");
const coreNodeModule = join(coreDir, "dist", "node-http.js");
/** Express is installed for the middleware package; the workspace root does not depend on it. */
const expressFrom = createRequire(join(here, "..", "packages", "express-middleware", "package.json"));
const undiciFrom = createRequire(join(coreDir, "package.json"));

export const TARGET_RATIO = 0.6;

export function checkBuilt() {
  for (const file of [coreModule, coreNodeModule]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`pnpm build\` (or \`npx tsc -b packages/core\`) first.`);
  }
}

export const quietLogger = { info() {}, warn() {}, error: (message, data) => console.error(`indiepm: ${message}`, data ?? "") };

/** A loopback HTTP server; `handler` may be swapped. */
async function listen(handler) {
  const server = createServer(handler);
  server.keepAliveTimeout = 5_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

/**
 * The seed's four hosts on loopback, as test/harness/hosts.ts builds them: a sites host
 * whose every page names `endpoint` with `<link rel="pm">` (so `…/u/1/`, `…/u/2/` are
 * fresh sites of one sender), bob's site, and two pm servers in dev mode with nedb
 * stores in a temp folder. `wrapHttp` wraps each server's outbound client (to count
 * requests); `onEvent` gets every protocol step either server makes.
 */
export async function fourHosts({ senderSites = 1, wrapHttp = (http) => http, onEvent = () => {}, options = {}, openStore } = {}) {
  const { createPmServer, createHttpClient, openNedbStore } = await import(pathToFileURL(coreModule).href);
  const { createNodeHandler } = await import(pathToFileURL(coreNodeModule).href);
  const dataDir = await mkdtemp(join(tmpdir(), "indiepm-bench-"));
  const page = (endpoint) => (_req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end(`<!doctype html><html><head><title>Home</title><link rel="pm" href="${endpoint}"></head><body><h1>Home</h1></body></html>`);
  };
  const hosts = {};
  for (const name of ["aliceSites", "bobSite", "alicePm", "bobPm"]) hosts[name] = await listen(() => {});
  hosts.aliceSites.server.on("request", page(hosts.alicePm.url));
  hosts.bobSite.server.on("request", page(hosts.bobPm.url));
  const aliceSites = Array.from({ length: senderSites }, (_, i) => (i === 0 ? hosts.aliceSites.url : `${hosts.aliceSites.url}u/${i}/`));
  const bobSite = hosts.bobSite.url;

  const clients = [];
  const start = async (name, sites, host) => {
    // `openStore(name, dir)`: another store for a server (bench/postgres-delivery.js); nedb by default.
    const store = await (openStore?.(name, join(dataDir, name)) ?? openNedbStore({ dir: join(dataDir, name) }));
    const http = createHttpClient({ dev: true });
    clients.push(http);
    const pm = createPmServer({
      endpoint: host.url,
      sites,
      store,
      dev: true,
      http: wrapHttp(http, name),
      logger: quietLogger,
      onEvent: (event) => onEvent(event, name),
      ...options,
    });
    host.server.on("request", createNodeHandler(pm, { logger: quietLogger }));
    await pm.start();
    return { pm, store, url: host.url };
  };
  const alice = await start("alice", aliceSites, hosts.alicePm);
  const bob = await start("bob", [bobSite], hosts.bobPm);
  return {
    alice,
    bob,
    aliceSites,
    bobSite,
    async close() {
      for (const host of Object.values(hosts)) {
        host.server.closeAllConnections();
        await new Promise((resolve) => host.server.close(resolve));
      }
      await Promise.allSettled([alice.pm.close(1_000), bob.pm.close(1_000)]);
      await Promise.allSettled(clients.map((c) => c.close()));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves when `check(event)` is true for a protocol step (of alice's or bob's server). */
export function eventWaiters() {
  const waiting = new Set();
  return {
    onEvent(event, server) {
      for (const w of waiting) {
        if (w.check(event, server)) {
          waiting.delete(w);
          w.resolve(event);
        }
      }
    },
    waitFor(check, timeoutMs = 15_000, what = "a protocol step") {
      return new Promise((resolve, reject) => {
        const w = { check, resolve };
        waiting.add(w);
        setTimeout(() => {
          if (waiting.delete(w)) reject(new Error(`Timed out waiting for ${what}.`));
        }, timeoutMs).unref();
      });
    },
  };
}

/** alice writes to bob and waits for the `201` of the `deliver` (§4 step 6 answered: stored at bob). */
export function deliveredWaiter(waiters) {
  return (message) =>
    waiters.waitFor(
      (e, server) => server === "alice" && e.action === "deliver" && e.message === message && (e.status === 201 || e.status === 200),
      15_000,
      `the delivery of ${message}`,
    );
}

// ---------------------------------------------------------------------------------------
// The two servers, each in a child process.

/** secrets.ts `keyOf`, for the baseline's `_id`. */
const keyOf = (...parts) => createHash("sha256").update(JSON.stringify(parts), "utf8").digest("base64url");

async function serveSubject() {
  const waiters = eventWaiters();
  const hosts = await fourHosts({ onEvent: waiters.onEvent });
  const delivered = deliveredWaiter(waiters);
  // A real handshake: alice's first message to bob goes through §4 steps 1–6.
  const sent = await hosts.alice.pm.send({ from: hosts.aliceSites[0], to: [hosts.bobSite], content: "Hello Bob." });
  await delivered(sent.message);
  const [grant] = await hosts.alice.store.find("grants", {});
  if (!grant) throw new Error("No standing token after the first delivery.");
  return {
    info: { url: hosts.bob.url, sender: hosts.aliceSites[0], recipient: hosts.bobSite, token: grant.token },
    close: () => hosts.close(),
  };
}

async function serveBaseline() {
  const express = expressFrom("express");
  const { openNedbStore, DuplicateKeyError } = await import(pathToFileURL(coreModule).href);
  const dir = await mkdtemp(join(tmpdir(), "indiepm-bench-express-"));
  const store = await openNedbStore({ dir });
  const app = express();
  app.post("/", express.urlencoded({ extended: false, limit: "256kb" }), async (req, res, next) => {
    try {
      const b = req.body;
      const doc = {
        _id: keyOf(b.recipient, b.sender, b.message),
        message: b.message,
        sender: b.sender,
        recipient: b.recipient,
        content: b.content,
        published: b.published,
        receivedAt: Date.now(),
        ...(b.name ? { name: b.name } : {}),
        ...(b["in-reply-to"] ? { inReplyTo: b["in-reply-to"] } : {}),
      };
      try {
        await store.insert("inbox", doc);
      } catch (error) {
        if (error instanceof DuplicateKeyError) return res.status(200).json({ status: "duplicate" });
        throw error;
      }
      res.status(201).json({ status: "delivered" });
    } catch (error) {
      next(error);
    }
  });
  const { server, url } = await listen(app);
  return {
    info: { url },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function startChild(kind) {
  const execArgv = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${kind}`] : [];
  const child = fork(fileURLToPath(import.meta.url), ["--serve", kind], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`The ${kind} server exited (${code}) before it was ready.`)));
    child.once("message", (info) => {
      child.removeAllListeners("exit");
      resolve({
        ...info,
        /** CPU time the server process has used, µs (user + system). */
        cpu: () =>
          new Promise((done) => {
            child.once("message", (m) => done(m.cpu.user + m.cpu.system));
            child.send("cpu");
          }),
        stop: () =>
          new Promise((done) => {
            child.once("exit", done);
            child.send("stop");
          }),
      });
    });
  });
}

// ---------------------------------------------------------------------------------------
// The load generator.

const CONTENT =
  "Hi Bob, thanks for the notes from Tuesday. I put the draft of the post on my site; the link is in the thread above. " +
  "Could you have a look before Friday? If the photos are too large I can resize them. See you at the meetup — Alice";

/** One `deliver` body (§5) for a fresh message ID. */
function deliverBody(sender, recipient) {
  return new URLSearchParams({
    action: "deliver",
    sender,
    recipient,
    message: `urn:uuid:${randomUUID()}`,
    published: new Date().toISOString(),
    content: CONTENT,
  }).toString();
}

/** `requests` POSTs, `concurrency` at a time over that many keep-alive connections; resolves requests per second. */
async function load(pool, target, requests, concurrency) {
  const headers = { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${target.token}` };
  const bodies = Array.from({ length: requests }, () => deliverBody(target.sender, target.recipient));
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const { statusCode, body: answer } = await pool.request({ method: "POST", path: "/", headers, body });
      const text = await answer.text();
      if (statusCode !== 201) throw new Error(`deliver answered ${statusCode}: ${text}`);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return requests / ((performance.now() - started) / 1000);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (n, digits = 2) => Number(n.toFixed(digits));

/**
 * Runs the benchmark and returns `{deliveryRatio, …}`: `deliveryRatio` is the median
 * subject/baseline ratio of deliveries per second with 8 concurrent senders;
 * `deliveryRatioSequential` the same one request at a time; `deliveryCpuRatio` how much
 * server CPU time one delivery costs the engine, as a multiple of the baseline's.
 *
 * Each round sends `requests` to each server in `slices` slices, alternating between
 * the two every slice, so both see the same moments of a busy machine; a round's ratio
 * is the baseline's total time over the subject's.
 */
export async function runDeliveryBench({ rounds = 9, requests = 600, slices = 6, concurrencies = [8, 1], print = true } = {}) {
  checkBuilt();
  const { Pool } = undiciFrom("undici");
  const [subjectServer, baselineServer] = await Promise.all([startChild("subject"), startChild("baseline")]);
  const subject = { ...subjectServer };
  const baseline = { ...baselineServer, token: subject.token, sender: subject.sender, recipient: subject.recipient };
  const figures = {};
  const rows = [];
  try {
    for (const concurrency of concurrencies) {
      const n = concurrency === 1 ? Math.ceil(requests / 3) : requests;
      const slice = Math.ceil(n / slices);
      const pools = new Map([subject, baseline].map((t) => [t, new Pool(t.url, { connections: concurrency, pipelining: 1 })]));
      // Warm-up: JIT, connections, the datafiles' first appends.
      for (const t of [subject, baseline]) await load(pools.get(t), t, n, concurrency);
      const samples = { subject: [], baseline: [], ratio: [], cpuRatio: [], subjectCpuUs: [], baselineCpuUs: [] };
      for (let r = 0; r < rounds; r++) {
        const total = new Map([subject, baseline].map((t) => [t, { seconds: 0, cpuUs: 0, count: 0 }]));
        for (let i = 0; i < slices; i++) {
          for (const t of (r + i) % 2 === 0 ? [subject, baseline] : [baseline, subject]) {
            const cpuBefore = await t.cpu();
            const perSecond = await load(pools.get(t), t, slice, concurrency);
            const sum = total.get(t);
            sum.cpuUs += (await t.cpu()) - cpuBefore;
            sum.seconds += slice / perSecond;
            sum.count += slice;
          }
        }
        const [s, b] = [total.get(subject), total.get(baseline)];
        samples.subject.push(s.count / s.seconds);
        samples.baseline.push(b.count / b.seconds);
        samples.ratio.push(b.seconds / s.seconds);
        samples.subjectCpuUs.push(s.cpuUs / s.count);
        samples.baselineCpuUs.push(b.cpuUs / b.count);
        samples.cpuRatio.push(s.cpuUs / s.count / (b.cpuUs / b.count));
      }
      await Promise.all([...pools.values()].map((p) => p.close()));
      const suffix = concurrency === 1 ? "Sequential" : "";
      figures[`deliveryRatio${suffix}`] = round(median(samples.ratio));
      figures[`deliveryPerSecond${suffix}`] = round(median(samples.subject), 0);
      figures[`deliveryBaselinePerSecond${suffix}`] = round(median(samples.baseline), 0);
      figures[`deliveryCpuRatio${suffix}`] = round(median(samples.cpuRatio));
      figures[`deliveryCpuUs${suffix}`] = round(median(samples.subjectCpuUs), 0);
      figures[`deliveryBaselineCpuUs${suffix}`] = round(median(samples.baselineCpuUs), 0);
      rows.push({ concurrency, n, samples });
    }
  } finally {
    await Promise.all([subject.stop(), baseline.stop()]);
  }
  if (print) {
    const pad = (s, w) => String(s).padStart(w);
    console.log(
      `§4 step 6 steady state: deliver requests stored per second, engine vs bare Express + the same nedb insert\n` +
        `(loopback HTTP, keep-alive, each server in its own process; ${rounds} rounds alternating every ${slices}th of a round; medians)\n`,
    );
    console.log(
      `${"senders".padEnd(9)}${pad("engine/s", 9)}${pad("Express/s", 10)}${pad("ratio", 7)}${pad("target", 8)}${pad("CPU µs/req", 13)}${pad("CPU ×", 7)}  per-round ratios`,
    );
    for (const { concurrency, samples } of rows) {
      const ratio = median(samples.ratio);
      console.log(
        `${String(concurrency).padEnd(9)}${pad(median(samples.subject).toFixed(0), 9)}${pad(median(samples.baseline).toFixed(0), 10)}${pad(ratio.toFixed(2), 7)}${pad(
          `≥ ${TARGET_RATIO}`,
          8,
        )}${pad(`${median(samples.subjectCpuUs).toFixed(0)}/${median(samples.baselineCpuUs).toFixed(0)}`, 13)}${pad(median(samples.cpuRatio).toFixed(2), 7)}  ${samples.ratio
          .map((x) => x.toFixed(2))
          .join(" ")}  ${ratio >= TARGET_RATIO ? "ok" : "UNDER"}`,
      );
    }
    console.log(
      `\nratio: engine deliveries/s ÷ baseline's (target ≥ ${TARGET_RATIO}). CPU: server process time per request, engine/baseline.\n` +
        `The engine per deliver: §2 checks and strict form parse, token lookup by hash, inbox insert, and the token's lastUsedAt at most once a minute (one append per message, like the baseline).`,
    );
  }
  return figures;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  if (process.argv[2] === "--serve") {
    const served = await (process.argv[3] === "subject" ? serveSubject() : serveBaseline());
    process.on("message", async (m) => {
      if (m === "cpu") return process.send({ cpu: process.cpuUsage() });
      if (m !== "stop") return;
      await served.close();
      process.exit(0);
    });
    process.send(served.info);
  } else {
    const { values } = parseArgs({ options: { rounds: { type: "string" }, requests: { type: "string" }, json: { type: "boolean" } } });
    const figures = await runDeliveryBench({ rounds: Number(values.rounds ?? 9), requests: Number(values.requests ?? 600) });
    if (values.json) console.log(JSON.stringify(figures, null, 2));
  }
}
