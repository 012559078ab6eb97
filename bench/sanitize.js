/**
 * Benchmark of what received HTML costs a receiver's event loop (PROTOCOL.md §5
 * `content-html`, §6 "Content"; issue 9 items 1 and 2). Targets: the worst `deliver`
 * within the §2 limits costs ≤ 50 ms of event-loop time, and `GET /` of the pm endpoint
 * answers in ≤ 100 ms while the receiver is sanitizing.
 *
 * The four hosts of bench/delivery.js in this one process; alice holds a standing token
 * for bob, and the bench replays raw `deliver`s on it, as another implementation would.
 *
 * - **Event-loop time of one deliver**: `performance.eventLoopUtilization()` of the main
 *   thread across the request; the client runs in a worker thread, so this is the
 *   receiver's time (alice's server, idle, shares the thread). Baseline, in the same run and interleaved: the same deliver with a
 *   one-paragraph `content-html`. Also shown: what `sanitizeHtml` itself takes when
 *   called on the event loop (how the receiver worked before the worker pool).
 * - **`GET /` while sanitizing**: 4 hostile delivers at once, `GET /` back to back
 *   until they are answered; the slowest and the 95th percentile. Baseline: the same
 *   `GET /` loop with nothing else to do. `monitorEventLoopDelay` gives the worst stall.
 *
 *   pnpm build && node bench/sanitize.js [--rounds 5]
 *
 * `runSanitizeBench()` returns the figures for bench/run.js.
 */
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { checkBuilt, fourHosts } from "./delivery.js";

export const TARGETS = { deliverLoopMs: 50, getDuringMs: 100 };

const bTitles = (n, length) => Array.from({ length: n }, (_, i) => `<b title="${String(i).padEnd(length, "t")}">`).join("");

/** The worst shapes found for a DOM sanitizer, each within the §2 body limit. */
export const PAYLOADS = {
  "CDATA-hidden 8,000 <div> (96 KB)": `<![CDATA[>${"<div>x</div>".repeat(8_000)}`,
  "60 <b title> re-opened in 430 <p> (77 KB)": `<p>${bTitles(60, 1_200)}${"<p>x".repeat(430)}`,
  "10,000 nested <i> (110 KB)": "<b>x</b><i>".repeat(10_000),
  "4,000 comments in a <p> (36 KB)": `<p>${"<!--a-->x".repeat(4_000)}`,
  "500 <div> to unwrap: at the limits (6 KB)": "<div>x</div>".repeat(500),
  "450 <div> 64 deep: at the limits (5 KB)": `${"<div>".repeat(64)}x${"</div>".repeat(64)}`.repeat(7),
  "128 KiB of text in a <p>: over the input cap": `<p>${"x ".repeat(66_000)}</p>`,
};
const BASELINE_HTML = "<p>Hi Bob, <b>tea</b> at five?</p>";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const round = (n, digits = 1) => Number(n.toFixed(digits));

/**
 * The client side — the `deliver`s and the `GET /` loop — runs in a worker thread, so the
 * event loop measured is the receiver's alone.
 */
const CLIENT = `
const { parentPort } = require("node:worker_threads");
async function deliver({ url, form, token }) {
  const res = await fetch(url, { method: "POST", body: new URLSearchParams(form), headers: { authorization: "Bearer " + token } });
  await res.text();
  return res.status;
}
parentPort.on("message", async (job) => {
  if (job.cmd === "deliver") return parentPort.postMessage({ id: job.id, statuses: [await deliver(job)] });
  // GET / back to back until the delivers are answered (and at least 20 times).
  const latencies = [];
  let done = false;
  const work = Promise.all(job.forms.map((form) => deliver({ ...job, form }))).finally(() => (done = true));
  while (!done || latencies.length < 20) {
    const started = performance.now();
    const res = await fetch(job.url);
    await res.text();
    latencies.push(performance.now() - started);
  }
  parentPort.postMessage({ id: job.id, statuses: await work, latencies });
});
`;

function startClient() {
  const worker = new Worker(CLIENT, { eval: true });
  const waiting = new Map();
  let next = 0;
  worker.on("message", (m) => {
    waiting.get(m.id)?.(m);
    waiting.delete(m.id);
  });
  return {
    run: (job) =>
      new Promise((resolve) => {
        const id = next++;
        waiting.set(id, resolve);
        worker.postMessage({ ...job, id });
      }),
    close: () => worker.terminate(),
  };
}

