/**
 * Every query shape the engine makes, and the index that answers it (issue 11: "every
 * query the engine makes uses an index"). A shape is what `find`/`count` filter and order
 * by, without values: the collection, the fields of `where` (equality, `null` included),
 * and the field of `range` or `sort`. test/explain.test.ts seeds each table and fails on
 * a sequential scan for any shape here; a store's `onQuery` hook reports the shapes a
 * flow really makes, so a test can check they are all listed (`isListedShape`).
 *
 * An index is a list of key fields: `eq` fields first (the `where` fields, any order the
 * query's fields include as a prefix), then at most one `order` field (range and sort),
 * indexed as (type rank, number, string) so one index serves both (sql.ts).
 *
 * Adding a shape: add a row. The index is created at the next start (IF NOT EXISTS,
 * under the migration lock), named from its definition.
 */
import type { CollectionName } from "@indiepm/core";

export interface QueryShape {
  collection: CollectionName;
  /** The `where` fields, sorted. */
  where: readonly string[];
  /** The `range` field, if any. */
  range?: string;
  /** The `sort` field, if any. */
  sort?: string;
}

export interface IndexDefinition {
  collection: CollectionName;
  eq: readonly string[];
  order?: string;
  /**
   * A partial index: only documents whose field equals the value (`null`: missing too, as
   * in `where`). A query whose `where` has the same value is answered from it (PostgreSQL
   * plans each call with its values while the custom plan is cheaper, as it is here).
   */
  partial?: Readonly<Record<string, null | string | number | boolean>>;
}

