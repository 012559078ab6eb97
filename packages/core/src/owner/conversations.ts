/**
 * Conversations (PROTOCOL.md §5: "threads follow these links"): the received and sent
 * messages of one site grouped by following `in-reply-to` to the first message held —
 * or, when the message answered is not held here, to the ID it names, so replies to
 * one unknown message still share a conversation.
 *
 * The conversation is stored when a message is written (`conversationFields`: the
 * `conversation` and `pageKey` fields of inbox and outbox documents), and each conversation
 * has a summary in `conversations` that the owner's list pages through by last activity.
 * Several processes may write one conversation at once, so every summary write is a
 * compare-and-set on its `rev`:
 * - a new message, the latest of its conversation, is added to the summary as it stands
 *   (counts, last message, participants: no read of the conversation's messages, so a
 *   long conversation costs a receive no more than a short one);
 * - anything else — a message that is its conversation's root, a merge, a read mark, a
 *   delete, a lost compare-and-set — recomputes the summary from the conversation's own
 *   messages (one indexed `find` per direction), by the same rule the list always used.
 *   A recomputation that read the messages before another's write loses its
 *   compare-and-set and reads them again, and an addition is refused where the summary
 *   already shows a message as new as the one added (it may count it), so the last
 *   summary written counts every message once. A summary left stale by a crash is put
 *   right by the next recomputation.
 *
 * A message that arrives after its replies (they were filed under its ID, the root then)
 * and itself answers a message held moves them into its conversation: the old summary
 * becomes a pointer (`movedTo`) so a writer that filed under the old ID meanwhile follows
 * it, and a reply written while its parent arrived looks again after its write. Documents
 * written before conversations were stored are looked for at start and filed in one pass
 * over the documents still without one (`ensureFiled`, owner/filing.ts). Deleting one
 * message leaves its replies in their conversation.
 */
import type { Conversation, ConversationQuery, InboxStatus, MessageKey, Page, Thread, ThreadItem } from "../api.js";
import { PmError } from "../errors.js";
import { writeAfter, writeIfUnchanged } from "../store/together.js";
import { LIST_MAX } from "../limits.js";
import type { ConversationDoc, DeliveryDoc, InboxDoc, OutboxDoc } from "../protocol/records.js";
import { keyOf } from "../secrets.js";
import { DuplicateKeyError, type GivenDoc, type Query, type Store, type Write } from "../store/types.js";
import { canonicalUrl } from "../urls.js";
import { latestCursor, mutedUnread } from "./live.js";
import { type ChatWrites, chatsChanged, chatWriteOf, chatWritten } from "./chats.js";
import { ensurePass, type Filing, type FilingPass } from "./filing.js";
import { decodeCursor, encodeCursor, listLimit, receivedView, sentView, type OwnerContext } from "./messages.js";

export { type Filing, REFILE_CHECK_MS } from "./filing.js";

/**
 * How many of the latest messages per direction and site a search scans when the store
 * has no `search` of its own (store/types.ts); conversation lists have no such window.
 */
export const CONVERSATION_WINDOW = 5000;
const SNIPPET_CHARS = 140;
/** How far `in-reply-to` is followed message by message (a chain of documents without a stored conversation, or a cycle). */
const WALK_MAX = 10_000;
/** Documents one re-filing or filing pass reads per `find`. */
const FILE_BATCH = 500;
/** Messages a store's `search` is asked for, per site and direction: this many per conversation wanted, at most `SEARCH_MAX`. */
const SEARCH_PER_CONVERSATION = 5;
const SEARCH_MAX = LIST_MAX;

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

type Item = { kind: "in"; doc: InboxDoc; at: number } | { kind: "out"; doc: OutboxDoc; at: number };

interface Group {
  id: string;
  site: string;
  root: string;
  items: Item[];
}

/**
 * Pure: a sort key of the owner's pages (`pageKey` of inbox and outbox documents,
 * `lastKey` of conversations): the time (ms) padded so keys sort as strings, then the
 * `_id` as a tiebreak. One field, so a page is one range and one sort (store/types.ts).
 */
export function pageKeyOf(at: number, id: string): string {
  return `${String(Math.max(0, Math.floor(at))).padStart(15, "0")}.${id}`;
}

/** Pure: the conversation ID of a thread root in a site. */
export function conversationId(site: string, root: string): string {
  return keyOf("conversation", site, root);
}

/**
 * Pure: groups one site's messages into threads. `parentOf` follows `in-reply-to`
 * while the parent is held; cycles (a forged `in-reply-to`) stop where they close.
 * The rule `fileMessage` applies when a message is written; kept as its oracle.
 */
export function groupThreads(site: string, items: readonly Item[]): Group[] {
  const byId = new Map<string, Item>();
  for (const item of items) if (!byId.has(item.doc.message)) byId.set(item.doc.message, item);
  const rootOf = (item: Item): string => {
    const path = [item.doc.message];
    let parent = item.doc.inReplyTo;
    while (parent !== undefined && !path.includes(parent)) {
      path.push(parent);
      parent = byId.get(parent)?.doc.inReplyTo;
    }
    // A cycle has no first message: every member takes the smallest ID in it as the root.
    if (parent !== undefined) return path.slice(path.indexOf(parent)).sort()[0]!;
    return path.at(-1)!;
  };
  const groups = new Map<string, Group>();
  for (const item of items) {
    const root = rootOf(item);
    const id = conversationId(site, root);
    let group = groups.get(id);
    if (!group) {
      group = { id, site, root, items: [] };
      groups.set(id, group);
    }
    group.items.push(item);
  }
  for (const group of groups.values()) group.items = threadOrder(group.items);
  return [...groups.values()];
}

