/**
 * The embedded default `Store`: one nedb datafile per collection in a data folder
 * (`<dir>/<collection>.db`), nothing to install or run beside indiepm.
 *
 * How nedb behaves, and what this adapter adds because of it:
 * - nedb keeps every document in memory and appends each write as one line to its file;
 *   a write's promise resolves after the append (the `Store` durability promise). Opening
 *   rewrites ("compacts") the file. Two processes on one folder therefore erase each
 *   other's writes, so the folder is locked (`LOCK`) for one process. A lock naming this
 *   process's own pid but not held by this process is stale: a restarted container is
 *   PID 1 again and finds the lock of its previous life (also PID 1).
 * - A removed document stays in the file (its lines, and a tombstone line) until the
 *   file is rewritten, so a deleted message would stay readable on disk. A collection is
 *   compacted `COMPACT_AFTER_REMOVE_MS` after its first remove since the last compaction,
 *   and at once by `compact()` (the owner's "delete everything" calls it); a crash before
 *   that is covered by opening, which compacts.
 * - nedb reads its files with a line splitter that also breaks at U+2028, U+2029 and
 *   U+0085, which `JSON.stringify` leaves unescaped: one message containing them made the
 *   whole datafile unloadable. Lines are written with those characters escaped.
 * - nedb drops unreadable lines silently below 10 % of a file and refuses above. Here a
 *   torn last line (a crash mid-append) is repaired with the original kept aside, and any
 *   other unreadable line is refused, naming the file: no document disappears unnoticed.
 * - Top-level objects and arrays are stored as JSON text (`{"~json": "…"}`): nested keys
 *   may then contain "." or "$" (URLs as keys), and equality stays strict (nedb would
 *   match `{to: "x"}` against an array containing "x"), as in the memory store.
 * - nedb's `$in: [null]` and `{f: null}` do not match a missing field; the `Store`'s
 *   `null` does, so it becomes `{$or: [{f: null}, {f: {$exists: false}}]}`.
 * - nedb answers a sorted `find` by sorting every candidate before applying the limit
 *   (2 s for the first inbox page of 100,000 messages, bench/inbox.js), and takes its
 *   candidates from the *last* indexed field of the query, not the most selective one.
 *   Here a sorted and limited `find` walks the sort field's index in order and stops at
 *   the limit, and equality conditions are ordered so nedb picks the narrowest index.
 */
