/**
 * Benchmark of a large inbox on the embedded nedb store (packages/core/src/store/nedb/):
 * 100,000 received messages in a data folder, then, in a fresh process each time,
 *
 * - start: `openNedbStore` + `createPmServer` + `start()` (what `indiepm serve` does
 *   before it listens), target ≤ 2 s;
 * - first inbox page: `inbox({limit: 50})`, newest arrival first (the owner API's
 *   `GET /api/inbox?limit=50`), target ≤ 50 ms; also the same page for one site;
 * - RSS once the page is served, target ≤ 200 MB (and the peak, for sizing a machine);
 * - the upgrade, once per build: `start()` and the first owner read of a folder an older
 *   version wrote (no `conversation` or `pageKey`, no conversations.db), which file every
 *   message.
 *
 * The datafiles are written directly, one line per document exactly as the adapter encodes
 * it (arrays as `{"~json": …}`) and as nedb lays it out after a compaction (documents,
 * then one `$$indexCreated` line per index): inbox.db with each message's conversation and
 * page key, conversations.db with the summaries, both from the engine's own functions
 * (owner/conversations.ts `groupThreads`, `pageKeyOf`) and checked against what the
 * engine's write path stores for the first 300 messages. One untimed open first lets nedb
 * rewrite them itself, so every timed start reads files nedb wrote.
 *
 *   pnpm build && node bench/inbox.js [--messages 100000] [--runs 3]
 *   node bench/inbox.js --core before=/old/core/dist/index.js --core after=packages/core/dist/index.js
 *     (two builds of @indiepm/core on the same datafile, runs alternating)
 *
 * `runInboxBench()` returns the figures for bench/run.js.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const defaultCore = join(here, "..", "packages", "core", "dist", "index.js");

const RECIPIENTS = ["https://bob.example.com/", "https://bob.example.com/family/"];
const ENDPOINT = "https://pm.bob.example.net/";
const PAGE = 50;
const TARGETS = { startMs: 2000, pageMs: 50, rssMB: 200 };
const MB = 1024 * 1024;

/** Deterministic pseudo-random numbers (mulberry32), so every run writes the same inbox. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** secrets.ts `keyOf`: the inbox `_id` is keyOf(recipient, sender, message). */
const keyOf = (...parts) => createHash("sha256").update(JSON.stringify(parts), "utf8").digest("base64url");
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

const WORDS =
  "the a to and of in we you it for on that is was this with at be have not are so but just can will about what do if my your from our see when there one all week thanks meeting tomorrow soon great idea post reply draft notes photo link later coffee train weekend call friday indieweb site page feed webmention".split(
    " ",
  );

let corpus = "";
function text(random, length) {
  if (corpus === "") {
    const words = [];
    const r = prng(1);
    for (let n = 0; n < 200_000; n++) words.push(WORDS[Math.floor(r() * WORDS.length)] + (r() < 0.08 ? "." : ""));
    corpus = words.join(" ");
  }
  const start = Math.floor(random() * (corpus.length - length - 1));
  return `${corpus.slice(start, start + length).trim()}.`;
}

/**
 * One received message as `answerDeliver` stores it (records.ts InboxDoc), in the order
 * it builds the fields. Plain text of 40–1,600 characters (mean about 450); a quarter
 * with (sanitized) HTML, a third with a subject, a third replies, one in ten to a group.
 */
function inboxDoc(random, i, receivedAt, senders) {
  const sender = senders[Math.floor(random() * senders.length)];
  const recipient = random() < 0.9 ? RECIPIENTS[0] : RECIPIENTS[1];
  const message = `${new URL(sender).origin.replace("://", "://pm.")}/messages/${randomUUID()}`;
  const content = text(random, 40 + Math.floor(random() ** 2 * 1200));
  const doc = {
    _id: keyOf(recipient, sender, message),
    message,
    sender,
    recipient,
    content,
    published: iso(receivedAt - 1000 - Math.floor(random() * 5000)),
    receivedAt,
  };
  if (random() < 0.33) doc.name = text(random, 12 + Math.floor(random() * 40));
  if (random() < 0.25) doc.contentHtml = `<p>${content.replace(/\. /g, ".</p><p>")}</p>`;
  if (random() < 0.33) doc.inReplyTo = `${ENDPOINT}messages/${randomUUID()}`;
  if (random() < 0.1) doc.to = [recipient, senders[(i + 1) % senders.length], senders[(i + 7) % senders.length]];
  return doc;
}

