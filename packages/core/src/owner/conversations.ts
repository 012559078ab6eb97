/**
 * Conversations (PROTOCOL.md §5: "threads follow these links"): the received and sent
 * messages of one site grouped by following `in-reply-to` to the first message held —
 * or, when the message answered is not held here, to the ID it names, so replies to
 * one unknown message still share a conversation. Computed when asked, over the most
 * recent `CONVERSATION_WINDOW` messages of each direction and site: nothing to keep in
 * step when messages arrive out of order or are deleted.
 */
import type { Conversation, ConversationQuery, MessageKey, Thread, ThreadItem } from "../api.js";
import { PmError } from "../errors.js";
import type { DeliveryDoc, InboxDoc, OutboxDoc } from "../protocol/records.js";
import { keyOf } from "../secrets.js";
import { canonicalUrl } from "../urls.js";
import { listLimit, receivedView, sentView, type OwnerContext } from "./messages.js";

/** How many of the latest messages per direction and site conversations are built from. */
export const CONVERSATION_WINDOW = 5000;
const SNIPPET_CHARS = 140;

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

type Item = { kind: "in"; doc: InboxDoc; at: number } | { kind: "out"; doc: OutboxDoc; at: number };

interface Group {
  id: string;
  site: string;
  root: string;
  items: Item[];
}

/** Pure: the conversation ID of a thread root in a site. */
export function conversationId(site: string, root: string): string {
  return keyOf("conversation", site, root);
}

/**
 * Pure: groups one site's messages into threads. `parentOf` follows `in-reply-to`
 * while the parent is held; cycles (a forged `in-reply-to`) stop where they close.
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

function summary(group: Group): Conversation {
  const first = group.items[0]!;
  const last = group.items.reduce((a, b) => (b.at >= a.at ? b : a));
  const named = group.items.find((i) => i.doc.name);
  const text = last.doc.content.replace(/\s+/g, " ").trim();
  const subject = (first.doc.name ?? named?.doc.name) as string | undefined;
  return {
    id: group.id,
    site: group.site,
    root: group.root,
    ...(subject ? { subject } : {}),
    participants: participantsOf(group.site, group.items),
    messages: group.items.length,
    unread: group.items.filter((i) => i.kind === "in" && !i.doc.read).length,
    lastAt: iso(last.at),
    snippet: text.length > SNIPPET_CHARS ? `${text.slice(0, SNIPPET_CHARS - 1)}…` : text,
    lastSender: last.doc.sender,
  };
}

function matches(group: Group, q: string): boolean {
  const needle = q.toLowerCase();
  return group.items.some((i) => {
    const fields = [i.doc.content, i.doc.name ?? "", i.doc.sender, ...(i.kind === "in" ? [i.doc.recipient, ...(i.doc.to ?? [])] : i.doc.recipients)];
    return fields.some((f) => f.toLowerCase().includes(needle));
  });
}

async function loadGroups(ctx: OwnerContext, site: string | undefined): Promise<Group[]> {
  const sites = site === undefined ? [...ctx.sites] : [site];
  const groups: Group[] = [];
  for (const s of sites) {
    const received = await ctx.store.find<InboxDoc>("inbox", {
      where: { recipient: s },
      sort: { field: "receivedAt", order: "desc" },
      limit: CONVERSATION_WINDOW,
    });
    const sent = await ctx.store.find<OutboxDoc>("outbox", { where: { sender: s }, sort: { field: "createdAt", order: "desc" }, limit: CONVERSATION_WINDOW });
    const items: Item[] = [
      ...received.map((doc): Item => ({ kind: "in", doc, at: doc.receivedAt })),
      ...sent.map((doc): Item => ({ kind: "out", doc, at: doc.createdAt })),
    ];
    groups.push(...groupThreads(s, items));
  }
  return groups;
}

function siteOf(ctx: OwnerContext, site: string | undefined): string | undefined {
  if (site === undefined) return undefined;
  if (!URL.canParse(site)) throw new PmError("invalid_request", "site is not a URL.");
  const canonical = canonicalUrl(site);
  if (!ctx.sites.has(canonical)) throw new PmError("invalid_request", `This server holds no site ${canonical}.`);
  return canonical;
}

/** Conversations, latest activity first. */
export async function listConversations(ctx: OwnerContext, query: ConversationQuery = {}): Promise<Conversation[]> {
  const site = siteOf(ctx, query.site);
  let groups = await loadGroups(ctx, site);
  const q = query.q?.trim();
  if (q) groups = groups.filter((g) => matches(g, q));
  const limit = listLimit(query);
  return groups
    .map(summary)
    .sort((a, b) => (a.lastAt < b.lastAt ? 1 : a.lastAt > b.lastAt ? -1 : a.id < b.id ? -1 : 1))
    .slice(0, limit);
}

