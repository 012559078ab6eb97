/**
 * What the owner does with messages: write one (stored with one pending delivery per
 * recipient, §6 Durability), and read the inbox and outbox in the shapes of CLI.md.
 */
import { randomUUID } from "node:crypto";
import type { GrantedToken, ListQuery, MessageLookup, Page } from "../api.js";
import { PmError } from "../errors.js";
import { deliverFormExcess, isRfc3339, MAX_CONTENT_BYTES, utf8Length } from "@indiepm/protocol";
import type { DeliveryDoc, InboxDoc, OutboxDoc, SecretDoc } from "../protocol/records.js";
import { LIST_DEFAULT, LIST_MAX } from "../limits.js";
import { keyOf } from "../secrets.js";
import type { Store } from "../store/types.js";
import type { ChatWrites } from "./chats.js";
import type { DeliveryView, Flow, ReceivedMessage, SendInput, SentMessage } from "../types.js";
import { canonicalUrl, isMessageId, parseSiteUrl, type UrlPolicy } from "../urls.js";
import { chatKey } from "./chats.js";
import { conversationFields, conversationsChanged, ensureFiled, type Filing } from "./conversations.js";
import { capRecipients, siteAddressRefusal } from "./recipients.js";

export interface OwnerContext {
  endpoint: string;
  sites: ReadonlySet<string>;
  urlPolicy: UrlPolicy;
  store: Store;
  defaultFlow: Flow;
  now(): number;
  /** This server's filing of documents written before conversations were stored (owner/conversations.ts `ensureFiled`), made on first use. */
  filing?: Filing;
  /** This server's writes of chat summaries (owner/chats.ts `ChatWrites`), the engine's. */
  chatWrites?: ChatWrites;
}

/**
 * §2: the message's `deliver` would be over the 256 KiB body a receiver takes (its text
 * within 64 KiB, but with its HTML, subject and recipients percent-encoded): refused
 * before it is accepted, as no receiver could take it.
 */