/** store/nedb/query.ts `encodeDocument`: objects and arrays become `{"~json": text}`. */
function encode(doc) {
  const out = {};
  for (const [k, v] of Object.entries(doc)) out[k] = typeof v === "object" && v !== null ? { "~json": JSON.stringify(v) } : v;
  return out;
}

/** `count` messages received over the last year, oldest first (the same but for their IDs' UUIDs for the same count), and the newest time. */
function makeInbox(count) {
  const random = prng(20240601);
  const senders = Array.from({ length: 300 }, (_, i) => `https://friend${i}.example.org/`);
  const end = Date.UTC(2025, 0, 1);
  const span = 365 * 24 * 3600 * 1000;
  const docs = [];
  let t = end - span;
  for (let i = 0; i < count; i++) {
    t += Math.floor((random() * 2 * span) / count) + 1;
    docs.push(inboxDoc(random, i, t, senders));
  }
  return { docs, newest: t };
}

const SNIPPET_CHARS = 140;

/**
 * The conversation fields and summaries the engine stores for `docs` (received messages):
 * owner/conversations.ts `groupThreads` groups each site's messages, each message gets its
 * group's ID and `pageKeyOf`, each group a summary as `summaryFields` computes it (not
 * exported; written out here and checked against the engine by `checkAgainstEngine`).
 */
function fileAsEngine(engine, docs) {
  const filed = [];
  const summaries = [];
  for (const site of RECIPIENTS) {
    const items = docs.filter((doc) => doc.recipient === site).map((doc) => ({ kind: "in", doc, at: doc.receivedAt }));
    for (const group of engine.groupThreads(site, items)) {
      for (const item of group.items) filed.push({ ...item.doc, conversation: group.id, pageKey: engine.pageKeyOf(item.at, item.doc._id) });
      const first = group.items[0];
      const last = group.items.reduce((a, b) => (b.at >= a.at ? b : a));
      const subject = first.doc.name ?? group.items.find((i) => i.doc.name)?.doc.name;
      const people = new Set(group.items.flatMap((i) => [i.doc.sender, i.doc.recipient, ...(i.doc.to ?? [])]));
      people.delete(site);
      const text = last.doc.content.replace(/\s+/g, " ").trim();
      summaries.push({
        _id: group.id,
        rev: 1,
        site,
        root: group.root,
        ...(subject ? { subject } : {}),
        participants: [...people],
        messages: group.items.length,
        unread: group.items.filter((i) => !i.doc.read).length,
        lastAt: last.at,
        lastKey: engine.pageKeyOf(last.at, group.id),
        snippet: text.length > SNIPPET_CHARS ? `${text.slice(0, SNIPPET_CHARS - 1)}…` : text,
        lastSender: last.doc.sender,
      });
    }
  }
  filed.sort((a, b) => a.receivedAt - b.receivedAt);
  return { filed, summaries };
}

/** Equal as stored JSON (key order aside). */
function sameJson(a, b) {
  const norm = (v) =>
    Array.isArray(v)
      ? v.map(norm)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, norm(v[k])]),
          )
        : v;
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

const ENGINE_FIRST = 300;

/**
 * The first `ENGINE_FIRST` messages written by the engine's own path (as actions/deliver.ts
 * answerDeliver: conversationFields, insert, messageWritten) into a scratch nedb folder:
 * every document and summary it stores must equal the seed's (`rev` aside).
 */
