/**
 * Chats: a site's messages by the people in them, as messaging apps list them — one row
 * per correspondent (per set of participants for a group message), latest activity
 * first, however many threads (§5 conversations) the messages make. Subject-less
 * messages each start a conversation of their own; with the same person they are one chat.
 *
 * The chat of a message is a pure function of it (`chatKey`: the site and the other
 * sites it names), stored on the inbox or outbox document when it is written (`chat`),
 * so the messages of one chat are paged by an index (`recipient`/`sender`, `chat`,
 * `pageKey`). Each chat has a summary in `chats`, paged by `lastKey` like conversations
 * (owner/conversations.ts), written next to the conversation summary in `messageWritten`:
 * - the first message of a chat inserts it (one write);
 * - a later message, newer than the summary's latest, changes it by one compare-and-set
 *   on `rev` (one read, one write) — or, where the store merges (`Store.writeAfter`,
 *   PostgreSQL), by a merge no concurrent writer refuses (`chatWriteOf`), made in the
 *   message's own statement when it is received (unread) and after it when it is sent;
 * - anything else — an older message than the summary's latest, a read mark, a delete, a
 *   lost compare-and-set — recomputes it from the chat's messages (`refreshChat`: the
 *   latest of each box and the unread count, all indexed), trying again for as long as
 *   other writers change the summary meanwhile: no write of a summary fails for them.
 * On a store one process holds (nedb, memory: no `Store.shared`) that process is the only
 * writer of its summaries, and it writes each chat's one write at a time (`ChatWrites`), so
 * its compare-and-sets never lose to each other.
 * The summary holds no text: the list reads the latest message's document by `_id`
 * (`lastBox`, `lastDoc`), so deleting a message leaves its text nowhere else.
 * Documents written before chats existed (no `chat` field) are looked for at start and
 * filed in batches, without reading the rest (`CHATS_PASS`, owner/filing.ts); the owner's
 * reads wait for it (`ensureChats`).
 */
import type { Page, ThreadItem } from "../api.js";
import { PmError } from "../errors.js";
import type { DeliveryDoc, InboxDoc, OutboxDoc } from "../protocol/records.js";
import { keyOf } from "../secrets.js";
import { DuplicateKeyError, type Store, type Write } from "../store/types.js";
import { CONVERSATIONS_PASS, pageKeyOf, refreshConversation, siteOf } from "./conversations.js";
import { ensurePass, type FilingContext, type FilingPass } from "./filing.js";
import { decodeCursor, encodeCursor, listLimit, receivedView, sentView, type OwnerContext } from "./messages.js";

/** The stored summary of one chat of a site. `_id = chatKey(...)`. */
export interface ChatDoc {
  _id: string;
  /** Optimistic concurrency: every write expects the `rev` it read and adds one. */
  rev: number;
  site: string;
  /** The other sites of the chat, sorted. */
  people: string[];
  unread: number;
  /** Time of the latest message, ms. */
  lastAt: number;
  /** Sort key of the chat list: `pageKeyOf(lastAt, _id)`. */
  lastKey: string;
  /** The `pageKey` of the latest message's document: what "newer" is compared by. */
  lastPageKey: string;
  /** Where the latest message is: its box and document `_id` (its text is read from there). */
  lastBox: "inbox" | "outbox";
  lastDoc: string;
}

/** A chat as the owner API and the web show it. */
export interface Chat {
  /** The chat's key (`GET /api/people/{id}`). */
  id: string;
  site: string;
  /** The other sites of the chat, sorted (one for a chat with one person). */
  people: string[];
  unread: number;
  /** RFC 3339 of the latest message. */
  lastAt: string;
  /**
   * The latest message (received or sent); absent while it cannot be read (deleted
   * meanwhile). In a page of chats a sent one is listed without its deliveries (`chat(id)`
   * has them): a page of 100 is then two reads of messages, not one more per row.
   */
  last?: ThreadItem;
}

/** One chat with its messages, oldest first: the latest `limit` before the cursor. */
export interface ChatThread extends Chat {
  /** Each with the conversation (§5 thread) it belongs to. */
  items: (ThreadItem & { conversation: string })[];
  /** The cursor of older messages, when there are more. */
  next?: string;
}

