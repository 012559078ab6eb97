/**
 * The embedded default `Store`: one nedb datafile per collection in a data folder
 * (`<dir>/<collection>.db`), nothing to install or run beside indiepm.
 *
 * nedb keeps every document in memory and appends each write as one line to its file; a
 * write's promise resolves after the append (the `Store` durability promise). Opening
 * rewrites ("compacts") the file, so the folder is locked for one process (lock.ts).
 * What else this adapter adds because of how nedb behaves lives beside it: the repair or
 * refusal of unreadable lines (repair.ts), documents and queries in nedb's terms
 * (query.ts), sorted pages walked from the index (planner.ts), updates that leave a
 * document in place in an index whose key it keeps (in-place.ts), and the nedb internals
 * all of that reads (internals.ts).
 *
 * A removed document stays in the file (its lines, and a tombstone line) until the file
 * is rewritten, so a deleted message would stay readable on disk. A collection is
 * compacted `COMPACT_AFTER_REMOVE_MS` after its first remove since the last compaction,
 * and at once by `compact()` (the owner's "delete everything" calls it); a crash before
 * that is covered by opening, which compacts.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import Datastore from "nedb-promises";
import { PmError } from "../../errors.js";
import { checkCollection, checkDocument, checkFieldName, checkId, checkPatch, checkQuery, checkWhere, closedStoreError } from "../memory.js";
import { COLLECTIONS, DuplicateKeyError, type CollectionName, type Doc, type Query, type Store } from "../types.js";
import { messageOf } from "./errors.js";
import { internals, isUniqueViolation, type NedbDatastore } from "./internals.js";
import { updateIndexesInPlace } from "./in-place.js";
import { acquireLock } from "./lock.js";
import { narrowestFirst, plannedFind } from "./planner.js";
import { decodeDocument, encodeDocument, encodeValue, toNedbQuery } from "./query.js";
import { checkDatafile, corruptFileError, escapeLineBreaks, scanDatafile } from "./repair.js";

export interface NedbStoreOptions {
  /** The data folder; created (with parents) when missing. */
  dir: string;
  /** Rewrite each datafile as one line per document on `close()` (default `true`). */
  compactOnClose?: boolean;
  /**
   * Fields to index, per collection; an entry replaces that collection's default list.
   * Defaults: the fields the engine queries by (`deliveries.status`, `…nextAttemptAt`,
   * `inbox.recipient`, `inbox.receivedAt`, `outbox.sender`, the conversation and page key
   * of `inbox` and `outbox`, `conversations.site` and `…lastKey`, `handshakes.state` and
   * `…senderHost` (the cap per sender host), `secrets.expiresAt` (the sweep of expired ones).
   */
  indexes?: Partial<Record<CollectionName, string[]>>;
  /** How long a removed document may stay in its datafile before it is compacted, ms (default `COMPACT_AFTER_REMOVE_MS`). */
  compactAfterRemoveMs?: number;
  /** Told, in one sentence each, about repairs made while opening (torn last line, stale lock). */
  onRepair?: (message: string) => void;
}

const DEFAULT_INDEXES: Readonly<Record<CollectionName, readonly string[]>> = {
  outbox: ["sender", "message", "conversation", "pageKey", "chat"],
  deliveries: ["status", "nextAttemptAt", "message", "handshake"],
  inbox: ["recipient", "receivedAt", "message", "conversation", "pageKey", "chat"],
  secrets: ["expiresAt"],
  grants: [],
  handshakes: ["state", "senderHost"],
  settings: [],
  sessions: [],
  webhooks: ["status"],
  conversations: ["site", "lastKey"],
  chats: ["site", "lastKey"],
  profiles: [],
  avatars: [],
};

/**
 * Fields indexed sparsely (documents without the field are left out of the index): the
 * fields the owner's side adds to documents written before they existed (the conversation
 * and page key, owner/conversations.ts). nedb keeps all documents missing an indexed field
 * under one key and removes one from it by copying the rest, so filing a folder of
 * 100,000 older messages would be quadratic. Queried by equality or by a range (on the
 * sorted field, planner.ts), which no document without the field matches anyway.
 */