export class MessageTooLargeError extends PmError {
  override name = "MessageTooLargeError";
  constructor(readonly excessBytes: number) {
    super(
      "too_large",
      `The message is too long to deliver: with its formatting it comes to ${Math.ceil(excessBytes / 1024)} KiB more than the 256 KiB a receiver takes. Shorten it or send it with less formatting.`,
    );
  }
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Validates what the owner asks to send; one sentence naming the field on error. */
export async function prepareSend(ctx: OwnerContext, input: SendInput): Promise<{ outbox: OutboxDoc; deliveries: DeliveryDoc[] }> {
  const bad = (text: string) => new PmError("invalid_request", text);
  if (typeof input?.from !== "string" || !URL.canParse(input.from)) throw bad("from must be the URL of a site this server holds.");
  const sender = canonicalUrl(input.from);
  if (!ctx.sites.has(sender)) throw bad(`from: this server holds no site ${sender}.`);
  if (typeof input.content !== "string" || input.content.length === 0) throw bad("content is missing.");
  if (utf8Length(input.content) > MAX_CONTENT_BYTES) throw new PmError("too_large", "content is over 64 KiB.");
  for (const field of ["subject", "html", "inReplyTo", "id", "published", "vouch"] as const) {
    if (input[field] !== undefined && typeof input[field] !== "string") throw bad(`${field} must be a string.`);
  }
  if (input.inReplyTo !== undefined && !isMessageId(input.inReplyTo)) throw bad("inReplyTo is not a message ID (an absolute URI).");
  if (input.id !== undefined && !isMessageId(input.id)) throw bad("id is not a message ID (an absolute URI).");
  if (input.published !== undefined && !isRfc3339(input.published)) throw bad("published is not an RFC 3339 date-time.");
  const vouch = input.vouch ? parseSiteUrl(input.vouch, "vouch", ctx.urlPolicy) : undefined;
  if (input.flow !== undefined && input.flow !== "token" && input.flow !== "message") throw bad('flow must be "token" or "message".');
  if (input.to !== undefined && (!Array.isArray(input.to) || input.to.some((t) => typeof t !== "string"))) throw bad("to must be a list of site URLs.");

  let recipients = [...new Set((input.to ?? []).map((t) => recipientUrl(t, ctx.urlPolicy)))];
  if (recipients.length === 0 && input.inReplyTo) recipients = await threadParticipants(ctx, sender, input.inReplyTo);
  recipients = recipients.filter((r) => r !== sender);
  if (recipients.length === 0) throw bad("to: name at least one recipient site.");
  // Before any recipient is looked up (PmServer.send's checkRecipients) or anything written.
  capRecipients(recipients);

  const now = ctx.now();
  const message = input.id ?? new URL(`messages/${randomUUID()}`, ctx.endpoint).href;
  if (await ctx.store.get("outbox", keyOf(sender, message))) throw bad(`id: ${message} was already sent.`);
  const flow = input.flow ?? ctx.defaultFlow;
  const outbox: OutboxDoc = {
    _id: keyOf(sender, message),
    message,
    sender,
    recipients,
    ...(recipients.length > 1 && !input.hideRecipients ? { to: recipients } : {}),
    content: input.content,
    ...(input.html ? { contentHtml: input.html } : {}),
    ...(input.subject ? { name: input.subject } : {}),
    ...(input.inReplyTo ? { inReplyTo: input.inReplyTo } : {}),
    ...(vouch ? { vouch } : {}),
    published: input.published ?? iso(now),
    flow,
    createdAt: now,
  };
  // §2: a receiver takes at most 256 KiB of form; HTML beside 64 KiB of text can pass it once encoded.
  const excess = deliverFormExcess(outbox, recipients);
  if (excess > 0) throw new MessageTooLargeError(excess);
  Object.assign(outbox, await conversationFields(ctx.store, "out", outbox));
  outbox.chat = chatKey("out", outbox);
  const deliveries = recipients.map<DeliveryDoc>((recipient) => ({
    _id: keyOf(sender, recipient, message),
    message,
    sender,
    recipient,
    flow,
    status: "pending",
    stage: "discover",
    ...(vouch ? { vouch } : {}),
    rev: 0,
    attempts: 0,
    nextAttemptAt: now,
    createdAt: now,
    updatedAt: now,
  }));
  return { outbox, deliveries };
}

/** A `to` entry: a site URL (PROTOCOL.md "URLs") whose host is a site address (owner/recipients.ts `siteAddressRefusal`). */
function recipientUrl(value: string, policy: UrlPolicy): string {
  const site = parseSiteUrl(value, "to", policy);
  const refusal = siteAddressRefusal(site);
  if (refusal) throw new PmError("invalid_request", `to: ${site} is not a site address: ${refusal}.`);
  return site;
}

/**
 * §5: a reply goes by default to the participants of its thread — the sender of the
 * message it answers and its `to` — less the one replying.
 */
async function threadParticipants(ctx: OwnerContext, self: string, inReplyTo: string): Promise<string[]> {
  const received = await ctx.store.find<InboxDoc>("inbox", { where: { message: inReplyTo, recipient: self } });
  const sent = await ctx.store.find<OutboxDoc>("outbox", { where: { message: inReplyTo, sender: self } });
  const people = new Set<string>();
  for (const m of received) for (const p of [m.sender, ...(m.to ?? [])]) people.add(p);
  for (const m of sent) for (const p of m.recipients) people.add(p);
  people.delete(self);
  return [...people];
}

export function deliveryView(d: DeliveryDoc): DeliveryView {
  // A cancelled delivery ended without being delivered: `failed`, error `cancelled` (CLI.md's three states).
  if (d.status === "cancelled") return { recipient: d.recipient, status: "failed", error: "cancelled", updatedAt: iso(d.updatedAt) };
  return {
    recipient: d.recipient,
    status: d.status,
    ...(d.status === "failed" && d.error ? { error: d.error } : {}),
    ...(d.detail ? { detail: d.detail } : {}),
    updatedAt: iso(d.updatedAt),
    ...(d.status === "pending" && d.attempts > 0 ? { attempts: d.attempts, nextAttemptAt: iso(d.nextAttemptAt), ...(d.error ? { error: d.error } : {}) } : {}),
  };
}

export function sentView(o: OutboxDoc, deliveries: DeliveryDoc[]): SentMessage {
  const byRecipient = new Map(deliveries.map((d) => [d.recipient, d]));
  return {
    message: o.message,
    sender: o.sender,
    content: o.content,
    published: o.published,
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.contentHtml !== undefined ? { contentHtml: o.contentHtml } : {}),
    ...(o.inReplyTo !== undefined ? { inReplyTo: o.inReplyTo } : {}),
    ...(o.to !== undefined ? { to: o.to } : {}),
    deliveries: o.recipients.flatMap((r) => {
      const d = byRecipient.get(r);
      return d ? [deliveryView(d)] : [];
    }),
  };
}

