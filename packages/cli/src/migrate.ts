/**
 * `indiepm migrate --data DIR --database URL` (CLI.md): copies everything a server keeps
 * in an embedded data folder into PostgreSQL, so an owner who outgrows one process moves
 * without losing anything.
 *
 * Every collection of core's `COLLECTIONS` is copied whole, document by document with
 * its `_id`, as the engine wrote it: messages both ways, deliveries (finished ones are the
 * outbox's delivery status; pending ones resume on the new server), the codes and tokens
 * this server issued (hashes: peers' standing tokens keep working), the tokens it was
 * granted (no first contact again), handshakes and webhooks under way, site settings,
 * and owner sessions (the owner stays signed in). Nothing is filtered: what has expired
 * is swept by the engine on the database as it would have been on the folder.
 *
 * The folder is opened as the server opens it, so its lock refuses a folder a running
 * server holds. The copy is one transaction in the database (store-postgres's
 * `importDocuments`): a document whose `_id` is already there is skipped and counted as
 * such, so a second run copies nothing, and any failure leaves the database as it was.
 */
import { stat, readdir } from "node:fs/promises";
import { resolve } from "node:path";
import { COLLECTIONS, openNedbStore } from "@indiepm/core";
import type { CollectionName, Store } from "@indiepm/core";
import { parseCommand, stringValue, usage } from "./args.js";
import { CliError, EXIT_OK, sentence } from "./cli-error.js";
import { DATABASE_ENV, checkDatabaseUrl, redactedUrl, withoutPassword } from "./database-url.js";
import type { Io } from "./io.js";

const OPTIONS = {
  data: { type: "string" },
  database: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** What each collection holds, as the report names it; a collection added later shows its own name. */
const KINDS: Partial<Record<CollectionName, string>> = {
  inbox: "received messages",
  outbox: "sent messages",
  deliveries: "deliveries",
  secrets: "codes and tokens issued",
  grants: "tokens granted to this server",
  handshakes: "handshakes",
  settings: "site settings",
  sessions: "sign-in sessions",
  webhooks: "webhook notifications",
  conversations: "conversation summaries",
};

/** The `<collection>.db` files the embedded store keeps; a folder with none of them is not a data folder. */
async function checkDataFolder(dir: string): Promise<void> {
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new CliError(`indiepm migrate: ${dir} is not a folder; give --data the folder \`indiepm serve --data\` used.`);
    entries = await readdir(dir);
  } catch (error) {
    if (error instanceof CliError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      `indiepm migrate: cannot read the data folder ${dir} (${code === "ENOENT" ? "no such folder" : (code ?? sentence(error).replace(/\.$/, ""))}).`,
      1,
      { cause: error },
    );
  }
  if (!COLLECTIONS.some((collection) => entries.includes(`${collection}.db`))) {
    throw new CliError(
      `indiepm migrate: ${dir} holds no indiepm data (no ${COLLECTIONS[0]}.db or the like); give --data the folder \`indiepm serve --data\` used.`,
    );
  }
}

export async function runMigrate(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseCommand("migrate", argv, OPTIONS, false);
  const dataFlag = stringValue(values, "data");
  if (dataFlag === undefined || dataFlag === "") throw usage("migrate", "--data is required: the folder `indiepm serve --data` used");
  const databaseFlag = stringValue(values, "database");
  const envDatabase = io.env[DATABASE_ENV];
  let database: string;
  if (databaseFlag !== undefined) database = checkDatabaseUrl("migrate", databaseFlag, "--database");
  else if (envDatabase !== undefined && envDatabase !== "") database = checkDatabaseUrl("migrate", envDatabase, DATABASE_ENV);
  else throw usage("migrate", `--database is required (or env ${DATABASE_ENV}): the PostgreSQL URL \`indiepm serve --database\` will use`);
  const dir = resolve(io.cwd, dataFlag);
  const shownDatabase = redactedUrl(database);
  const failed = (error: unknown): CliError => new CliError(`indiepm migrate: ${withoutPassword(sentence(error), database)}`, 1, { cause: error });

  await checkDataFolder(dir);
  let source: Store;
  try {
    // The server's own open: its lock refuses a folder a running server holds. Opening
    // rewrites each datafile (as every start does); nothing else is written.
    source = await openNedbStore({ dir, compactOnClose: false, onRepair: (message) => io.stderr(`indiepm migrate: ${message}\n`) });
  } catch (error) {
    throw failed(error);
  }

  let copied: Awaited<ReturnType<typeof importAll>>;
  try {
    copied = await importAll(source, database);
  } catch (error) {
    throw failed(error);
  } finally {
    await source.close().catch(() => undefined);
  }

  const width = Math.max(...copied.map(({ collection }) => collection.length));
  let total = 0;
  let already = 0;
  for (const { collection, copied: n, skipped } of copied) {
    total += n;
    already += skipped;
    io.stdout(
      `${collection.padEnd(width)}  ${String(n).padStart(7)} copied  ${String(skipped).padStart(7)} already there  (${KINDS[collection] ?? collection})\n`,
    );
  }
  io.stdout(`indiepm migrate: ${total} copied, ${already} already there, from ${dir} into ${shownDatabase}.\n`);
  return EXIT_OK;
}

/** Every collection of the folder into the database, in one transaction. */
async function importAll(source: Store, database: string): Promise<{ collection: CollectionName; copied: number; skipped: number }[]> {
  // Loaded only here: the embedded store's users never load the driver.
  const { importDocuments } = await import("@indiepm/store-postgres");
  const counts = await importDocuments(database, {
    collections: COLLECTIONS,
    read: (collection) => source.find(collection),
  });
  return COLLECTIONS.map((collection) => ({ collection, copied: counts[collection]?.copied ?? 0, skipped: counts[collection]?.skipped ?? 0 }));
}