import { constants } from "node:fs";
import { copyFile, mkdir, open, readFile, realpath, rename, unlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { randomUUID } from "node:crypto";
import Datastore from "nedb-promises";
import { PmError } from "../errors.js";
import { checkCollection, checkDocument, checkFieldName, checkId, checkPatch, checkQuery, checkWhere, closedStoreError } from "./memory.js";
import { COLLECTIONS, DuplicateKeyError, type CollectionName, type Doc, type Query, type Scalar, type Store } from "./types.js";

export interface NedbStoreOptions {
  /** The data folder; created (with parents) when missing. */
  dir: string;
  /** Rewrite each datafile as one line per document on `close()` (default `true`). */
  compactOnClose?: boolean;
  /**
   * Fields to index, per collection; an entry replaces that collection's default list.
   * Defaults: the fields the engine queries by (`deliveries.status`, `…nextAttemptAt`,
   * `inbox.recipient`, `inbox.receivedAt`, `outbox.sender`, `handshakes.state` and
   * `…senderHost` (the cap per sender host), `secrets.expiresAt` (the sweep of expired ones).
   */
  indexes?: Partial<Record<CollectionName, string[]>>;
  /** How long a removed document may stay in its datafile before it is compacted, ms (default `COMPACT_AFTER_REMOVE_MS`). */
  compactAfterRemoveMs?: number;
  /** Told, in one sentence each, about repairs made while opening (torn last line, stale lock). */
  onRepair?: (message: string) => void;
}

const DEFAULT_INDEXES: Readonly<Record<CollectionName, readonly string[]>> = {
  outbox: ["sender", "message"],
  deliveries: ["status", "nextAttemptAt", "message", "handshake"],
  inbox: ["recipient", "receivedAt", "message"],
  secrets: ["expiresAt"],
  grants: [],
  handshakes: ["state", "senderHost"],
  settings: [],
  sessions: [],
  webhooks: ["status"],
};

const LOCK_FILE = "LOCK";

/**
 * How long a removed document may stay in its datafile: a remove arms one timer per
 * store, and when it fires every collection removed from since its last compaction is
 * rewritten. A timer (not a share of deleted lines) so that one deleted message leaves
 * the disk as surely as many, and a mass delete costs one rewrite, not one per share.
 */
export const COMPACT_AFTER_REMOVE_MS = 30_000;

/**
 * The data folders this process holds, with the token of each one's lock, shared by every
 * copy of this module in the process (src and dist can both be loaded): a second open of
 * a held folder is refused, while a lock naming this pid that is not in here was left by
 * an earlier process that had the same pid.
 */
const HELD_LOCKS: Map<string, string> = ((globalThis as { [key: symbol]: Map<string, string> | undefined })[Symbol.for("indiepm.nedb.heldLocks")] ??= new Map());

/** The line breaks of nedb's reader (@seald-io/nedb lib/byline.js), to count lines as it does. */
const NEDB_LINE_BREAKS = /\r\n|[\n\v\f\r\x85\u2028\u2029]/;
/** The ones of them `JSON.stringify` leaves raw (it escapes the other control characters). */
const UNESCAPED_LINE_BREAKS = /[\u0085\u2028\u2029]/g;

/** Key of the wrapper holding a top-level object or array as JSON text. */
const JSON_FIELD = "~json";

type NedbDatastore = Datastore<{ _id: string }>;
type NedbDocument = Record<string, unknown>;
/** A node of nedb's AVL index tree (@seald-io/binary-search-tree): documents sharing one key. */
interface IndexNode {
  key?: unknown;
  data: NedbDocument[];
  left: IndexNode | null;
  right: IndexNode | null;
}
interface NedbIndex {
  sparse: boolean;
  tree: { tree: IndexNode };
  getMatching(value: unknown): NedbDocument[];
}
/** The parts of the wrapped @seald-io/nedb datastore that nedb-promises does not type. */
interface NedbInternals {
  __original: {
    compactDatafileAsync(): Promise<void>;
    indexes: Record<string, NedbIndex>;
    executor: { pushAsync<T>(task: () => T | Promise<T>): Promise<T> };
  };
}
/** nedb's own matcher, order and copy (@seald-io/nedb lib/model.js): an index walk filters and orders exactly as its `find`. */
interface NedbModel {
  match(doc: NedbDocument, query: Record<string, unknown>): boolean;
  compareThings(a: unknown, b: unknown): number;
  deepCopy<T>(value: T): T;
}
const nedbModel = createRequire(createRequire(import.meta.url).resolve("nedb-promises"))("@seald-io/nedb/lib/model.js") as NedbModel;

/** Below this many candidates nedb's own sort is as quick as a walk. */
const WALK_MIN_CANDIDATES = 256;

/**
 * Opens (creating it if needed) the data folder `options.dir` for this process only.
 *
 * @throws PmError `store_error` when another live process holds the folder, or a datafile
 *   is corrupt beyond a torn last line; `invalid_config` for a wrong option.
 */
export async function openNedbStore(options: NedbStoreOptions): Promise<Store> {
  const settings = checkOptions(options);
  const dir = path.resolve(settings.dir);
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw new PmError("store_error", `The data folder ${dir} cannot be created: ${messageOf(error)}.`, { cause: error });
  }
  const releaseLock = await acquireLock(dir, settings.onRepair);

  const datastores = new Map<CollectionName, NedbDatastore>();
  try {
    const opened = await Promise.allSettled(
      COLLECTIONS.map(async (collection) => {
        const datastore = await openDatafile(path.join(dir, `${collection}.db`), settings.indexes[collection], settings.onRepair);
        datastores.set(collection, datastore);
      }),
    );
    const failure = opened.find((result) => result.status === "rejected");
    if (failure !== undefined) throw failure.reason;
  } catch (error) {
    await releaseLock();
    throw error;
  }

  let closing: Promise<void> | undefined;
  const pending = new Set<Promise<unknown>>();

  // Collections removed from since their last compaction, and the timer that compacts them.
  const removedFrom = new Set<CollectionName>();
  let compactTimer: NodeJS.Timeout | undefined;
  /** Rewrites the datafiles of `collections` (nedb queues it behind the writes already made). */
  async function compactNow(collections: Iterable<CollectionName>): Promise<void> {
    for (const collection of [...collections]) {
      removedFrom.delete(collection);
      const datastore = datastores.get(collection);
      if (datastore === undefined) continue;
      try {
        await internals(datastore).compactDatafileAsync();
      } catch (error) {
        removedFrom.add(collection);
        throw new PmError("store_error", `The ${collection} datafile in ${dir} cannot be compacted: ${messageOf(error)}.`, { cause: error });
      }
    }
    if (removedFrom.size === 0 && compactTimer !== undefined) {
      clearTimeout(compactTimer);
      compactTimer = undefined;
    }
  }
  function removed(collection: CollectionName): void {
    removedFrom.add(collection);
    if (compactTimer !== undefined || closing !== undefined) return;
    compactTimer = setTimeout(() => {
      compactTimer = undefined;
      const call = compactNow(removedFrom).catch((error: unknown) => settings.onRepair(messageOf(error) + "; it is tried again at close."));
      pending.add(call);
      void call.finally(() => pending.delete(call));
    }, settings.compactAfterRemoveMs);
    // A pending compaction never keeps the process alive: close() and the next open do it too.
    compactTimer.unref();
  }

  /** Runs one call: refused once closing, tracked so `close()` waits for it, nedb failures given a code. */
  function run<T>(collection: CollectionName, operation: (datastore: NedbDatastore) => Promise<T>): Promise<T> {
    if (closing !== undefined) return Promise.reject(closedStoreError());
    const call = (async () => {
      checkCollection(collection);
      const datastore = datastores.get(collection);
      if (datastore === undefined) throw new PmError("store_error", `Unknown collection ${collection}.`);
      try {
        return await operation(datastore);
      } catch (error) {
        if (error instanceof PmError || error instanceof DuplicateKeyError) throw error;
        throw new PmError("store_error", `The ${collection} datafile in ${dir} failed: ${messageOf(error)}.`, { cause: error });
      }
    })();
    pending.add(call);
    const settle = () => pending.delete(call);
    call.then(settle, settle);
    return call;
  }

  return {
    insert(collection, doc) {
      return run(collection, async (datastore) => {
        checkDocument(doc);
        try {
          await datastore.insert(encodeDocument(doc));
        } catch (error) {
          if (isUniqueViolation(error)) throw new DuplicateKeyError(collection, doc._id);
          throw error;
        }
      });
    },

    get<T extends Doc>(collection: CollectionName, id: string) {
      return run(collection, async (datastore) => {
        checkId(id);
        const found = await datastore.findOne({ _id: id });
        return found === null ? null : (decodeDocument(found) as T);
      });
    },

    update(collection, id, patch, expect) {
      return run(collection, async (datastore) => {
        checkId(id);
        checkPatch(patch);
        if (expect !== undefined) checkWhere(expect, "expect");
        const $set: Record<string, unknown> = {};
        const $unset: Record<string, true> = {};
        for (const [field, value] of Object.entries(patch)) {
          if (value === undefined) $unset[field] = true;
          else $set[field] = encodeValue(value);
        }
        // One nedb update is one task of its executor queue: finding the document with the
        // expected values and changing it cannot interleave with another call.
        const conditions = expect === undefined || Object.keys(expect).length === 0 ? {} : { $and: [toNedbQuery(expect)] };
        const changed = await datastore.update({ _id: id, ...conditions }, { $set, $unset });
        return changed > 0;
      });
    },

    put(collection, doc) {
      return run(collection, async (datastore) => {
        checkDocument(doc);
        await datastore.update({ _id: doc._id }, encodeDocument(doc), { upsert: true });
      });
    },

    remove(collection, id, expect) {
      return run(collection, async (datastore) => {
        checkId(id);
        if (expect !== undefined) checkWhere(expect, "expect");
        // One nedb remove is one task of its queue: the match on `expect` and the removal cannot interleave.
        const conditions = expect === undefined || Object.keys(expect).length === 0 ? {} : { $and: [toNedbQuery(expect)] };
        const gone = (await datastore.remove({ _id: id, ...conditions }, {})) > 0;
        if (gone) removed(collection);
        return gone;
      });
    },

    find<T extends Doc>(collection: CollectionName, query: Query = {}) {
      return run(collection, async (datastore) => {
        checkQuery(query);
        if (query.limit === 0) return [];
        const { query: nedbQuery, candidates } = narrowestFirst(datastore, toNedbQuery(query.where, query.range));
        if (query.sort !== undefined && query.limit !== undefined && candidates > WALK_MIN_CANDIDATES) {
          const walked = await walkSortIndex(datastore, nedbQuery, query as WalkableQuery, candidates);
          if (walked !== null) return walked.map((found) => decodeDocument(found) as T);
        }
        let cursor = datastore.find(nedbQuery);
        if (query.sort !== undefined) cursor = cursor.sort({ [query.sort.field]: query.sort.order === "asc" ? 1 : -1 });
        if (query.limit !== undefined) cursor = cursor.limit(query.limit);
        return (await cursor).map((found) => decodeDocument(found) as T);
      });
    },

    count(collection, where) {
      return run(collection, async (datastore) => {
        if (where !== undefined) checkWhere(where, "where");
        return datastore.count(narrowestFirst(datastore, toNedbQuery(where)).query);
      });
    },

    compact(collections) {
      if (closing !== undefined) return Promise.reject(closedStoreError());
      try {
        for (const collection of collections ?? []) checkCollection(collection);
      } catch (error) {
        return Promise.reject(error);
      }
      const call = compactNow(collections ?? datastores.keys());
      pending.add(call);
      void call.catch(() => undefined).finally(() => pending.delete(call));
      return call;
    },

    close() {
      closing ??= (async () => {
        if (compactTimer !== undefined) clearTimeout(compactTimer);
        await Promise.allSettled([...pending]);
        try {
          // Without compactOnClose, still rewrite what holds removed documents.
          await compactNow(settings.compactOnClose ? datastores.keys() : removedFrom);
        } finally {
          await releaseLock();
        }
      })();
      return closing;
    },
  };
}

