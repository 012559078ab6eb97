/**
 * Which PostgreSQL driver the store uses (issue 11): node-postgres (`pg`, its pg-pool)
 * against postgres.js, on a real server, doing the store's hot operations with the same
 * pool size and the same SQL (packages/store-postgres/src/sql.ts's shapes):
 *
 * - insert of a ~1 KB jsonb document;
 * - get by `_id`;
 * - compare-and-set update (`UPDATE … WHERE _id = $1 AND COALESCE(doc->'state', 'null') = $2`);
 * - sorted, limited find (`WHERE COALESCE(doc->'status', …) = $1 ORDER BY … LIMIT 20`, indexed).
 *
 * Each operation runs CONCURRENCY at a time (a busy server's requests), the drivers
 * alternating ROUNDS times; the figure is the best round's operations per second, and
 * the ratio postgres.js / pg is printed beside it. node-postgres is also measured with
 * named prepared statements (what postgres.js does by default).
 *
 * The server: env INDIEPM_BENCH_DATABASE_URL or INDIEPM_TEST_DATABASE_URL, else a private
 * cluster started from the installed binaries (packages/test-support, built by `pnpm build`).
 *
 *   pnpm build && node bench/store-driver.js [--ops 4000] [--rounds 3]
 *
 * `runStoreDriverBench()` returns the figures for bench/run.js.
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const storePackage = join(here, "..", "packages", "store-postgres", "package.json");
const require = createRequire(storePackage);
const pg = require("pg");
const postgres = (await import(pathToFileURL(require.resolve("postgres")).href)).default;

const POOL = 10;
const CONCURRENCY = 20;

const r = (x, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

async function server() {
  const url = process.env.INDIEPM_BENCH_DATABASE_URL || process.env.INDIEPM_TEST_DATABASE_URL;
  if (url) return { url, close: async () => {} };
  const { startPostgresServer } = await import(pathToFileURL(join(here, "..", "packages", "test-support", "dist", "postgres.js")).href);
  return startPostgresServer();
}

/** A ~1 KB document like a received message. */
function message(n) {
  return {
    _id: `m${n}`,
    recipient: `https://site${n % 10}.example/`,
    sender: `https://sender${n % 97}.example/`,
    message: randomBytes(16).toString("base64url"),
    status: n % 3 === 0 ? "pending" : "delivered",
    state: "issued",
    nextAttemptAt: 1_700_000_000_000 + n,
    content: "x".repeat(800),
    receivedAt: new Date(1_700_000_000_000 + n * 1000).toISOString(),
  };
}

const SCHEMA = `
  DROP TABLE IF EXISTS bench_docs;
  CREATE TABLE bench_docs (_id text COLLATE "C" PRIMARY KEY, doc jsonb NOT NULL);
  CREATE INDEX bench_docs_status_next ON bench_docs ((COALESCE(doc->'status', 'null'::jsonb)), (((doc->'nextAttemptAt')::float8)));
`;

// JSON goes over the wire as text (`$n::text::jsonb`): postgres.js would JSON-encode a string sent as jsonb a second time.
const SQL = {
  insert: "INSERT INTO bench_docs (_id, doc) VALUES ($1, $2::text::jsonb)",
  get: "SELECT doc::text AS doc FROM bench_docs WHERE _id = $1",
  cas: "UPDATE bench_docs SET doc = doc || $3::text::jsonb WHERE _id = $1 AND COALESCE(doc->'state', 'null'::jsonb) = $2::text::jsonb",
  find: "SELECT doc::text AS doc FROM bench_docs WHERE COALESCE(doc->'status', 'null'::jsonb) = $1::text::jsonb ORDER BY ((doc->'nextAttemptAt')::float8) LIMIT 20",
};

/** Rows of a result, whichever driver gave it. */
const rowsOf = (result) => (Array.isArray(result) ? result : result.rows);

/** The four operations through one driver: `query(name, text, params)`. */
function operations(query, ops) {
  return {
    insert: (i) => query("insert", SQL.insert, [`m${i}`, JSON.stringify(message(i))]),
    get: (i) => query("get", SQL.get, [`m${i % ops}`]),
    cas: (i) => query("cas", SQL.cas, [`m${i % ops}`, JSON.stringify(i < ops ? "issued" : "used"), JSON.stringify({ state: "used", by: i })]),
    find: (i) => query("find", SQL.find, [JSON.stringify(i % 2 === 0 ? "pending" : "delivered")]),
  };
}