/** Messages a page of one chat shows by default, and at most. */
export const CHAT_PAGE = 100;
const FILE_BATCH = 500;

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Pure: the other sites a message names, sorted: for a received one its sender and `to`, for a sent one its recipients; less `site`. */
export function chatPeople(kind: "in" | "out", doc: InboxDoc | OutboxDoc): string[] {
  const site = kind === "in" ? (doc as InboxDoc).recipient : doc.sender;
  const named = kind === "in" ? [doc.sender, (doc as InboxDoc).recipient, ...(doc.to ?? [])] : (doc as OutboxDoc).recipients;
  return [...new Set(named)].filter((p) => p !== site).sort();
}

/**
 * Pure: the chat of a message — the site that holds it and the other sites it names.
 * A received group message whose `to` was hidden names only its sender: it joins that
 * person's chat, since the owner cannot see the others.
 */
export function chatKey(kind: "in" | "out", doc: InboxDoc | OutboxDoc): string {
  const site = kind === "in" ? (doc as InboxDoc).recipient : doc.sender;
  return keyOf("chat", site, ...chatPeople(kind, doc));
}

const boxOf = (kind: "in" | "out") => (kind === "in" ? "inbox" : "outbox");
const siteField = (box: "inbox" | "outbox") => (box === "inbox" ? "recipient" : "sender");
const atOf = (kind: "in" | "out", doc: InboxDoc | OutboxDoc) => (kind === "in" ? (doc as InboxDoc).receivedAt : (doc as OutboxDoc).createdAt);

function summaryOf(id: string, site: string, kind: "in" | "out", doc: InboxDoc | OutboxDoc, unread: number): Omit<ChatDoc, "_id" | "rev"> {
  const at = atOf(kind, doc);
  return {
    site,
    people: chatPeople(kind, doc),
    unread,
    lastAt: at,
    lastKey: pageKeyOf(at, id),
    lastPageKey: doc.pageKey ?? pageKeyOf(at, doc._id),
    lastBox: boxOf(kind),
    lastDoc: doc._id,
  };
}

/**
 * After a message carrying `chat` and `pageKey` was written (owner/conversations.ts
 * `messageWritten`): its chat's summary brought up to date. A message that adds nothing to
 * `unread` (a sent one) is merged where the store merges (`chatWriteOf`, one statement on
 * PostgreSQL, which no concurrent writer refuses): made apart from the message's own write,
 * a merge is exact only when it adds nothing a recomputation counts. Otherwise one insert or
 * one compare-and-set in the common cases (see the top of this file), and a recomputation,
 * which does not give up, once those lose to other writers. On a store one process holds,
 * with `writes` (the server's `ChatWrites`), made one at a time per chat.
 */
export async function chatWritten(store: Store, kind: "in" | "out", doc: InboxDoc | OutboxDoc, writes?: ChatWrites, stamp?: number): Promise<void> {
  const id = doc.chat;
  if (id === undefined || doc.pageKey === undefined) return;
  const site = kind === "in" ? (doc as InboxDoc).recipient : doc.sender;
  const unread = kind === "in" && !(doc as InboxDoc).read ? 1 : 0;
  if (unread === 0 && store.writeAfter) {
    await store.writeAfter(chatWriteOf(kind, doc)!, []);
    return;
  }
  if (writes === undefined || store.shared) return summaryWritten(store, site, id, kind, doc, unread, false, writes);
  // The message is stored: a recomputation of its chat begun from now on counts it.
  const stored = writes.begun;
  await writes.oneAtATime(id, (recounted) =>
    recounted > stored ? Promise.resolve() : summaryWritten(store, site, id, kind, doc, unread, stamp !== undefined && stamp === writes.begun, writes),
  );
}

