/**
 * Benchmark of @indiepm/eleventy-plugin: a generated 2,000-page Eleventy site (Markdown
 * posts through a Nunjucks layout, a home page, a feed) built with and without the
 * plugin, alternately, each build in its own child process.
 *
 * Two figures, because wall time on shared machines swings ±10–15 % between identical
 * builds:
 * - the plugin's transform time as a share of the build: the transform's total from
 *   Eleventy's own benchmark (`DEBUG=Eleventy:Benchmark*`, parsed from the child's
 *   stderr) over the build's time (`write()`, as Eleventy's "Wrote … in …" measures it).
 *   Target: at most 3 %.
 * - the median of the with/without wall-time ratios of each alternating pair of builds.
 *
 * Then (issue 9 item 13) what a page that already names the endpoint costs: a 2,500-page
 * site whose layout writes the link with the plugin's own shortcode (`{% pmLink %}`) against
 * the same site without it, both built with the plugin (`shortcode: true`), in alternating
 * pairs. Target: the with-link/without-link ratio of the transform's time at most 1, and
 * of the build's wall time within the machine's noise.
 *
 *   pnpm build && node bench/eleventy.js [--pages 2000] [--pairs 9] [--link-pages 2500] [--link-pairs 5]
 *
 * `runEleventyBench()` returns the figures for bench/run.js.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs, promisify } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const pluginDir = join(here, "..", "packages", "eleventy-plugin");
const pluginModule = join(pluginDir, "dist", "index.js");
const TRANSFORM = '"@indiepm/eleventy-plugin" Transform';
const ENDPOINT = "https://pm.alice.example.uk/";
const run = promisify(execFile);

/** Eleventy's ESM entry, as installed for the plugin package (the workspace root does not depend on it). */
function eleventyEntry() {
  const dir = realpathSync(join(pluginDir, "node_modules", "@11ty", "eleventy"));
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  return { url: pathToFileURL(join(dir, manifest.exports["."].import)).href, version: manifest.version };
}

const LAYOUT = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Alice's notes</title>
<meta name="description" content="{{ description }}">
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/atom+xml" href="/feed.xml" title="Alice's notes">
<link rel="me" href="https://social.example/@alice">
</head>
<body>
<header><nav><a href="/">Home</a> <a href="/about/">About</a> <a href="/feed.xml">Feed</a></nav></header>
<main class="h-entry">
<h1 class="p-name">{{ title }}</h1>
<time class="dt-published" datetime="{{ page.date.toISOString() }}">{{ page.date.toDateString() }}</time>
<div class="e-content">{{ content | safe }}</div>
</main>
<footer><p>© Alice. Written by hand, built with Eleventy.</p><script>document.documentElement.classList.add("js")</script></footer>
</body>
</html>
`;

const PARAGRAPHS = [
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris.",
  "Duis aute irure dolor in [reprehenderit](https://example.com/a?b=1&c=2) in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident.",
  "Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, totam rem aperiam, eaque ipsa quae ab illo *inventore veritatis* et quasi architecto beatae vitae.",
  "Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugit, sed quia consequuntur magni dolores eos qui ratione voluptatem sequi nesciunt; at 3 pm the development build ran.",
];

/**
 * Writes the site: `pages - 1` Markdown posts, a home page listing the latest, a feed.
 * With `link`, the layout's head names the endpoint itself, with the plugin's `pmLink`
 * shortcode, so every page already has its `<link rel="pm">`.
 */
export async function generateSite(dir, pages, { link = false } = {}) {
  await mkdir(join(dir, "_includes"), { recursive: true });
  await mkdir(join(dir, "posts"), { recursive: true });
  await writeFile(join(dir, "_includes", "base.njk"), link ? LAYOUT.replace('<meta charset="utf-8">\n', '<meta charset="utf-8">\n{% pmLink %}\n') : LAYOUT);
  // Layout and tag in each post's front matter: Eleventy 3.1.8 does not find directory data
  // files (posts/posts.json) when the input folder is an absolute path.
  for (let i = 1; i < pages; i++) {
    const day = String((i % 28) + 1).padStart(2, "0");
    const body = Array.from({ length: 6 }, (_, j) => PARAGRAPHS[(i + j) % PARAGRAPHS.length]).join("\n\n");
    await writeFile(
      join(dir, "posts", `post-${i}.md`),
      `---\nlayout: base.njk\ntags: posts\ntitle: Post number ${i}\ndescription: Notes, part ${i}.\ndate: 2024-0${(i % 9) + 1}-${day}\n---\n## Part ${i}\n\n${body}\n\n- one\n- two\n- three\n`,
    );
  }
  await writeFile(
    join(dir, "index.njk"),
    `---\nlayout: base.njk\ntitle: Home\ndescription: Alice's notes\n---\n<ul>{% for post in collections.posts | reverse %}{% if loop.index <= 50 %}<li><a href="{{ post.url }}">{{ post.data.title }}</a></li>{% endif %}{% endfor %}</ul>\n`,
  );
  await writeFile(
    join(dir, "feed.njk"),
    `---\npermalink: /feed.xml\neleventyExcludeFromCollections: true\n---\n<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>Alice</title>{% for post in collections.posts | reverse %}{% if loop.index <= 20 %}<entry><title>{{ post.data.title }}</title><content type="html">{{ post.content }}</content></entry>{% endif %}{% endfor %}</feed>\n`,
  );
}