/** Oldest first, and a reply after the message it answers even when clocks disagree. */
function threadOrder(items: Item[]): Item[] {
  const sorted = [...items].sort((a, b) => a.at - b.at);
  const ids = new Set(sorted.map((i) => i.doc.message));
  const placedDocs = new Set<string>();
  const placedMessages = new Set<string>();
  const waiting = new Map<string, Item[]>();
  const out: Item[] = [];
  const place = (first: Item) => {
    const todo = [first];
    for (let item = todo.pop(); item; item = todo.pop()) {
      if (placedDocs.has(item.doc._id)) continue;
      out.push(item);
      placedDocs.add(item.doc._id);
      placedMessages.add(item.doc.message);
      const children = waiting.get(item.doc.message) ?? [];
      waiting.delete(item.doc.message);
      todo.push(...children.reverse());
    }
  };
  for (const item of sorted) {
    const parent = item.doc.inReplyTo;
    if (parent !== undefined && ids.has(parent) && !placedMessages.has(parent) && parent !== item.doc.message) {
      waiting.set(parent, [...(waiting.get(parent) ?? []), item]);
    } else place(item);
  }
  // What still waits is in a cycle: in time order.
  for (const item of sorted) place(item);
  return out;
}

function participantsOf(site: string, items: readonly Item[]): string[] {
  const people = new Set<string>();
  for (const item of items) {
    const participants = item.kind === "in" ? [item.doc.sender, item.doc.recipient, ...(item.doc.to ?? [])] : [item.doc.sender, ...item.doc.recipients];
    for (const p of participants) people.add(p);
  }
  people.delete(site);
  return [...people];
}

/** The stored summary of a group (its items in thread order). */
function summaryFields(group: Group): Omit<ConversationDoc, "_id" | "rev"> {
  const first = group.items[0]!;
  const last = group.items.reduce((a, b) => (b.at >= a.at ? b : a));
  const named = group.items.find((i) => i.doc.name);
  const subject = (first.doc.name ?? named?.doc.name) as string | undefined;
  return {
    site: group.site,
    root: group.root,
    ...(subject ? { subject } : {}),
    participants: participantsOf(group.site, group.items),
    messages: group.items.length,
    unread: group.items.filter((i) => i.kind === "in" && !i.doc.read).length,
    lastAt: last.at,
    lastKey: pageKeyOf(last.at, group.id),
    snippet: snippetOf(last.doc.content),
    lastSender: last.doc.sender,
  };
}

/** A stored summary in the API's shape. */
function conversationView(doc: ConversationDoc): Conversation {
  return {
    id: doc._id,
    site: doc.site!,
    root: doc.root!,
    ...(doc.subject ? { subject: doc.subject } : {}),
    participants: doc.participants ?? [],
    messages: doc.messages ?? 0,
    unread: doc.unread ?? 0,
    lastAt: iso(doc.lastAt ?? 0),
    snippet: doc.snippet ?? "",
    lastSender: doc.lastSender ?? "",
  };
}

// ——— Filing: the conversation of a message, stored when it is written ———

/** The site whose conversation a message is in: the recipient of a received one, the sender of a sent one. */
function siteOfDoc(kind: "in" | "out", doc: InboxDoc | OutboxDoc): string {
  return kind === "in" ? (doc as InboxDoc).recipient : doc.sender;
}

/** The copy of message `id` this site holds, as `groupThreads` picks it: the latest received, else the sent one. */
async function heldCopy(store: Store, site: string, id: string): Promise<InboxDoc | OutboxDoc | null> {
  const received = await store.find<InboxDoc>("inbox", { where: { recipient: site, message: id }, sort: { field: "receivedAt", order: "desc" }, limit: 1 });
  return received[0] ?? (await store.get<OutboxDoc>("outbox", keyOf(site, id)));
}

/** The conversation `id` now stands for: itself, or where it was merged (`movedTo`, followed). */
async function liveConversation(store: Store, id: string): Promise<ConversationDoc | null> {
  let doc = await store.get<ConversationDoc>("conversations", id);
  for (let hops = 0; doc?.movedTo !== undefined && hops < 100; hops++) doc = await store.get<ConversationDoc>("conversations", doc.movedTo);
  return doc?.movedTo === undefined ? doc : null;
}

/**
 * The root of a message's thread by §5's rule over the messages held now: follow
 * `in-reply-to` while the parent is held; an unknown parent's ID is the root; a cycle's
 * root is its smallest ID (`cycle`). A parent already filed answers for the rest of the
 * chain (`shortcut`), unless its conversation leads back to this message (a cycle closing now).
 */