async function findGroup(ctx: OwnerContext, id: string): Promise<Group | undefined> {
  return (await loadGroups(ctx, undefined)).find((g) => g.id === id);
}

/** One conversation with its messages, oldest first. */
export async function getThread(ctx: OwnerContext, id: string): Promise<Thread | null> {
  const group = await findGroup(ctx, id);
  if (!group) return null;
  const items: ThreadItem[] = [];
  for (const item of group.items) {
    if (item.kind === "in") items.push({ direction: "received", ...receivedView(item.doc) });
    else {
      const deliveries = await ctx.store.find<DeliveryDoc>("deliveries", { where: { sender: item.doc.sender, message: item.doc.message } });
      items.push({ direction: "sent", ...sentView(item.doc, deliveries), createdAt: iso(item.doc.createdAt) });
    }
  }
  return { ...summary(group), items };
}

/**
 * Marks one received message or a conversation read or unread. One message is named as
 * §2 keys it, by (sender, message ID) — another sender's message with the same ID is
 * left alone — and, with `site`, only the copy that site received.
 */
export async function markRead(ctx: OwnerContext, target: MessageKey | { conversation: string }, read: boolean): Promise<number> {
  let docs: InboxDoc[];
  if ("conversation" in target) {
    const group = await findGroup(ctx, target.conversation);
    docs = (group?.items ?? []).flatMap((i) => (i.kind === "in" ? [i.doc] : []));
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
  for (const doc of docs) {
    if (!!doc.read === read) continue;
    if (await ctx.store.update<InboxDoc>("inbox", doc._id, read ? { set: { read: true } } : { unset: ["read"] })) changed++;
  }
  return changed;
}

/** Deletes every message of a conversation; pending deliveries of its sent messages stop. */
export async function deleteConversation(ctx: OwnerContext, id: string): Promise<number> {
  const group = await findGroup(ctx, id);
  let n = 0;
  for (const item of group?.items ?? []) {
    if (item.kind === "in") {
      if (await ctx.store.remove("inbox", item.doc._id)) n++;
    } else {
      for (const d of await ctx.store.find<DeliveryDoc>("deliveries", { where: { sender: item.doc.sender, message: item.doc.message } }))
        await ctx.store.remove("deliveries", d._id);
      if (await ctx.store.remove("outbox", item.doc._id)) n++;
    }
  }
  return n;
}

/** Unread count and the latest arrival, for the inbox's "new message" indicator. */
export async function inboxStatus(ctx: OwnerContext, query: { site?: string } = {}): Promise<{ unread: number; latestReceivedAt?: string }> {
  const site = siteOf(ctx, query.site);
  const where: Record<string, string> = site ? { recipient: site } : {};
  const unread = await ctx.store.count("inbox", { ...where, read: null });
  const latest = (await ctx.store.find<InboxDoc>("inbox", { where, sort: { field: "receivedAt", order: "desc" }, limit: 1 }))[0];
  return { unread, ...(latest ? { latestReceivedAt: iso(latest.receivedAt) } : {}) };
}