/**
 * Child process: one build, with the plugin and these options (`null`: without it); prints
 * `{ buildMs }` on stdout, Eleventy's benchmark lines go to stderr.
 */
async function child(input, output, pluginOptions) {
  const { default: Eleventy } = await import(eleventyEntry().url);
  const plugin = pluginOptions ? (await import(pathToFileURL(pluginModule).href)).default : undefined;
  const started = performance.now();
  const elev = new Eleventy(input, output, {
    quietMode: true,
    config(eleventyConfig) {
      if (plugin) eleventyConfig.addPlugin(plugin, { endpoint: ENDPOINT, ...pluginOptions });
    },
  });
  elev.disableLogger(); // stdout carries the JSON answer
  await elev.write();
  process.stdout.write(JSON.stringify({ buildMs: performance.now() - started }));
}

/** `Benchmark   12ms   1%  2000× (Configuration) "name" Transform`, as Eleventy's BenchmarkGroup prints it. */
const BENCHMARK_LINE = /Benchmark\s+(\d+)ms\s+(\d+)%\s+(\d+)×\s+\(([^)]*)\)\s+(.*?)(?:\s+\+\d+m?s)?$/;

export function parseBenchmarkLines(stderr) {
  return stderr.split("\n").flatMap((line) => {
    const m = BENCHMARK_LINE.exec(line.trim());
    return m ? [{ ms: Number(m[1]), percent: Number(m[2]), calls: Number(m[3]), group: m[4], name: m[5] }] : [];
  });
}