interface CheckedOptions {
  dir: string;
  compactOnClose: boolean;
  compactAfterRemoveMs: number;
  indexes: Record<CollectionName, readonly string[]>;
  onRepair: (message: string) => void;
}

function checkOptions(options: NedbStoreOptions): CheckedOptions {
  const invalid = (sentence: string) => new PmError("invalid_config", sentence);
  if (typeof options !== "object" || options === null) throw invalid("openNedbStore needs an options object with a dir.");
  if (typeof options.dir !== "string" || options.dir.trim() === "") throw invalid("The store option dir must name the data folder.");
  if (options.compactOnClose !== undefined && typeof options.compactOnClose !== "boolean") throw invalid("The store option compactOnClose must be true or false.");
  if (options.onRepair !== undefined && typeof options.onRepair !== "function") throw invalid("The store option onRepair must be a function.");
  const compactAfterRemoveMs = options.compactAfterRemoveMs ?? COMPACT_AFTER_REMOVE_MS;
  if (!Number.isSafeInteger(compactAfterRemoveMs) || compactAfterRemoveMs < 0) throw invalid("The store option compactAfterRemoveMs must be a whole number of milliseconds.");
  const indexes: Record<CollectionName, readonly string[]> = { ...DEFAULT_INDEXES };
  for (const [collection, fields] of Object.entries(options.indexes ?? {})) {
    if (!(COLLECTIONS as readonly string[]).includes(collection)) {
      throw invalid(`The store option indexes names an unknown collection ${collection}; expected one of ${COLLECTIONS.join(", ")}.`);
    }
    if (!Array.isArray(fields) || fields.some((field) => typeof field !== "string")) throw invalid(`The store option indexes.${collection} must be a list of field names.`);
    for (const field of fields) {
      try {
        checkFieldName(field, `indexes.${collection}`);
      } catch (error) {
        throw invalid(messageOf(error));
      }
    }
    indexes[collection as CollectionName] = fields;
  }
  return { dir: options.dir, compactOnClose: options.compactOnClose ?? true, compactAfterRemoveMs, indexes, onRepair: options.onRepair ?? (() => {}) };
}