export function receivedView(m: InboxDoc): ReceivedMessage {
  return {
    message: m.message,
    sender: m.sender,
    recipient: m.recipient,
    content: m.content,
    published: m.published,
    receivedAt: iso(m.receivedAt),
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.contentHtml !== undefined ? { contentHtml: m.contentHtml } : {}),
    ...(m.inReplyTo !== undefined ? { inReplyTo: m.inReplyTo } : {}),
    ...(m.to !== undefined ? { to: m.to } : {}),
    ...(m.read ? { read: true } : {}),
  };
}

/**
 * A page cursor as clients see it: the page key (owner/conversations.ts `pageKeyOf`) of the
 * last item of the page, base64url. Opaque to clients; checked when it comes back.
 */
export function encodeCursor(key: string): string {
  return Buffer.from(key, "utf8").toString("base64url");
}

/** @throws PmError `invalid_request` for a cursor this server did not give. */
export function decodeCursor(cursor: string): string {
  const key = typeof cursor === "string" && /^[A-Za-z0-9_-]{1,400}$/.test(cursor) ? Buffer.from(cursor, "base64url").toString("utf8") : "";
  if (!/^\d{15}\./.test(key)) throw new PmError("invalid_request", "before is not a cursor this server gave (pass on the next of a previous page).");
  return key;
}

/** How many items a list answers for `query.limit`. */
export function listLimit(query: { limit?: number }): number {
  return Math.max(1, Math.min(LIST_MAX, Math.floor(query.limit ?? LIST_DEFAULT)));
}

function siteFilter(site: string | undefined): string | undefined {
  if (site === undefined) return undefined;
  if (!URL.canParse(site)) throw new PmError("invalid_request", "site is not a URL.");
  return canonicalUrl(site);
}

/**
 * One page of a box, newest first: a sorted, limited `find` on the `pageKey` index, after
 * the cursor's key. Documents written before page keys existed are filed first
 * (owner/conversations.ts `ensureFiled`).
 */
async function boxPage<T extends InboxDoc | OutboxDoc>(
  ctx: OwnerContext,
  collection: "inbox" | "outbox",
  field: "recipient" | "sender",
  query: ListQuery,
): Promise<{ docs: T[]; next?: string }> {
  const site = siteFilter(query.site);
  await ensureFiled(ctx, site !== undefined && ctx.sites.has(site) ? [site] : ctx.sites);
  const limit = listLimit(query);
  const found = await ctx.store.find<T>(collection, {
    ...(site ? { where: { [field]: site } } : {}),
    range: { field: "pageKey", lt: query.before === undefined ? "\uffff" : decodeCursor(query.before) },
    sort: { field: "pageKey", order: "desc" },
    limit: limit + 1,
  });
  const docs = found.slice(0, limit);
  return { docs, ...(found.length > limit ? { next: encodeCursor(docs.at(-1)!.pageKey!) } : {}) };
}

export async function inboxPage(ctx: OwnerContext, query: ListQuery = {}): Promise<Page<ReceivedMessage>> {
  const { docs, next } = await boxPage<InboxDoc>(ctx, "inbox", "recipient", query);
  return { items: docs.map(receivedView), ...(next ? { next } : {}) };
}

export async function outboxPage(ctx: OwnerContext, query: ListQuery = {}): Promise<Page<SentMessage>> {
  const { docs, next } = await boxPage<OutboxDoc>(ctx, "outbox", "sender", query);
  const items = await Promise.all(
    docs.map(async (o) => sentView(o, await ctx.store.find<DeliveryDoc>("deliveries", { where: { sender: o.sender, message: o.message } }))),
  );
  return { items, ...(next ? { next } : {}) };
}

export async function listInbox(ctx: OwnerContext, query: ListQuery = {}): Promise<ReceivedMessage[]> {
  return (await inboxPage(ctx, query)).items;
}