async function rootOf(store: Store, site: string, message: string, inReplyTo: string | undefined, shortcut = true): Promise<{ root: string; cycle?: true }> {
  const path = [message];
  let parent = inReplyTo;
  for (let steps = 0; steps < WALK_MAX; steps++) {
    if (parent === undefined) return { root: path.at(-1)! };
    if (path.includes(parent)) return { root: path.slice(path.indexOf(parent)).sort()[0]!, cycle: true };
    const held = await heldCopy(store, site, parent);
    if (!held) return { root: parent };
    if (shortcut && held.conversation !== undefined) {
      const filed = await liveConversation(store, held.conversation);
      if (filed?.root !== undefined) {
        if (!path.includes(filed.root)) return { root: filed.root };
        // The parent's thread ends at a message on this path: a cycle; walk it message by message.
        return rootOf(store, site, message, inReplyTo, false);
      }
    }
    path.push(parent);
    parent = held.inReplyTo;
  }
  return { root: path.at(-1)! };
}

/**
 * The `conversation` and `pageKey` fields of a message about to be written (received:
 * actions/deliver.ts; sent: owner/messages.ts `prepareSend`).
 */
export async function conversationFields(store: Store, kind: "in" | "out", doc: InboxDoc | OutboxDoc): Promise<{ conversation: string; pageKey: string }> {
  const site = siteOfDoc(kind, doc);
  const { root, cycle } = await rootOf(store, site, doc.message, doc.inReplyTo);
  const conversation = conversationId(site, root);
  if (cycle && root !== doc.message) {
    // A cycle closing now makes a held message the root: the pointer its arrival left (it then
    // answered a message not held) no longer holds.
    const stale = await store.get<ConversationDoc>("conversations", conversation);
    if (stale?.movedTo !== undefined) await store.remove("conversations", conversation, { rev: stale.rev });
  }
  const at = kind === "in" ? (doc as InboxDoc).receivedAt : (doc as OutboxDoc).createdAt;
  return { conversation, pageKey: pageKeyOf(at, doc._id) };
}

/**
 * After a message carrying `conversationFields` was written: when it is the root other
 * messages were filed under and answers a message held (or names an unknown parent), they
 * move into its conversation; when the unknown root it was filed under arrived meanwhile
 * answering another message, it moves itself; then its conversation's summary is brought
 * up to date (`addToSummary`), and its chat's (owner/chats.ts `chatWritten`) unless
 * `chatMade` (merged with the message's own write, `writeMessage`). `writes`: the server's
 * (chats.ts `ChatWrites`), with its `stamp` as taken before the message was stored.
 */
export async function messageWritten(
  store: Store,
  kind: "in" | "out",
  doc: InboxDoc | OutboxDoc,
  chatMade = false,
  writes?: ChatWrites,
  stamp?: number,
): Promise<void> {
  if (doc.conversation === undefined) return;
  const site = siteOfDoc(kind, doc);
  let id = doc.conversation;
  const own = conversationId(site, doc.message);
  let merged = false;
  if (own !== id) {
    merged = await mergeInto(store, site, own, id);
    // Its root: as its conversation's summary names it, or (none yet) the message it answers.
    const root = (await store.get<ConversationDoc>("conversations", id))?.root ?? doc.inReplyTo;
    if (root !== undefined && root !== doc.message) {
      // Filed under a message not held: it may have arrived since, answering another one, and
      // moved what was filed under it before this document was written. Write, then look.
      const held = await heldCopy(store, site, root);
      if (held?.conversation !== undefined && held.conversation !== id) {
        const target = (await liveConversation(store, held.conversation))?._id ?? held.conversation;
        if (target !== id) {
          await mergeInto(store, site, id, target);
          id = target;
          merged = true;
        }
      }
    }
  }
  if (!(own === id && (await insertFirstSummary(store, site, id, kind, doc)))) {
    if (merged || own === id) await refreshConversation(store, site, id);
    else await addToSummary(store, site, id, kind, doc);
  }
  // Its chat's summary (owner/chats.ts): one more write, next to the conversation's.
  if (!chatMade) await chatWritten(store, kind, doc, writes, stamp);
}

/**
 * The summary of a conversation this message starts (the common case: a message that
 * answers nothing), written by one insert: the message alone. A summary already there
 * (replies that arrived before it, a pointer) makes the insert fail, and the caller
 * recomputes it from the messages. Resolves whether it was written.
 */
async function insertFirstSummary(store: Store, site: string, id: string, kind: "in" | "out", doc: InboxDoc | OutboxDoc): Promise<boolean> {
  try {
    await store.insert<ConversationDoc>("conversations", firstSummary(site, id, kind, doc));
    return true;
  } catch (error) {
    if (error instanceof DuplicateKeyError) return false;
    throw error;
  }
}

/** The summary of conversation `id` of `site` with this message alone. */
function firstSummary(site: string, id: string, kind: "in" | "out", doc: InboxDoc | OutboxDoc): ConversationDoc {
  const item: Item =
    kind === "in" ? { kind, doc: doc as InboxDoc, at: (doc as InboxDoc).receivedAt } : { kind, doc: doc as OutboxDoc, at: (doc as OutboxDoc).createdAt };
  return { _id: id, rev: 1, ...summaryFields({ id, site, root: doc.message, items: [item] }) };
}

