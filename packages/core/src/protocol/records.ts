/**
 * The documents the engine stores (see store/types.ts for the promises behind them).
 * Each one says which step of PROTOCOL.md creates and changes it.
 */
import type { ErrorCode } from "../errors.js";
import type { DeliveryStatus, Flow } from "../types.js";

/** A message written by one of this server's sites. `_id = keyOf(sender, message)`. */
export interface OutboxDoc {
  _id: string;
  message: string;
  sender: string;
  /** Every site it is delivered to. */
  recipients: string[];
  /** §5 `to` as sent: the recipients shown, absent when each sees only itself. */
  to?: string[];
  content: string;
  contentHtml?: string;
  name?: string;
  inReplyTo?: string;
  /** §7 `vouch` sent with notify/authorize. */
  vouch?: string;
  published: string;
  flow: Flow;
  createdAt: number;
  /** The conversation it belongs to (owner/conversations.ts), set when written; absent on documents written before it existed until they are filed. */
  conversation?: string;
  /** Sort key of the outbox pages: `pageKeyOf(createdAt, _id)` (owner/conversations.ts), set with `conversation`. */
  pageKey?: string;
  /** Its chat (owner/chats.ts `chatKey`), set when written; absent on documents written before chats existed until they are filed. */
  chat?: string;
}

/**
 * Where a delivery is (sender role):
 * - `discover`: §3/§4 step 1, then notify or authorize (step 2), or straight to `deliver`
 *   with a standing token (§4 step 6);
 * - `awaiting-request` / `awaiting-grant`: step 2 was accepted; §6 gives the receiver
 *   `handshakeTimeoutMs` to come back with step 4;
 * - `deliver`: step 6, with the token from step 4.
 */
export type DeliveryStage = "discover" | "awaiting-request" | "awaiting-grant" | "deliver";

/** One (message, recipient): the durable delivery queue. `_id = keyOf(sender, recipient, message)`. */
export interface DeliveryDoc {
  _id: string;
  message: string;
  sender: string;
  recipient: string;
  flow: Flow;
  /** `cancelled`: the owner cancelled it (owner/deliveries.ts); the owner's views show it as `failed` with error `cancelled`. */
  status: DeliveryStatus | "cancelled";
  stage: DeliveryStage;
  /** Optimistic concurrency: every change expects the `rev` it read and adds one. */
  rev: number;
  /** Failed tries so far (drives the back-off and the attempt cap, retry.ts `JOB_LIMITS`). */
  attempts: number;
  firstTriedAt?: number;
  /** When the queue takes it up next (pending only). */
  nextAttemptAt: number;
  /** Several processes on one store: the instance (`SharedStore.instance`) that last took this job's lease (jobs/queue.ts); `nextAttemptAt` is then the lease's end. */
  leasedBy?: string;
  /** E_R as discovered at step 1. */
  endpoint?: string;
  /** §3 step 4: the single-use token E_R sent with `request` (kept until used). */
  token?: string;
  tokenExpiresAt?: number;
  /** §4: `_id` of the code (in `secrets`) whose grant this delivery waits for or used. */
  handshake?: string;
  /** §4: this delivery went through a handshake of its own; a 401 after it is final. */
  freshHandshake?: boolean;
  /** §3 step 6 / §4: a `deliver` was answered 401 and one new handshake started; the next 401 is final. */
  renewedAfter401?: boolean;
  /** §7 `vouch` for notify/authorize, as the owner gave it. */
  vouch?: string;
  error?: ErrorCode;
  detail?: string;
  createdAt: number;
  updatedAt: number;
}

/** What kind of secret this server issued. */
export type SecretKind =
  /** §4 step 2: code C for (S, R, E_R), single use, 5 minutes (sender role). */
  | "code"
  /** §3 step 4: token T for (S, R, M), single use, 10 minutes (receiver role). */
  | "message-token"
  /** §4 step 4: standing token T for (S, R) (receiver role). */
  | "standing-token";