// ---------------------------------------------------------------------------------------
// The lock: one process per data folder.

interface LockHolder {
  pid: number;
  startedAt?: string;
}

/** Takes `dir/LOCK` for this process, or refuses; resolves to the function that releases it. */
async function acquireLock(dir: string, onRepair: (message: string) => void): Promise<() => Promise<void>> {
  const lockPath = path.join(dir, LOCK_FILE);
  // One key per folder however it is named (a symlink, a relative path).
  const key = await realpath(dir).catch(() => dir);
  // The token tells our lock from a later holder's, so release never removes another's,
  // and this open from an earlier process that had the same pid.
  const token = randomUUID();
  const content = JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString(), token });
  const release = async () => {
    if (HELD_LOCKS.get(key) === token) HELD_LOCKS.delete(key);
    try {
      if ((await readFile(lockPath, "utf8")) === content) await unlink(lockPath);
    } catch (error) {
      if (codeOf(error) !== "ENOENT") throw new PmError("store_error", `The lock ${lockPath} cannot be removed: ${messageOf(error)}.`, { cause: error });
    }
  };
  const heldHere = () =>
    new PmError("store_error", `The data folder ${dir} is already open in this process (pid ${process.pid}); close that store first or use another --data folder.`);
  // Claimed before any await, so two opens in one process cannot both pass.
  if (HELD_LOCKS.has(key)) throw heldHere();
  HELD_LOCKS.set(key, token);
  try {
    return await takeLock();
  } catch (error) {
    if (HELD_LOCKS.get(key) === token) HELD_LOCKS.delete(key);
    throw error;
  }

  async function takeLock(): Promise<() => Promise<void>> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await writeFile(lockPath, content, { flag: "wx" });
        return release;
      } catch (error) {
        if (codeOf(error) !== "EEXIST") throw new PmError("store_error", `The lock ${lockPath} cannot be created: ${messageOf(error)}.`, { cause: error });
      }
      const holder = await readLockHolder(lockPath);
      if (holder === "gone") continue;
      // Our own pid, not held by this process (HELD_LOCKS): an earlier life of this pid wrote it.
      const ownPid = holder !== "unreadable" && holder.pid === process.pid;
      if (holder !== "unreadable" && !ownPid && isAlive(holder.pid)) {
        throw new PmError("store_error", `The data folder ${dir} is in use by another indiepm process (pid ${holder.pid}); stop it or use another --data folder.`);
      }
      // Two processes taking over one stale lock in the same instant could both succeed;
      // a stale lock is left by a crash, so that needs two starts racing right after one.
      try {
        await unlink(lockPath);
      } catch (error) {
        if (codeOf(error) !== "ENOENT") throw new PmError("store_error", `The stale lock ${lockPath} cannot be removed: ${messageOf(error)}.`, { cause: error });
      }
      const who =
        holder === "unreadable"
          ? "an unreadable lock"
          : ownPid
            ? `the lock of an earlier process with this process's pid ${holder.pid} (a restarted container)`
            : `the lock of process ${holder.pid}, which no longer runs`;
      onRepair(`Took over ${who} in the data folder ${dir}.`);
    }
    throw new PmError("store_error", `The lock ${lockPath} keeps changing; another indiepm process is starting on the data folder ${dir}.`);
  }
}