async function checkAgainstEngine(coreModule, engine, docs) {
  const { openNedbStore } = await import(pathToFileURL(coreModule).href);
  const sample = docs.slice(0, ENGINE_FIRST).map((doc) => ({ ...doc }));
  const { filed, summaries } = fileAsEngine(engine, sample);
  const dir = await mkdtemp(join(tmpdir(), "indiepm-bench-inbox-check-"));
  const store = await openNedbStore({ dir });
  const problems = [];
  try {
    for (const doc of sample) {
      Object.assign(doc, await engine.conversationFields(store, "in", doc));
      await store.insert("inbox", doc);
      await engine.messageWritten(store, "in", doc);
    }
    for (const doc of filed) {
      const written = await store.get("inbox", doc._id);
      if (!sameJson(written, doc)) problems.push(`message ${doc._id}: engine ${JSON.stringify(written)}, seed ${JSON.stringify(doc)}`);
    }
    const stored = await store.find("conversations");
    if (stored.length !== summaries.length) problems.push(`the engine wrote ${stored.length} conversations, the seed ${summaries.length}`);
    for (const summary of summaries) {
      const written = await store.get("conversations", summary._id);
      if (!sameJson({ ...written, rev: 0 }, { ...summary, rev: 0 }))
        problems.push(`summary ${summary._id}: engine ${JSON.stringify(written)}, seed ${JSON.stringify(summary)}`);
    }
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
  if (problems.length > 0) throw new Error(`inbox bench: the seed differs from what the engine writes: ${problems.slice(0, 3).join("; ")}`);
}

/** A datafile as nedb lays it out after a compaction: documents (encoded), then one line per index. */
async function writeDatafile(file, docs, indexes) {
  // nedb's afterSerialization (store/nedb/repair.ts) escapes U+2028/U+2029/U+0085; none are generated here.
  const lines = docs.map((doc) => JSON.stringify(encode(doc)));
  for (const [fieldName, sparse] of indexes) lines.push(JSON.stringify({ $$indexCreated: { fieldName, unique: false, sparse } }));
  await writeFile(file, `${lines.join("\n")}\n`);
  return (await stat(file)).size;
}

const OLD_INDEXES = [
  ["recipient", false],
  ["receivedAt", false],
  ["message", false],
];

/**
 * Writes `<dir>/inbox.db` with `count` messages as the engine stores them now (with
 * `conversation` and `pageKey`) and `<dir>/conversations.db` with their summaries; with
 * `old: true`, `inbox.db` alone, as versions before stored conversations wrote it (what
 * the first owner read of an upgraded process files).
 */
export async function generateInbox(dir, count, { old = false, engine } = {}) {
  const { docs, newest } = makeInbox(count);
  if (old) return { newest, bytes: await writeDatafile(join(dir, "inbox.db"), docs, OLD_INDEXES), conversations: 0 };
  const { filed, summaries } = fileAsEngine(engine, docs);
  const bytes = await writeDatafile(join(dir, "inbox.db"), filed, [...OLD_INDEXES, ["conversation", true], ["pageKey", true]]);
  await writeDatafile(join(dir, "conversations.db"), summaries, [
    ["site", false],
    ["lastKey", true],
  ]);
  return { newest, bytes, conversations: summaries.length };
}

/** The engine's conversation functions, from the build of core at `coreModule`. */
async function engineOf(coreModule) {
  return import(pathToFileURL(join(dirname(coreModule), "owner", "conversations.js")).href);
}

/** Child process: an old-shape folder's first owner read (the upgrade files every message); prints JSON. */
async function upgradeChild(coreModule, dir) {
  const { createPmServer, openNedbStore } = await import(pathToFileURL(coreModule).href);
  const quiet = { info() {}, warn() {}, error: (m, d) => console.error(m, d) };
  const store = await openNedbStore({ dir });
  const pm = createPmServer({ endpoint: ENDPOINT, sites: RECIPIENTS, store, logger: quiet });
  // From start(): it looks for older documents and starts filing them (owner/filing.ts); the first read waits for the filing.
  const t = performance.now();
  await pm.start();
  const page = await pm.inbox({ limit: PAGE });
  const filingMs = performance.now() - t;
  const unfiled = (await store.find("inbox")).filter((doc) => doc.conversation === undefined || doc.pageKey === undefined).length;
  const conversations = await store.count("conversations");
  await pm.close();
  process.stdout.write(JSON.stringify({ filingMs, unfiled, conversations, page: page.length }));
}

/** Child process: open, start, first page; prints JSON. */
async function child(coreModule, dir, expectedCount, newest) {
  const imported = performance.now();
  const { createPmServer, openNedbStore } = await import(pathToFileURL(coreModule).href);
  const rssEmpty = process.memoryUsage().rss;
  const quiet = { info() {}, warn() {}, error: (m, d) => console.error(m, d) };

  const t0 = performance.now();
  const store = await openNedbStore({ dir });
  const pm = createPmServer({ endpoint: ENDPOINT, sites: RECIPIENTS, store, logger: quiet });
  await pm.start();
  const startMs = performance.now() - t0;

  const t1 = performance.now();
  const page = await pm.inbox({ limit: PAGE });
  const pageMs = performance.now() - t1;
  const rss = process.memoryUsage().rss;

  // Warm repeats, and the page of one site (the recipient index then narrows nothing much).
  const timed = async (f) => {
    const s = performance.now();
    const r = await f();
    return { ms: performance.now() - s, r };
  };
  const again = await timed(() => pm.inbox({ limit: PAGE }));
  const site = await timed(() => pm.inbox({ site: RECIPIENTS[1], limit: PAGE }));
  // What a reply without `to` looks up (owner/messages.ts threadParticipants).
  const thread = await timed(() => store.find("inbox", { where: { message: page[10].message, recipient: page[10].recipient } }));
  // The web inbox's first screen, where the server has it: conversations and the unread count.
  const conversations = typeof pm.conversations === "function" ? await timed(() => pm.conversations({ limit: PAGE })) : undefined;
  const status = typeof pm.inboxStatus === "function" ? await timed(() => pm.inboxStatus()) : undefined;
  const count = await store.count("inbox");

  // The page must be right, or its time means nothing.
  const times = page.map((m) => Date.parse(m.receivedAt));
  const problems = [];
  if (count !== expectedCount) problems.push(`count ${count}, expected ${expectedCount}`);
  if (page.length !== PAGE) problems.push(`page of ${page.length}`);
  if (times.some((t, i) => i > 0 && t > times[i - 1])) problems.push("page not newest first");
  if (Math.floor(newest / 1000) * 1000 !== times[0]) problems.push(`newest ${iso(newest)} not first (${page[0]?.receivedAt})`);
  if (site.r.some((m) => m.recipient !== RECIPIENTS[1]) || site.r.length !== PAGE) problems.push("site page wrong");
  if (JSON.stringify(again.r) !== JSON.stringify(page)) problems.push("second page differs");
  if (thread.r.length !== 1) problems.push(`thread lookup found ${thread.r.length}`);

  globalThis.gc?.();
  const liveHeapMB = process.memoryUsage().heapUsed / MB;
  const t2 = performance.now();
  await pm.close();
  const closeMs = performance.now() - t2;
  process.stdout.write(
    JSON.stringify({
      startMs,
      pageMs,
      pageAgainMs: again.ms,
      sitePageMs: site.ms,
      rssMB: rss / MB,
      peakRssMB: (process.resourceUsage().maxRSS * 1024) / MB,
      emptyRssMB: rssEmpty / MB,
      liveHeapMB,
      threadMs: thread.ms,
      conversationsMs: conversations?.ms ?? null,
      inboxStatusMs: status?.ms ?? null,
      importMs: t0 - imported,
      closeMs,
      problems,
    }),
  );
}

function measure(coreModule, dir, count, newest) {
  const out = execFileSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--child", coreModule, dir, String(count), String(newest)], {
    encoding: "utf8",
    maxBuffer: MB,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const result = JSON.parse(out);
  if (result.problems.length > 0) throw new Error(`inbox bench: wrong results: ${result.problems.join("; ")}`);
  return result;
}

const median = (xs) => {
  if (xs.some((x) => typeof x !== "number")) return null; // a figure this build cannot give
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (n, digits = 1) => (n === null ? null : Number(n.toFixed(digits)));

/**
 * Generates the inbox, opens it once untimed (nedb rewrites the file), then `runs` timed
 * starts, each in a fresh process. Returns `{inbox100kStartMs, inbox100kPageMs,
 * inbox100kRssMB, …}` (medians). With several `cores` (builds of @indiepm/core, to
 * compare adapter versions), their runs alternate on the same datafile; the figures
 * returned are the first one's.
 */
export async function runInboxBench({ messages = 100_000, runs = 3, print = true, cores = [{ label: "current", module: defaultCore }] } = {}) {
  for (const { module } of cores) {
    if (!existsSync(module)) throw new Error(`${module} is missing: run \`pnpm build\` (or \`npx tsc -b packages/core\`) first.`);
  }
  const dir = await mkdtemp(join(tmpdir(), "indiepm-bench-inbox-"));
  const upgradeDir = await mkdtemp(join(tmpdir(), "indiepm-bench-inbox-upgrade-"));
  try {
    const engine = await engineOf(cores[0].module);
    const g0 = performance.now();
    const { newest, bytes, conversations } = await generateInbox(dir, messages, { engine });
    const generateMs = performance.now() - g0;
    await checkAgainstEngine(cores[0].module, engine, makeInbox(ENGINE_FIRST).docs);
    const first = measure(cores[0].module, dir, messages, newest); // nedb compacts the file it was given
    const results = cores.map(() => []);
    for (let i = 0; i < runs; i++) {
      const order = cores.map((_, c) => c);
      if (i % 2 === 1) order.reverse();
      for (const c of order) results[c].push(measure(cores[c].module, dir, messages, newest));
    }
    const k = messages === 100_000 ? "inbox100k" : `inbox${messages}`;
    const ROWS = [
      ["StartMs", "start (open + create + start)", "startMs", "ms", TARGETS.startMs, 0],
      ["PageMs", `first page (inbox limit ${PAGE})`, "pageMs", "ms", TARGETS.pageMs, 1],
      ["RssMB", "RSS after the first page", "rssMB", "MB", TARGETS.rssMB, 0],
      ["PeakRssMB", "peak RSS (maxRSS)", "peakRssMB", "MB", undefined, 0],
      ["PageAgainMs", "same page again (warm)", "pageAgainMs", "ms", undefined, 1],
      ["SitePageMs", "page of one site (10 % of messages)", "sitePageMs", "ms", undefined, 1],
      ["ThreadLookupMs", "thread lookup (reply without to)", "threadMs", "ms", undefined, 1],
      ["ConversationsMs", `conversations({limit: ${PAGE}}) (web inbox)`, "conversationsMs", "ms", undefined, 1],
      ["InboxStatusMs", "inboxStatus() (unread count)", "inboxStatusMs", "ms", undefined, 1],
      ["LiveHeapMB", "live heap after a full GC", "liveHeapMB", "MB", undefined, 0],
      ["CloseMs", "close (compacts every datafile)", "closeMs", "ms", undefined, 0],
    ];
    // The upgrade: as many messages, as an older version wrote them, filed by each build's first owner read (once each).
    const upgrades = [];
    for (const { module } of cores) {
      await generateInbox(upgradeDir, messages, { old: true });
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--upgrade-child", module, upgradeDir], {
        encoding: "utf8",
        maxBuffer: MB,
        stdio: ["ignore", "pipe", "inherit"],
      });
      const upgrade = JSON.parse(out);
      if (upgrade.unfiled !== 0 || upgrade.conversations !== conversations || upgrade.page !== PAGE)
        throw new Error(`inbox bench: the upgrade left ${upgrade.unfiled} unfiled, ${upgrade.conversations} conversations (seeded: ${conversations})`);
      upgrades.push(upgrade);
      await rm(upgradeDir, { recursive: true, force: true });
      await mkdir(upgradeDir);
    }
    const medians = results.map((rs) => Object.fromEntries(ROWS.map(([, , key, , , digits]) => [key, round(median(rs.map((r) => r[key])), digits)])));
    const figures = Object.fromEntries(ROWS.map(([suffix, , key]) => [`${k}${suffix}`, medians[0][key]]));
    figures[`${k}FileMB`] = round((await stat(join(dir, "inbox.db"))).size / MB, 1);
    figures[`${k}UpgradeMs`] = round(upgrades[0].filingMs, 0);
    if (print) {
      const pad = (s, n) => String(s).padStart(n);
      console.log(
        `Inbox of ${messages.toLocaleString("en")} messages on nedb (datafile ${(bytes / MB).toFixed(1)} MB, written in ${(generateMs / 1000).toFixed(1)} s; ` +
          `first open ${first.startMs.toFixed(0)} ms untimed); median of ${runs} fresh processes${cores.length > 1 ? ", alternating" : ""}\n`,
      );
      const labels = cores.map((c) => c.label);
      console.log(`${"figure".padEnd(38)}${labels.map((l) => pad(l, 12)).join("")}${pad("target", 11)}  ${cores.length === 1 ? "runs" : ""}`);
      for (const [, name, key, unit, max] of ROWS) {
        const values = medians.map((m) => m[key]);
        if (values.every((v) => v === null)) continue;
        const runsText = cores.length === 1 ? `  ${results[0].map((r) => r[key].toFixed(unit === "ms" && values[0] < 100 ? 1 : 0)).join(" / ")}` : "";
        const verdict = max === undefined ? "" : `  ${values.map((v) => (v <= max ? "ok" : "OVER")).join(" / ")}`;
        const shown = values.map((v) => pad(v === null ? "n/a" : `${v} ${unit}`, 12)).join("");
        console.log(`${name.padEnd(38)}${shown}${pad(max === undefined ? "" : `≤ ${max} ${unit}`, 11)}${runsText}${verdict}`);
      }
      const upgradeText = upgrades.map((u) => `${(u.filingMs / 1000).toFixed(1)} s`).join(" / ");
      console.log(
        `${"upgrade: start + first read file all".padEnd(38)}${upgrades.map((u) => pad(`${Math.round(u.filingMs)} ms`, 12)).join("")}${pad("", 11)}  once (${upgradeText}; ${conversations.toLocaleString("en")} conversations)`,
      );
      console.log(`\nRSS of the same process before opening the store: ${median(results[0].map((r) => r.emptyRssMB)).toFixed(0)} MB (Node and the modules).`);
    }
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(upgradeDir, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  if (process.argv[2] === "--upgrade-child") {
    await upgradeChild(process.argv[3], process.argv[4]);
  } else if (process.argv[2] === "--child") {
    const [, , , coreModule, dir, count, newest] = process.argv;
    await child(coreModule, dir, Number(count), Number(newest));
  } else {
    // --core LABEL=PATH (repeatable): builds of @indiepm/core (their dist/index.js) to compare, alternating.
    const { values } = parseArgs({
      options: { messages: { type: "string" }, runs: { type: "string" }, json: { type: "boolean" }, core: { type: "string", multiple: true } },
    });
    const cores = (values.core ?? []).map((spec) => {
      const [label, module] = spec.includes("=") ? spec.split(/=(.*)/s) : [spec, spec];
      return { label, module };
    });
    const figures = await runInboxBench({
      messages: Number(values.messages ?? 100_000),
      runs: Number(values.runs ?? 3),
      ...(cores.length > 0 ? { cores } : {}),
    });
    if (values.json) console.log(JSON.stringify(figures, null, 2));
  }
}