/** The engine's query shapes (grep `store.find`/`store.count` in packages/*\/src), each with where it comes from. */
export const QUERY_SHAPES: readonly (QueryShape & { from: string })[] = [
  // The work queue (jobs/queue.ts): due work, earliest first.
  { collection: "deliveries", where: ["status"], range: "nextAttemptAt", sort: "nextAttemptAt", from: "jobs/queue.ts due deliveries" },
  { collection: "deliveries", where: ["status"], sort: "nextAttemptAt", from: "jobs/queue.ts next due delivery" },
  { collection: "handshakes", where: ["state"], range: "nextAttemptAt", sort: "nextAttemptAt", from: "jobs/queue.ts due handshakes" },
  { collection: "handshakes", where: ["state"], sort: "nextAttemptAt", from: "jobs/queue.ts next due handshake" },
  { collection: "webhooks", where: ["status"], range: "nextAttemptAt", sort: "nextAttemptAt", from: "jobs/queue.ts due webhooks" },
  { collection: "webhooks", where: ["status"], sort: "nextAttemptAt", from: "jobs/queue.ts next due webhook" },
  { collection: "deliveries", where: ["status"], range: "nextAttemptAt", from: "jobs/queue.ts is any delivery due (idle)" },
  { collection: "handshakes", where: ["state"], range: "nextAttemptAt", from: "jobs/queue.ts is any handshake due (idle)" },
  { collection: "webhooks", where: ["status"], range: "nextAttemptAt", from: "jobs/queue.ts is any webhook due (idle)" },
  // Deliveries by handshake, by recipient, by message (jobs/delivery.ts, actions/grant.ts, owner/*).
  { collection: "deliveries", where: ["handshake", "stage", "status"], from: "jobs/delivery.ts deliveries joining a handshake" },
  { collection: "deliveries", where: ["handshake", "status"], from: "actions/grant.ts deliveries of a code" },
  { collection: "deliveries", where: ["recipient", "sender", "stage", "status"], from: "actions/grant.ts deliveries awaiting a grant" },
  { collection: "deliveries", where: ["message", "sender"], from: "owner/messages.ts deliveries of a message" },
  { collection: "deliveries", where: ["sender"], from: "owner/export.ts a site's deliveries" },
  // A site's failed and pending deliveries, the latest change first, and how many failed (owner/deliveries.ts; issue 12).
  { collection: "deliveries", where: ["sender", "status"], sort: "updatedAt", from: "owner/deliveries.ts a site's failed (or pending) deliveries" },
  { collection: "deliveries", where: ["sender", "status"], from: "owner/deliveries.ts how many of a site's deliveries failed" },
  // Handshakes: per sender host, and the sweep of finished ones (jobs/dialback.ts, jobs/sweeper.ts).
  { collection: "handshakes", where: ["senderHost", "state"], from: "jobs/dialback.ts active handshakes of a host" },
  { collection: "handshakes", where: ["state"], range: "updatedAt", from: "jobs/sweeper.ts finished handshakes" },
  // Secrets: open codes of a pair, expired ones, standing tokens (jobs/delivery.ts, jobs/sweeper.ts, owner/messages.ts).
  { collection: "secrets", where: ["endpoint", "kind", "recipient", "sender"], range: "awaitUntil", from: "jobs/delivery.ts joinable codes" },
  { collection: "secrets", where: [], range: "expiresAt", from: "jobs/sweeper.ts expired secrets" },
  { collection: "secrets", where: ["kind"], sort: "createdAt", from: "owner/messages.ts standing tokens" },
  { collection: "secrets", where: ["kind", "recipient"], sort: "createdAt", from: "owner/messages.ts a site's standing tokens" },
  // Sessions: the sweep (owner/sessions.ts).
  { collection: "sessions", where: [], range: "expiresAt", from: "owner/sessions.ts expired sessions" },
  // Inbox and outbox pages, conversations, messages by id (owner/*).
  { collection: "inbox", where: ["recipient"], sort: "receivedAt", from: "owner/messages.ts a site's inbox" },
  { collection: "inbox", where: [], sort: "receivedAt", from: "owner/messages.ts every site's inbox" },
  { collection: "inbox", where: ["recipient"], from: "owner/export.ts a site's inbox" },
  { collection: "inbox", where: ["read", "recipient"], from: "owner/conversations.ts unread" },
  { collection: "inbox", where: ["read", "recipient", "sender"], from: "owner/live.ts unread of a muted correspondent" },
  { collection: "inbox", where: ["message"], from: "owner/messages.ts a message" },
  { collection: "inbox", where: ["message", "recipient"], from: "owner/messages.ts a site's message" },
  { collection: "inbox", where: ["message", "sender"], from: "owner/conversations.ts mark read" },
  { collection: "inbox", where: ["message", "recipient", "sender"], from: "owner/conversations.ts mark read on a site" },
  { collection: "outbox", where: ["sender"], sort: "createdAt", from: "owner/messages.ts a site's outbox" },
  { collection: "outbox", where: [], sort: "createdAt", from: "owner/messages.ts every site's outbox" },
  { collection: "outbox", where: ["sender"], from: "owner/export.ts a site's outbox" },
  { collection: "outbox", where: ["message"], from: "owner/messages.ts a message" },
  { collection: "outbox", where: ["message", "sender"], from: "owner/messages.ts a site's message" },
  // Stored conversations and keyset pages (owner/conversations.ts, owner/messages.ts; issue 11).
  { collection: "inbox", where: ["conversation", "recipient"], from: "owner/conversations.ts a conversation's received messages" },
  { collection: "inbox", where: ["conversation", "recipient"], range: "pageKey", sort: "pageKey", from: "owner/conversations.ts a page of a conversation" },
  { collection: "inbox", where: ["conversation", "recipient"], sort: "receivedAt", from: "owner/conversations.ts filing documents of the old shape" },
  { collection: "inbox", where: ["recipient"], range: "pageKey", sort: "pageKey", from: "owner/messages.ts a page of a site's inbox" },
  { collection: "inbox", where: [], range: "pageKey", sort: "pageKey", from: "owner/messages.ts a page of every site's inbox" },
  { collection: "inbox", where: ["message", "recipient"], sort: "receivedAt", from: "owner/conversations.ts the copy of a parent held" },
  { collection: "outbox", where: ["conversation", "sender"], from: "owner/conversations.ts a conversation's sent messages" },
  { collection: "outbox", where: ["conversation", "sender"], range: "pageKey", sort: "pageKey", from: "owner/conversations.ts a page of a conversation" },
  { collection: "outbox", where: ["conversation", "sender"], sort: "createdAt", from: "owner/conversations.ts filing documents of the old shape" },
  { collection: "outbox", where: ["sender"], range: "pageKey", sort: "pageKey", from: "owner/messages.ts a page of a site's outbox" },
  { collection: "outbox", where: [], range: "pageKey", sort: "pageKey", from: "owner/messages.ts a page of every site's outbox" },
  { collection: "conversations", where: ["site"], range: "lastKey", sort: "lastKey", from: "owner/conversations.ts a page of a site's conversations" },
  { collection: "conversations", where: [], range: "lastKey", sort: "lastKey", from: "owner/conversations.ts a page of every site's conversations" },
  { collection: "conversations", where: ["site"], from: "owner/export.ts a site's conversations" },
  // Chats: a site's messages by person (owner/chats.ts, issue 12).
  { collection: "inbox", where: ["chat", "recipient"], from: "owner/chats.ts filing older documents; a chat's received messages" },
  { collection: "inbox", where: ["chat", "recipient"], range: "pageKey", sort: "pageKey", from: "owner/chats.ts a page of a chat" },
  { collection: "inbox", where: ["chat", "read", "recipient"], from: "owner/chats.ts a chat's unread" },
  { collection: "outbox", where: ["chat", "sender"], from: "owner/chats.ts filing older documents" },
  { collection: "outbox", where: ["chat", "sender"], range: "pageKey", sort: "pageKey", from: "owner/chats.ts a page of a chat" },
  { collection: "chats", where: ["site"], range: "lastKey", sort: "lastKey", from: "owner/chats.ts a page of a site's chats" },
  { collection: "chats", where: [], range: "lastKey", sort: "lastKey", from: "owner/chats.ts a page of every site's chats" },
  { collection: "chats", where: ["site"], from: "owner/export.ts a site's chats (delete all)" },
  // Webhooks of a site (owner/export.ts).
  { collection: "webhooks", where: ["site"], from: "owner/export.ts a site's webhooks" },
];