const SPARSE_INDEXES: ReadonlySet<string> = new Set(["conversation", "pageKey", "lastKey", "chat"]);

/**
 * How long a removed document may stay in its datafile: a remove arms one timer per
 * store, and when it fires every collection removed from since its last compaction is
 * rewritten. A timer (not a share of deleted lines) so that one deleted message leaves
 * the disk as surely as many, and a mass delete costs one rewrite, not one per share.
 */
export const COMPACT_AFTER_REMOVE_MS = 30_000;

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
      const call = compactNow(removedFrom).catch((error: unknown) => settings.onRepair(`${messageOf(error)}; it is tried again at close.`));
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

  /** `Store.insert` writing through `writer` (at once, or deferred within a batch). */
  const insertWith =
    (writer: Writer): Store["insert"] =>
    (collection, doc) =>
      run(collection, async (datastore) => {
        checkDocument(doc);
        try {
          await writer.insert(datastore, encodeDocument(doc));
        } catch (error) {
          if (isUniqueViolation(error)) throw new DuplicateKeyError(collection, doc._id);
          throw error;
        }
      });

  /** `Store.update` writing through `writer`. */
  const updateWith =
    (writer: Writer): Store["update"] =>
    (collection, id, patch, expect) =>
      run(collection, async (datastore) => {
        checkId(id);
        checkPatch(patch);
        if (expect !== undefined) checkWhere(expect, "expect");
        const $set: Record<string, unknown> = {};
        const $unset: Record<string, true> = {};
        for (const [field, value] of Object.entries(patch.set ?? {})) $set[field] = encodeValue(value);
        for (const field of patch.unset ?? []) $unset[field] = true;
        // One nedb update is one task of its executor queue: finding the document with the
        // expected values and changing it cannot interleave with another call.
        const conditions = expect === undefined || Object.keys(expect).length === 0 ? {} : { $and: [toNedbQuery(expect)] };
        const changed = await writer.update(datastore, { _id: id, ...conditions }, { $set, $unset });
        return changed > 0;
      });

  const store: Store = {
    insert: insertWith(directWriter),

    get<T extends Doc>(collection: CollectionName, id: string) {
      return run(collection, async (datastore) => {
        checkId(id);
        const found = await datastore.findOne({ _id: id });
        return found === null ? null : (decodeDocument(found) as T);
      });
    },

    update: updateWith(directWriter),

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
        return (await plannedFind(datastore, query)).map((found) => decodeDocument(found) as T);
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

    async check() {
      if (closing !== undefined) throw closedStoreError();
      // Every write appends to a datafile in `dir`: a probe file written and read back there
      // fails as they would (a read-only or full disk, a folder removed under us).
      const probe = path.join(dir, "HEALTH");
      const stamp = String(Date.now());
      try {
        await writeFile(probe, stamp);
        if ((await readFile(probe, "utf8")) !== stamp) throw new Error("the probe file read back differs");
      } catch (error) {
        throw new PmError("store_error", `The data folder ${dir} cannot be written: ${messageOf(error)}.`, { cause: error });
      }
    },

    batch(work) {
      if (closing !== undefined) return Promise.reject(closedStoreError());
      const writer = deferredWriter();
      const inner: Store = { ...store, insert: insertWith(writer), update: updateWith(writer), batch: (more) => more(inner) };
      const call = (async () => {
        try {
          return await work(inner);
        } finally {
          await writer.flush();
        }
      })();
      // close() waits for the whole batch, its appends included.
      pending.add(call);
      const settle = () => pending.delete(call);
      call.then(settle, settle);
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
  return store;
}

/** How `insert` and `update` reach nedb. */
interface Writer {
  insert(datastore: NedbDatastore, doc: Record<string, unknown>): Promise<void>;
  /** How many documents changed (0 or 1). */
  update(datastore: NedbDatastore, query: Record<string, unknown>, modifier: Record<string, unknown>): Promise<number>;
}

/** Each write appended to its datafile before its promise resolves. */
const directWriter: Writer = {
  async insert(datastore, doc) {
    await datastore.insert(doc as { _id: string });
  },
  update: (datastore, query, modifier) => datastore.update(query, modifier) as Promise<unknown> as Promise<number>,
};

/**
 * Writes of a `batch`: each one nedb's own insert or update (the same checks, the same
 * in-memory change, one task of the executor queue) with its append held back; `flush`
 * then appends, per datafile and in one write, the current state of every document they
 * touched. The current state, not the one the batch wrote: a write made meanwhile outside
 * the batch (already appended) must not be overwritten by an older line, and a document
 * removed meanwhile is not written again.
 */
function deferredWriter(): Writer & { flush(): Promise<void> } {
  const touched = new Map<NedbDatastore, Set<string>>();
  function deferred<T>(datastore: NedbDatastore, call: (nedb: ReturnType<typeof internals>) => Promise<T>): Promise<T> {
    const nedb = internals(datastore);
    return nedb.executor.pushAsync(async () => {
      const ids = touched.get(datastore) ?? new Set<string>();
      touched.set(datastore, ids);
      const persistence = nedb.persistence;
      const append = persistence.persistNewStateAsync;
      persistence.persistNewStateAsync = async (docs) => {
        for (const doc of docs) ids.add(doc._id as string);
      };
      try {
        return await call(nedb);
      } finally {
        persistence.persistNewStateAsync = append;
      }
    });
  }
  return {
    async insert(datastore, doc) {
      await deferred(datastore, (nedb) => nedb._insertAsync(doc));
    },
    update: (datastore, query, modifier) => deferred(datastore, async (nedb) => (await nedb._updateAsync(query, modifier, {})).numAffected),
    async flush() {
      for (const [datastore, ids] of touched) {
        const nedb = internals(datastore);
        await nedb.executor.pushAsync(async () => {
          const docs = [...ids].flatMap((id) => nedb.indexes._id!.getMatching(id));
          if (docs.length > 0) await nedb.persistence.persistNewStateAsync(docs);
        });
      }
      touched.clear();
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
  if (options.compactOnClose !== undefined && typeof options.compactOnClose !== "boolean")
    throw invalid("The store option compactOnClose must be true or false.");
  if (options.onRepair !== undefined && typeof options.onRepair !== "function") throw invalid("The store option onRepair must be a function.");
  const compactAfterRemoveMs = options.compactAfterRemoveMs ?? COMPACT_AFTER_REMOVE_MS;
  if (!Number.isSafeInteger(compactAfterRemoveMs) || compactAfterRemoveMs < 0)
    throw invalid("The store option compactAfterRemoveMs must be a whole number of milliseconds.");
  const indexes: Record<CollectionName, readonly string[]> = { ...DEFAULT_INDEXES };
  for (const [collection, fields] of Object.entries(options.indexes ?? {})) {
    if (!(COLLECTIONS as readonly string[]).includes(collection)) {
      throw invalid(`The store option indexes names an unknown collection ${collection}; expected one of ${COLLECTIONS.join(", ")}.`);
    }
    if (!Array.isArray(fields) || fields.some((field) => typeof field !== "string"))
      throw invalid(`The store option indexes.${collection} must be a list of field names.`);
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
      if (unreadable.length > 0)
        throw corruptFileError(
          file,
          unreadable.length,
          lines.length,
          unreadable.map(({ number }) => number),
          error,
        );
      throw corruptFileError(file, counts.corruptItems, counts.dataLength, [], error);
    }
    throw new PmError("store_error", `The data file ${file} cannot be loaded: ${messageOf(error)}.`, { cause: error });
  }
  // Indexes persist in the datafile; drop the ones no longer asked for (or asked for as another kind).
  const wanted = new Set(indexFields);
  for (const [field, index] of Object.entries(internals(datastore).indexes)) {
    if (field !== "_id" && (!wanted.has(field) || index.sparse !== SPARSE_INDEXES.has(field))) await datastore.removeIndex(field);
  }
  for (const fieldName of wanted) await datastore.ensureIndex({ fieldName, sparse: SPARSE_INDEXES.has(fieldName) });
  updateIndexesInPlace(datastore);
  return datastore;
}