/**
 * One engine's writes of chat summaries on a store one process holds (no `Store.shared`:
 * nedb, memory; made by `createPmServer`, passed as `writes`). The engine is then the
 * summaries' only writer, and it makes its writes of one chat one after the other
 * (`oneAtATime`): none of its compare-and-sets loses to another, and a message costs one
 * read and one write of the summary. Recomputations (`recompute`) are numbered (`begun`): a
 * message whose chat was recomputed after it was stored is counted, and writes nothing; one
 * older than the summary's latest is added to `unread` alone when no recomputation ran from
 * before it was stored (`stamp`) until its turn, so none counted it; otherwise recomputed.
 *
 * Made at once, a burst in one chat (a peer receiving 1,000 messages of one sender, ~100 at
 * a time, while sending it 1,000: one chat) lost to each other and fell back to
 * recomputing, whose every try counts the chat's unread messages; and each recomputation
 * made the summary's latest a message newer than those still waiting, which recomputed in
 * turn: `deliver`s were answered 10-80 s late, the process busy counting. Several processes
 * on one store (PostgreSQL) are left to compare-and-sets and merges (`chatWriteOf`).
 */
export class ChatWrites {
  /** Per chat with writes under way (so bounded by them): the end of the last write queued, and the number of its last recomputation begun. */
  readonly #chats = new Map<string, { tail: Promise<void>; recounted: number }>();
  #begun = 0;
  #running = 0;

  /** How many recomputations were begun. */
  get begun(): number {
    return this.#begun;
  }

  /**
   * Taken before a message is stored, for `chatWritten`: the recomputations begun, or
   * `undefined` when one is under way (it may count the message or not).
   */
  stamp(store: Store): number | undefined {
    return store.shared || this.#running > 0 ? undefined : this.#begun;
  }

  /** Runs `write` of chat `id`'s summary after the writes of it under way, telling it the number of the last recomputation of the chat begun meanwhile, or 0. */
  oneAtATime(id: string, write: (recounted: number) => Promise<void>): Promise<void> {
    const entry = this.#chats.get(id) ?? { tail: Promise.resolve(), recounted: 0 };
    const done = entry.tail.then(() => write(entry.recounted));
    const settled = done.catch(() => undefined);
    entry.tail = settled;
    this.#chats.set(id, entry);
    void settled.then(() => {
      if (entry.tail === settled) this.#chats.delete(id);
    });
    return done;
  }

  /** `recount` of chat `id`, numbered. */
  async recomputed(id: string, recount: () => Promise<void>): Promise<void> {
    this.#begun++;
    this.#running++;
    const entry = this.#chats.get(id);
    if (entry) entry.recounted = this.#begun;
    try {
      await recount();
    } finally {
      this.#running--;
    }
  }
}

/**
 * `chatWritten`'s insert or compare-and-set, and its recomputation when those lose or the
 * message is not the latest. `uncounted`: on a store one process holds, no recomputation
 * ran since before the message was stored (`chatStamp`), so the summary does not count it:
 * an older message than its latest is added to `unread` alone.
 */
async function summaryWritten(
  store: Store,
  site: string,
  id: string,
  kind: "in" | "out",
  doc: InboxDoc | OutboxDoc,
  unread: number,
  uncounted: boolean,
  writes: ChatWrites | undefined,
): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const current = await store.get<ChatDoc>("chats", id);
    if (current === null) {
      try {
        await store.insert<ChatDoc>("chats", { _id: id, rev: 1, ...summaryOf(id, site, kind, doc, unread) });
        return;
      } catch (error) {
        if (!(error instanceof DuplicateKeyError)) throw error;
        continue;
      }
    }
    const older = current.lastPageKey >= doc.pageKey!;
    // A summary that already shows a message as new as this one may count it: recomputed (unless `uncounted`).
    if (older && !uncounted) break;
    if (older && unread === 0) return;
    const set = older ? { unread: current.unread + unread } : summaryOf(id, site, kind, doc, current.unread + unread);
    if (await store.update<ChatDoc>("chats", id, { set: { ...set, rev: current.rev + 1 } }, { rev: current.rev })) return;
  }
  await recompute(store, site, id, writes);
}

/**
 * The write bringing the chat's summary up to date with a new message, made with the
 * message itself (owner/conversations.ts `writeMessage`: one statement on PostgreSQL,
 * atomic, so no recomputation can count the message before this write adds it): a merge
 * (store/types.ts `Write`), which no concurrent writer of the same chat refuses — the
 * first message inserts the summary; a later one adds itself to `unread` (when unread)
 * and `rev`, and becomes the latest where its `pageKey` is newer. Only for a store that
 * writes it atomically with the message (`Store.writeAfter`); otherwise `chatWritten`
 * (which merges by itself, after the message, only what adds nothing to `unread`).
 */