/**
 * Writes a new message carrying `conversationFields` (and its `chat`), and what it brings
 * to the summaries, as `insert` then `messageWritten` would; resolves `false`, having
 * written nothing, when a document with its `_id` exists (a duplicate). A message that
 * starts its conversation (the common case: it answers nothing) is written at once with
 * its conversation's summary (an insert) and, on a store that writes them atomically
 * (`Store.writeAfter`), its chat's (owner/chats.ts `chatWriteOf`): `writeAfter`, one
 * statement on PostgreSQL, nothing of it kept when any part fails. A summary not written
 * that way (one already there; a store without `writeAfter`, for the chat) is then brought
 * up to date as `messageWritten` does. Any other message is inserted (with its chat's merge,
 * where the store makes them at once), then `messageWritten`.
 *
 * With `given` (what a `deliver` was answered from), the message's first write is made only
 * while those documents are stored as given (`Store.writeIfUnchanged`, in the same
 * statement): `null`, nothing written, when one is not.
 */
export async function writeMessage(store: Store, kind: "in" | "out", doc: InboxDoc | OutboxDoc, given?: undefined, writes?: ChatWrites): Promise<boolean>;
export async function writeMessage(
  store: Store,
  kind: "in" | "out",
  doc: InboxDoc | OutboxDoc,
  given: readonly GivenDoc[] | undefined,
  writes?: ChatWrites,
): Promise<boolean | null>;
export async function writeMessage(
  store: Store,
  kind: "in" | "out",
  doc: InboxDoc | OutboxDoc,
  given?: readonly GivenDoc[],
  writes?: ChatWrites,
): Promise<boolean | null> {
  const site = siteOfDoc(kind, doc);
  const id = doc.conversation;
  const collection = kind === "in" ? "inbox" : "outbox";
  const chatWrite = store.writeAfter ? chatWriteOf(kind, doc) : undefined;
  const stamp = writes?.stamp(store);
  const write = (first: Write, then: readonly Write[]) => (given ? writeIfUnchanged(store, given, first, then) : writeAfter(store, first, then));
  if (id === undefined || id !== conversationId(site, doc.message)) {
    if (chatWrite || given) {
      // Its chat's merge in its own statement: no recomputation can count it before the merge adds it.
      const made = await write({ insert: collection, doc }, chatWrite ? [chatWrite] : []);
      if (made === null) return null;
      if (!made[0]) return false;
    } else {
      try {
        await store.insert(collection, doc);
      } catch (error) {
        if (error instanceof DuplicateKeyError) return false;
        throw error;
      }
    }
    await messageWritten(store, kind, doc, chatWrite !== undefined, writes, stamp);
    return true;
  }
  const made = await write({ insert: collection, doc }, [
    { insert: "conversations", doc: firstSummary(site, id, kind, doc) },
    ...(chatWrite ? [chatWrite] : []),
  ]);
  if (made === null) return null;
  const [written, summarized, chatMade] = made;
  if (!written) return false;
  if (!summarized) await refreshConversation(store, site, id);
  if (!chatMade) await chatWritten(store, kind, doc, writes, stamp);
  return true;
}

/**
 * Moves the messages filed under `from` into `to` (in batches, by the `conversation`
 * index) and leaves `from` a pointer to `to` (`movedTo`) where it has a summary, or where
 * messages moved (a writer may be writing its summary from what it read before the move:
 * its insert or compare-and-set then fails and it follows the pointer). A message's own
 * ID, under which nothing was filed, gets no pointer. Resolves whether any message moved.
 */
async function mergeInto(store: Store, site: string, from: string, to: string): Promise<boolean> {
  await pointTo(store, from, to, false);
  const moved = await moveMessages(store, site, from, to);
  if (moved) await pointTo(store, from, to, true);
  return moved;
}

/** Turns the summary `from` into a pointer to `to`; with `create`, writes the pointer where there is no summary. */
async function pointTo(store: Store, from: string, to: string, create: boolean): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const current = await store.get<ConversationDoc>("conversations", from);
    if (current?.movedTo !== undefined) return;
    if (current === null) {
      if (!create) return;
      try {
        await store.insert<ConversationDoc>("conversations", { _id: from, rev: 1, movedTo: to });
        return;
      } catch (error) {
        if (!(error instanceof DuplicateKeyError)) throw error;
        continue;
      }
    }
    const unset = (Object.keys(current) as (keyof ConversationDoc & string)[]).filter((f) => f !== "_id" && f !== "rev" && f !== "movedTo");
    if (await store.update<ConversationDoc>("conversations", from, { set: { rev: current.rev + 1, movedTo: to }, unset }, { rev: current.rev })) return;
  }
}

async function moveMessages(store: Store, site: string, from: string, to: string): Promise<boolean> {
  let moved = false;
  for (const [collection, field] of [
    ["inbox", "recipient"],
    ["outbox", "sender"],
  ] as const) {
    for (;;) {
      const batch = await store.find<InboxDoc | OutboxDoc>(collection, { where: { [field]: site, conversation: from }, limit: FILE_BATCH });
      if (batch.length === 0) break;
      for (const doc of batch) {
        if (await store.update<InboxDoc | OutboxDoc>(collection, doc._id, { set: { conversation: to } }, { conversation: from })) moved = true;
      }
    }
  }
  return moved;
}