/** An issued code or token, stored only as its hash (§6 Secrets). `_id = hashSecret(secret)`. */
export interface SecretDoc {
  _id: string;
  kind: SecretKind;
  sender: string;
  recipient: string;
  message?: string;
  /** Codes: the E_R they were issued for (§4 step 5). */
  endpoint?: string;
  expiresAt: number;
  createdAt: number;
  /** Single-use secrets: when used up. */
  usedAt?: number;
  /** Message tokens: the message they were used for. */
  usedFor?: string;
  /** Codes: until when deliveries may join this handshake (the §6 wait for `grant`). */
  awaitUntil?: number;
  /** Codes withdrawn after `endpoint_mismatch` (§4 step 5); tokens revoked by the owner. */
  revokedAt?: number;
  lastUsedAt?: number;
  /** Tokens: the §7 vouch page that admitted the sender at step 2 (from its handshake). */
  vouch?: string;
}

/** A standing token this server was granted (§4 step 5). `_id = keyOf(sender, recipient, endpoint)`. */
export interface GrantDoc {
  _id: string;
  sender: string;
  recipient: string;
  endpoint: string;
  /** Kept in clear: it is this server's credential to present, not one it checks. */
  token: string;
  expiresAt: number;
  grantedAt: number;
}

/**
 * Receiver-side work a `notify` or `authorize` started (§3/§4 steps 3–4), stored before
 * the 202 so it survives a restart (§6 Durability).
 * `_id = keyOf("notify", recipient, sender, message)` or `keyOf("authorize", recipient, sender, hash(code))`.
 */
export interface HandshakeDoc {
  _id: string;
  kind: "notify" | "authorize";
  sender: string;
  recipient: string;
  message?: string;
  /** The sender's code (§4), kept in clear for verify/grant; it lives 5 minutes. */
  code?: string;
  /** §7: the vouch page that admitted the sender (contacts mode); the token issued carries it. */
  vouch?: string;
  /** The sender's host name, for §6's cap on handshakes under way per sender host (absent on older documents). */
  senderHost?: string;
  /** `active` until step 4 was answered; then `done` or `failed` (and swept a while later, protocol/jobs/sweeper.ts). */
  state: "active" | "done" | "failed";
  rev: number;
  attempts: number;
  nextAttemptAt: number;
  /** Several processes on one store: the instance (`SharedStore.instance`) that last took this job's lease (jobs/queue.ts); `nextAttemptAt` is then the lease's end. */
  leasedBy?: string;
  createdAt: number;
  updatedAt: number;
  error?: ErrorCode;
  detail?: string;
}

/** A received message. `_id = keyOf(recipient, sender, message)` (§2: keyed by sender and ID, per recipient). */
export interface InboxDoc {
  _id: string;
  message: string;
  sender: string;
  recipient: string;
  content: string;
  published: string;
  receivedAt: number;
  name?: string;
  contentHtml?: string;
  inReplyTo?: string;
  to?: string[];
  read?: boolean;
  /** The conversation it belongs to (owner/conversations.ts), set when written; absent on documents written before it existed until they are filed. */
  conversation?: string;
  /** Sort key of the inbox pages: `pageKeyOf(receivedAt, _id)` (owner/conversations.ts), set with `conversation`. */
  pageKey?: string;
  /** Its chat (owner/chats.ts `chatKey`), set when written; absent on documents written before chats existed until they are filed. */
  chat?: string;
}

/**
 * What the owner's list shows of one conversation (§5 thread) of a site, kept in step
 * when its messages are written, read or deleted (owner/conversations.ts), or a pointer
 * left where a conversation was merged into another one. `_id = conversationId(site, root)`.
 */
