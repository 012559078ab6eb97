/**
 * Benchmark of a large inbox on the PostgreSQL store (issue 11): 100,000 and 1,000,000
 * received messages, then, in a fresh process each time,
 *
 * - start: `openPostgresStore` + `createPmServer` + `start()` (what `indiepm serve
 *   --database` does before it listens), target ≤ 1 s;
 * - first inbox page: `inboxPage({limit: 50})` (the owner API's `GET /api/inbox`), ≤ 20 ms;
 * - a conversation: `thread(id, {limit: 50})` of the first conversation listed, ≤ 20 ms
 *   (also the largest conversation, and the conversation list itself);
 * - a search: `conversationsPage({q, limit: 50})` for a word in about 1 % of messages,
 *   ≤ 100 ms (PostgreSQL full-text when the store has `search`, else the engine's scan of
 *   the latest messages: the table says which);
 * - RSS after these, ≤ 150 MB;
 *
 * each at both sizes, so "flat as the inbox grows" shows. The figures are medians of
 * `runs` fresh processes (the first, untimed, lets pending migrations and index builds
 * run).
 *
 * The inbox: messages from 2,000 correspondents (a Zipf-like spread: a few write a lot),
 * each writing to one of two sites (90 % / 10 %), in threads: a correspondent starts a new
 * conversation one time in three (one in ten of those answering a message of the owner's,
 * not held here), else answers their last message; a few correspondents keep long threads.
 * Text as bench/inbox.js (40–1,240 characters), a third with a subject, a quarter with
 * HTML, one in ten to a group; all but the latest 1 % read. Documents are exactly what
 * `answerDeliver` writes (protocol/actions/deliver.ts): the fields of InboxDoc plus
 * `conversation` and `pageKey`, and each conversation has its summary in `conversations`.
 * The first 500 messages go through the engine's own code path (conversationFields,
 * insert, messageWritten, as answerDeliver does); the seed checks its own fields and
 * summaries against what the engine wrote for them, then writes the rest with multi-row
 * INSERTs (unnest of 2,000 rows) and the summaries the same way; at the end the engine
 * recomputes a sample of conversations (refreshConversation) and the seed checks nothing
 * changed. Each size is seeded once into a database of its own (`indiepm_bench_inbox_N`),
 * reused by later runs on the same server (INDIEPM_BENCH_DATABASE_URL) while the seed's
 * version matches.
 *
 *   pnpm build && node bench/postgres-inbox.js [--sizes 100000,1000000] [--runs 5]
 *
 * `runPostgresInboxBench()` returns the figures for bench/run.js.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { benchServer, coreModule, createDatabase, databaseExists, databaseUrl, loadAverage, median, pg, storePostgresModule } from "./postgres-server.js";

const here = dirname(fileURLToPath(import.meta.url));
const conversationsModule = join(here, "..", "packages", "core", "dist", "owner", "conversations.js");

/** Bumped whenever the seeded documents change: an older seed is dropped and written again. */
const SEED_VERSION = 2;
const RECIPIENTS = ["https://bob.example.com/", "https://bob.example.com/family/"];
const ENDPOINT = "https://pm.bob.example.net/";
const CORRESPONDENTS = 2000;
const PAGE = 50;
/** A word in about 1 % of messages: what the search looks for. */
const SEARCH_WORD = "kayak";
const TARGETS = { startMs: 1000, pageMs: 20, threadMs: 20, searchMs: 100, rssMB: 150 };
const ENGINE_FIRST = 500;
const BATCH = 2000;
const MB = 1024 * 1024;

/** Deterministic pseudo-random numbers (mulberry32), so every seed writes the same inbox. */
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
 * The messages, oldest first, as `answerDeliver` builds them (without `conversation` and
 * `pageKey`, added by the caller), with the root of each one's thread.
 */
