/**
 * The engine's public surface: what the Express middleware, the standalone server and
 * the CLI build on. `createPmServer` (server.ts) returns a `PmServer`.
 *
 * HTTP surface of `PmServer.handle`, paths relative to where it is mounted (the
 * standalone server mounts it at `/`, so the federation endpoint is `POST /`):
 *
 * | method and path                | what                                                         |
 * | ------------------------------ | ------------------------------------------------------------ |
 * | `POST /`                       | the federation endpoint (PROTOCOL.md §2–§5)                  |
 * | `GET /`                        | a short page saying this is a pm endpoint                    |
 * | `POST /api/messages`           | owner: send (JSON `SendInput`; at most `MAX_RECIPIENTS` recipients, then each checked, `SendOptions.checkRecipients`) → 202 `{message, deliveries}` |
 * | `GET /api/messages/{id}`       | owner: one message by ID (URI-encoded) → `MessageLookup`     |
 * | `DELETE /api/messages/{id}?sender=&site=` | owner: delete it (`sender`: whose message; needed when the ID is held from several) → `{deleted: N}` |
 * | `GET /api/inbox?site=&limit=&before=`  | owner: received messages, newest arrival first       |
 * | `GET /api/outbox?site=&limit=&before=` | owner: sent messages with deliveries, newest first   |
 * | `GET /api/tokens?site=`        | owner: standing tokens this server granted (§4), not secrets |
 * | `DELETE /api/tokens/{id}`      | owner: revoke one; it then answers `401 invalid_token`       |
 * | `GET /api/settings?site=`      | owner: §7 policy, contacts, block list, webhook → `SiteSettings` |
 * | `PATCH /api/settings?site=`    | owner: change them (JSON `SettingsChange`) → `SiteSettings`  |
 * | `GET /api/conversations?site=&q=&limit=&before=` | owner: conversations (threads, §5), latest activity first |
 * | `GET /api/conversations/{id}?limit=&before=` | owner: one conversation with its messages in order → `Thread` |
 * | `GET /api/people?site=&limit=&before=` | owner: chats, one per correspondent (or set of them), latest activity first → `Chat[]` |
 * | `GET /api/people/{id}?limit=&before=` | owner: one chat with its latest messages in time order → `ChatThread` |
 * | `GET /api/export?site=`        | owner: every message as one JSON document → `ExportDocument` |
 * | `GET /api/profiles?site=…&site=…` | owner: the people behind these sites, as kept (h-card name, photo) → `Person[]`; those never read are read in the background |
 * | `GET /api/avatars/{id}`        | owner: a kept photo by `Person.avatar` (PNG, JPEG, GIF or WebP)  |
 * | `GET /api/deliveries?site=&state=failed\|stuck&limit=` | owner: deliveries not delivered (given up, or retrying after a failed try) → `DeliveryProblem[]`, latest change first |
 * | `GET /api/deliveries/count?site=` | owner: how many → `{failed, stuck}`                       |
 * | `POST /api/deliveries/{id}/retry` | owner: try a pending, failed or cancelled delivery again now → `DeliveryView` |
 * | `POST /api/deliveries/{id}/cancel` | owner: never try a pending or failed delivery again → `DeliveryView` (`failed`, error `cancelled`) |
 *
 * The owner API needs `Authorization: Bearer OWNER_TOKEN` and answers errors in the §2
 * shape (`401 invalid_token`, `400 invalid_request`, `404 unknown_message`).
 *
 * Lists come in pages (`limit`, default 100, at most 1000): when more follow, the answer
 * has a `Link: <…?before=CURSOR>; rel="next"` header naming the next page (RFC 8288), the
 * body staying the array it always was. `before` is opaque: pass on what `next` gave.
 */
import type { Chat, ChatThread } from "./owner/chats.js";
import type { SitePolicy, SiteSettings, WritePolicy } from "@indiepm/protocol";
import type { HttpClient } from "./http/types.js";
import type { TrustProxy, TrustProxyValue } from "./http/trust-proxy.js";
import type { HtmlSanitizer } from "./sanitize.js";
import type { Store } from "./store/types.js";
import type { Flow, ProtocolEvent, ReceivedMessage, SendInput, SentMessage } from "./types.js";
import type { DeliveryView } from "./types.js";
import type { ErrorCode } from "./errors.js";

// §7 receiver policy and settings: defined with the verdicts that read them.
export type { SitePolicy, SiteSettings, WritePolicy };