/** Participants a message adds to its conversation: its sites, less `site`. */
function sitesOf(site: string, kind: "in" | "out", doc: InboxDoc | OutboxDoc): string[] {
  const sites = kind === "in" ? [doc.sender, (doc as InboxDoc).recipient, ...(doc.to ?? [])] : [doc.sender, ...(doc as OutboxDoc).recipients];
  return sites.filter((s) => s !== site);
}

function snippetOf(content: string): string {
  const text = content.replace(/\s+/g, " ").trim();
  return text.length > SNIPPET_CHARS ? `${text.slice(0, SNIPPET_CHARS - 1)}…` : text;
}

/**
 * A new message (the latest of its conversation) added to the summary without reading the
 * conversation's messages: one compare-and-set on `rev`. Only when that gives what a
 * recomputation would: the summary exists, this message is not its root, and every
 * message the summary counts is older than this one (so it does not count this one yet:
 * a recomputation by another writer that read it would show it as the latest). Otherwise,
 * or when another writer changed the summary meanwhile, the summary is recomputed.
 */
async function addToSummary(store: Store, site: string, id: string, kind: "in" | "out", doc: InboxDoc | OutboxDoc): Promise<void> {
  const at = kind === "in" ? (doc as InboxDoc).receivedAt : (doc as OutboxDoc).createdAt;
  const current = await store.get<ConversationDoc>("conversations", id);
  if (current === null || current.movedTo !== undefined || current.root === doc.message || current.lastAt === undefined || at <= current.lastAt) {
    return refreshConversation(store, site, id);
  }
  const participants = [...new Set([...(current.participants ?? []), ...sitesOf(site, kind, doc)])];
  const subject = current.subject ?? (doc.name || undefined);
  const added = await store.update<ConversationDoc>(
    "conversations",
    id,
    {
      set: {
        rev: current.rev + 1,
        messages: (current.messages ?? 0) + 1,
        unread: (current.unread ?? 0) + (kind === "in" && !(doc as InboxDoc).read ? 1 : 0),
        lastAt: at,
        lastKey: pageKeyOf(at, id),
        snippet: snippetOf(doc.content),
        lastSender: doc.sender,
        participants,
        ...(subject ? { subject } : {}),
      },
    },
    { rev: current.rev },
  );
  if (!added) await refreshConversation(store, site, id);
}

/** The messages filed under a conversation of a site (indexed by `conversation`). */
async function itemsOf(store: Store, site: string, id: string, query: Omit<Query, "where"> = {}): Promise<Item[]> {
  const received = await store.find<InboxDoc>("inbox", { ...query, where: { recipient: site, conversation: id } });
  const sent = await store.find<OutboxDoc>("outbox", { ...query, where: { sender: site, conversation: id } });
  return [...received.map((doc): Item => ({ kind: "in", doc, at: doc.receivedAt })), ...sent.map((doc): Item => ({ kind: "out", doc, at: doc.createdAt }))];
}

/** The root a conversation ID stands for, from its messages (a summary not yet written). */
function rootAmong(site: string, id: string, items: readonly Item[]): string | undefined {
  for (const candidate of items.flatMap((i) => [i.doc.message, ...(i.doc.inReplyTo === undefined ? [] : [i.doc.inReplyTo])])) {
    if (conversationId(site, candidate) === id) return candidate;
  }
  // A cycle's root is one of its members, each of which is a message ID above; otherwise unreachable.
  return items[0]?.doc.message;
}

/**
 * After a lost compare-and-set: a random wait growing with the tries (at most 64 ms), so
 * writers of one busy conversation stop recomputing in lockstep.
 */
function contended(tries: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(64, 2 ** tries)));
}

/**
 * Recomputes and stores the summary of one conversation from its messages, by
 * compare-and-set on `rev` (see the top of this file); removes it when no message is left.
 * A conversation that was merged moves what was filed under it since, then the one it
 * was merged into is recomputed. `rewrite` (after a delete): the old summary is removed
 * and a new one inserted, rather than changed in place.
 */
export async function refreshConversation(store: Store, site: string, id: string, rewrite = false): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const current = await store.get<ConversationDoc>("conversations", id);
    if (current?.movedTo !== undefined) {
      await moveMessages(store, site, id, current.movedTo);
      id = current.movedTo;
      continue;
    }
    const items = await itemsOf(store, site, id);
    if (items.length === 0) {
      if (current === null || (await store.remove("conversations", id, { rev: current.rev }))) return;
      await contended(i);
      continue;
    }
    const root = current?.root ?? rootAmong(site, id, items)!;
    const fields = summaryFields({ id, site, root, items: threadOrder(items) });
    if (current === null) {
      try {
        await store.insert<ConversationDoc>("conversations", { _id: id, rev: 1, ...fields });
        return;
      } catch (error) {
        if (!(error instanceof DuplicateKeyError)) throw error;
        await contended(i);
        continue;
      }
    }
    if (rewrite) {
      // After a delete: removed and written anew, so the store forgets the old text as it does a removed message's (nedb compacts after a remove).
      if (await store.remove("conversations", id, { rev: current.rev })) rewrite = false;
      else await contended(i);
      continue;
    }
    const unset = fields.subject === undefined && current.subject !== undefined ? (["subject"] as const) : [];
    if (await store.update<ConversationDoc>("conversations", id, { set: { ...fields, rev: current.rev + 1 }, unset }, { rev: current.rev })) return;
    await contended(i);
  }
  throw new Error(`Could not update conversation ${id}: too much concurrent change.`);
}