/** One build in its own process; `pluginOptions`: `true` for the plugin's defaults, an object, or `false` for none. */
async function build(input, output, pluginOptions) {
  const withPlugin = pluginOptions !== false;
  const options = pluginOptions === true ? {} : pluginOptions;
  const started = performance.now();
  const { stdout, stderr } = await run(process.execPath, [fileURLToPath(import.meta.url), "--child", input, output, JSON.stringify(options || null)], {
    env: { ...process.env, DEBUG: "Eleventy:Benchmark*", DEBUG_COLORS: "0" },
    maxBuffer: 16 * 1024 * 1024,
  });
  const wallMs = performance.now() - started;
  const { buildMs } = JSON.parse(stdout);
  const transform = parseBenchmarkLines(stderr).find((b) => b.name === TRANSFORM);
  if (withPlugin && !transform) throw new Error(`Eleventy's benchmark output has no ${TRANSFORM} line:\n${stderr.slice(0, 2000)}`);
  return { wallMs, buildMs, transformMs: transform?.ms ?? 0, transformPercent: transform?.percent ?? 0, transformCalls: transform?.calls ?? 0 };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const round = (n, digits = 3) => Number(n.toFixed(digits));

/**
 * Runs `pairs` alternating pairs of builds (without, then with the plugin; the order
 * flips every pair) after one warm-up pair, and returns flat figures:
 * `pluginOverheadRatio` (median over pairs of with/without wall time), `pluginTransformShare`
 * (median of transform ms / build ms), the medians behind them, and `eleventyPages`.
 */
export async function runEleventyBench({ pages = 2000, pairs = 9, linkPages = 2500, linkPairs = 5, print = true } = {}) {
  const overhead = await runPluginOverheadBench({ pages, pairs, print });
  const link = await runLinkBench({ pages: linkPages, pairs: linkPairs, print });
  return { ...overhead, ...link };
}

/** Alternating pairs of builds, `a` then `b` (the order flipping every pair) after one warm-up pair. */
async function alternatingPairs(pairs, a, b, print, describe) {
  await a();
  await b();
  const rows = [];
  for (let i = 0; i < pairs; i++) {
    const results = {};
    for (const side of i % 2 === 0 ? ["a", "b"] : ["b", "a"]) results[side] = await (side === "a" ? a : b)();
    rows.push(results);
    if (print) console.log(`pair ${String(i + 1).padStart(2)}: ${describe(results)}`);
  }
  return rows;
}

/**
 * Issue 9 item 13: a page that already names the endpoint (the plugin's `pmLink`
 * shortcode in the layout's head) against one that does not, both with the plugin.
 */
async function runLinkBench({ pages, pairs, print }) {
  if (!existsSync(pluginModule)) throw new Error(`${pluginModule} is missing: run \`pnpm build\` first.`);
  const root = await mkdtemp(join(tmpdir(), "indiepm-bench-11ty-link-"));
  try {
    const input = { without: join(root, "src-without"), with: join(root, "src-with") };
    const out = { without: join(root, "out-without"), with: join(root, "out-with") };
    await generateSite(input.without, pages);
    await generateSite(input.with, pages, { link: true });
    const options = { shortcode: true };
    if (print)
      console.log(
        `\nA page that already has the link: ${pages} pages with {% pmLink %} in the layout's head vs the same site without it, both with the plugin; ${pairs} alternating pairs (one warm-up pair first)\n`,
      );
    const rows = await alternatingPairs(
      pairs,
      () => build(input.without, out.without, options),
      () => build(input.with, out.with, options),
      print,
      ({ a: wo, b: w }) =>
        `without link ${wo.wallMs.toFixed(0).padStart(5)} ms (transform ${String(wo.transformMs).padStart(3)} ms)   with link ${w.wallMs.toFixed(0).padStart(5)} ms (transform ${String(w.transformMs).padStart(3)} ms)   wall ratio ${(w.wallMs / wo.wallMs).toFixed(3)}`,
    );
    // Each side did what it should: one link on every page, the layout's own where there was one.
    for (const side of ["without", "with"]) {
      const page = readFileSync(join(out[side], "posts", "post-1", "index.html"), "utf8");
      if (page.split('rel="pm"').length !== 2 || !page.includes(`<meta charset="utf-8">${side === "with" ? "\n" : ""}<link rel="pm" href="${ENDPOINT}">`)) {
        throw new Error(`posts/post-1/index.html (${side} link) does not name the endpoint as expected:\n${page.slice(0, 600)}`);
      }
    }
    const figures = {
      linkPages: pages,
      linkPairs: pairs,
      linkTransformRatio: round(median(rows.map((r) => r.b.transformMs / Math.max(1, r.a.transformMs)))),
      linkWallRatio: round(median(rows.map((r) => r.b.wallMs / r.a.wallMs))),
      linkBuildRatio: round(median(rows.map((r) => r.b.buildMs / r.a.buildMs))),
      linkTransformMsWith: median(rows.map((r) => r.b.transformMs)),
      linkTransformMsWithout: median(rows.map((r) => r.a.transformMs)),
      ...(await scanBench(out, pairs, print)),
    };
    if (print) {
      console.log(
        `\nwith link / without link: transform time median ratio ${figures.linkTransformRatio} (medians ${figures.linkTransformMsWith} / ${figures.linkTransformMsWithout} ms; target ≤ 1)` +
          `, wall time ${figures.linkWallRatio}, builds alone ${figures.linkBuildRatio}` +
          "\nThe wall and build ratios also count rendering the shortcode on every page; the transform ratio is the scan alone." +
          `\nThe scan alone, on the ${pages} pages of each build as the transform gets them: first pass in a fresh process ratio ${figures.linkScanColdRatio}` +
          ` (medians ${figures.linkScanColdUsWith} / ${figures.linkScanColdUsWithout} µs a page), warm ratio ${figures.linkScanWarmRatio} (${figures.linkScanWarmUsWith} / ${figures.linkScanWarmUsWithout} µs; target ≤ 1 for both)`,
      );
    }
    return figures;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Every `index.html` under `dir`, as text. */
function htmlPages(dir) {
  return readdirSync(dir, { recursive: true })
    .filter((file) => file.endsWith("index.html"))
    .sort()
    .map((file) => readFileSync(join(dir, file), "utf8"));
}

/**
 * Child process: the transform's scan (`pmLinkInjector`) over the pages of both builds as
 * the transform got them — the with-link build's output as it is (the transform leaves it
 * alone), the other's without the link the transform inserted. One pass of `first`'s pages
 * in this fresh process (JIT and regular expressions cold, as in a build), then alternate
 * warm passes of both. Prints µs a page.
 */
async function scanChild(dirWithout, dirWith, first) {
  const { pmLinkInjector, pmLinkElement } = await import(pathToFileURL(join(pluginDir, "dist", "html.js")).href);
  const inserted = pmLinkElement(ENDPOINT);
  const sets = { without: htmlPages(dirWithout).map((page) => page.replace(inserted, "")), with: htmlPages(dirWith) };
  const inject = pmLinkInjector(ENDPOINT);
  const pass = (side) => {
    const started = performance.now();
    for (const page of sets[side]) inject(page);
    return ((performance.now() - started) * 1000) / sets[side].length;
  };
  const cold = pass(first);
  const warm = { with: [], without: [] };
  for (let i = 0; i < 20; i++) for (const side of i % 2 ? ["with", "without"] : ["without", "with"]) warm[side].push(pass(side));
  process.stdout.write(JSON.stringify({ first, cold, warmWith: median(warm.with), warmWithout: median(warm.without) }));
}

/** `processes` fresh processes for each side's cold pass, alternating which comes first. */
async function scanBench(out, processes, print) {
  const runs = [];
  for (let i = 0; i < 2 * processes; i++) {
    const first = i % 2 === 0 ? "without" : "with";
    const { stdout } = await run(process.execPath, [fileURLToPath(import.meta.url), "--scan-child", out.without, out.with, first], { maxBuffer: 1 << 20 });
    runs.push(JSON.parse(stdout));
  }
  const cold = (side) => median(runs.filter((r) => r.first === side).map((r) => r.cold));
  const figures = {
    linkScanColdUsWith: round(cold("with"), 2),
    linkScanColdUsWithout: round(cold("without"), 2),
    linkScanColdRatio: round(cold("with") / cold("without")),
    linkScanWarmUsWith: round(median(runs.map((r) => r.warmWith)), 2),
    linkScanWarmUsWithout: round(median(runs.map((r) => r.warmWithout)), 2),
    linkScanWarmRatio: round(median(runs.map((r) => r.warmWith / r.warmWithout))),
  };
  if (print) console.log(`scan alone, ${2 * processes} fresh processes: ${runs.map((r) => `${r.first} first ${r.cold.toFixed(2)} µs`).join(", ")}`);
  return figures;
}

/** The plugin against no plugin (the original figures of this suite). */
async function runPluginOverheadBench({ pages, pairs, print }) {
  if (!existsSync(pluginModule)) throw new Error(`${pluginModule} is missing: run \`pnpm build\` first.`);
  const root = await mkdtemp(join(tmpdir(), "indiepm-bench-11ty-"));
  try {
    const input = join(root, "src");
    await generateSite(input, pages);
    const out = { without: join(root, "out-without"), with: join(root, "out-with") };
    if (print)
      console.log(`Eleventy ${eleventyEntry().version}: ${pages} pages, ${pairs} alternating pairs of builds (one warm-up pair first), each its own process\n`);

    const pairsRun = await alternatingPairs(
      pairs,
      () => build(input, out.without, false),
      () => build(input, out.with, true),
      print,
      ({ a: wo, b: w }) =>
        `without ${wo.wallMs.toFixed(0).padStart(5)} ms (build ${wo.buildMs.toFixed(0)} ms)   with ${w.wallMs.toFixed(0).padStart(5)} ms (build ${w.buildMs.toFixed(0)} ms, transform ${w.transformMs} ms = ${((100 * w.transformMs) / w.buildMs).toFixed(2)} %, Eleventy says ${w.transformPercent} %)   ratio ${(w.wallMs / wo.wallMs).toFixed(3)}`,
    );
    const rows = pairsRun.map(({ a, b }) => ({ without: a, with: b }));

    const figures = {
      eleventyPages: pages,
      eleventyPairs: pairs,
      pluginOverheadRatio: round(median(rows.map((r) => r.with.wallMs / r.without.wallMs))),
      pluginBuildRatio: round(median(rows.map((r) => r.with.buildMs / r.without.buildMs))),
      pluginTransformShare: round(median(rows.map((r) => r.with.transformMs / r.with.buildMs)), 4),
      pluginTransformMs: median(rows.map((r) => r.with.transformMs)),
      pluginTransformCalls: rows[0].with.transformCalls,
      eleventyBuildMsWithout: round(median(rows.map((r) => r.without.buildMs)), 0),
      eleventyBuildMsWith: round(median(rows.map((r) => r.with.buildMs)), 0),
      eleventyWallMsWithout: round(median(rows.map((r) => r.without.wallMs)), 0),
      eleventyWallMsWith: round(median(rows.map((r) => r.with.wallMs)), 0),
    };
    if (print) {
      console.log(
        `\nplugin transform: median ${figures.pluginTransformMs} ms over ${figures.pluginTransformCalls} pages = ${(100 * figures.pluginTransformShare).toFixed(2)} % of the build (target ≤ 3 %)` +
          `\nwall time with/without: median ratio ${figures.pluginOverheadRatio} (medians ${figures.eleventyWallMsWith} / ${figures.eleventyWallMsWithout} ms; builds alone: ratio ${figures.pluginBuildRatio})` +
          "\nWall time includes Node's start-up and module loading; pairs alternate to spread machine noise over both sides.",
      );
    }
    return figures;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  if (process.argv[2] === "--scan-child") {
    const [, , , dirWithout, dirWith, first] = process.argv;
    await scanChild(dirWithout, dirWith, first);
  } else if (process.argv[2] === "--child") {
    const [, , , input, output, options] = process.argv;
    await child(input, output, JSON.parse(options));
  } else {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        pages: { type: "string" },
        pairs: { type: "string" },
        "link-pages": { type: "string" },
        "link-pairs": { type: "string" },
        json: { type: "boolean" },
      },
    });
    const figures = await runEleventyBench({
      pages: Number(values.pages ?? 2000),
      pairs: Number(values.pairs ?? 9),
      linkPages: Number(values["link-pages"] ?? 2500),
      linkPairs: Number(values["link-pairs"] ?? 5),
    });
    if (values.json) console.log(JSON.stringify(figures, null, 2));
  }
}