/**
 * Retry schedule of §6 ("exponential back-off and jitter, for up to 3 days"), for
 * deliveries, handshakes and webhooks alike. A peer's `Retry-After` lengthens a wait but
 * never shortens it below the back-off; handshakes give up after an hour at most; and every
 * job has a hard cap on its tries (`JOB_LIMITS`: 160 for a delivery or a webhook, 12 for a
 * handshake), whatever these options say.
 */
export interface RetryOptions {
  /** First back-off, ms (default 5 000). */
  baseDelayMs?: number;
  /** Longest back-off, ms (default 1 hour). */
  maxDelayMs?: number;
  /** Give up after this long since the first try, ms (default 3 days). */
  giveUpAfterMs?: number;
  /** §6: a receiver that has not come back with request/grant within this is a retryable failure (default 60 000). */
  handshakeTimeoutMs?: number;
}

export interface Logger {
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

export interface PmServerOptions {
  /** The endpoint URL as the world sees it: what the sites' rel=pm name (E in PROTOCOL.md). */
  endpoint: string;
  /** Site URLs whose inbox and outbox this server holds. */
  sites: string[];
  /** Where everything is kept. */
  store: Store;
  /** Development mode: http, IP addresses, loopback and private addresses allowed (§6). */
  dev?: boolean;
  /** The owner API's bearer token; without one the owner API answers 401 to everything. */
  ownerToken?: string;
  /** Outbound client; default: `createHttpClient({ dev })`. */
  http?: HttpClient;
  /** Flow used by `send` when the input names none (§4: token flow by default). */
  defaultFlow?: Flow;
  /** §7 policies, keyed by site URL. */
  policies?: Record<string, SitePolicy>;
  /** §4 step 4: lifetime of standing tokens this server grants, seconds (default 30 days). */
  grantLifetimeSeconds?: number;
  /** §6 Abuse: notify/authorize per minute per sender site (60) and per client address (300). */
  rateLimits?: { perSenderPerMinute?: number; perClientPerMinute?: number };
  retry?: RetryOptions;
  /** Largest federation body, bytes (§2: 256 KiB). */
  maxBodyBytes?: number;
  /**
   * Reverse proxies trusted to name the client in `X-Forwarded-For`, for the §6
   * per-client limits: `false` (default), a number of hops, or proxy addresses and CIDR
   * ranges (`"loopback"`, `["10.0.0.0/8"]`). `true` is refused (any client could then
   * choose its address). Applied by `createNodeHandler` and the Express middleware.
   */
  trustProxy?: TrustProxyValue;
  /** §5 `content-html`: sanitizes received HTML off the event loop; default `createSanitizerPool()`. One passed in is the caller's to close. */
  sanitizer?: HtmlSanitizer;
  /** Called for every protocol step made or answered (the demo's trace, logs). */
  onEvent?: (event: ProtocolEvent) => void;
  logger?: Logger;
  /** Milliseconds since the epoch; tests move time with it. */
  now?: () => number;
}

/** `GET /api/messages/{id}`: the message as sent and/or as received. */
export interface MessageLookup {
  sent: SentMessage | null;
  received: ReceivedMessage[];
}

/** One received message as a receiver keys it (§2 Formats): its sender and its ID, and optionally the site that received it. */
export interface MessageKey {
  sender: string;
  message: string;
  site?: string;
}

export interface ListQuery {
  site?: string;
  limit?: number;
  /** The cursor a previous page gave as `next`: the page after it. */
  before?: string;
}

/** One page of a list, and the cursor of the next one (absent on the last page). */
export interface Page<T> {
  items: T[];
  next?: string;
}

/** A standing token this server granted (§4 step 4), as the owner sees it: never the secret. */
export interface GrantedToken {
  /** Stable identifier for revoking (the SHA-256 of the token, which is all that is stored). */
  id: string;
  /** The site allowed to write. */
  sender: string;
  /** The site of this server it may write to. */
  recipient: string;
  createdAt: string;
  expiresAt: string;
  lastUsedAt?: string;
  revokedAt?: string;
}

/** What a test of a site's webhook found (`PmServer.testWebhook`): one POST of `{"type":"test", recipient, sentAt, excerpt}`. */
export type WebhookTestResult = { url: string; at: string; ms: number } & (
  | { ok: true; status: number }
  | { ok: false; error: import("./errors.js").ErrorCode; detail: string }
);

/** A site's queued webhook notifications: how many wait, and the last that failed (given up, or retrying). */
export interface WebhookStatus {
  pending: number;
  /** `url`: where it was POSTed (the webhook may have been changed since). */
  lastFailure?: {
    at: string;
    url: string;
    state: "failed" | "retrying";
    error: import("./errors.js").ErrorCode;
    detail?: string;
    attempts: number;
    nextAttemptAt?: string;
  };
}

/** A site's Microsub channel as the owner saves it (`PmServer.setMicrosub`). */
export interface MicrosubTargetInput {
  /** The channel's Micropub endpoint (held to the URL rules of §6). */
  micropub: string;
  /** The channel token (IndieAuth, scope `create`) or API key: a secret, never shown again. */
  token: string;
  via: "indieauth" | "api-key";
  /** The channel's profile URL, when an IndieAuth authorization named one. */
  me?: string;
  /** The web inbox's URL: each pushed entry's `url` is its conversation there. */
  inboxUrl: string;
}

/** A site's Microsub channel as the owner sees it: never the key, only its last 4 characters. */
export interface MicrosubStatus {
  micropub: string;
  via: "indieauth" | "api-key";
  me?: string;
  /** The key's last 4 characters ("" for a key shorter than 8). */
  keyEnd: string;
  savedAt: string;
  /** The last push the channel took. */
  lastPushAt?: string;
  /** The channel refused the key (401/403): nothing is pushed until it is saved again. */
  refusedAt?: string;
  /** Pushes waiting (queued, or retrying). */
  pending: number;
  /** The last push that failed since the target was saved, unless a later one got through. */
  lastFailure?: {
    at: string;
    state: "failed" | "retrying";
    error: import("./errors.js").ErrorCode;
    detail?: string;
    attempts: number;
    nextAttemptAt?: string;
  };
}

/** A change to a site's settings; every field is optional. */
export interface SettingsChange {
  policy?: WritePolicy;
  /** A URL, or `null` to remove the webhook. */
  webhook?: string | null;
  addContacts?: string[];
  /** Removes hand-added and automatic contacts alike. */
  removeContacts?: string[];
  /** Site URLs, or `host:NAME` for every site on a host (see `SitePolicy.blocked`). */
  block?: string[];
  unblock?: string[];
  /**
   * Site URLs to mute: their messages still arrive and are listed, but raise no unread
   * count in `inboxStatus`, no banner and no browser notification (the web inbox).
   */
  mute?: string[];
  unmute?: string[];
}

/** The inbox's unread count and where its latest arrival is (the web inbox's nav badge, banner and live updates). */
export interface InboxStatus {
  /** Unread received messages, less those of muted correspondents (`SiteSettings.muted`). */
  unread: number;
  /** When the latest message arrived. */
  latestReceivedAt?: string;
  /** Opaque: `arrivals` after this cursor are the messages received since. */
  cursor: string;
}

/** A received message as the live updates name it: enough for a notification, not the message. */
export interface Arrival {
  sender: string;
  message: string;
  conversation?: string;
  /** Its chat (the messages with one person, owner/chats.ts). */
  chat?: string;
  receivedAt: string;
  subject?: string;
  /** The start of the text, whole words, at most 100 characters. */
  snippet: string;
  read: boolean;
  /** The sender is muted by the recipient site. */
  muted: boolean;
}

/**
 * A conversation: the messages of one of this server's sites linked by `in-reply-to`
 * (PROTOCOL.md §5), received and sent. Its `id` is stable while its first message is.
 */
export interface Conversation {
  id: string;
  /** The site of this server it belongs to. */
  site: string;
  /** The message ID the thread starts from (it may be one this server does not hold). */
  root: string;
  subject?: string;
  /** The other sites in it: senders, recipients and `to`, less `site`. */
  participants: string[];
  messages: number;
  unread: number;
  /** RFC 3339 of the latest message (received or written). */
  lastAt: string;
  /** The start of the latest message's text. */
  snippet: string;
  /** Who wrote the latest message. */
  lastSender: string;
}

/**
 * A delivery the owner should know about (owner/deliveries.ts): `failed` (given up, §6)
 * or `stuck` (still pending after a failed try, waiting for `nextAttemptAt`).
 */
export interface DeliveryProblem {
  /** Names it for `retryDelivery`/`cancelDelivery` (`POST /api/deliveries/{id}/…`). */
  id: string;
  /** The site of this server that wrote the message. */
  site: string;
  recipient: string;
  message: string;
  state: "failed" | "stuck";
  /** Failed tries so far. */
  attempts: number;
  /** Stuck only: RFC 3339 UTC of the next try. */
  nextAttemptAt?: string;
  /** The last failure's code, and the sentence that came with it (for a details line). */
  error?: ErrorCode;
  detail?: string;
  /** Why it has not arrived, in plain words. */
  reason: string;
  /** RFC 3339 UTC of the delivery's last change. */
  updatedAt: string;
  /** Of the message: its conversation (`thread`), its chat (by person), subject, the start of its text, when it was written. */
  conversation?: string;
  chat?: string;
  subject?: string;
  snippet?: string;
  createdAt?: string;
}

export interface DeliveryProblemQuery {
  site?: string;
  /** Only these (default both). */
  state?: "failed" | "stuck";
  /** At most this many (default 100, at most 1000). */
  limit?: number;
}

/** One message of a thread: as received, or as sent with its deliveries. */
export type ThreadItem = (ReceivedMessage & { direction: "received" }) | (SentMessage & { direction: "sent"; createdAt: string });

export interface Thread extends Conversation {
  /** Oldest first; a reply never before the message it answers. With a `limit`, the latest ones (before the cursor). */
  items: ThreadItem[];
  /** With a `limit`: the cursor of the older messages, when there are more. */
  next?: string;
}

export interface ConversationQuery {
  site?: string;
  /** Only conversations with a message whose text, subject or sites contain this (case-insensitive). */
  q?: string;
  limit?: number;
  /** The cursor a previous page gave as `next`. */
  before?: string;
}

/** `GET /api/export`: everything the owner keeps, in the CLI's shapes. */
export interface ExportDocument {
  exportedAt: string;
  endpoint: string;
  sites: string[];
  inbox: ReceivedMessage[];
  outbox: SentMessage[];
  settings: SiteSettings[];
}

/**
 * A correspondent as a person (owner/profiles.ts): the name and photo of the
 * representative h-card on their site, when it has been read.
 */
export interface Person {
  /** Their site URL. */
  site: string;
  /** The h-card's `name`, one line, at most 100 characters. */
  name?: string;
  /** Their photo as this server keeps it, for `PmServer.avatar` (changes with the image). */
  avatar?: string;
}

/** A photo kept by the server (`PmServer.avatar`): PNG, JPEG, GIF or WebP, at most 256 KiB. */
export interface AvatarImage {
  type: "image/png" | "image/jpeg" | "image/gif" | "image/webp";
  body: Uint8Array;
  /** Changes with the image (an ETag). */
  hash: string;
}

/**
 * Short-lived secrets held by the owner's browser (signed-in sessions, sign-ins under
 * way), stored only as hashes, expiring on their own.
 */
export interface OwnerSessions {
  /** A new random secret (32 bytes, base64url) for `data`, living `lifetimeMs`. */
  create(kind: string, data: Record<string, unknown>, lifetimeMs: number): Promise<string>;
  /** The data of a live secret of this kind, or `null`. */
  get(kind: string, secret: string): Promise<{ data: Record<string, unknown>; createdAt: number; expiresAt: number } | null>;
  /** As `get`, and removes it: of concurrent calls, one gets it (single use). */
  take(kind: string, secret: string): Promise<{ data: Record<string, unknown>; createdAt: number; expiresAt: number } | null>;
  /** Removes it; `true` when it existed. */
  remove(kind: string, secret: string): Promise<boolean>;
}

/**
 * What the owner's web inbox keeps across requests when several processes share the
 * store (`PmServer.shared`), so that consecutive requests may land on any instance.
 */
export interface SharedOwnerState {
  /** A random secret named `name`, made once and kept in the store: the same on every instance (the sign-in form's HMAC key). */
  key(name: string): Promise<string>;
  /** `true` to the first caller on any instance for (`kind`, `id`), `false` to every later one, until `expiresAt` (single-use tokens). */
  claim(kind: string, id: string, expiresAt: number): Promise<boolean>;
  /** Counts one hit on `key` across instances (`SharedStore.hit`): the window's start and count after it. */
  hit(key: string, windowMs: number, now: number, cap: number): Promise<{ start: number; count: number }>;
}

/** How `PmServer.send` takes a message. */
export interface SendOptions {
  /**
   * Discover every recipient before accepting (§1, through the guarded client and its
   * cache): a site that names no pm endpoint, or whose page answers a final 4xx (§6), is
   * refused with a sentence naming it; one that cannot be reached now is accepted, its
   * delivery's `detail` saying so, and retried (§6). Default: off (the message is queued
   * and the delivery finds out, as before).
   */
  checkRecipients?: boolean;
}

export interface RequestContext {
  /** Path relative to where the server is mounted, starting with `/` (default: the request URL's path). */
  path?: string;
  /** The client's IP address, for §6 rate limits. */
  clientAddress?: string;
}

export interface PmServer {
  /** Canonical endpoint URL. */
  readonly endpoint: string;
  /** Canonical site URLs held. */
  readonly sites: readonly string[];
  readonly dev: boolean;
  /** The checked `trustProxy` option: who the HTTP bridges take the client address from. */
  readonly trustProxy: TrustProxy;
  /** Answers any request of the HTTP surface above; never throws. */
  handle(request: Request, context?: RequestContext): Promise<Response>;
  /**
   * Stores the message and one pending delivery per recipient, then starts delivering.
   * A message naming more than `MAX_RECIPIENTS` sites (each once) is refused first, before
   * anything is looked up (`TooManyRecipientsError`, `invalid_request`). With `checkRecipients` (the owner API and the web inbox), each recipient is discovered
   * first (owner/recipients.ts): one that does not take private messages refuses the
   * message (`RecipientsRefusedError`, `invalid_request`).
   */
  send(input: SendInput, options?: SendOptions): Promise<SentMessage>;
  /** Received messages, newest arrival first: one page (`limit`, the cursor `before`). */
  inbox(query?: ListQuery): Promise<ReceivedMessage[]>;
  /** Sent messages, newest first: one page. */
  outbox(query?: ListQuery): Promise<SentMessage[]>;
  /** As `inbox`, with the cursor of the next page. */
  inboxPage(query?: ListQuery): Promise<Page<ReceivedMessage>>;
  /** As `outbox`, with the cursor of the next page. */
  outboxPage(query?: ListQuery): Promise<Page<SentMessage>>;
  getMessage(id: string): Promise<MessageLookup>;
  /**
   * Deletes a message everywhere this server holds it, or only in one site's boxes.
   * Messages are keyed by (sender, message ID) (§2 Formats): `sender` names whose message
   * it is; without it, an ID held from more than one sender is refused
   * (`invalid_request`), so a delete never reaches another sender's message that happens
   * to reuse the ID. Resolves how many copies.
   */
  deleteMessage(id: string, query?: { site?: string; sender?: string }): Promise<number>;
  /** §4: standing tokens this server granted, newest first (revoked ones included, marked). */
  tokens(query?: { site?: string }): Promise<GrantedToken[]>;
  /** §4: "A recipient's owner can revoke any standing token." `false` when unknown. */
  revokeToken(id: string): Promise<boolean>;
  /** §7 and the webhook of one of this server's sites. */
  settings(site: string): Promise<SiteSettings>;
  /** Changes them; one sentence naming the field when a value is wrong (`invalid_request`). */
  updateSettings(site: string, change: SettingsChange): Promise<SiteSettings>;
  /** POSTs a test document to the site's webhook now, once, through the guarded client, and says what happened. @throws PmError `invalid_request` without a webhook */
  testWebhook(site: string): Promise<WebhookTestResult>;
  /** The site's queued webhook notifications: how many wait, and the last failure. */
  webhookStatus(site: string): Promise<WebhookStatus>;
  /** The site's Microsub channel (owner/microsub.ts): its address, the key's last 4 characters, the last push and failure; `null` without one. */
  microsub(site: string): Promise<MicrosubStatus | null>;
  /** Saves the site's Microsub channel, replacing any; each new message is then pushed there as jf2. @throws PmError `invalid_request` naming the field */
  setMicrosub(site: string, target: MicrosubTargetInput): Promise<MicrosubStatus>;
  /** Removes it and the pushes queued for it. `true` when there was one. */
  clearMicrosub(site: string): Promise<boolean>;
  /** Conversations (§5 threads), latest activity first. */
  conversations(query?: ConversationQuery): Promise<Conversation[]>;
  /** As `conversations`, with the cursor of the next page. */
  conversationsPage(query?: ConversationQuery): Promise<Page<Conversation>>;
  /** One conversation with its messages (all, or with `limit` the latest ones before `before`), or `null`. */
  thread(id: string, query?: { limit?: number; before?: string }): Promise<Thread | null>;
  /** Chats (the messages with one person, or one set of people: owner/chats.ts), latest activity first: one page. */
  chatsPage(query?: { site?: string; limit?: number; before?: string }): Promise<Page<Chat>>;
  /** One chat with its latest messages in time order (at most 100, before the cursor `before`), or `null`. */
  chat(id: string, query?: { limit?: number; before?: string }): Promise<ChatThread | null>;
  /** Marks every received message of a chat read or unread. Resolves how many changed. */
  markChatRead(id: string, read: boolean): Promise<number>;
  /**
   * Marks received messages read or unread: one message, by (sender, message ID) as §2
   * keys it (and only in `site`'s inbox when given), or a whole conversation. Resolves
   * how many changed.
   */
  markRead(target: MessageKey | { conversation: string }, read: boolean): Promise<number>;
  /** Deletes every message of a conversation (pending deliveries of them stop). Resolves how many. */
  deleteConversation(id: string): Promise<number>;
  /** Unread received messages (muted correspondents' not counted), when the latest arrived, and the cursor after it (the inbox's "new message" indicator). */
  inboxStatus(query?: { site?: string }): Promise<InboxStatus>;
  /** The messages `site` received after `after` (a cursor of `inboxStatus` or of a previous call), oldest first: the web inbox's live updates. */
  arrivals(query: { site: string; after: string }): Promise<{ items: Arrival[]; cursor: string; more: boolean }>;
  /** Deliveries not delivered: failed, or stuck retrying (owner/deliveries.ts), the latest change first. */
  deliveryProblems(query?: DeliveryProblemQuery): Promise<DeliveryProblem[]>;
  /** How many deliveries failed and how many are stuck, of one site or all (indexed counts, for a navigation badge). */
  deliveryProblemCounts(query?: { site?: string }): Promise<{ failed: number; stuck: number }>;
  /** Tries a pending, failed or cancelled delivery again at once; `site`: only one of this site. `null` when there is no such delivery to retry. */
  retryDelivery(id: string, query?: { site?: string }): Promise<DeliveryView | null>;
  /** A pending or failed delivery is never tried again (shown `failed`, error `cancelled`). `null` when there is no such delivery to cancel. */
  cancelDelivery(id: string, query?: { site?: string }): Promise<DeliveryView | null>;
  /**
   * The people behind these sites, as kept: never waits for their sites. Those never read
   * are read in the background (a few at a time) for the next call; a profile is read
   * again (a day old) when the server discovers that site anyway, never because it was
   * looked at (the fetch would tell the site when the owner read). `read: false`: none is
   * read, even if never read (sites the owner blocked: nothing of them is fetched).
   */
  people(sites: Iterable<string>, options?: { read?: boolean }): Promise<Person[]>;
  /** Reads these sites' h-cards and photos now, then answers as `people`. */
  refreshPeople(sites: Iterable<string>): Promise<Person[]>;
  /** A photo by `Person.avatar`, or `null` (unknown, or replaced since). */
  avatar(id: string): Promise<AvatarImage | null>;
  /** Every message (and the settings) of one site, or of all. */
  exportAll(query?: { site?: string }): Promise<ExportDocument>;
  /** Deletes every message of one site, or of all: inbox, outbox, pending deliveries and webhooks. Resolves how many messages. */
  deleteAll(query?: { site?: string }): Promise<number>;
  /** Secrets of the owner's browser sessions (the web inbox). */
  readonly sessions: OwnerSessions;
  /** Present when several processes share the store (`Store.shared`): what the web inbox then keeps in it rather than in memory. */
  readonly shared?: SharedOwnerState;
  /** Resumes stored work (pending deliveries and handshakes) and starts the queue. */
  start(): Promise<void>;
  /**
   * Resolves once stored work has settled: no dialback (§3/§4 steps 3–4), delivery or
   * webhook running, none due now by `now()` (work that is due is started, not left to
   * its timer), no wake pending that an answer already given deferred, no sweep under
   * way, no read of a correspondent's h-card running or waiting (owner/profiles.ts).
   * Work due later (a §6 back-off) does not count, and neither do requests still being
   * answered. For tests and tools that read the store once "nothing more will happen":
   * await it, then look. Resolves at once when not started or closing.
   */
  idle(): Promise<void>;
  /** Stops taking work, lets what is under way finish (at most `graceMs`, default 10 s), closes the store. */
  close(graceMs?: number): Promise<void>;
}