/** The indexes answering QUERY_SHAPES (the primary key on `_id` answers `get` and `where: { _id }`). */
export const INDEXES: readonly IndexDefinition[] = [
  { collection: "deliveries", eq: ["status"], order: "nextAttemptAt" },
  { collection: "deliveries", eq: ["handshake"] },
  { collection: "deliveries", eq: ["sender", "recipient"] },
  { collection: "deliveries", eq: ["message"] },
  { collection: "deliveries", eq: ["sender", "status"], order: "updatedAt" },
  { collection: "handshakes", eq: ["state"], order: "nextAttemptAt" },
  { collection: "handshakes", eq: ["state"], order: "updatedAt" },
  { collection: "handshakes", eq: ["senderHost"] },
  { collection: "webhooks", eq: ["status"], order: "nextAttemptAt" },
  { collection: "webhooks", eq: ["site"] },
  { collection: "secrets", eq: ["sender", "recipient"] },
  { collection: "secrets", eq: [], order: "expiresAt" },
  { collection: "secrets", eq: ["kind"], order: "createdAt" },
  { collection: "secrets", eq: ["kind", "recipient"], order: "createdAt" },
  { collection: "sessions", eq: [], order: "expiresAt" },
  { collection: "inbox", eq: ["recipient"], order: "receivedAt" },
  { collection: "inbox", eq: [], order: "receivedAt" },
  { collection: "inbox", eq: ["message"] },
  { collection: "outbox", eq: ["sender"], order: "createdAt" },
  { collection: "outbox", eq: [], order: "createdAt" },
  { collection: "outbox", eq: ["message"] },
  { collection: "inbox", eq: ["recipient", "conversation"], order: "pageKey" },
  { collection: "inbox", eq: ["recipient"], order: "pageKey" },
  { collection: "inbox", eq: [], order: "pageKey" },
  { collection: "outbox", eq: ["sender", "conversation"], order: "pageKey" },
  { collection: "outbox", eq: ["sender"], order: "pageKey" },
  { collection: "outbox", eq: [], order: "pageKey" },
  { collection: "conversations", eq: ["site"], order: "lastKey" },
  { collection: "conversations", eq: [], order: "lastKey" },
  { collection: "inbox", eq: ["recipient", "chat"], order: "pageKey" },
  { collection: "outbox", eq: ["sender", "chat"], order: "pageKey" },
  { collection: "inbox", eq: ["recipient", "chat"], partial: { read: null } },
  { collection: "chats", eq: ["site"], order: "lastKey" },
  { collection: "chats", eq: [], order: "lastKey" },
  // inboxStatus's unread count: the unread messages alone, by site (a few of a million; counting `read: null` over the inbox took 2.1 s there).
  { collection: "inbox", eq: ["recipient"], partial: { read: null } },
];

/** The shape of a `find`/`count` call. */
export function shapeOf(collection: CollectionName, where: Record<string, unknown> | undefined, range?: string, sort?: string): QueryShape {
  return {
    collection,
    where: Object.keys(where ?? {}).sort(),
    ...(range === undefined ? {} : { range }),
    ...(sort === undefined ? {} : { sort }),
  };
}

export function shapeKey(shape: QueryShape): string {
  return `${shape.collection} where(${shape.where.join(",")}) range(${shape.range ?? ""}) sort(${shape.sort ?? ""})`;
}

const LISTED = new Set(QUERY_SHAPES.map(shapeKey));

/** Whether QUERY_SHAPES lists this shape (so the EXPLAIN test covers it). A query by `_id` is always answered by the primary key. */
export function isListedShape(shape: QueryShape): boolean {
  return shape.where.includes("_id") || LISTED.has(shapeKey(shape));
}
