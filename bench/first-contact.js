/**
 * Benchmark of first contact (PROTOCOL.md §3 and §4): how long a first message takes in
 * each flow, as a multiple of one steady-state token-flow delivery measured alongside,
 * and how many HTTP requests each flow makes.
 *
 * The four hosts of test/harness/hosts.ts in this one process (bench/delivery.js
 * `fourHosts`): alice's pm server holds many sites (`…/u/1/`, `…/u/2/`, …), so each
 * first contact comes from a site that has never written to bob. Latency is measured from
 * the owner's `send()` to the `201` of the `deliver` at alice's server (bob has stored
 * the message); requests are counted on both servers' outbound HTTP clients, from the
 * `send()` until both servers are quiet again.
 *
 * - steady state (§4 step 6 with a standing token): discovery of R + `deliver`;
 * - token flow, first contact (§4 steps 1–6): a new standing token, then the delivery;
 * - message flow (§3 steps 1–6): every message is a first contact.
 *
 * Each round measures a few steady-state deliveries, one token-flow first contact and one
 * message-flow message, interleaved; a ratio is the median of its samples over the
 * median of the steady-state samples (per-round ratios are printed for the spread). A last
 * part sends a burst of messages at once, for the end-to-end rate with both roles in one
 * process (informational: no baseline).
 *
 *   pnpm build && node bench/first-contact.js [--rounds 12]
 *
 * `runFirstContactBench()` returns the figures for bench/run.js.
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { checkBuilt, deliveredWaiter, eventWaiters, fourHosts } from "./delivery.js";

/** The issue's maxima: discoveries, POSTs before the delivery, and the delivery. */
export const MAXIMA = {
  token: { discoveries: 2, handshakePosts: 4, total: 2 + 4 + 1 },
  message: { discoveries: 3, handshakePosts: 4, total: 3 + 4 + 1 },
};

/** Counts every outbound request of one pm server: GETs (discoveries) and POSTs by `action`. */
function countingHttp(counts) {
  return (http, server) => ({
    get(url, options) {
      counts.push({ server, kind: "GET" });
      return http.get(url, options);
    },
    postForm(url, form, options) {
      counts.push({ server, kind: form.get("action") });
      return http.postForm(url, form, options);
    },
  });
}

/** Waits until no request was made for `quietMs`. */
async function quiet(requests, quietMs = 100) {
  for (;;) {
    const before = requests.length;
    await new Promise((r) => setTimeout(r, quietMs));
    if (requests.length === before) return;
  }
}