export function chatWriteOf(kind: "in" | "out", doc: InboxDoc | OutboxDoc): Write | undefined {
  const id = doc.chat;
  if (id === undefined || doc.pageKey === undefined) return undefined;
  const site = kind === "in" ? (doc as InboxDoc).recipient : doc.sender;
  const unread = kind === "in" && !(doc as InboxDoc).read ? 1 : 0;
  const summary: ChatDoc = { _id: id, rev: 1, ...summaryOf(id, site, kind, doc, unread) };
  return { merge: "chats", doc: summary, add: { unread, rev: 1 }, newer: "lastPageKey" };
}

/** The latest document of a chat in one box, or `null`. */
async function latestIn(store: Store, box: "inbox" | "outbox", site: string, chat: string): Promise<InboxDoc | OutboxDoc | null> {
  const [doc] = await store.find<InboxDoc | OutboxDoc>(box, {
    where: { [siteField(box)]: site, chat },
    range: { field: "pageKey", lt: "\uffff" },
    sort: { field: "pageKey", order: "desc" },
    limit: 1,
  });
  return doc ?? null;
}

/** Lost writes in a row after which a summary that did not change meanwhile means a store refusing writes, not other writers. */
const UNEXPLAINED_LOSSES = 3;

/**
 * Recomputes and stores the summary of one chat from its messages (the latest of each box
 * and the unread count), by compare-and-set on `rev`; removes it when no message is left.
 * It does not give up for concurrent writers: each write it loses is one another made, so
 * it tries again (after a random pause, up to 64 ms) for as long as the summary keeps
 * changing, and ends as those writers do; only losses the summary does not explain
 * (`UNEXPLAINED_LOSSES`: the store refuses) are an error. On a store one process holds,
 * after this process's other writes of the summary (`oneAtATime`).
 */
export function refreshChat(store: Store, site: string, id: string, writes?: ChatWrites): Promise<void> {
  if (writes === undefined || store.shared) return recount(store, site, id);
  return writes.oneAtATime(id, () => recompute(store, site, id, writes));
}

/** `refreshChat` without waiting its turn: for `summaryWritten`, which holds it. */
function recompute(store: Store, site: string, id: string, writes: ChatWrites | undefined): Promise<void> {
  return writes === undefined || store.shared ? recount(store, site, id) : writes.recomputed(id, () => recount(store, site, id));
}

async function recount(store: Store, site: string, id: string): Promise<void> {
  let seen: string | undefined;
  let unexplained = 0;
  for (let i = 0; ; i++) {
    const current = await store.get<ChatDoc>("chats", id);
    const read = JSON.stringify(current);
    unexplained = i > 0 && read === seen ? unexplained + 1 : 0;
    if (unexplained >= UNEXPLAINED_LOSSES)
      throw new PmError("store_error", `Could not update chat ${id}: the store refused its writes though nothing changed it.`);
    seen = read;
    const [received, sent, unread] = await Promise.all([
      latestIn(store, "inbox", site, id),
      latestIn(store, "outbox", site, id),
      store.count("inbox", { recipient: site, chat: id, read: null }),
    ]);
    const latest =
      received && (!sent || received.pageKey! > sent.pageKey!) ? { kind: "in" as const, doc: received } : sent ? { kind: "out" as const, doc: sent } : null;
    if (latest === null) {
      if (current === null || (await store.remove("chats", id, { rev: current.rev }))) return;
    } else {
      const fields = summaryOf(id, site, latest.kind, latest.doc, unread);
      if (current === null) {
        try {
          await store.insert<ChatDoc>("chats", { _id: id, rev: 1, ...fields });
          return;
        } catch (error) {
          if (!(error instanceof DuplicateKeyError)) throw error;
        }
      } else if (await store.update<ChatDoc>("chats", id, { set: { ...fields, rev: current.rev + 1 } }, { rev: current.rev })) return;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(64, 2 ** i)));
  }
}

/** Brings the summaries of these documents' chats up to date after they were changed or removed (read marks, deletes). */
export async function chatsChanged(store: Store, docs: readonly { kind: "in" | "out"; doc: InboxDoc | OutboxDoc }[], writes?: ChatWrites): Promise<void> {
  const touched = new Map<string, string>();
  for (const { kind, doc } of docs) if (doc.chat !== undefined) touched.set(doc.chat, kind === "in" ? (doc as InboxDoc).recipient : doc.sender);
  for (const [id, site] of touched) await refreshChat(store, site, id, writes);
}