export interface ConversationDoc {
  _id: string;
  /** Optimistic concurrency: every write expects the `rev` it read and adds one. */
  rev: number;
  /** Set on a conversation merged into another one (its root turned out to answer a message held): that one's `_id`; no other field then. */
  movedTo?: string;
  site?: string;
  /** The message ID the thread starts from (maybe one not held here). */
  root?: string;
  subject?: string;
  participants?: string[];
  messages?: number;
  unread?: number;
  /** Time of the latest message, ms. */
  lastAt?: number;
  /** Sort key of the conversation list: `pageKeyOf(lastAt, _id)` (owner/conversations.ts). */
  lastKey?: string;
  snippet?: string;
  lastSender?: string;
}

/**
 * Per-site settings (§7, notifications), as the owner changed them; the `policies` option
 * of `createPmServer` adds to them (see settings.ts). `_id = site URL`.
 */
export interface SettingsDoc {
  _id: string;
  /** Optimistic concurrency (absent on documents written before it existed). */
  rev?: number;
  /** Sites this site has written to: contacts kept automatically (§7). */
  wroteTo?: string[];
  /** §7 `anyone` / `contacts` / `nobody`, as the owner chose. */
  policy?: "anyone" | "contacts" | "nobody";
  /** Contacts added by hand (§7). */
  contacts?: string[];
  /** The block list (§7): always wins. */
  blocked?: string[];
  /** Where a small JSON document is POSTed for each new message. */
  webhook?: string;
  /** Correspondents muted by the owner (owner/live.ts): listed, never counted as unread news. */
  muted?: string[];
  /** Where each new message is pushed as jf2: a Microsub channel's Micropub endpoint (owner/microsub.ts). */
  microsub?: MicrosubTargetDoc;
}

/**
 * A site's Microsub channel (owner/microsub.ts, jobs/microsub.ts): its Micropub endpoint and
 * the channel token or API key that lets indiepm post there. The secret is kept as given
 * (it is sent with every push, so it cannot be hashed, like a grant's token); it is never
 * shown, exported or logged: the owner sees only its last 4 characters.
 */
export interface MicrosubTargetDoc {
  /** The channel's Micropub endpoint. */
  micropub: string;
  /** The channel token (IndieAuth, scope `create`) or API key, sent as `Authorization: Bearer`. */
  token: string;
  /** How it was had: an IndieAuth authorization, or a key pasted by the owner. */
  via: "indieauth" | "api-key";
  /** The channel's profile URL the authorization named (`me` of the token answer). */
  me?: string;
  /** The web inbox's URL: a pushed entry's `url` is its conversation there. */
  inboxUrl: string;
  savedAt: number;
  /** The last push the channel took (2xx). */
  lastPushAt?: number;
  /** When the channel refused the key (401/403): nothing more is queued until the owner saves a target again. */
  refusedAt?: number;
}

/**
 * A secret the owner's browser holds: a signed-in session or a sign-in under way
 * (IndieAuth `state`). Stored only as the hash of the secret. `_id = hashSecret(secret)`.
 */
export interface SessionDoc {
  _id: string;
  kind: string;
  data: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
}

/** One notification of a new message to the owner's webhook, retried like a delivery (§6). `_id = keyOf("webhook", recipient, sender, message)`. */
export interface WebhookDoc {
  _id: string;
  /** `"microsub"`: a push to the site's Microsub channel (jobs/microsub.ts, `_id = keyOf("microsub", recipient, sender, message)`); absent: the webhook. */
  kind?: "microsub";
  site: string;
  url: string;
  payload: Record<string, unknown>;
  status: DeliveryStatus;
  rev: number;
  attempts: number;
  nextAttemptAt: number;
  firstTriedAt?: number;
  /** Several processes on one store: the instance (`SharedStore.instance`) that last took this job's lease (jobs/queue.ts); `nextAttemptAt` is then the lease's end. */
  leasedBy?: string;
  error?: ErrorCode;
  detail?: string;
  createdAt: number;
  updatedAt: number;
}
