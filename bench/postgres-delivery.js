/**
 * Benchmark of steady-state token-flow delivery on the PostgreSQL store (issue 11): how
 * many `deliver` requests per second a pm server on `@indiepm/store-postgres` stores,
 * against a bare Express handler doing one INSERT through the same pool.
 *
 * As bench/delivery.js (read it first): the same four loopback hosts, a real token-flow
 * handshake between two pm servers, then the standing token replayed by raw `deliver`
 * POSTs with distinct message IDs over keep-alive connections; each server in a child
 * process of its own; the two take turns every slice of a round; the figure is the
 * median of the per-round ratios.
 *
 * - subject: bob's pm server (`createPmServer` + `createNodeHandler`, dev mode) on
 *   `openPostgresStore(url)` with its defaults (pool of 10, statement timeout 10 s), in a
 *   database of its own; alice (the sender that got the token) stays on nedb;
 * - baseline: Express 5, `express.urlencoded()`, a `pg.Pool` with the store's settings
 *   (POSTGRES_STORE_DEFAULTS: 10 connections, the same statement/connect timeouts),
 *   building the document `answerDeliver` stores (InboxDoc with `conversation` and
 *   `pageKey`) and doing one named-prepared `INSERT INTO indiepm.inbox (_id, doc)` into the
 *   store's own table (created by `openPostgresStore`, so the same indexes), answering
 *   `201`. It checks no token and validates nothing, and writes no conversation summary.
 *
 * Both databases are in one cluster (postgres-server.js). Besides the ratio: server CPU
 * per request (the Node process only), and the statements each `deliver` costs the
 * database (pg_stat_database transactions over the measured requests: every statement
 * outside a transaction is one) and the CPU time its PostgreSQL backends spent per request
 * (/proc, when the cluster runs on this machine).
 *
 *   pnpm build && node bench/postgres-delivery.js [--rounds 9] [--requests 600]
 *
 * `runPostgresDeliveryBench()` returns the figures for bench/run.js.
 */
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { createHash, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { deliveredWaiter, eventWaiters, fourHosts } from "./delivery.js";
import { benchServer, createDatabase, loadAverage, median, pg, storePostgresModule } from "./postgres-server.js";

const here = dirname(fileURLToPath(import.meta.url));
const expressFrom = createRequire(join(here, "..", "packages", "express-middleware", "package.json"));
const undiciFrom = createRequire(join(here, "..", "packages", "core", "package.json"));

export const TARGET_RATIO = 0.8;

const keyOf = (...parts) => createHash("sha256").update(JSON.stringify(parts), "utf8").digest("base64url");
const pageKeyOf = (at, id) => `${String(Math.max(0, Math.floor(at))).padStart(15, "0")}.${id}`;

async function listen(handler) {
  const server = createServer(handler);
  server.keepAliveTimeout = 5_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

// ---------------------------------------------------------------------------------------
// The two servers, each in a child process (argv: kind, database URL).

async function serveSubject(url) {
  const { openPostgresStore } = await import(pathToFileURL(storePostgresModule).href);
  const waiters = eventWaiters();
  const hosts = await fourHosts({ onEvent: waiters.onEvent, openStore: (name) => (name === "bob" ? openPostgresStore(url) : undefined) });
  const delivered = deliveredWaiter(waiters);
  const sent = await hosts.alice.pm.send({ from: hosts.aliceSites[0], to: [hosts.bobSite], content: "Hello Bob." });
  await delivered(sent.message);
  const [grant] = await hosts.alice.store.find("grants", {});
  if (!grant) throw new Error("No standing token after the first delivery.");
  return {
    info: { url: hosts.bob.url, sender: hosts.aliceSites[0], recipient: hosts.bobSite, token: grant.token },
    count: () => hosts.bob.store.count("inbox"),
    close: () => hosts.close(),
  };
}

async function serveBaseline(url) {
  const express = expressFrom("express");
  const { openPostgresStore, POSTGRES_STORE_DEFAULTS: d } = await import(pathToFileURL(storePostgresModule).href);
  // The store's schema and indexes, then the store is closed: the handler has only the pool.
  await (await openPostgresStore(url)).close();
  const pool = new pg.Pool({
    connectionString: url,
    connectionTimeoutMillis: d.connectTimeoutMs,
    statement_timeout: d.statementTimeoutMs,
    query_timeout: d.statementTimeoutMs + 5_000,
    idle_in_transaction_session_timeout: d.statementTimeoutMs * 2,
    application_name: "indiepm",
    keepAlive: true,
    max: d.poolSize,
    idleTimeoutMillis: 30_000,
  });
  const app = express();
  app.post("/", express.urlencoded({ extended: false, limit: "256kb" }), async (req, res, next) => {
    try {
      const b = req.body;
      const receivedAt = Date.now();
      const _id = keyOf(b.recipient, b.sender, b.message);
      const doc = {
        _id,
        message: b.message,
        sender: b.sender,
        recipient: b.recipient,
        content: b.content,
        published: b.published,
        receivedAt,
        ...(b.name ? { name: b.name } : {}),
        ...(b["in-reply-to"] ? { inReplyTo: b["in-reply-to"] } : {}),
        conversation: keyOf("conversation", b.recipient, b["in-reply-to"] ?? b.message),
        pageKey: pageKeyOf(receivedAt, _id),
      };
      try {
        await pool.query({ name: "insert_inbox", text: 'INSERT INTO "indiepm"."inbox" (_id, doc) VALUES ($1, $2::jsonb)', values: [_id, JSON.stringify(doc)] });
      } catch (error) {
        if (error.code === "23505") return res.status(200).json({ status: "duplicate" });
        throw error;
      }
      res.status(201).json({ status: "delivered" });
    } catch (error) {
      next(error);
    }
  });
  const { server, url: at } = await listen(app);
  return {
    info: { url: at },
    count: async () => Number((await pool.query('SELECT count(*) AS n FROM "indiepm"."inbox"')).rows[0].n),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await pool.end();
    },
  };
}

function startChild(kind, url) {
  const execArgv = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${kind}`] : [];
  const child = fork(fileURLToPath(import.meta.url), ["--serve", kind, url], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv });
  const ask = (question) =>
    new Promise((done) => {
      child.once("message", done);
      child.send(question);
    });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`The ${kind} server exited (${code}) before it was ready.`)));
    child.once("message", (info) => {
      child.removeAllListeners("exit");
      resolve({
        ...info,
        cpu: async () => {
          const m = await ask("cpu");
          return m.cpu.user + m.cpu.system;
        },
        count: async () => (await ask("count")).count,
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
// The load generator (bench/delivery.js's).

const CONTENT =
  "Hi Bob, thanks for the notes from Tuesday. I put the draft of the post on my site; the link is in the thread above. " +
  "Could you have a look before Friday? If the photos are too large I can resize them. See you at the meetup — Alice";

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

/** Transactions committed in database `name` so far (the statistics are flushed within a second of a backend going idle). */
async function commits(admin, name) {
  await new Promise((r) => setTimeout(r, 1_200));
  await admin.query("SELECT pg_stat_clear_snapshot()");
  return Number((await admin.query("SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1", [name])).rows[0].n);
}

/**
 * The CPU time of the PostgreSQL backends serving database `name` (user + system, from
 * /proc: the cluster is on this machine), looked at after every slice: `look()` notes each
 * backend's time, `us()` sums the last noted time of every backend seen, so a connection
 * the pool closed (30 s idle) keeps what it used. `null` where /proc cannot be read (a
 * remote server).
 */
function backendCpu(admin, name) {
  const seen = new Map();
  let readable = true;
  return {
    async look() {
      if (!readable) return;
      const { readFile } = await import("node:fs/promises");
      const pids = (await admin.query("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [name])).rows.map((r) => r.pid);
      for (const pid of pids) {
        try {
          // utime and stime: fields 14 and 15, counted after the command name in parentheses.
          const stat = await readFile(`/proc/${pid}/stat`, "utf8");
          const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          seen.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS);
        } catch (error) {
          if (error.code !== "ENOENT") readable = false;
        }
      }
    },
    us: () => (readable ? [...seen.values()].reduce((a, b) => a + b, 0) : null),
  };
}
// USER_HZ: 100 on Linux for /proc/<pid>/stat.
const CLOCK_TICKS = 100;

/**
 * The whole machine's CPU time so far, busy and all (ticks, the first line of /proc/stat;
 * idle and iowait are not busy), or null where it cannot be read. Over a slice, busy ÷ all
 * is how much of the cores the server, its database and the load generator kept busy: a
 * server that leaves cores idle while its deliveries wait is latency-bound, not CPU-bound.
 */
function machineCpu() {
  try {
    const ticks = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const all = ticks.reduce((a, b) => a + b, 0);
    return { busy: all - ticks[3] - (ticks[4] ?? 0), all };
  } catch {
    return null;
  }
}

const round = (n, digits = 2) => Number(n.toFixed(digits));

/**
 * Returns `{pgDeliveryRatio, pgDeliveryPerSecond, …}` (8 concurrent senders) and the same
 * with `Sequential` (one at a time); `pgDeliveryStatements` the statements one `deliver`
 * costs the engine's database, `pgDeliveryBaselineStatements` the baseline's.
 */
export async function runPostgresDeliveryBench({ rounds = 9, requests = 600, slices = 6, concurrencies = [8, 1], print = true } = {}) {
  const { Pool } = undiciFrom("undici");
  const server = await benchServer();
  const names = { subject: "indiepm_bench_delivery_engine", baseline: "indiepm_bench_delivery_express" };
  const urls = { subject: await createDatabase(server.url, names.subject), baseline: await createDatabase(server.url, names.baseline) };
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  const figures = {};
  const rows = [];
  let subject;
  let baseline;
  try {
    const [s, b] = await Promise.all([startChild("subject", urls.subject), startChild("baseline", urls.baseline)]);
    subject = { ...s, name: names.subject };
    baseline = { ...b, token: s.token, sender: s.sender, recipient: s.recipient, name: names.baseline };
    const load0 = await loadAverage();
    for (const concurrency of concurrencies) {
      const n = concurrency === 1 ? Math.ceil(requests / 3) : requests;
      const slice = Math.ceil(n / slices);
      const pools = new Map([subject, baseline].map((t) => [t, new Pool(t.url, { connections: concurrency, pipelining: 1 })]));
      for (const t of [subject, baseline]) await load(pools.get(t), t, n, concurrency);
      const samples = { subject: [], baseline: [], ratio: [], cpuRatio: [], subjectCpuUs: [], baselineCpuUs: [], subjectBusy: [], baselineBusy: [] };
      const statements = new Map();
      const dbCpu = new Map([subject, baseline].map((t) => [t, backendCpu(admin, t.name)]));
      for (const t of [subject, baseline]) {
        await dbCpu.get(t).look();
        statements.set(t, { before: await commits(admin, t.name), requests: 0, cpuBefore: dbCpu.get(t).us() });
      }
      for (let r = 0; r < rounds; r++) {
        const total = new Map([subject, baseline].map((t) => [t, { seconds: 0, cpuUs: 0, count: 0, busy: 0, all: 0 }]));
        for (let i = 0; i < slices; i++) {
          for (const t of (r + i) % 2 === 0 ? [subject, baseline] : [baseline, subject]) {
            const cpuBefore = await t.cpu();
            const machineBefore = machineCpu();
            const perSecond = await load(pools.get(t), t, slice, concurrency);
            const machineAfter = machineCpu();
            const sum = total.get(t);
            sum.cpuUs += (await t.cpu()) - cpuBefore;
            sum.seconds += slice / perSecond;
            sum.count += slice;
            if (machineBefore && machineAfter) {
              sum.busy += machineAfter.busy - machineBefore.busy;
              sum.all += machineAfter.all - machineBefore.all;
            }
            await dbCpu.get(t).look();
          }
        }
        const [ts, tb] = [total.get(subject), total.get(baseline)];
        samples.subject.push(ts.count / ts.seconds);
        samples.baseline.push(tb.count / tb.seconds);
        samples.ratio.push(tb.seconds / ts.seconds);
        samples.subjectCpuUs.push(ts.cpuUs / ts.count);
        samples.baselineCpuUs.push(tb.cpuUs / tb.count);
        samples.cpuRatio.push(ts.cpuUs / ts.count / (tb.cpuUs / tb.count));
        if (ts.all > 0 && tb.all > 0) {
          samples.subjectBusy.push(ts.busy / ts.all);
          samples.baselineBusy.push(tb.busy / tb.all);
        }
        for (const t of [subject, baseline]) statements.get(t).requests += total.get(t).count;
      }
      // Two cpu() questions per slice are not statements; the counts cover only the database.
      const perDeliver = {};
      for (const [t, key] of [
        [subject, "subject"],
        [baseline, "baseline"],
      ]) {
        const st = statements.get(t);
        perDeliver[key] = ((await commits(admin, t.name)) - st.before) / st.requests;
        await dbCpu.get(t).look();
        const cpuAfter = dbCpu.get(t).us();
        perDeliver[`${key}DbCpuUs`] = cpuAfter === null || st.cpuBefore === null ? null : (cpuAfter - st.cpuBefore) / st.requests;
      }
      await Promise.all([...pools.values()].map((p) => p.close()));
      const suffix = concurrency === 1 ? "Sequential" : "";
      figures[`pgDeliveryRatio${suffix}`] = round(median(samples.ratio));
      figures[`pgDeliveryPerSecond${suffix}`] = round(median(samples.subject), 0);
      figures[`pgDeliveryBaselinePerSecond${suffix}`] = round(median(samples.baseline), 0);
      figures[`pgDeliveryCpuRatio${suffix}`] = round(median(samples.cpuRatio));
      figures[`pgDeliveryCpuUs${suffix}`] = round(median(samples.subjectCpuUs), 0);
      figures[`pgDeliveryBusy${suffix}`] = samples.subjectBusy.length === 0 ? null : round(median(samples.subjectBusy));
      figures[`pgDeliveryBaselineBusy${suffix}`] = samples.baselineBusy.length === 0 ? null : round(median(samples.baselineBusy));
      figures[`pgDeliveryBaselineCpuUs${suffix}`] = round(median(samples.baselineCpuUs), 0);
      figures[`pgDeliveryStatements${suffix}`] = round(perDeliver.subject, 1);
      figures[`pgDeliveryBaselineStatements${suffix}`] = round(perDeliver.baseline, 1);
      figures[`pgDeliveryDbCpuUs${suffix}`] = perDeliver.subjectDbCpuUs === null ? null : round(perDeliver.subjectDbCpuUs, 0);
      figures[`pgDeliveryBaselineDbCpuUs${suffix}`] = perDeliver.baselineDbCpuUs === null ? null : round(perDeliver.baselineDbCpuUs, 0);
      rows.push({ concurrency, samples, perDeliver });
    }
    // Every 201 stored exactly one message on each side.
    const stored = { subject: await subject.count(), baseline: await baseline.count() };
    figures.pgDeliveryStored = stored.subject;
    figures.pgDeliveryLoadAverage = load0[0];
    if (print) {
      const pad = (s, w) => String(s).padStart(w);
      console.log(
        `§4 step 6 steady state on PostgreSQL: deliver requests stored per second, engine vs bare Express + one INSERT through the same pg pool\n` +
          `(loopback HTTP, keep-alive, each server in its own process, one PostgreSQL cluster; ${rounds} rounds alternating every ${slices}th of a round; medians; ` +
          `load average ${load0.join(", ")}; stored ${stored.subject.toLocaleString("en")} / ${stored.baseline.toLocaleString("en")} messages)\n`,
      );
      console.log(
        `${"senders".padEnd(9)}${pad("engine/s", 9)}${pad("Express/s", 10)}${pad("ratio", 7)}${pad("target", 8)}${pad("CPU µs/req", 13)}${pad("CPU ×", 7)}${pad("SQL/req", 10)}${pad("DB µs/req", 12)}${pad("busy %", 9)}  per-round ratios`,
      );
      for (const { concurrency, samples, perDeliver } of rows) {
        const ratio = median(samples.ratio);
        console.log(
          `${String(concurrency).padEnd(9)}${pad(median(samples.subject).toFixed(0), 9)}${pad(median(samples.baseline).toFixed(0), 10)}${pad(ratio.toFixed(2), 7)}${pad(
            `≥ ${TARGET_RATIO}`,
            8,
          )}${pad(`${median(samples.subjectCpuUs).toFixed(0)}/${median(samples.baselineCpuUs).toFixed(0)}`, 13)}${pad(median(samples.cpuRatio).toFixed(2), 7)}${pad(
            `${perDeliver.subject.toFixed(1)}/${perDeliver.baseline.toFixed(1)}`,
            10,
          )}${pad(perDeliver.subjectDbCpuUs === null ? "—" : `${perDeliver.subjectDbCpuUs.toFixed(0)}/${perDeliver.baselineDbCpuUs.toFixed(0)}`, 12)}${pad(
            samples.subjectBusy.length === 0 ? "—" : `${(100 * median(samples.subjectBusy)).toFixed(0)}/${(100 * median(samples.baselineBusy)).toFixed(0)}`,
            9,
          )}  ${samples.ratio.map((x) => x.toFixed(2)).join(" ")}  ${ratio >= TARGET_RATIO ? "ok" : "UNDER"}`,
        );
      }
      console.log(
        `\nratio: engine deliveries/s ÷ baseline's (target ≥ ${TARGET_RATIO}). CPU: the server process's time per request (not PostgreSQL's), engine/baseline. ` +
          `SQL/req: statements (transactions) per deliver in each one's database, engine/baseline. ` +
          `DB: CPU time of the PostgreSQL backends serving each one's database per deliver (from /proc), engine/baseline. ` +
          `busy: share of the machine's cores busy (server, database and load generator; /proc/stat) during each one's slices, engine/baseline.`,
      );
    }
  } finally {
    await Promise.allSettled([subject?.stop(), baseline?.stop()]);
    await admin.end();
    await server.close();
  }
  return figures;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  if (process.argv[2] === "--serve") {
    const served = await (process.argv[3] === "subject" ? serveSubject(process.argv[4]) : serveBaseline(process.argv[4]));
    process.on("message", async (m) => {
      if (m === "cpu") return process.send({ cpu: process.cpuUsage() });
      if (m === "count") return process.send({ count: await served.count() });
      if (m !== "stop") return;
      await served.close();
      process.exit(0);
    });
    process.send(served.info);
  } else {
    const { values } = parseArgs({ options: { rounds: { type: "string" }, requests: { type: "string" }, json: { type: "boolean" } } });
    const figures = await runPostgresDeliveryBench({ rounds: Number(values.rounds ?? 9), requests: Number(values.requests ?? 600) });
    if (values.json) console.log(JSON.stringify(figures, null, 2));
  }
}