// ——— Filing: documents written before chats existed ———

/** Whether some document of `site` has no `chat` yet: one indexed probe per box. */
async function chatsLeft(store: Store, site: string): Promise<boolean> {
  for (const box of ["inbox", "outbox"] as const) {
    if ((await store.find(box, { where: { [siteField(box)]: site, chat: null }, limit: 1 })).length > 0) return true;
  }
  return false;
}

/** Files one site's documents without `chat` (in batches), then recomputes the chats they are in. Idempotent. */
async function fileChats(store: Store, site: string, ctx?: FilingContext): Promise<void> {
  const touched = new Set<string>();
  for (const box of ["inbox", "outbox"] as const) {
    const kind = box === "inbox" ? "in" : "out";
    for (;;) {
      const batch = await store.find<InboxDoc | OutboxDoc>(box, { where: { [siteField(box)]: site, chat: null }, limit: FILE_BATCH });
      if (batch.length === 0) break;
      for (const doc of batch) {
        const chat = chatKey(kind, doc);
        touched.add(chat);
        await store.update<InboxDoc | OutboxDoc>(box, doc._id, { set: { chat } }, { chat: null });
      }
    }
  }
  for (const id of touched) await refreshChat(store, site, id, ctx?.chatWrites);
}

/**
 * The filing of documents written before chats existed (owner/filing.ts), looked for at
 * start (server.ts `FILING_PASSES`). It needs their page keys: it files a site after the
 * conversations pass (`after`, a getter: this module and conversations.ts import each
 * other, so `CONVERSATIONS_PASS` may not be defined yet when this one is).
 */
export const CHATS_PASS: FilingPass = {
  name: "chats",
  left: chatsLeft,
  file: fileChats,
  get after() {
    return [CONVERSATIONS_PASS];
  },
};

/**
 * Resolves once every document of these sites has its chat, and so its conversation and
 * page key (`CHATS_PASS` comes after the conversations pass): once per process, on a
 * shared store again at most every `REFILE_CHECK_MS` (owner/filing.ts).
 */
export function ensureChats(ctx: OwnerContext, sites: Iterable<string>): Promise<void> {
  return ensurePass(ctx, CHATS_PASS, sites);
}

// ——— The owner's reads ———

async function itemOf(store: Store, box: "inbox" | "outbox", doc: InboxDoc | OutboxDoc, withDeliveries = true): Promise<ThreadItem & { conversation: string }> {
  const conversation = doc.conversation ?? "";
  if (box === "inbox") return { direction: "received", ...receivedView(doc as InboxDoc), conversation };
  const o = doc as OutboxDoc;
  const deliveries = withDeliveries ? await store.find<DeliveryDoc>("deliveries", { where: { sender: o.sender, message: o.message } }) : [];
  return { direction: "sent", ...sentView(o, deliveries), createdAt: iso(o.createdAt), conversation };
}

/** The latest message of each summary, read by `_id` (at once where the store can: `Store.getMany`). */
async function latestOf(store: Store, docs: readonly ChatDoc[]): Promise<Map<string, InboxDoc | OutboxDoc>> {
  const found = new Map<string, InboxDoc | OutboxDoc>();
  for (const box of ["inbox", "outbox"] as const) {
    const ids = docs.filter((d) => d.lastBox === box).map((d) => d.lastDoc);
    if (ids.length === 0) continue;
    const read = store.getMany
      ? await store.getMany<InboxDoc | OutboxDoc>(box, ids)
      : await Promise.all(ids.map((id) => store.get<InboxDoc | OutboxDoc>(box, id)));
    for (const doc of read) if (doc) found.set(`${box} ${doc._id}`, doc);
  }
  return found;
}

function chatView(doc: ChatDoc, last: ThreadItem | undefined): Chat {
  return { id: doc._id, site: doc.site, people: doc.people, unread: doc.unread, lastAt: iso(doc.lastAt), ...(last ? { last } : {}) };
}