function* messages(count) {
  const random = prng(20261207);
  const senders = Array.from({ length: CORRESPONDENTS }, (_, i) => `https://friend${i}.example.org/`);
  // Zipf-like: correspondent k is picked with weight 1/(k+1)^0.9.
  const weights = senders.map((_, k) => 1 / (k + 1) ** 0.9);
  const cumulative = [];
  let sum = 0;
  for (const w of weights) cumulative.push((sum += w));
  const pick = () => {
    const x = random() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const siteOf = senders.map((_, k) => (k % 10 === 3 ? RECIPIENTS[1] : RECIPIENTS[0]));
  // Every 50th correspondent keeps long threads.
  const newThreadChance = senders.map((_, k) => (k % 50 === 7 ? 0.02 : 0.35));
  const open = new Map(); // correspondent -> { root, last }
  const end = Date.UTC(2026, 11, 1);
  const span = 365 * 24 * 3600 * 1000;
  let t = end - span;
  for (let i = 0; i < count; i++) {
    t += Math.floor((random() * 2 * span) / count) + 1;
    const k = pick();
    const sender = senders[k];
    const recipient = siteOf[k];
    const message = `https://pm.friend${k}.example.org/messages/${randomUUID()}`;
    let content = text(random, 40 + Math.floor(random() ** 2 * 1200));
    if (random() < 0.01) content = `${content} Shall we take the ${SEARCH_WORD} out on Sunday?`;
    const doc = {
      _id: keyOf(recipient, sender, message),
      message,
      sender,
      recipient,
      content,
      published: iso(t - 1000 - Math.floor(random() * 5000)),
      receivedAt: t,
    };
    let thread = open.get(k);
    const fresh = thread === undefined || random() < newThreadChance[k];
    if (random() < (fresh ? 0.33 : 0.08)) doc.name = text(random, 12 + Math.floor(random() * 40));
    if (random() < 0.25) doc.contentHtml = `<p>${content.replace(/\. /g, ".</p><p>")}</p>`;
    let root;
    if (fresh) {
      if (random() < 0.1) {
        doc.inReplyTo = `${ENDPOINT}messages/${randomUUID()}`;
        root = doc.inReplyTo;
      } else root = message;
      thread = { root };
      open.set(k, thread);
    } else {
      doc.inReplyTo = thread.last;
      root = thread.root;
    }
    thread.last = message;
    if (random() < 0.1) doc.to = [recipient, senders[(k + 1) % CORRESPONDENTS], senders[(k + 7) % CORRESPONDENTS]];
    yield { doc, root };
  }
}

const SNIPPET_CHARS = 140;

/** Per conversation, what owner/conversations.ts `summaryFields` computes (its messages come oldest first, replies after their parent). */
class Summaries {
  constructor(conversationId, pageKeyOf) {
    this.byId = new Map();
    this.conversationId = conversationId;
    this.pageKeyOf = pageKeyOf;
  }
  add(doc, root) {
    const id = doc.conversation;
    let s = this.byId.get(id);
    if (!s) {
      s = { site: doc.recipient, root, subject: undefined, participants: new Set(), messages: 0, unread: 0, last: undefined };
      this.byId.set(id, s);
    }
    s.subject ??= doc.name;
    for (const p of [doc.sender, doc.recipient, ...(doc.to ?? [])]) s.participants.add(p);
    s.messages++;
    if (!doc.read) s.unread++;
    s.last = doc;
  }
  doc(id, rev) {
    const s = this.byId.get(id);
    const participants = [...s.participants].filter((p) => p !== s.site);
    const text = s.last.content.replace(/\s+/g, " ").trim();
    return {
      _id: id,
      rev,
      site: s.site,
      root: s.root,
      ...(s.subject ? { subject: s.subject } : {}),
      participants,
      messages: s.messages,
      unread: s.unread,
      lastAt: s.last.receivedAt,
      lastKey: this.pageKeyOf(s.last.receivedAt, id),
      snippet: text.length > SNIPPET_CHARS ? `${text.slice(0, SNIPPET_CHARS - 1)}…` : text,
      lastSender: s.last.sender,
    };
  }
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

async function insertRows(client, table, rows) {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO indiepm.${table} (_id, doc) SELECT * FROM unnest($1::text[], $2::jsonb[]) ON CONFLICT (_id) DO UPDATE SET doc = EXCLUDED.doc`,
    [rows.map((r) => r._id), rows.map((r) => JSON.stringify(r))],
  );
}

/** Writes `count` messages into a fresh database at `url` (see the top of this file). */
async function seed(url, count) {
  const { openPostgresStore } = await import(pathToFileURL(storePostgresModule).href);
  const { conversationFields, messageWritten, refreshConversation, conversationId, pageKeyOf } = await import(pathToFileURL(conversationsModule).href);
  const started = performance.now();
  const store = await openPostgresStore(url);
  const summaries = new Summaries(conversationId, pageKeyOf);
  const readBefore = count - Math.ceil(count / 100);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const problems = [];
  let newest = 0;
  let batch = [];
  let engineRows = 0; // conversation documents the engine wrote for the first messages: one summary each (no message is ever moved here)
  // The bulk load runs without the secondary indexes of inbox (the GIN index of the search
  // most of all); they are built again afterwards from their own definitions, without the
  // store's statement timeout.
  let dropped = [];
  const dropIndexes = async () => {
    const { rows } = await client.query(
      "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'indiepm' AND tablename = 'inbox' AND indexname NOT LIKE '%\\_pkey'",
    );
    dropped = rows;
    for (const { indexname } of rows) await client.query(`DROP INDEX indiepm."${indexname}"`);
  };
  const restoreIndexes = async () => {
    await client.query("SET maintenance_work_mem = '256MB'");
    for (const { indexdef } of dropped) await client.query(indexdef);
  };
  try {
    let i = 0;
    for (const { doc, root } of messages(count)) {
      const fields = { conversation: conversationId(doc.recipient, root), pageKey: pageKeyOf(doc.receivedAt, doc._id) };
      if (i < ENGINE_FIRST) {
        // answerDeliver's steps, with the engine's code.
        const engineFields = await conversationFields(store, "in", doc);
        if (!sameJson(engineFields, fields)) problems.push(`message ${i}: engine filed ${JSON.stringify(engineFields)}, seed ${JSON.stringify(fields)}`);
        Object.assign(doc, engineFields);
        await store.insert("inbox", doc);
        await messageWritten(store, "in", doc);
        summaries.add(doc, root);
        if (i === ENGINE_FIRST - 1) {
          engineRows += summaries.byId.size;
          const stored = Number((await client.query("SELECT count(*) AS n FROM indiepm.conversations")).rows[0].n);
          if (stored !== engineRows) problems.push(`the engine wrote ${stored} conversation documents, the seed expects ${engineRows}`);
          for (const id of summaries.byId.keys()) {
            const written = await store.get("conversations", id);
            if (!sameJson({ ...written, rev: 0 }, summaries.doc(id, 0)))
              problems.push(`summary ${id}: engine ${JSON.stringify(written)}, seed ${JSON.stringify(summaries.doc(id, 0))}`);
          }
        }
      } else {
        if (i === ENGINE_FIRST) await dropIndexes();
        Object.assign(doc, fields);
        if (i < readBefore) doc.read = true;
        summaries.add(doc, root);
        batch.push(doc);
        if (batch.length === BATCH) {
          await insertRows(client, "inbox", batch);
          batch = [];
        }
      }
      newest = doc.receivedAt;
      i++;
      if (problems.length > 0) throw new Error(`postgres-inbox seed differs from the engine's documents: ${problems.slice(0, 3).join("; ")}`);
    }
    await insertRows(client, "inbox", batch);
    await restoreIndexes();
    const ids = [...summaries.byId.keys()];
    for (let j = 0; j < ids.length; j += BATCH) {
      await insertRows(
        client,
        "conversations",
        ids.slice(j, j + BATCH).map((id) => summaries.doc(id, summaries.byId.get(id).messages)),
      );
    }
    await client.query("VACUUM ANALYZE indiepm.inbox");
    await client.query("VACUUM ANALYZE indiepm.conversations");
    const seedMs = performance.now() - started;
    // The engine recomputes a sample of summaries: each must come out as seeded.
    const bySize = [...summaries.byId.entries()].sort((a, b) => b[1].messages - a[1].messages);
    const largest = bySize[0][0];
    const sample = [largest, ...bySize.filter((_, n) => n % Math.max(1, Math.floor(bySize.length / 12)) === 0).map(([id]) => id)].slice(0, 12);
    for (const id of sample) {
      const before = await store.get("conversations", id);
      await refreshConversation(store, before.site, id);
      const after = await store.get("conversations", id);
      if (!sameJson({ ...before, rev: 0 }, { ...after, rev: 0 }))
        problems.push(`summary ${id}: seeded ${JSON.stringify(before)}, engine ${JSON.stringify(after)}`);
    }
    if (problems.length > 0) throw new Error(`postgres-inbox seed differs from the engine's documents: ${problems.slice(0, 3).join("; ")}`);
    const info = {
      version: SEED_VERSION,
      messages: count,
      conversations: ids.length,
      largest,
      largestMessages: bySize[0][1].messages,
      newest,
      seedMs: Math.round(seedMs),
      bytes: Number((await client.query("SELECT pg_database_size(current_database()) AS n")).rows[0].n),
    };
    await client.query("CREATE TABLE public.bench_seed (info jsonb NOT NULL)");
    await client.query("INSERT INTO public.bench_seed (info) VALUES ($1)", [JSON.stringify(info)]);
    return info;
  } finally {
    await client.end();
    await store.close();
  }
}

