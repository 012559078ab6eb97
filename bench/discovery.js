/**
 * Benchmark of PROTOCOL.md §1 step 3 on large pages: the streaming rel=pm finder
 * (htmlparser2, packages/core/src/discovery/html.ts) against building a DOM with jsdom
 * and querying it. Pages of 200 KiB and 2 MiB, with the rel=pm link in the head or at
 * the very end; both parsers get the same bytes and parse the whole page when the link
 * is at the end (discovery itself would stop at 1 MiB).
 *
 * Every measurement runs in its own child process (node --expose-gc), so one parser's
 * garbage and heap growth never count against the other.
 *
 *   pnpm build && node bench/discovery.js
 *
 * `runDiscoveryBench()` returns the figures for bench/run.js.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const coreDir = join(here, "..", "packages", "core");
const finderModule = join(coreDir, "dist", "discovery", "html.js");

const KiB = 1024;
const SIZES = { "200KiB": 200 * KiB, "2MiB": 2 * 1024 * KiB };
const POSITIONS = ["Head", "End"];
const CHUNK = 64 * KiB; // about what a socket read hands the client
const LINK = '<link rel="pm" href="https://pm.example.net/endpoint">';

/** A realistic-ish page of `size` bytes: nested markup, attributes, text; the link where asked. */
export function generatePage(size, position) {
  const head = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A long page</title>${
    position === "Head" ? LINK : ""
  }<link rel="stylesheet" href="/style.css"></head><body><main>`;
  const tail = `${position === "End" ? LINK : ""}</main></body></html>`;
  const unit =
    '<article class="h-entry"><h2><a class="u-url" href="/posts/1">A post title</a></h2>' +
    '<p class="e-content">Lorem ipsum <em>dolor</em> sit amet, <a href="https://example.com/x?y=1&amp;z=2">consectetur</a> ' +
    "adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p>" +
    '<ul><li>one</li><li>two</li></ul><img src="/i.png" alt=""></article>\n';
  const room = size - head.length - tail.length;
  return head + unit.repeat(Math.max(0, Math.floor(room / unit.length))) + " ".repeat(Math.max(0, room % unit.length)) + tail;
}

async function loadImplementations() {
  if (!existsSync(finderModule)) {
    throw new Error(`${finderModule} is missing: run \`pnpm build\` (or \`npx tsc -b packages/core\`) first.`);
  }
  const { createPmLinkFinder, relHasPm } = await import(pathToFileURL(finderModule).href);
  // jsdom is a dependency of @indiepm/core, not of the workspace root.
  const { JSDOM, VirtualConsole } = createRequire(join(coreDir, "package.json"))("jsdom");
  return {
    /** What discovery does: feed the bytes chunk by chunk, stop when the finder says so. */
    discovery(bytes, sample) {
      const finder = createPmLinkFinder({ charset: "utf-8" });
      for (let offset = 0; offset < bytes.length; offset += CHUNK) {
        if (finder.write(bytes.subarray(offset, offset + CHUNK))) break;
      }
      const found = finder.end();
      sample();
      return found?.href ?? null;
    },
    /** The DOM way: parse everything, then query. */
    jsdom(bytes, sample) {
      const dom = new JSDOM(bytes, { contentType: "text/html", virtualConsole: new VirtualConsole() });
      const element = [...dom.window.document.querySelectorAll("link[href], a[href]")].find((e) => relHasPm(e.getAttribute("rel") ?? ""));
      sample();
      const href = element?.getAttribute("href") ?? null;
      dom.window.close();
      return href;
    },
  };
}

/** Child process: one implementation on one page; prints JSON. */
async function child(implementation, sizeName, position, runs) {
  const impls = await loadImplementations();
  const run = impls[implementation];
  const bytes = Buffer.from(generatePage(SIZES[sizeName], position), "utf8");
  const noop = () => {};
  globalThis.gc?.();
  // RSS baseline before anything was parsed.
  const rssBefore = process.memoryUsage().rss;
  run(bytes, noop); // warm-up: JIT and lazy module loading do not count in the times
  // RSS of a single parse: the kernel's peak (maxRSS) after the first run, over the baseline.
  const rssDelta = Math.max(0, process.resourceUsage().maxRSS * 1024 - rssBefore);
  // Times: back to back, as a server would run them (a forced GC before each run would
  // shrink the young generation and slow the next run down).
  const times = [];
  let found = null;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    found = run(bytes, noop);
    times.push(performance.now() - started);
  }
  // Heap: one more run from a collected heap, sampled while its result is still alive.
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let heapDelta = 0;
  run(bytes, () => (heapDelta = Math.max(heapDelta, process.memoryUsage().heapUsed - heapBefore)));
  times.sort((a, b) => a - b);
  process.stdout.write(
    JSON.stringify({
      medianMs: times[Math.floor(times.length / 2)],
      rssDeltaMiB: rssDelta / (1024 * KiB),
      heapDeltaMiB: heapDelta / (1024 * KiB),
      found,
    }),
  );
}