/**
 * Files the documents of one site written before conversations were stored (no
 * `conversation` field), all at once: the site's messages are grouped by `groupThreads`
 * (the rule, over every message held), each unfiled document gets its group's
 * conversation (that of a document of the group already filed, if any), and the summaries
 * of the groups are written. One pass; idempotent (a document already filed is left
 * alone, and nothing is read beyond one `find` when none is left). Holds the site's
 * messages in memory for the pass (an upgrade: nedb holds them all anyway).
 */
async function fileUnfiled(store: Store, site: string): Promise<number> {
  if (!(await unfiledLeft(store, site))) return 0;
  const received = await store.find<InboxDoc>("inbox", { where: { recipient: site } });
  const sent = await store.find<OutboxDoc>("outbox", { where: { sender: site } });
  const groups = groupThreads(site, [
    ...received.map((doc): Item => ({ kind: "in", doc, at: doc.receivedAt })),
    ...sent.map((doc): Item => ({ kind: "out", doc, at: doc.createdAt })),
  ]);
  let filed = 0;
  for (const group of groups) {
    const unfiled = group.items.filter((i) => i.doc.conversation === undefined);
    if (unfiled.length === 0) continue;
    const target = group.items.find((i) => i.doc.conversation !== undefined)?.doc.conversation ?? group.id;
    for (const item of unfiled) {
      const fields = { conversation: target, pageKey: pageKeyOf(item.at, item.doc._id) };
      if (await store.update<InboxDoc | OutboxDoc>(item.kind === "in" ? "inbox" : "outbox", item.doc._id, { set: fields }, { conversation: null })) filed++;
    }
    if (target === group.id && unfiled.length === group.items.length) {
      // A conversation only older documents make up: its summary from what was just read.
      try {
        await store.insert<ConversationDoc>("conversations", { _id: target, rev: 1, ...summaryFields(group) });
        continue;
      } catch (error) {
        if (!(error instanceof DuplicateKeyError)) throw error;
      }
    }
    await refreshConversation(store, site, target);
  }
  return filed;
}

/** The filing of documents written before conversations were stored (owner/filing.ts), looked for at start. */
export const CONVERSATIONS_PASS: FilingPass = {
  name: "conversations",
  left: unfiledLeft,
  file: async (store, site) => {
    await fileUnfiled(store, site);
  },
};

async function unfiledLeft(store: Store, site: string): Promise<boolean> {
  for (const [collection, field] of [
    ["inbox", "recipient"],
    ["outbox", "sender"],
  ] as const) {
    if ((await store.find(collection, { where: { [field]: site, conversation: null }, limit: 1 })).length > 0) return true;
  }
  return false;
}

/**
 * Resolves once every document of these sites has its conversation (see `fileUnfiled`):
 * looked for at start (`PmServer.start`), else by the first owner read of a process; on a
 * shared store, later reads look again at most every `REFILE_CHECK_MS` (owner/filing.ts).
 */
export function ensureFiled(ctx: { store: Store; filing?: Filing }, sites: Iterable<string>): Promise<void> {
  return ensurePass(ctx, CONVERSATIONS_PASS, sites);
}

// ——— The owner's reads ———

/** A site named by an owner's query, canonical, and held here; `undefined` for none. @throws PmError `invalid_request` */
export function siteOf(ctx: OwnerContext, site: string | undefined): string | undefined {
  if (site === undefined) return undefined;
  if (!URL.canParse(site)) throw new PmError("invalid_request", "site is not a URL.");
  const canonical = canonicalUrl(site);
  if (!ctx.sites.has(canonical)) throw new PmError("invalid_request", `This server holds no site ${canonical}.`);
  return canonical;
}

/** The search's text matching when the store has none: any field contains the text (case-insensitive). */
function matches(item: Item, needle: string): boolean {
  const fields = [
    item.doc.content,
    item.doc.name ?? "",
    item.doc.sender,
    ...(item.kind === "in" ? [item.doc.recipient, ...(item.doc.to ?? [])] : item.doc.recipients),
  ];
  return fields.some((f) => f.toLowerCase().includes(needle));
}

/**
 * Conversations with a message matching `q`, for a store without `searchConversations`:
 * from the store's `search`, or by scanning the latest `CONVERSATION_WINDOW` messages.
 */