async function analyze(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("ANALYZE indiepm.inbox");
    await client.query("ANALYZE indiepm.conversations");
  } finally {
    await client.end();
  }
}

/** The seed's record in database `name`, when it is complete and of this version. */
async function seeded(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query("SELECT info FROM public.bench_seed").catch(() => ({ rows: [] }));
    return rows[0]?.info?.version === SEED_VERSION ? rows[0].info : undefined;
  } finally {
    await client.end();
  }
}

/** Child process: open, start, the reads; prints JSON. */
async function child(url, infoText) {
  const info = JSON.parse(infoText);
  const { createPmServer } = await import(pathToFileURL(coreModule).href);
  const { openPostgresStore } = await import(pathToFileURL(storePostgresModule).href);
  const rssEmpty = process.memoryUsage().rss;
  const quiet = { info() {}, warn() {}, error: (m, d) => console.error(m, d) };
  const timed = async (f) => {
    const s = performance.now();
    const r = await f();
    return { ms: performance.now() - s, r };
  };

  const t0 = performance.now();
  const store = await openPostgresStore(url);
  const pm = createPmServer({ endpoint: ENDPOINT, sites: RECIPIENTS, store, logger: quiet });
  await pm.start();
  const startMs = performance.now() - t0;

  const page = await timed(() => pm.inboxPage({ limit: PAGE }));
  const pageAgain = await timed(() => pm.inboxPage({ limit: PAGE }));
  const nextPage = await timed(() => pm.inboxPage({ limit: PAGE, before: page.r.next }));
  const sitePage = await timed(() => pm.inboxPage({ site: RECIPIENTS[1], limit: PAGE }));
  const list = await timed(() => pm.conversationsPage({ limit: PAGE }));
  const first = list.r.items[0];
  const thread = await timed(() => pm.thread(first.id, { limit: PAGE }));
  const largest = await timed(() => pm.thread(info.largest, { limit: PAGE }));
  const search = await timed(() => pm.conversationsPage({ q: SEARCH_WORD, limit: PAGE }));
  // The same search again, and its next page: what a running server pays once its connections have read (the first search of a fresh process also pays for each database page its connection touches the first time).
  const searchAgain = await timed(() => pm.conversationsPage({ q: SEARCH_WORD, limit: PAGE }));
  const searchNext = await timed(() => pm.conversationsPage({ q: SEARCH_WORD, limit: PAGE, before: search.r.next }));
  const status = await timed(() => pm.inboxStatus());
  const rss = process.memoryUsage().rss;

  const problems = [];
  const times = page.r.items.map((m) => Date.parse(m.receivedAt));
  if (page.r.items.length !== PAGE || !page.r.next) problems.push(`first page of ${page.r.items.length}`);
  if (times.some((t, i) => i > 0 && t > times[i - 1])) problems.push("page not newest first");
  if (Math.floor(info.newest / 1000) * 1000 !== times[0]) problems.push(`newest ${iso(info.newest)} not first (${page.r.items[0]?.receivedAt})`);
  if (nextPage.r.items.length !== PAGE || Date.parse(nextPage.r.items[0].receivedAt) > times.at(-1)) problems.push("second page wrong");
  if (sitePage.r.items.length !== PAGE || sitePage.r.items.some((m) => m.recipient !== RECIPIENTS[1])) problems.push("site page wrong");
  if (list.r.items.length !== PAGE) problems.push(`conversation list of ${list.r.items.length}`);
  if (thread.r === null || thread.r.items.length !== Math.min(PAGE, first.messages)) problems.push(`thread of ${thread.r?.items.length} for ${first.messages}`);
  if (largest.r === null || largest.r.items.length !== Math.min(PAGE, info.largestMessages) || largest.r.messages !== info.largestMessages)
    problems.push("largest thread wrong");
  if (search.r.items.length === 0) problems.push("search found nothing");
  if (JSON.stringify(searchAgain.r) !== JSON.stringify(search.r)) problems.push("search again differs");
  if (searchNext.r.items.length === 0 || searchNext.r.items.some((c) => c.lastAt > search.r.items.at(-1).lastAt)) problems.push("search's next page wrong");

  const t2 = performance.now();
  await pm.close();
  const closeMs = performance.now() - t2;
  process.stdout.write(
    JSON.stringify({
      startMs,
      pageMs: page.ms,
      pageAgainMs: pageAgain.ms,
      nextPageMs: nextPage.ms,
      sitePageMs: sitePage.ms,
      conversationsMs: list.ms,
      threadMs: thread.ms,
      threadMessages: first.messages,
      largestThreadMs: largest.ms,
      searchMs: search.ms,
      searchFound: search.r.items.length,
      searchAgainMs: searchAgain.ms,
      searchNextMs: searchNext.ms,
      storeSearch: typeof store.searchConversations === "function" ? "page" : typeof store.search === "function",
      inboxStatusMs: status.ms,
      rssMB: rss / MB,
      peakRssMB: (process.resourceUsage().maxRSS * 1024) / MB,
      emptyRssMB: rssEmpty / MB,
      closeMs,
      problems,
    }),
  );
}

