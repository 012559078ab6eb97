/**
 * The storage interface every adapter implements (STYLE.md practice 7).
 *
 * The engine keeps a handful of collections of JSON documents, each with a string `_id`
 * chosen by the engine (composite identities are hashed into it with `keyOf`, so
 * uniqueness is the `_id`'s). Queries are deliberately small — equality on fields, one
 * optional range, one sort, a limit — so an adapter over nedb, SQL or a key-value store
 * stays short.
 *
 * Promises every adapter keeps:
 * - **Durability**: when a write resolves, the document survives the process being
 *   killed (it has been handed to the operating system; the nedb adapter does not fsync,
 *   so a power loss may lose the last writes).
 * - **Atomicity**: each call is atomic on its one document. `insert` fails with
 *   `DuplicateKeyError` when `_id` exists; `update` with `expect` is a compare-and-set —
 *   of two concurrent calls expecting the same value, exactly one succeeds. Single-use
 *   codes and tokens rely on this.
 * - **Isolation between processes**: none is promised. The nedb adapter is for one
 *   process and refuses a second one on the same folder (lock file).
 * - Documents come back as copies: changing one does not change the store.
 */

/** Names of the engine's collections. */
export const COLLECTIONS = [
  "outbox", // messages written by this server's sites (sender role)
  "deliveries", // one per (outgoing message, recipient): the durable delivery queue
  "inbox", // messages received (receiver role), keyed by (recipient, sender, message)
  "secrets", // codes and tokens this server issued, as hashes
  "grants", // standing tokens this server was granted (sender role, §4), keyed by (S, R, E_R)
  "handshakes", // receiver-side work started by notify/authorize (§3/§4 steps 3–4)
  "settings", // per-site settings (policy, contacts, block list, webhook)
  "sessions", // owner sign-in sessions and pending sign-ins, keyed by the hash of their secret
  "webhooks", // notifications of new messages to the owner's webhook, queued and retried like deliveries
  "conversations", // one summary per conversation (§5 thread) of a site, kept in step with inbox and outbox (owner/conversations.ts)
  "chats", // one summary per chat (the messages with one person, or one set of people) of a site (owner/chats.ts)
  "profiles", // one per correspondent site: the name and photo of their h-card (owner/profiles.ts)
  "avatars", // the photos of profiles, fetched and kept by the server, one per correspondent (owner/profiles.ts)
] as const;
export type CollectionName = (typeof COLLECTIONS)[number];

export type Scalar = string | number | boolean | null;

/**
 * What every stored document has. Record types (protocol/records.ts) name their fields and
 * carry no index signature; the `Store`'s methods take any of them (`T extends Doc`).
 */
export interface Doc {
  _id: string;
}

/**
 * What `update` changes on a document of type `T`: the fields of `set` take their values,
 * the fields named in `unset` are removed. `_id` cannot change, a field cannot be in both,
 * and a value in `set` cannot be `undefined` (JSON has none: name the field in `unset`).
 */
export interface Patch<T extends Doc> {
  set?: Partial<T>;
  unset?: readonly (keyof T & string)[];
}

export interface Query {
  /** Every field equals the value (`null` matches a missing field too). */
  where?: Record<string, Scalar>;
  /** One range condition on a numeric or string field. */
  range?: { field: string; gt?: Scalar; gte?: Scalar; lt?: Scalar; lte?: Scalar };
  sort?: { field: string; order: "asc" | "desc" };
  limit?: number;
}

/**
 * `Store.search`: documents of `inbox` or `outbox` whose text matches `text`, newest
 * first (by their `pageKey`, protocol/records.ts).
 */
export interface TextSearch {
  /** Every field equals the value, as in `Query.where`. */
  where?: Record<string, Scalar>;
  /** What the owner typed: words, all of which a document must contain (the store's own text matching). */
  text: string;
  limit: number;
  /** Only documents whose `pageKey` sorts before this one (the next page). */
  before?: string;
}

/**
 * `Store.searchConversations`: the summaries in `conversations` of these sites (their
 * `site`) with a string `lastKey`, each with at least one message filed under it whose
 * text matches `text` as `Store.search` matches it: a received message (`inbox`) whose
 * `recipient` is the summary's site, or a sent one (`outbox`) whose `sender` is, with
 * `conversation` the summary's `_id`. Latest activity first (by `lastKey`).
 */
export interface ConversationSearch {
  sites: readonly string[];
  text: string;
  limit: number;
  /** Only summaries whose `lastKey` sorts before this one (the next page). */
  before?: string;
}