function measure(implementation, sizeName, position, runs) {
  const out = execFileSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--child", implementation, sizeName, position, String(runs)], {
    encoding: "utf8",
    maxBuffer: 1024 * KiB,
  });
  return JSON.parse(out);
}

const round = (n, digits = 2) => Number(n.toFixed(digits));

/**
 * Runs the benchmark (discovery finder first, jsdom last, each in its own process) and
 * returns flat figures: `{discovery2MiBMs, jsdom2MiBMs, …}` — the 2 MiB "link at the
 * end" case — plus every case as `{impl}{size}{Head|End}{Ms|RssMiB|HeapMiB}` and the
 * jsdom/finder ratios as `ratio{size}{Head|End}`.
 */
export async function runDiscoveryBench({ runs = { discovery: 15, jsdom: 3 }, print = true } = {}) {
  const figures = {};
  const rows = [];
  for (const sizeName of Object.keys(SIZES)) {
    for (const position of POSITIONS) {
      const d = measure("discovery", sizeName, position, runs.discovery);
      const j = measure("jsdom", sizeName, position, runs.jsdom);
      if (d.found !== j.found) throw new Error(`The parsers disagree on ${sizeName}/${position}: ${d.found} vs ${j.found}`);
      for (const [name, m] of [
        ["discovery", d],
        ["jsdom", j],
      ]) {
        figures[`${name}${sizeName}${position}Ms`] = round(m.medianMs);
        figures[`${name}${sizeName}${position}RssMiB`] = round(m.rssDeltaMiB, 1);
        figures[`${name}${sizeName}${position}HeapMiB`] = round(m.heapDeltaMiB, 1);
      }
      figures[`ratio${sizeName}${position}`] = round(j.medianMs / d.medianMs, 1);
      rows.push({ sizeName, position, d, j });
    }
  }
  figures.discovery2MiBMs = figures.discovery2MiBEndMs;
  figures.jsdom2MiBMs = figures.jsdom2MiBEndMs;
  figures.discovery2MiBRssMiB = figures.discovery2MiBEndRssMiB;
  figures.jsdom2MiBRssMiB = figures.jsdom2MiBEndRssMiB;

  if (print) {
    const pad = (s, n) => String(s).padStart(n);
    console.log(`§1 rel=pm discovery: streaming finder vs jsdom (median of ${runs.discovery} / ${runs.jsdom} runs, own process each)\n`);
    console.log(
      `${"page".padEnd(14)}${pad("finder ms", 11)}${pad("jsdom ms", 11)}${pad("× faster", 10)}${pad("finder RSS", 12)}${pad("jsdom RSS", 11)}${pad("finder heap", 13)}${pad("jsdom heap", 12)}`,
    );
    for (const { sizeName, position, d, j } of rows) {
      console.log(
        `${`${sizeName} ${position.toLowerCase()}`.padEnd(14)}${pad(d.medianMs.toFixed(2), 11)}${pad(j.medianMs.toFixed(1), 11)}${pad(
          (j.medianMs / d.medianMs).toFixed(1),
          10,
        )}${pad(`${d.rssDeltaMiB.toFixed(1)} MiB`, 12)}${pad(`${j.rssDeltaMiB.toFixed(1)} MiB`, 11)}${pad(`${d.heapDeltaMiB.toFixed(1)} MiB`, 13)}${pad(
          `${j.heapDeltaMiB.toFixed(1)} MiB`,
          12,
        )}`,
      );
    }
    console.log(
      "\nRSS: peak resident set of the first parse over the process's baseline (kernel maxRSS). Heap: heapUsed growth of one parse from a\n" +
        'collected heap, taken while its result (finder, or DOM) is still alive. "end": both parse the whole page (discovery itself stops at 1 MiB).',
    );
  }
  return figures;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  if (process.argv[2] === "--child") {
    const [, , , implementation, sizeName, position, runs] = process.argv;
    await child(implementation, sizeName, position, Number(runs));
  } else {
    const figures = await runDiscoveryBench();
    if (process.argv.includes("--json")) console.log(JSON.stringify(figures, null, 2));
  }
}