/** Chats of one site (or every site), latest activity first: one keyset page (`before`: the `next` of the previous page). */
export async function chatsPage(ctx: OwnerContext, query: { site?: string; limit?: number; before?: string } = {}): Promise<Page<Chat>> {
  const site = siteOf(ctx, query.site);
  await ensureChats(ctx, site === undefined ? ctx.sites : [site]);
  const limit = listLimit(query);
  let docs = await ctx.store.find<ChatDoc>("chats", {
    ...(site ? { where: { site } } : {}),
    range: { field: "lastKey", lt: query.before === undefined ? "\uffff" : decodeCursor(query.before) },
    sort: { field: "lastKey", order: "desc" },
    limit: limit + 1,
  });
  if (!site) docs = docs.filter((d) => ctx.sites.has(d.site));
  const page = docs.slice(0, limit);
  const latest = await latestOf(ctx.store, page);
  const items = await Promise.all(
    page.map(async (doc) => {
      const last = latest.get(`${doc.lastBox} ${doc.lastDoc}`);
      return chatView(doc, last ? await itemOf(ctx.store, doc.lastBox, last, false) : undefined);
    }),
  );
  return { items, ...(docs.length > limit ? { next: encodeCursor(page.at(-1)!.lastKey) } : {}) };
}

/** The summary of a chat of one of this server's sites, or `null`. */
async function findChat(ctx: OwnerContext, id: string): Promise<ChatDoc | null> {
  await ensureChats(ctx, ctx.sites);
  const doc = await ctx.store.get<ChatDoc>("chats", id);
  return doc && ctx.sites.has(doc.site) ? doc : null;
}

/**
 * One chat with its messages in time order (oldest first): the latest `limit` (default
 * and at most `CHAT_PAGE`) before the cursor `before`, and `next` when older ones remain.
 */
export async function getChat(ctx: OwnerContext, id: string, query: { limit?: number; before?: string } = {}): Promise<ChatThread | null> {
  const doc = await findChat(ctx, id);
  if (!doc) return null;
  const limit = Math.min(CHAT_PAGE, listLimit({ limit: query.limit ?? CHAT_PAGE }));
  const before = query.before === undefined ? "\uffff" : decodeCursor(query.before);
  const both = (
    await Promise.all(
      (["inbox", "outbox"] as const).map(async (box) =>
        (
          await ctx.store.find<InboxDoc | OutboxDoc>(box, {
            where: { [siteField(box)]: doc.site, chat: id },
            range: { field: "pageKey", lt: before },
            sort: { field: "pageKey", order: "desc" },
            limit: limit + 1,
          })
        ).map((d) => ({ box, doc: d })),
      ),
    )
  ).flat();
  both.sort((a, b) => (a.doc.pageKey! < b.doc.pageKey! ? 1 : -1));
  const page = both.slice(0, limit).reverse();
  const items = await Promise.all(page.map(({ box, doc: d }) => itemOf(ctx.store, box, d)));
  const latest = await latestOf(ctx.store, [doc]);
  const lastDoc = latest.get(`${doc.lastBox} ${doc.lastDoc}`);
  return {
    ...chatView(doc, lastDoc ? await itemOf(ctx.store, doc.lastBox, lastDoc) : undefined),
    items,
    ...(both.length > limit ? { next: encodeCursor(page[0]!.doc.pageKey!) } : {}),
  };
}

/** Marks every received message of a chat read (or unread); their conversations' and the chat's summaries follow. Resolves how many changed. */
export async function markChatRead(ctx: OwnerContext, id: string, read: boolean): Promise<number> {
  const doc = await findChat(ctx, id);
  if (!doc) return 0;
  const docs = await ctx.store.find<InboxDoc>("inbox", { where: { recipient: doc.site, chat: id, ...(read ? { read: null } : {}) } });
  let changed = 0;
  const conversations = new Set<string>();
  for (const m of docs) {
    if (!!m.read === read) continue;
    if (await ctx.store.update<InboxDoc>("inbox", m._id, read ? { set: { read: true } } : { unset: ["read"] })) {
      changed++;
      if (m.conversation !== undefined) conversations.add(m.conversation);
    }
  }
  for (const conversation of conversations) await refreshConversation(ctx.store, doc.site, conversation);
  if (changed > 0) await refreshChat(ctx.store, doc.site, id, ctx.chatWrites);
  return changed;
}