/** A document's place: its collection and `_id` (`Store.getEach`). */
export type DocKey = readonly [collection: CollectionName, id: string];

/**
 * A document as it was read (`Store.writeIfUnchanged`): its collection, its `_id`, and the
 * document, or `null` for none stored.
 */
export type GivenDoc = readonly [collection: CollectionName, id: string, doc: Doc | null];

/**
 * One write of `Store.writeAfter`: an insert, an update (a compare-and-set with `expect`),
 * or a merge into a summary kept by additions (`merge`, made without reading it first, so
 * writers of one summary never refuse each other): `doc` is inserted when its `_id` is
 * free; otherwise the numbers of `add` are added to the stored fields of those names (a
 * missing one counts 0) and, when `doc`'s field `newer` (a string) sorts after the stored
 * one (by code point; or none is stored), every other field of `doc` is set.
 */
export type Write =
  | { insert: CollectionName; doc: Doc }
  | { update: CollectionName; id: string; patch: Patch<Doc & Record<string, unknown>>; expect?: Record<string, Scalar> }
  | { merge: CollectionName; doc: Doc; add: Record<string, number>; newer: string };

export interface Store {
  /** Inserts a new document. @throws DuplicateKeyError when `_id` exists. */
  insert<T extends Doc>(collection: CollectionName, doc: T): Promise<void>;
  /** The document with this `_id`, or `null`. */
  get<T extends Doc>(collection: CollectionName, id: string): Promise<T | null>;
  /**
   * Sets the fields of `patch.set` and removes those of `patch.unset` on the document,
   * when every field of `expect` equals its current value (`null` matches a missing
   * field). Resolves `true` when the document was changed, `false` when it is missing or
   * `expect` did not hold.
   */
  update<T extends Doc>(collection: CollectionName, id: string, patch: Patch<T>, expect?: Record<string, Scalar>): Promise<boolean>;
  /** Inserts or replaces the whole document. */
  put<T extends Doc>(collection: CollectionName, doc: T): Promise<void>;
  /**
   * Removes the document; `true` when it existed. With `expect`, only when every field of
   * it equals the current value (as `update`'s): a compare-and-remove, so a sweep never
   * removes a document that changed since it was read.
   */
  remove(collection: CollectionName, id: string, expect?: Record<string, Scalar>): Promise<boolean>;
  /** Documents matching the query. */
  find<T extends Doc>(collection: CollectionName, query?: Query): Promise<T[]>;
  /** How many documents match `where`. */
  count(collection: CollectionName, where?: Record<string, Scalar>): Promise<number>;
  /** Flushes and releases the store (nedb: compacts and removes the lock). Idempotent. */
  close(): Promise<void>;
  /**
   * Resolves when the store can be read and written now, rejects otherwise (`GET /health`,
   * CLI.md). Optional: without it, a read (`count`) stands for the check.
   */
  check?(): Promise<void>;
  /**
   * Rewrites what the store keeps on disk so that removed documents leave no trace there
   * (nedb appends every write; a removed document's lines stay until its file is
   * rewritten). Optional: a store that removes in place has nothing to do. `collections`:
   * only these (the sweep of finished handshakes and expired secrets); default all.
   */
  compact?(collections?: readonly CollectionName[]): Promise<void>;
  /**
   * Text search over received (`inbox`) or sent (`outbox`) messages: their `content`,
   * `name` (the subject) and the sites in them (`sender`, `recipient`, `recipients`,
   * `to`), answered from an index (PostgreSQL: full-text, `websearch_to_tsquery`).
   * Optional: without it the owner's search scans the latest messages
   * (`CONVERSATION_WINDOW` per site and direction, owner/conversations.ts).
   */
  search?<T extends Doc>(collection: "inbox" | "outbox", query: TextSearch): Promise<T[]>;
  /**
   * The owner's search as one page of conversations (`ConversationSearch`), answered
   * without reading every match (PostgreSQL: the latest conversations looked through for
   * a match, or a rare word's matches). Optional: without it the engine asks `search`
   * (or scans) per site and direction and reads the summaries found
   * (owner/conversations.ts).
   */
  searchConversations?<T extends Doc>(query: ConversationSearch): Promise<T[]>;
  /**
   * The documents with these `_id`s, in the order asked (`null` for each missing), read
   * at once. Optional: without it, one `get` per ID (a store in this process's memory
   * answers those as quickly); a database answers in one round trip.
   */
  getMany?<T extends Doc>(collection: CollectionName, ids: readonly string[]): Promise<(T | null)[]>;
  /**
   * The documents at these (collection, `_id`) pairs, in the order asked (`null` for each
   * missing), read at once (PostgreSQL: one statement, so one snapshot). Optional: without
   * it, one `get` each (store/together.ts `getEach`).
   */
  getEach?(keys: readonly DocKey[]): Promise<(Doc | null)[]>;
  /**
   * Makes `first`, and only when it was made each of `then`, at once and atomically
   * (PostgreSQL: one statement; all or none of those made are kept). Each write is made or
   * not as its own call would be, without an error for "not made": an insert whose `_id`
   * exists is not made, an update whose document is missing or whose `expect` does not
   * hold is not. Resolves whether each was made, `first` first. At most one write per
   * document. Optional: without it, one call each in that order (store/together.ts
   * `writeAfter`), not atomic: a failure leaves the writes made before it.
   */
  writeAfter?(first: Write, then: readonly Write[]): Promise<boolean[]>;
  /**
   * `writeAfter`, made only while each document of `given` is stored exactly as given
   * (`null`: none stored), checked in the same statement as the writes (PostgreSQL: one
   * statement). Resolves `null`, nothing written, when one differs. What a `deliver` needs
   * when the token and settings it was answered from were read by an earlier one
   * (protocol/actions/deliver.ts): one statement instead of a read and a write. Optional:
   * without it, one `get` each and a deep comparison before the writes, not atomic
   * (store/together.ts `writeIfUnchanged`).
   */
  writeIfUnchanged?(given: readonly GivenDoc[], first: Write, then: readonly Write[]): Promise<boolean[] | null>;
  /**
   * Optional: runs `work` with a store whose inserts and updates are made at once (reads
   * see them) but durable only when `batch` resolves, together, instead of each when its
   * own promise resolves; a crash before may lose any of them. For idempotent work of many
   * writes (filing older documents, owner/conversations.ts); nedb: one append per datafile
   * instead of one per write.
   */
  batch?<T>(work: (store: Store) => Promise<T>): Promise<T>;
  /**
   * Present when several processes may share this store at once (PostgreSQL): what the
   * engine then needs beyond documents to share its work safely (issue 11). Absent on a
   * single-process store (nedb, memory), where the engine keeps this in memory.
   */
  readonly shared?: SharedStore;
}