function summarize(made) {
  const discoveries = made.filter((r) => r.kind === "GET").length;
  const delivers = made.filter((r) => r.kind === "deliver").length;
  const posts = made.length - discoveries - delivers;
  const byAction = {};
  for (const r of made) byAction[r.kind] = (byAction[r.kind] ?? 0) + 1;
  const sequence = made.map((r) => `${r.server}:${r.kind === "GET" ? "discover" : r.kind}`);
  return { discoveries, handshakePosts: posts, delivers, total: made.length, byAction, sequence };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (n, digits = 2) => Number(n.toFixed(digits));

/**
 * Returns `{tokenFlowFirstContactRequests, messageFlowRequests, firstContactLatencyRatio,
 * messageFlowFirstContactLatencyRatio, steadyDeliveryMs, …}`.
 */
export async function runFirstContactBench({ rounds = 12, steadyPerRound = 3, burst = 200, print = true } = {}) {
  checkBuilt();
  const requests = [];
  const waiters = eventWaiters();
  // Site 0 writes in steady state; two fresh sites per round, two for the warm-up.
  const hosts = await fourHosts({ senderSites: 1 + 2 * (rounds + 1), wrapHttp: countingHttp(requests), onEvent: waiters.onEvent });
  const delivered = deliveredWaiter(waiters);
  let fresh = 1;
  const to = [hosts.bobSite];

  /** One message from `site`: latency to the deliver's 201, and the requests it made. */
  async function one(site, flow) {
    await quiet(requests, 50);
    const from = requests.length;
    const started = performance.now();
    const message = `urn:uuid:${crypto.randomUUID()}`;
    const done = delivered(message);
    await hosts.alice.pm.send({ from: site, to, content: `A ${flow}-flow message.`, flow, id: message });
    await done;
    const ms = performance.now() - started;
    await quiet(requests);
    const view = (await hosts.alice.pm.getMessage(message)).sent;
    if (view?.deliveries[0]?.status !== "delivered") throw new Error(`${message} was not delivered: ${JSON.stringify(view)}`);
    return { ms, made: requests.slice(from) };
  }
  const steady = () => one(hosts.aliceSites[0], "token");
  const tokenFirst = () => one(hosts.aliceSites[fresh++], "token");
  const messageFlow = () => one(hosts.aliceSites[fresh++], "message");

  const figures = {};
  try {
    // The standing token of site 0, then a warm-up of each kind.
    await steady();
    await tokenFirst();
    await messageFlow();
    for (let i = 0; i < steadyPerRound; i++) await steady();

    const samples = { steady: [], token: [], message: [], tokenRatio: [], messageRatio: [] };
    let steadyMade, tokenMade, messageMade;
    for (let r = 0; r < rounds; r++) {
      // steady, first contact, steady, the other first contact, steady: which flow goes
      // first alternates, so every first contact sits between two steady-state samples.
      const steadyMs = [];
      const runSteady = async () => {
        const s = await steady();
        steadyMs.push(s.ms);
        steadyMade = s.made;
      };
      const [a, b] = r % 2 === 0 ? [tokenFirst, messageFlow] : [messageFlow, tokenFirst];
      for (let i = 0; i < steadyPerRound - 2; i++) await runSteady();
      const first = await a();
      await runSteady();
      const second = await b();
      await runSteady();
      const [t, m] = r % 2 === 0 ? [first, second] : [second, first];
      tokenMade = t.made;
      messageMade = m.made;
      samples.steady.push(...steadyMs);
      samples.token.push(t.ms);
      samples.message.push(m.ms);
      samples.tokenRatio.push(t.ms / median(steadyMs));
      samples.messageRatio.push(m.ms / median(steadyMs));
    }

    // A burst from site 0 (standing token held), all sent at once: the whole pipeline
    // (sender's queue, 16 deliveries at a time), both roles in this process.
    await quiet(requests, 50);
    const ids = Array.from({ length: burst }, () => `urn:uuid:${crypto.randomUUID()}`);
    const started = performance.now();
    const all = Promise.all(ids.map((id) => delivered(id)));
    await Promise.all(ids.map((id) => hosts.alice.pm.send({ from: hosts.aliceSites[0], to, content: "Part of a burst.", id })));
    await all;
    const burstPerSecond = burst / ((performance.now() - started) / 1000);

    const steadyCount = summarize(steadyMade);
    const token = summarize(tokenMade);
    const message = summarize(messageMade);
    Object.assign(figures, {
      tokenFlowFirstContactRequests: token.total,
      messageFlowRequests: message.total,
      steadyDeliveryRequests: steadyCount.total,
      tokenFlowFirstContactDiscoveries: token.discoveries,
      messageFlowDiscoveries: message.discoveries,
      // Medians of every sample, all taken interleaved: steadier than a median of per-round ratios.
      firstContactLatencyRatio: round(median(samples.token) / median(samples.steady), 1),
      messageFlowFirstContactLatencyRatio: round(median(samples.message) / median(samples.steady), 1),
      steadyDeliveryMs: round(median(samples.steady)),
      tokenFlowFirstContactMs: round(median(samples.token)),
      messageFlowFirstContactMs: round(median(samples.message)),
      endToEndBurstPerSecond: round(burstPerSecond, 0),
    });

    if (print) {
      const pad = (s, w) => String(s).padStart(w);
      console.log(
        `§3/§4 first contact vs one steady-state token-flow delivery (send() → deliver 201; ${rounds} rounds of ${steadyPerRound} steady + 1 + 1 interleaved;\n` +
          `medians of all samples, ratio = median ÷ steady median; per round: ÷ that round's steady median)\n`,
      );
      console.log(`${"".padEnd(26)}${pad("ms", 8)}${pad("× steady", 10)}  per-round ratios`);
      console.log(`${"steady state (token held)".padEnd(26)}${pad(figures.steadyDeliveryMs.toFixed(1), 8)}${pad("1.0", 10)}`);
      console.log(
        `${"token flow, first contact".padEnd(26)}${pad(figures.tokenFlowFirstContactMs.toFixed(1), 8)}${pad(figures.firstContactLatencyRatio.toFixed(1), 10)}  ${samples.tokenRatio
          .map((x) => x.toFixed(1))
          .join(" ")}`,
      );
      console.log(
        `${"message flow".padEnd(26)}${pad(figures.messageFlowFirstContactMs.toFixed(1), 8)}${pad(figures.messageFlowFirstContactLatencyRatio.toFixed(1), 10)}  ${samples.messageRatio
          .map((x) => x.toFixed(1))
          .join(" ")}`,
      );
      console.log(`\nHTTP requests made by both pm servers for one message:\n`);
      console.log(`${"".padEnd(26)}${pad("discoveries", 12)}${pad("POSTs", 7)}${pad("deliver", 9)}${pad("total", 7)}   max (issue)      verdict`);
      const line = (name, c, max) => {
        const verdict = !max
          ? ""
          : c.discoveries <= max.discoveries && c.handshakePosts + c.delivers <= max.handshakePosts + 1 && c.total <= max.total
            ? "pass"
            : c.total <= max.total
              ? `total within ${max.total}; discoveries ${c.discoveries} > ${max.discoveries}`
              : "FAIL";
        console.log(
          `${name.padEnd(26)}${pad(c.discoveries, 12)}${pad(c.handshakePosts, 7)}${pad(c.delivers, 9)}${pad(c.total, 7)}   ${
            max ? `${max.discoveries} + ${max.handshakePosts} + 1`.padEnd(17) : "".padEnd(17)
          }${verdict}`,
        );
      };
      line("steady state", steadyCount);
      line("token flow, first contact", token, MAXIMA.token);
      line("message flow", message, MAXIMA.message);
      console.log(`\n  token flow:   ${token.sequence.join(" → ")}`);
      console.log(`  message flow: ${message.sequence.join(" → ")}`);
      console.log(
        `\nEnd to end, a burst of ${burst} messages from one site with its token (both servers in this process): ${figures.endToEndBurstPerSecond} messages/s.`,
      );
    }
  } finally {
    await hosts.close();
  }
  return figures;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const { values } = parseArgs({ options: { rounds: { type: "string" }, json: { type: "boolean" } } });
  const figures = await runFirstContactBench({ rounds: Number(values.rounds ?? 12) });
  if (values.json) console.log(JSON.stringify(figures, null, 2));
}