async function searchConversations(ctx: OwnerContext, sites: readonly string[], q: string, wanted: number): Promise<Set<string>> {
  const { store } = ctx;
  const boxes = sites.flatMap((site) =>
    (
      [
        ["inbox", "recipient"],
        ["outbox", "sender"],
      ] as const
    ).map(([collection, field]) => ({ site, collection, field })),
  );
  // Every site and direction at once: a database answers them side by side.
  const found = await Promise.all(
    boxes.map(async ({ site, collection, field }) => {
      const conversations: string[] = [];
      if (store.search) {
        const limit = Math.min(SEARCH_MAX, wanted * SEARCH_PER_CONVERSATION);
        for (const doc of await store.search<InboxDoc | OutboxDoc>(collection, { where: { [field]: site }, text: q, limit })) {
          if (doc.conversation !== undefined) conversations.push(doc.conversation);
        }
        return conversations;
      }
      const needle = q.toLowerCase();
      let before: string | undefined;
      for (let seen = 0; seen < CONVERSATION_WINDOW; ) {
        const batch = await store.find<InboxDoc | OutboxDoc>(collection, {
          where: { [field]: site },
          range: { field: "pageKey", lt: before ?? "\uffff" },
          sort: { field: "pageKey", order: "desc" },
          limit: Math.min(FILE_BATCH, CONVERSATION_WINDOW - seen),
        });
        for (const doc of batch) {
          const item = (collection === "inbox" ? { kind: "in", doc, at: 0 } : { kind: "out", doc, at: 0 }) as Item;
          if (doc.conversation !== undefined && matches(item, needle)) conversations.push(doc.conversation);
        }
        if (batch.length === 0) break;
        seen += batch.length;
        before = batch.at(-1)!.pageKey;
      }
      return conversations;
    }),
  );
  return new Set(found.flat());
}

/** The summaries these conversation IDs stand for now (`liveConversation` of each), read at once where the store can (`Store.getMany`). */
async function liveConversations(store: Store, ids: readonly string[]): Promise<(ConversationDoc | null)[]> {
  const docs = store.getMany
    ? await store.getMany<ConversationDoc>("conversations", ids)
    : await Promise.all(ids.map((id) => store.get<ConversationDoc>("conversations", id)));
  // The few that were merged away: followed one by one.
  return Promise.all(docs.map((doc, i) => (doc?.movedTo === undefined ? doc : liveConversation(store, ids[i]!))));
}

/** Conversations, latest activity first: one page. */
export async function conversationsPage(ctx: OwnerContext, query: ConversationQuery = {}): Promise<Page<Conversation>> {
  const site = siteOf(ctx, query.site);
  const sites = site === undefined ? [...ctx.sites] : [site];
  await ensureFiled(ctx, sites);
  const limit = listLimit(query);
  const before = query.before === undefined ? "\uffff" : decodeCursor(query.before);
  const q = query.q?.trim();
  let docs: ConversationDoc[];
  if (q && ctx.store.searchConversations) {
    // The page asked of the store at once: conversations with a match, latest activity first.
    docs = await ctx.store.searchConversations<ConversationDoc>({ sites, text: q, limit: limit + 1, ...(query.before === undefined ? {} : { before }) });
  } else if (q) {
    const ids = await searchConversations(ctx, sites, q, limit + 1);
    const live = new Map<string, ConversationDoc>();
    for (const doc of await liveConversations(ctx.store, [...ids])) {
      if (doc?.lastKey !== undefined && doc.lastKey < before) live.set(doc._id, doc);
    }
    docs = [...live.values()].sort((a, b) => (a.lastKey! < b.lastKey! ? 1 : -1)).slice(0, limit + 1);
  } else {
    docs = await ctx.store.find<ConversationDoc>("conversations", {
      ...(site ? { where: { site } } : {}),
      range: { field: "lastKey", lt: before },
      sort: { field: "lastKey", order: "desc" },
      limit: limit + 1,
    });
    // Conversations of sites this server no longer holds stay stored; they are not listed.
    if (!site) docs = docs.filter((d) => d.site !== undefined && ctx.sites.has(d.site));
  }
  const page = docs.slice(0, limit);
  return { items: page.map(conversationView), ...(docs.length > limit ? { next: encodeCursor(page.at(-1)!.lastKey!) } : {}) };
}

/** Conversations, latest activity first (one page, as `conversationsPage`). */
export async function listConversations(ctx: OwnerContext, query: ConversationQuery = {}): Promise<Conversation[]> {
  return (await conversationsPage(ctx, query)).items;
}

/** The summary of a conversation of one of this server's sites, or `null`. */
async function findConversation(ctx: OwnerContext, id: string): Promise<ConversationDoc | null> {
  await ensureFiled(ctx, ctx.sites);
  const doc = await ctx.store.get<ConversationDoc>("conversations", id);
  return doc?.site !== undefined && ctx.sites.has(doc.site) ? doc : null;
}

/**
 * One conversation with its messages, oldest first: all of them, or with `limit` the
 * latest `limit` before the cursor `before` (and `next` when older ones remain).
 */
