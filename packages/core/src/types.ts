/**
 * The records the engine keeps and shows to the owner. Field names follow the
 * `indiepm inbox/outbox --json` output of CLI.md, so the owner API returns them as they
 * are (less the storage `_id`).
 */
import type { ErrorCode } from "./errors.js";

/** PROTOCOL.md §3/§4: which flow a delivery uses. */
export type Flow = "token" | "message";

/** What the owner sees of one delivery (CLI.md `send --json`). */
export type DeliveryStatus = "pending" | "delivered" | "failed";

export interface DeliveryView {
  recipient: string;
  status: DeliveryStatus;
  /** Where failed; on a stuck delivery (see `attempts`), its last failure's (CLI.md's JSON shows it only where failed). */
  error?: ErrorCode;
  /** Human sentence for a failure or the last retry, for the owner. */
  detail?: string;
  /** RFC 3339 UTC of the last change. */
  updatedAt?: string;
  /** Pending after a failed try ("stuck"): how many tries failed so far. */
  attempts?: number;
  /** Pending after a failed try: RFC 3339 UTC of the next one. */
  nextAttemptAt?: string;
}

/** A received message (CLI.md `inbox --json`; PROTOCOL.md §5). */
export interface ReceivedMessage {
  message: string;
  sender: string;
  recipient: string;
  content: string;
  published: string;
  receivedAt: string;
  name?: string;
  /** Sanitized with the allow-list before it was stored (§5, §6 Content). */
  contentHtml?: string;
  inReplyTo?: string;
  to?: string[];
  read?: boolean;
}

/** A sent message (CLI.md `outbox --json`). */
export interface SentMessage {
  message: string;
  sender: string;
  content: string;
  published: string;
  name?: string;
  contentHtml?: string;
  inReplyTo?: string;
  to?: string[];
  deliveries: DeliveryView[];
}

/** What the owner asks to send (CLI.md `send`). */
export interface SendInput {
  from: string;
  to: string[];
  content: string;
  subject?: string;
  html?: string;
  inReplyTo?: string;
  flow?: Flow;
  /** CLI.md `--hide-recipients`: each recipient sees only itself in `to`. */
  hideRecipients?: boolean;
  /** §7 `vouch`: a page on a site the recipients count as a contact, linking to `from` (first contact). */
  vouch?: string;
  /** The message ID; minted under the endpoint's origin when absent (§2 Formats). */
  id?: string;
  /** RFC 3339; now when absent. */
  published?: string;
}

/** Roles in the seed's diagram, for the step-by-step trace. */
export type Role = "sender-site" | "sender-endpoint" | "recipient-site" | "recipient-endpoint";

/**
 * One protocol step as it happens, for logs and the demo's trace (the seed's numbered
 * steps). `status` is the HTTP status answered, or an error code when there was none.
 */
export interface ProtocolEvent {
  flow: Flow;
  /** The step number of PROTOCOL.md §3 or §4 (6 for every deliver). */
  step: number;
  /** Origin URL of who makes the request. */
  from: string;
  /** URL requested. */
  to: string;
  /** `discover`, or the §2 action. */
  action: "discover" | "notify" | "verify" | "request" | "authorize" | "grant" | "deliver";
  status: number | string;
  /** The message or code concerned (a message ID; never a secret). */
  message?: string;
  sender?: string;
  recipient?: string;
  detail?: string;
}