export async function runSanitizeBench({ rounds = 5, print = true } = {}) {
  checkBuilt();
  const { sanitizeHtml } = await import(pathToFileURL(new URL("../packages/core/dist/index.js", import.meta.url).pathname).href);
  const h = await fourHosts();
  const client = startClient();
  try {
    const alice = h.aliceSites[0];
    const first = await h.alice.pm.send({ from: alice, to: [h.bobSite], content: "hello" });
    for (;;) {
      const sent = (await h.alice.pm.getMessage(first.message)).sent;
      if (sent.deliveries.every((d) => d.status === "delivered")) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const [{ token }] = await h.alice.store.find("grants", {});
    const form = (html) => ({
      action: "deliver",
      sender: alice,
      recipient: h.bobSite,
      message: `urn:uuid:${crypto.randomUUID()}`,
      published: "2026-12-06T10:00:00Z",
      content: "the text",
      "content-html": html,
    });
    /** Event-loop milliseconds of one deliver (the receiver's: the client is another thread). */
    const loopMs = async (html) => {
      const before = performance.eventLoopUtilization();
      const { statuses } = await client.run({ cmd: "deliver", url: h.bob.url, token, form: form(html) });
      if (statuses[0] !== 201) throw new Error(`deliver answered ${statuses[0]}`);
      return performance.eventLoopUtilization(before).active;
    };
    // Warm up: the worker loads jsdom, V8 compiles both paths.
    for (let i = 0; i < 3; i++) await loopMs(BASELINE_HTML);

    const rows = [];
    for (const [name, html] of Object.entries(PAYLOADS)) {
      const worst = [];
      const base = [];
      for (let r = 0; r < rounds; r++) {
        base.push(await loopMs(BASELINE_HTML));
        worst.push(await loopMs(html));
      }
      const inline = [];
      for (let r = 0; r < Math.min(rounds, 2); r++) {
        const started = performance.now();
        sanitizeHtml(html);
        inline.push(performance.now() - started);
      }
      rows.push({ name, bytes: Buffer.byteLength(html), loopMs: median(worst), baselineMs: median(base), inlineMs: median(inline) });
    }

    // GET / while 4 hostile delivers are sanitized at once; and with nothing else to do.
    const getLoop = async (htmls) => {
      const stall = monitorEventLoopDelay({ resolution: 5 });
      stall.enable();
      const { statuses, latencies } = await client.run({ cmd: "probe", url: h.bob.url, token, forms: htmls.map(form) });
      stall.disable();
      if (statuses.some((s) => s !== 201)) throw new Error(`deliver answered ${statuses}`);
      return { max: Math.max(...latencies), p95: percentile(latencies, 95), gets: latencies.length, stallMs: stall.max / 1e6 };
    };
    const hostile = Object.values(PAYLOADS).slice(0, 4);
    const busy = [];
    const idle = [];
    for (let r = 0; r < rounds; r++) {
      idle.push(await getLoop([]));
      busy.push(await getLoop(hostile));
    }

    const worstRow = rows.reduce((a, b) => (b.loopMs > a.loopMs ? b : a));
    const figures = {
      sanitizeWorstDeliverLoopMs: round(worstRow.loopMs),
      sanitizeBaselineDeliverLoopMs: round(median(rows.map((r) => r.baselineMs))),
      sanitizeWorstDeliverLoopRatio: round(worstRow.loopMs / median(rows.map((r) => r.baselineMs)), 2),
      sanitizeWorstInlineMs: round(Math.max(...rows.map((r) => r.inlineMs))),
      sanitizeGetDuringMaxMs: round(Math.max(...busy.map((b) => b.max))),
      sanitizeGetDuringP95Ms: round(median(busy.map((b) => b.p95))),
      sanitizeGetIdleMaxMs: round(Math.max(...idle.map((b) => b.max))),
      sanitizeLoopStallMaxMs: round(Math.max(...busy.map((b) => b.stallMs))),
    };
    if (print) {
      console.log(`event-loop time of one deliver (median of ${rounds}), against a one-paragraph deliver in the same rounds:`);
      console.table(
        rows.map((r) => ({
          "content-html": r.name,
          bytes: r.bytes,
          "deliver, event loop ms": round(r.loopMs),
          "baseline ms": round(r.baselineMs),
          ratio: round(r.loopMs / r.baselineMs, 2),
          "sanitizeHtml inline ms": round(r.inlineMs),
          target: `≤ ${TARGETS.deliverLoopMs} ms`,
        })),
      );
      console.log(`GET / of the pm endpoint, ${rounds} rounds, while 4 hostile delivers are sanitized at once, and idle:`);
      console.table([
        {
          "": "while sanitizing",
          "max ms": figures.sanitizeGetDuringMaxMs,
          "p95 ms (median)": figures.sanitizeGetDuringP95Ms,
          "worst loop stall ms": figures.sanitizeLoopStallMaxMs,
          target: `≤ ${TARGETS.getDuringMs} ms`,
        },
        {
          "": "idle (baseline)",
          "max ms": figures.sanitizeGetIdleMaxMs,
          "p95 ms (median)": round(median(idle.map((b) => b.p95))),
          "worst loop stall ms": round(Math.max(...idle.map((b) => b.stallMs))),
          target: "",
        },
      ]);
      const verdict = (ok) => (ok ? "pass" : "OVER");
      console.log(
        `worst deliver: ${figures.sanitizeWorstDeliverLoopMs} ms of event loop (${verdict(figures.sanitizeWorstDeliverLoopMs <= TARGETS.deliverLoopMs)}; ${figures.sanitizeWorstDeliverLoopRatio}× the baseline; inline sanitizeHtml would take up to ${figures.sanitizeWorstInlineMs} ms); ` +
          `GET / while sanitizing: max ${figures.sanitizeGetDuringMaxMs} ms (${verdict(figures.sanitizeGetDuringMaxMs <= TARGETS.getDuringMs)})`,
      );
    }
    return figures;
  } finally {
    await client.close();
    await h.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values } = parseArgs({ args: process.argv.slice(2).filter((a) => a !== "--"), options: { rounds: { type: "string" } } });
  await runSanitizeBench({ rounds: Number(values.rounds ?? 5) });
}