/**
 * What several engine processes on one store coordinate through. Every promise here
 * holds across processes and machines, and nothing outlives a process that dies: a lock
 * it held is released, a lease it took ends by its time.
 */
export interface SharedStore {
  /** A name for this process among those sharing the store (leases say who holds them). */
  readonly instance: string;
  /**
   * Runs `task` while holding the lock named `key`, which one process at a time holds;
   * waits for it otherwise (the per-pair handshake lock of jobs/delivery.ts). Released
   * when `task` settles, or when the holder's process or connection dies.
   */
  withLock<T>(key: string, task: () => Promise<T>): Promise<T>;
  /**
   * Counts one hit on `key` in a fixed window of `windowMs` that starts at the key's
   * first hit (at `now`, by the caller's clock), across every process; counting stops
   * past `cap` (a refused client costs one row). Resolves the window's start and count
   * after this hit. Ended windows are removed by the store.
   */
  hit(key: string, windowMs: number, now: number, cap: number): Promise<{ start: number; count: number }>;
  /**
   * Calls `listener` (soon, at most once per burst) whenever any process adds work to
   * `deliveries`, `handshakes` or `webhooks`, or makes it due sooner, so work is picked
   * up at once rather than at the next poll. Returns a function that stops the calls.
   */
  onWork(listener: () => void): () => void;
}

/**
 * What a change function answers (`mutate`, `changeSettings`): some fields of `T`, each a
 * value to set or `undefined` to remove, so `{ error: undefined }` means "no error any more".
 */
export type Changes<T> = { [K in keyof T]?: T[K] | undefined };

/** The patch giving a document the values of `fields` and removing the fields given as `undefined`. */
export function patchFrom<T extends Doc>(fields: Changes<T>): Patch<T> {
  const set: Partial<T> = {};
  const unset: (keyof T & string)[] = [];
  for (const field of Object.keys(fields) as (keyof T & string)[]) {
    if (fields[field] === undefined) unset.push(field);
    else set[field] = fields[field];
  }
  return { set, unset };
}

/** `insert` of an `_id` that exists. */
export class DuplicateKeyError extends Error {
  override name = "DuplicateKeyError";
  constructor(
    readonly collection: CollectionName,
    readonly id: string,
  ) {
    super(`A document with _id ${id} already exists in ${collection}.`);
  }
}