async function timed(ops, op) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < ops) await op(next++);
    }),
  );
  return ops / ((performance.now() - started) / 1000);
}

const DRIVERS = {
  pg: (url) => {
    const pool = new pg.Pool({ connectionString: url, max: POOL });
    return { query: (_name, text, params) => pool.query(text, params), end: () => pool.end() };
  },
  "pg prepared": (url) => {
    const pool = new pg.Pool({ connectionString: url, max: POOL });
    return { query: (name, text, values) => pool.query({ name, text, values }), end: () => pool.end() };
  },
  "postgres.js": (url) => {
    const sql = postgres(url, { max: POOL, onnotice: () => {} });
    return { query: (_name, text, params) => sql.unsafe(text, params, { prepare: true }), end: () => sql.end() };
  },
};

async function measure(url, driver, ops) {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(SCHEMA);
  const client = DRIVERS[driver](url);
  const o = operations(client.query, ops);
  const result = {};
  try {
    result.insert = await timed(ops, o.insert);
    await admin.query("ANALYZE bench_docs");
    result.get = await timed(ops, o.get);
    result.cas = await timed(ops, o.cas);
    result.find = await timed(ops, o.find);
    // The same work was done: every document updated once, and a find answers a full page.
    const updated = await admin.query("SELECT count(*)::int AS n FROM bench_docs WHERE doc->>'state' = 'used'");
    const page = rowsOf(await o.find(0));
    if (updated.rows[0].n !== ops || page.length !== 20 || JSON.parse(page[0].doc).status !== "pending") {
      throw new Error(`${driver} did not do the work: ${updated.rows[0].n} of ${ops} updated, a page of ${page.length}.`);
    }
  } finally {
    await client.end();
    await admin.query("DROP TABLE bench_docs");
    await admin.end();
  }
  return result;
}

export async function runStoreDriverBench({ ops = 4000, rounds = 3, print = true } = {}) {
  const db = await server();
  const best = {};
  try {
    for (let round = 0; round < rounds; round++) {
      for (const driver of Object.keys(DRIVERS)) {
        const m = await measure(db.url, driver, ops);
        best[driver] ??= {};
        for (const [op, perSecond] of Object.entries(m)) best[driver][op] = Math.max(best[driver][op] ?? 0, perSecond);
      }
    }
  } finally {
    await db.close();
  }
  const figures = {};
  const rows = [];
  for (const op of ["insert", "get", "cas", "find"]) {
    const a = best.pg[op];
    const p = best["pg prepared"][op];
    const b = best["postgres.js"][op];
    figures[`driverPg${op[0].toUpperCase()}${op.slice(1)}PerS`] = Math.round(a);
    figures[`driverPgPrepared${op[0].toUpperCase()}${op.slice(1)}PerS`] = Math.round(p);
    figures[`driverPostgresJs${op[0].toUpperCase()}${op.slice(1)}PerS`] = Math.round(b);
    figures[`driverRatio${op[0].toUpperCase()}${op.slice(1)}`] = r(b / a);
    figures[`driverRatioPrepared${op[0].toUpperCase()}${op.slice(1)}`] = r(b / p);
    rows.push([op, a, p, b]);
  }
  if (print) {
    console.log(`PostgreSQL drivers, pool ${POOL}, ${CONCURRENCY} concurrent, ${ops} operations each, best of ${rounds} alternating rounds (operations/s)\n`);
    const pad = (s, n) => String(s).padStart(n);
    console.log(
      `${"operation".padEnd(10)}${pad("pg", 10)}${pad("pg prep.", 10)}${pad("postgres.js", 13)}${pad("pjs/pg", 8)}${pad("prep/pg", 9)}${pad("pjs/prep", 10)}`,
    );
    for (const [op, a, p, b] of rows) {
      console.log(
        `${op.padEnd(10)}${pad(Math.round(a), 10)}${pad(Math.round(p), 10)}${pad(Math.round(b), 13)}${pad(r(b / a), 8)}${pad(r(p / a), 9)}${pad(r(b / p), 10)}`,
      );
    }
    console.log("\n(pg prep.: node-postgres with named prepared statements, as the store uses it; pjs/prep is the ratio that decided.)");
  }
  return figures;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values } = parseArgs({ options: { ops: { type: "string" }, rounds: { type: "string" } } });
  await runStoreDriverBench({ ops: Number(values.ops ?? 4000), rounds: Number(values.rounds ?? 3) });
}