export async function listOutbox(ctx: OwnerContext, query: ListQuery = {}): Promise<SentMessage[]> {
  return (await outboxPage(ctx, query)).items;
}

export async function lookupMessage(ctx: OwnerContext, id: string): Promise<MessageLookup> {
  const sent = await ctx.store.find<OutboxDoc>("outbox", { where: { message: id }, limit: 1 });
  const received = await ctx.store.find<InboxDoc>("inbox", { where: { message: id } });
  const first = sent[0];
  return {
    sent: first ? sentView(first, await ctx.store.find<DeliveryDoc>("deliveries", { where: { sender: first.sender, message: id } })) : null,
    received: received.map(receivedView),
  };
}

/**
 * Deletes a message wherever this server holds it (or only in `site`'s boxes); pending
 * deliveries of it stop. A receiver keys messages by (sender, message ID) (§2 Formats):
 * with `sender`, only that sender's copies go; without it, an ID held from more than one
 * sender is refused, since two senders may use the same ID and one's delete must not
 * reach the other's message.
 * @throws PmError `invalid_request` naming the senders, when `sender` is needed.
 */
export async function deleteMessage(ctx: OwnerContext, id: string, query: { site?: string; sender?: string } = {}): Promise<number> {
  const { site } = query;
  const sender = query.sender === undefined ? undefined : siteFilter(query.sender);
  const sent = await ctx.store.find<OutboxDoc>("outbox", { where: { message: id, ...(site ? { sender: site } : {}) } });
  const received = await ctx.store.find<InboxDoc>("inbox", { where: { message: id, ...(site ? { recipient: site } : {}) } });
  const senders = new Set([...sent, ...received].map((m) => m.sender));
  if (sender === undefined && senders.size > 1) {
    throw new PmError(
      "invalid_request",
      `${id} is held from ${senders.size} senders (${[...senders].sort().join(", ")}); name whose message to delete with sender.`,
    );
  }
  let n = 0;
  const removed: { kind: "in" | "out"; doc: InboxDoc | OutboxDoc }[] = [];
  for (const o of sent) {
    if (sender !== undefined && o.sender !== sender) continue;
    for (const d of await ctx.store.find<DeliveryDoc>("deliveries", { where: { sender: o.sender, message: id } })) await ctx.store.remove("deliveries", d._id);
    if (await ctx.store.remove("outbox", o._id)) {
      n++;
      removed.push({ kind: "out", doc: o });
    }
  }
  for (const m of received) {
    if (sender !== undefined && m.sender !== sender) continue;
    if (await ctx.store.remove("inbox", m._id)) {
      n++;
      removed.push({ kind: "in", doc: m });
    }
  }
  await conversationsChanged(ctx.store, removed, ctx.chatWrites);
  return n;
}

/** §4: the standing tokens this server granted, as the owner sees them. */
export async function listTokens(ctx: OwnerContext, query: { site?: string } = {}): Promise<GrantedToken[]> {
  const site = siteFilter(query.site);
  const docs = await ctx.store.find<SecretDoc>("secrets", {
    where: { kind: "standing-token", ...(site ? { recipient: site } : {}) },
    sort: { field: "createdAt", order: "desc" },
    limit: LIST_MAX,
  });
  return docs.map((d) => ({
    id: d._id,
    sender: d.sender,
    recipient: d.recipient,
    createdAt: iso(d.createdAt),
    expiresAt: iso(d.expiresAt),
    ...(d.lastUsedAt !== undefined ? { lastUsedAt: iso(d.lastUsedAt) } : {}),
    ...(d.revokedAt !== undefined ? { revokedAt: iso(d.revokedAt) } : {}),
  }));
}

/** §4: revokes a standing token; `deliver` with it then answers 401 `invalid_token`. */
export async function revokeToken(ctx: OwnerContext, id: string): Promise<boolean> {
  const doc = await ctx.store.get<SecretDoc>("secrets", id);
  if (doc?.kind !== "standing-token") return false;
  if (doc.revokedAt !== undefined) return true;
  return ctx.store.update<SecretDoc>("secrets", id, { set: { revokedAt: ctx.now() } }, { revokedAt: null });
}