function measure(url, info) {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--child", url, JSON.stringify(info)], {
    encoding: "utf8",
    maxBuffer: MB,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const result = JSON.parse(out);
  if (result.problems.length > 0) throw new Error(`postgres-inbox bench: wrong results: ${result.problems.join("; ")}`);
  return result;
}

const round = (n, digits = 1) => (n === null ? null : Number(n.toFixed(digits)));
const sizeKey = (n) => (n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n % 1000 === 0 ? `${n / 1000}k` : String(n));

const ROWS = [
  ["StartMs", "start (open + create + start)", "startMs", "ms", TARGETS.startMs, 0],
  ["PageMs", `first inbox page (limit ${PAGE})`, "pageMs", "ms", TARGETS.pageMs, 1],
  ["ThreadMs", `a conversation (first listed, limit ${PAGE})`, "threadMs", "ms", TARGETS.threadMs, 1],
  ["SearchMs", `a search (q=${SEARCH_WORD}, ~1 % of messages)`, "searchMs", "ms", TARGETS.searchMs, 1],
  ["RssMB", "RSS after these", "rssMB", "MB", TARGETS.rssMB, 0],
  ["PageAgainMs", "same inbox page again", "pageAgainMs", "ms", undefined, 1],
  ["NextPageMs", "next inbox page (cursor)", "nextPageMs", "ms", undefined, 1],
  ["SitePageMs", "inbox page of the smaller site", "sitePageMs", "ms", undefined, 1],
  ["ConversationsMs", `conversation list (limit ${PAGE})`, "conversationsMs", "ms", undefined, 1],
  ["LargestThreadMs", "the largest conversation (limit 50)", "largestThreadMs", "ms", undefined, 1],
  ["SearchAgainMs", "the same search again", "searchAgainMs", "ms", undefined, 1],
  ["SearchNextMs", "the search's next page (cursor)", "searchNextMs", "ms", undefined, 1],
  ["InboxStatusMs", "inboxStatus() (unread count)", "inboxStatusMs", "ms", undefined, 1],
  ["PeakRssMB", "peak RSS (maxRSS)", "peakRssMB", "MB", undefined, 0],
  ["CloseMs", "close", "closeMs", "ms", undefined, 0],
];

