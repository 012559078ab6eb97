#!/usr/bin/env node
/**
 * `pnpm bench`: every benchmark of the project, each printing ratios against a baseline
 * measured in the same run (never absolute targets checked by timed unit tests).
 *
 *   pnpm bench                      all benchmarks
 *   pnpm bench -- --only discovery  one of them (delivery, first-contact, discovery, eleventy, inbox, sanitize, bounds, store-driver,
 *                                  postgres-delivery, postgres-inbox, postgres-instances)
 *   pnpm bench -- --json FILE       also write the figures as one JSON object
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: { json: { type: "string" }, only: { type: "string", multiple: true } },
});

const suites = {
  delivery: async () => (await import("./delivery.js")).runDeliveryBench(),
  "first-contact": async () => (await import("./first-contact.js")).runFirstContactBench(),
  discovery: async () => (await import("./discovery.js")).runDiscoveryBench(),
  eleventy: async () => {
    if (!existsSync(new URL("./eleventy.js", import.meta.url))) return {};
    return (await import("./eleventy.js")).runEleventyBench();
  },
  inbox: async () => (await import("./inbox.js")).runInboxBench(),
  sanitize: async () => (await import("./sanitize.js")).runSanitizeBench(),
  bounds: async () => (await import("./bounds.js")).runBoundsBench(),
  "store-driver": async () => (await import("./store-driver.js")).runStoreDriverBench(),
  // PostgreSQL (issue 11): a cluster of the bench's own, or INDIEPM_BENCH_DATABASE_URL (bench/postgres-server.js).
  "postgres-delivery": async () => (await import("./postgres-delivery.js")).runPostgresDeliveryBench(),
  "postgres-inbox": async () => (await import("./postgres-inbox.js")).runPostgresInboxBench(),
  "postgres-instances": async () => (await import("./postgres-instances.js")).runPostgresInstancesBench(),
};

const figures = {};
for (const [name, run] of Object.entries(suites)) {
  if (values.only && !values.only.includes(name)) continue;
  console.log(`\n== ${name}`);
  Object.assign(figures, await run());
}
if (values.json) {
  await writeFile(values.json, `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`\nFigures written to ${values.json}`);
}