/** The lock's holder; a lock file being written right now is read again before it counts as unreadable. */
async function readLockHolder(lockPath: string): Promise<LockHolder | "gone" | "unreadable"> {
  for (let attempt = 0; attempt < 2; attempt++) {
    let text: string;
    try {
      text = await readFile(lockPath, "utf8");
    } catch (error) {
      if (codeOf(error) === "ENOENT") return "gone";
      throw new PmError("store_error", `The lock ${lockPath} cannot be read: ${messageOf(error)}.`, { cause: error });
    }
    try {
      const holder: unknown = JSON.parse(text);
      if (typeof holder === "object" && holder !== null && "pid" in holder && Number.isSafeInteger(holder.pid) && (holder.pid as number) > 0) {
        return holder as LockHolder;
      }
    } catch {
      // fall through: read again once
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return "unreadable";
}

/** `kill(pid, 0)` sends nothing: it only asks whether the process exists (EPERM: it does, as another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return codeOf(error) !== "ESRCH";
  }
}

// ---------------------------------------------------------------------------------------
// Opening one datafile.

async function openDatafile(file: string, indexFields: readonly string[], onRepair: (message: string) => void): Promise<NedbDatastore> {
  await checkDatafile(file, onRepair);
  const datastore = Datastore.create({
    filename: file,
    // Any unreadable line (checkDatafile took care of a torn last one) is refused.
    corruptAlertThreshold: 0,
    afterSerialization: escapeLineBreaks,
    beforeDeserialization: (line: string) => line,
  });
  try {
    await datastore.load();
  } catch (error) {
    const counts = error as { corruptItems?: unknown; dataLength?: unknown };
    if (typeof counts.corruptItems === "number" && typeof counts.dataLength === "number") {
      // nedb found an unreadable line before the last: name them (nedb changed nothing).
      const { lines, unreadable } = await scanDatafile(file);
      if (unreadable.length > 0) throw corruptFileError(file, unreadable.length, lines.length, unreadable.map(({ number }) => number), error);
      throw corruptFileError(file, counts.corruptItems, counts.dataLength, [], error);
    }
    throw new PmError("store_error", `The data file ${file} cannot be loaded: ${messageOf(error)}.`, { cause: error });
  }
  // Indexes persist in the datafile; drop the ones no longer asked for.
  const wanted = new Set(indexFields);
  for (const field of Object.keys(internals(datastore).indexes)) {
    if (field !== "_id" && !wanted.has(field)) await datastore.removeIndex(field);
  }
  for (const fieldName of wanted) await datastore.ensureIndex({ fieldName });
  return datastore;
}

/**
 * Decides before nedb does: last line readable → load (nedb, with `corruptAlertThreshold:
 * 0`, refuses any other unreadable line, and `openDatafile` then names them); only the
 * last one unreadable (a torn append) → keep the original aside, write the file without
 * it, load; anything else → refuse with the file and the lines named. Only the end of
 * the file is read unless the last line is torn: reading and parsing all of it here as
 * well as in nedb cost a second and a few hundred MB at 100,000 messages (bench/inbox.js).
 */
async function checkDatafile(file: string, onRepair: (message: string) => void): Promise<void> {
  let last: string | undefined;
  try {
    last = await lastLine(file);
  } catch (error) {
    if (codeOf(error) === "ENOENT") return; // a new collection (or nedb's `file~` recovery)
    throw new PmError("store_error", `The data file ${file} cannot be read: ${messageOf(error)}.`, { cause: error });
  }
  if (last === undefined || isDocumentLine(last)) return;

  const { lines, unreadable } = await scanDatafile(file);
  const torn = lines.at(-1);
  if (torn === undefined || unreadable.length > 1 || unreadable[0] !== torn) {
    throw corruptFileError(file, unreadable.length, lines.length, unreadable.map(({ number }) => number));
  }
  const aside = `${file}.torn-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  try {
    await copyFile(file, aside, constants.COPYFILE_EXCL);
    await writeFileSynced(`${file}.repairing`, lines.slice(0, -1).map(({ line }) => `${line}\n`).join(""));
    await rename(`${file}.repairing`, file);
  } catch (error) {
    throw new PmError("store_error", `The data file ${file} ends with a torn line and cannot be repaired: ${messageOf(error)}.`, { cause: error });
  }
  onRepair(`The data file ${file} ended with a torn line (line ${torn.number}, a write cut short); it was dropped and the original kept as ${aside}.`);
}

/** Every non-empty line of the datafile, split as nedb splits them, and the unreadable ones. */
async function scanDatafile(file: string): Promise<{ lines: { line: string; number: number }[]; unreadable: { line: string; number: number }[] }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new PmError("store_error", `The data file ${file} cannot be read: ${messageOf(error)}.`, { cause: error });
  }
  const lines = text
    .split(NEDB_LINE_BREAKS)
    .map((line, index) => ({ line, number: index + 1 }))
    .filter(({ line }) => line !== "");
  return { lines, unreadable: lines.filter(({ line }) => !isDocumentLine(line)) };
}

/** The last non-empty line of a file (split as nedb splits), reading it from the end; `undefined` when there is none. */
async function lastLine(file: string): Promise<string | undefined> {
  const handle = await open(file, "r");
  try {
    let end = (await handle.stat()).size;
    let tail = Buffer.alloc(0);
    // Doubling reads keep a file that is one huge line (corrupt) linear to read.
    for (let size = 64 * 1024; end > 0; size *= 2) {
      const start = Math.max(0, end - size);
      const chunk = Buffer.alloc(end - start);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, start);
      tail = Buffer.concat([chunk.subarray(0, bytesRead), tail]);
      end = start;
      // A character cut at the start of `tail` decodes as U+FFFD, never as a line break.
      const lines = tail.toString("utf8").split(NEDB_LINE_BREAKS);
      let index = lines.length - 1;
      while (index >= 0 && lines[index] === "") index--;
      // Whole once a line break precedes it, or the file's start does.
      if (index > 0 || (index === 0 && end === 0)) return lines[index];
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

function isDocumentLine(line: string): boolean {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

function corruptFileError(file: string, unreadable: number, total: number, lineNumbers: number[], cause?: unknown): PmError {
  const which = lineNumbers.length === 0 ? "" : ` (line${lineNumbers.length === 1 ? "" : "s"} ${lineNumbers.slice(0, 10).join(", ")}${lineNumbers.length > 10 ? ", …" : ""})`;
  return new PmError(
    "store_error",
    `The data file ${file} is corrupt (${unreadable} of ${total} lines unreadable); restore it from a backup, or remove the unreadable lines${which} and start again.`,
    cause === undefined ? {} : { cause },
  );
}

/** Writes and flushes to disk, so the rename that follows never exposes an empty file. */
async function writeFileSynced(file: string, text: string): Promise<void> {
  const handle = await open(file, "w");
  try {
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function escapeLineBreaks(line: string): string {
  // These characters only occur inside JSON strings, where `\uXXXX` means the same.
  return line.replace(UNESCAPED_LINE_BREAKS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

// ---------------------------------------------------------------------------------------
// Documents and queries in nedb's terms.

function encodeValue(value: unknown): unknown {
  return typeof value === "object" && value !== null ? { [JSON_FIELD]: JSON.stringify(value) } : value;
}

function decodeValue(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  const text = (value as Record<string, unknown>)[JSON_FIELD];
  return typeof text === "string" ? JSON.parse(text) : value;
}

function encodeDocument(doc: Doc): Record<string, unknown> {
  const encoded: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(doc)) if (value !== undefined) encoded[field] = encodeValue(value);
  return encoded;
}

function decodeDocument(found: Record<string, unknown>): Doc {
  const doc: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(found)) doc[field] = decodeValue(value);
  return doc as Doc;
}

/**
 * Plain equalities stay top-level fields so nedb can answer them from an index; `null`
 * (missing or null) and a range on a field already compared go under `$and`.
 */
function toNedbQuery(where: Record<string, Scalar> = {}, range?: Query["range"]): Record<string, unknown> {
  const query: Record<string, unknown> = {};
  const and: Record<string, unknown>[] = [];
  for (const [field, value] of Object.entries(where)) {
    if (value === null) and.push({ $or: [{ [field]: null }, { [field]: { $exists: false } }] });
    else query[field] = value;
  }
  if (range !== undefined) {
    const bounds: Record<string, Scalar> = {};
    for (const [bound, operator] of [["gt", "$gt"], ["gte", "$gte"], ["lt", "$lt"], ["lte", "$lte"]] as const) {
      const value = range[bound];
      if (value !== undefined) bounds[operator] = value;
    }
    if (Object.keys(bounds).length > 0) {
      if (Object.hasOwn(query, range.field)) and.push({ [range.field]: bounds });
      else query[range.field] = bounds;
    }
  }
  if (and.length > 0) query.$and = and;
  return query;
}

type WalkableQuery = Query & { sort: NonNullable<Query["sort"]>; limit: number };

/**
 * nedb takes its candidates from the last field of the query that has an index; this
 * puts the indexed equality with the fewest documents last, and says how many that is
 * (`Infinity`: no index narrows the query, every document is a candidate).
 */
function narrowestFirst(datastore: NedbDatastore, query: Record<string, unknown>): { query: Record<string, unknown>; candidates: number } {
  const indexes = internals(datastore).indexes;
  let best: string | undefined;
  let candidates = Infinity;
  for (const [field, value] of Object.entries(query)) {
    const index = indexes[field];
    if (index === undefined || (typeof value === "object" && value !== null)) continue;
    const matching = index.getMatching(value).length;
    if (matching <= candidates) [best, candidates] = [field, matching];
  }
  if (best === undefined) return { query, candidates };
  const { [best]: value, ...rest } = query;
  return { query: { ...rest, [best]: value }, candidates };
}

/**
 * A sorted, limited `find` answered from the sort field's index: its documents in key
 * order (the order nedb's sort gives; documents with equal keys in index order), each
 * checked with nedb's own matcher, until `limit` match. Subtrees outside a range on the
 * sort field are skipped. Gives up (`null`: let nedb sort) once it has looked at more
 * documents than sorting the `candidates` would cost, so a walk past many documents
 * that do not match is never much worse than nedb's plan. Runs as one task of nedb's
 * queue, like a `find`.
 */
function walkSortIndex(datastore: NedbDatastore, query: Record<string, unknown>, { sort, limit, range }: WalkableQuery, candidates: number): Promise<NedbDocument[] | null> {
  const nedb = internals(datastore);
  return nedb.executor.pushAsync(async () => {
    const index = nedb.indexes[sort.field];
    if (index === undefined || index.sparse) return null;
    const onSortField = range !== undefined && range.field === sort.field;
    const lower = onSortField ? [range.gt, range.gte].filter((b) => b !== undefined) : [];
    const upper = onSortField ? [range.lt, range.lte].filter((b) => b !== undefined) : [];
    const budget = Number.isFinite(candidates) ? Math.ceil(candidates * Math.log2(candidates)) : Infinity;
    const found: NedbDocument[] = [];
    let looked = 0;
    for (const doc of inKeyOrder(index.tree.tree, sort.order === "desc", lower, upper)) {
      if (++looked > budget) return null;
      if (!nedbModel.match(doc, query)) continue;
      found.push(nedbModel.deepCopy(doc));
      if (found.length === limit) break;
    }
    return found;
  });
}

/**
 * The documents of an index tree in key order (or reversed), in-order without recursion.
 * A subtree whose keys all lie below a lower bound (above an upper one) is skipped:
 * nedb's `$gt`… compare only values of one type, and the tree orders values by type
 * first, so none of it could match.
 */
function* inKeyOrder(root: IndexNode, descending: boolean, lower: Scalar[], upper: Scalar[]): Generator<NedbDocument> {
  if (!Object.hasOwn(root, "key")) return; // an empty tree
  const below = (node: IndexNode) => lower.some((bound) => nedbModel.compareThings(node.key, bound) < 0);
  const above = (node: IndexNode) => upper.some((bound) => nedbModel.compareThings(node.key, bound) > 0);
  // Ascending: left subtree, node, right subtree; descending: the mirror image.
  const first = (node: IndexNode) => (descending ? (above(node) ? null : node.right) : below(node) ? null : node.left);
  const second = (node: IndexNode) => (descending ? (below(node) ? null : node.left) : above(node) ? null : node.right);
  const stack: IndexNode[] = [];
  let node: IndexNode | null = root;
  while (node !== null || stack.length > 0) {
    while (node !== null) {
      stack.push(node);
      node = first(node);
    }
    const current = stack.pop()!;
    if (descending) for (let i = current.data.length - 1; i >= 0; i--) yield current.data[i]!;
    else yield* current.data;
    node = second(current);
  }
}

function internals(datastore: NedbDatastore): NedbInternals["__original"] {
  return (datastore as unknown as NedbInternals).__original;
}

/** nedb's unique-index refusal (`errorType: "uniqueViolated"`, from its AVL tree). */
function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { errorType?: unknown }).errorType === "uniqueViolated";
}

function codeOf(error: unknown): unknown {
  return typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\.$/, "");
}