/**
 * Seeds (or reuses) each size, opens it once untimed, then `runs` fresh processes per
 * size, sizes alternating. Returns `{pgInbox100kStartMs, pgInbox1MPageMs, …}` (medians).
 */
export async function runPostgresInboxBench({ sizes = [100_000, 1_000_000], runs = 5, print = true } = {}) {
  const server = await benchServer();
  const figures = {};
  try {
    const dbs = [];
    for (const size of sizes) {
      const name = `indiepm_bench_inbox_${size}`;
      let url = databaseUrl(server.url, name);
      let info = (await databaseExists(server.url, name)) ? await seeded(url) : undefined;
      let reused = true;
      if (info === undefined) {
        reused = false;
        url = await createDatabase(server.url, name);
        if (print) console.log(`seeding ${size.toLocaleString("en")} messages into ${name}…`);
        info = await seed(url, size);
      }
      // Untimed: migrations and indexes newer than the seed (without the store's 10 s statement
      // timeout, which a CREATE INDEX over a million rows outlasts), then one run for the caches.
      const { openPostgresStore } = await import(pathToFileURL(storePostgresModule).href);
      // Untimed too: what the engine files once in a database written before a stored field
      // existed (chats, owner/chats.ts CHATS_PASS, in a seed older than them). Otherwise every
      // timed process would start that filing at start and read beside it.
      const { createPmServer } = await import(pathToFileURL(coreModule).href);
      const store = await openPostgresStore(url, { statementTimeoutMs: 3_600_000 });
      const pm = createPmServer({ endpoint: ENDPOINT, sites: RECIPIENTS, store, logger: { info() {}, warn() {}, error: (m, d) => console.error(m, d) } });
      const filing = performance.now();
      try {
        await pm.start();
        await pm.chatsPage({ limit: 1 });
      } finally {
        await pm.close(); // and the store
      }
      const filedMs = performance.now() - filing;
      if (print && filedMs > 5_000) console.log(`  filed what the engine stores since the seed (chats) in ${(filedMs / 1000).toFixed(0)} s, once`);
      // The planner's statistics on the expressions of indexes built since (ANALYZE; autovacuum would in time).
      await analyze(url);
      measure(url, info);
      dbs.push({ size, url, info, reused, results: [] });
    }
    const load = await loadAverage();
    for (let i = 0; i < runs; i++) {
      for (const db of i % 2 === 0 ? dbs : [...dbs].reverse()) db.results.push(measure(db.url, db.info));
    }
    for (const db of dbs) {
      const k = `pgInbox${sizeKey(db.size)}`;
      for (const [suffix, , key, , , digits] of ROWS) figures[`${k}${suffix}`] = round(median(db.results.map((r) => r[key])), digits);
      figures[`${k}SeedS`] = round(db.info.seedMs / 1000, 0);
      figures[`${k}DatabaseMB`] = round(db.info.bytes / MB, 0);
      figures[`${k}Conversations`] = db.info.conversations;
    }
    figures.pgInboxStoreSearch = dbs[0]?.results[0]?.storeSearch ?? null;
    if (print) {
      const pad = (s, n) => String(s).padStart(n);
      console.log(
        `Inbox on PostgreSQL, median of ${runs} fresh processes per size (sizes alternating; load average ${load.join(", ")})\n` +
          dbs
            .map(
              (db) =>
                `  ${db.size.toLocaleString("en")} messages, ${db.info.conversations.toLocaleString("en")} conversations (largest ${db.info.largestMessages}), ` +
                `database ${(db.info.bytes / MB).toFixed(0)} MB, seeded in ${(db.info.seedMs / 1000).toFixed(0)} s${db.reused ? " (an earlier run; reused)" : ""}`,
            )
            .join("\n") +
          `\n  search: ${figures.pgInboxStoreSearch === "page" ? "the store's page of conversations (Store.searchConversations, full-text)" : figures.pgInboxStoreSearch ? "the store's full-text search (Store.search)" : "no Store.search in this build: the engine scans the latest 5,000 messages per site"}\n`,
      );
      console.log(`${"figure".padEnd(44)}${dbs.map((db) => pad(sizeKey(db.size), 11)).join("")}${pad("target", 11)}  verdict`);
      for (const [, name, key, unit, max] of ROWS) {
        const values = dbs.map((db) => median(db.results.map((r) => r[key])));
        const shown = values.map((v) => pad(`${v.toFixed(unit === "ms" && v < 100 ? 1 : 0)} ${unit}`, 11)).join("");
        const verdict = max === undefined ? "" : values.map((v) => (v <= max ? "ok" : "OVER")).join(" / ");
        console.log(`${name.padEnd(44)}${shown}${pad(max === undefined ? "" : `≤ ${max} ${unit}`, 11)}  ${verdict}`);
      }
      console.log(
        `\nRSS of the same process before opening the store: ${median(dbs[0].results.map((r) => r.emptyRssMB)).toFixed(0)} MB (Node and the modules).`,
      );
    }
    figures.pgInboxLoadAverage = load[0];
    return figures;
  } finally {
    await server.close();
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  if (process.argv[2] === "--child") {
    await child(process.argv[3], process.argv[4]);
  } else {
    const { values } = parseArgs({ options: { sizes: { type: "string" }, runs: { type: "string" }, json: { type: "boolean" } } });
    const figures = await runPostgresInboxBench({
      sizes: (values.sizes ?? "100000,1000000").split(",").map(Number),
      runs: Number(values.runs ?? 5),
    });
    if (values.json) console.log(JSON.stringify(figures, null, 2));
  }
}