export async function getThread(ctx: OwnerContext, id: string, query: { limit?: number; before?: string } = {}): Promise<Thread | null> {
  const doc = await findConversation(ctx, id);
  if (!doc) return null;
  const site = doc.site!;
  let items: Item[];
  let next: string | undefined;
  if (query.limit === undefined && query.before === undefined) items = await itemsOf(ctx.store, site, id);
  else {
    const limit = listLimit(query);
    const before = query.before === undefined ? "\uffff" : decodeCursor(query.before);
    const both = await itemsOf(ctx.store, site, id, { range: { field: "pageKey", lt: before }, sort: { field: "pageKey", order: "desc" }, limit: limit + 1 });
    both.sort((a, b) => (a.doc.pageKey! < b.doc.pageKey! ? 1 : -1));
    items = both.slice(0, limit);
    if (both.length > limit) next = encodeCursor(items.at(-1)!.doc.pageKey!);
  }
  const thread: ThreadItem[] = [];
  for (const item of threadOrder(items)) {
    if (item.kind === "in") thread.push({ direction: "received", ...receivedView(item.doc) });
    else {
      const deliveries = await ctx.store.find<DeliveryDoc>("deliveries", { where: { sender: item.doc.sender, message: item.doc.message } });
      thread.push({ direction: "sent", ...sentView(item.doc, deliveries), createdAt: iso(item.doc.createdAt) });
    }
  }
  return { ...conversationView(doc), items: thread, ...(next ? { next } : {}) };
}

/**
 * Marks one received message or a conversation read or unread. One message is named as
 * §2 keys it, by (sender, message ID) — another sender's message with the same ID is
 * left alone — and, with `site`, only the copy that site received.
 */
export async function markRead(ctx: OwnerContext, target: MessageKey | { conversation: string }, read: boolean): Promise<number> {
  let docs: InboxDoc[];
  if ("conversation" in target) {
    const doc = await findConversation(ctx, target.conversation);
    docs = doc ? await ctx.store.find<InboxDoc>("inbox", { where: { recipient: doc.site!, conversation: doc._id } }) : [];
  } else {
    if (typeof target.sender !== "string" || !URL.canParse(target.sender) || typeof target.message !== "string") {
      throw new PmError("invalid_request", "markRead needs the sender (a site URL) and the message ID of the message.");
    }
    const site = target.site === undefined ? undefined : siteOf(ctx, target.site);
    docs = await ctx.store.find<InboxDoc>("inbox", {
      where: { sender: canonicalUrl(target.sender), message: target.message, ...(site ? { recipient: site } : {}) },
    });
  }
  let changed = 0;
  const touched = new Map<string, string>();
  const marked: { kind: "in"; doc: InboxDoc }[] = [];
  for (const doc of docs) {
    if (!!doc.read === read) continue;
    if (await ctx.store.update<InboxDoc>("inbox", doc._id, read ? { set: { read: true } } : { unset: ["read"] })) {
      changed++;
      marked.push({ kind: "in", doc });
      if (doc.conversation !== undefined) touched.set(doc.conversation, doc.recipient);
    }
  }
  for (const [id, site] of touched) await refreshConversation(ctx.store, site, id);
  await chatsChanged(ctx.store, marked, ctx.chatWrites);
  return changed;
}

/** Deletes every message of a conversation; pending deliveries of its sent messages stop. */
export async function deleteConversation(ctx: OwnerContext, id: string): Promise<number> {
  const doc = await findConversation(ctx, id);
  if (!doc) return 0;
  const site = doc.site!;
  let n = 0;
  const removed: Item[] = [];
  for (;;) {
    const items = await itemsOf(ctx.store, site, id, { limit: FILE_BATCH });
    if (items.length === 0) break;
    removed.push(...items);
    for (const item of items) {
      if (item.kind === "in") {
        if (await ctx.store.remove("inbox", item.doc._id)) n++;
      } else {
        for (const d of await ctx.store.find<DeliveryDoc>("deliveries", { where: { sender: item.doc.sender, message: item.doc.message } }))
          await ctx.store.remove("deliveries", d._id);
        if (await ctx.store.remove("outbox", item.doc._id)) n++;
      }
    }
  }
  await refreshConversation(ctx.store, site, id);
  await chatsChanged(ctx.store, removed, ctx.chatWrites);
  return n;
}

/** Brings the summaries of these documents' conversations up to date after they were removed. */
export async function conversationsChanged(
  store: Store,
  docs: readonly { kind: "in" | "out"; doc: InboxDoc | OutboxDoc }[],
  writes?: ChatWrites,
): Promise<void> {
  const touched = new Map<string, string>();
  for (const { kind, doc } of docs) if (doc.conversation !== undefined) touched.set(doc.conversation, siteOfDoc(kind, doc));
  for (const [id, site] of touched) await refreshConversation(store, site, id, true);
  await chatsChanged(store, docs, writes);
}

/** Unread count (muted correspondents' not counted: owner/live.ts), the latest arrival and its cursor, for the inbox's "new message" indicator. */
export async function inboxStatus(ctx: OwnerContext, query: { site?: string } = {}): Promise<InboxStatus> {
  const site = siteOf(ctx, query.site);
  const where: Record<string, string> = site ? { recipient: site } : {};
  const unread = (await ctx.store.count("inbox", { ...where, read: null })) - (await mutedUnread(ctx.store, site ? [site] : ctx.sites));
  const latest = (await ctx.store.find<InboxDoc>("inbox", { where, sort: { field: "receivedAt", order: "desc" }, limit: 1 }))[0];
  const cursor = await latestCursor(ctx.store, site);
  return { unread, ...(latest ? { latestReceivedAt: iso(latest.receivedAt) } : {}), cursor };
}
