/**
 * Output: the JSON documents of CLI.md (exactly the fields it names, site URLs
 * canonical, times RFC 3339 UTC) and a compact listing for people. Received text is
 * someone else's: control characters are replaced before it reaches a terminal
 * (PROTOCOL.md §6 Content: plain text is escaped when shown).
 */
import { canonicalUrl } from "@indiepm/core";
import type { DeliveryView, ReceivedMessage, SentMessage } from "@indiepm/core";

/** CLI.md `send --json` delivery: `error` only where failed. */
export interface DeliveryJson {
  recipient: string;
  status: DeliveryView["status"];
  error?: string;
}

/** CLI.md `inbox --json`: the received message's fields, exactly those CLI.md names. */
export type InboxJson = Omit<ReceivedMessage, "read">;

/** CLI.md `outbox --json`: the sent message's fields, with deliveries as `send --json` shows them. */
export type OutboxJson = Omit<SentMessage, "deliveries"> & { deliveries: DeliveryJson[] };

/** Canonical form (PROTOCOL.md "URLs") of a site URL; left as is when it does not parse. */
export function canonical(url: string): string {
  return URL.canParse(url) ? canonicalUrl(url) : url;
}

/** RFC 3339 in UTC (`2025-01-02T03:04:05.000Z`); a value that is not a date is left as is. */
export function utc(time: string): string {
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? time : new Date(ms).toISOString();
}

/** RFC 3339 UTC to the second, for people. */
function shortUtc(time: string): string {
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? terminalSafe(time) : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function deliveryJson(delivery: DeliveryView): DeliveryJson {
  return {
    recipient: canonical(delivery.recipient),
    status: delivery.status,
    ...(delivery.status === "failed" && delivery.error !== undefined ? { error: delivery.error } : {}),
  };
}

export function inboxJson(m: ReceivedMessage): InboxJson {
  return {
    message: m.message,
    sender: canonical(m.sender),
    recipient: canonical(m.recipient),
    content: m.content,
    published: m.published,
    receivedAt: utc(m.receivedAt),
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.contentHtml !== undefined ? { contentHtml: m.contentHtml } : {}),
    ...(m.inReplyTo !== undefined ? { inReplyTo: m.inReplyTo } : {}),
    ...(m.to !== undefined ? { to: m.to.map(canonical) } : {}),
  };
}

export function outboxJson(m: SentMessage): OutboxJson {
  return {
    message: m.message,
    sender: canonical(m.sender),
    content: m.content,
    published: m.published,
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.contentHtml !== undefined ? { contentHtml: m.contentHtml } : {}),
    ...(m.inReplyTo !== undefined ? { inReplyTo: m.inReplyTo } : {}),
    ...(m.to !== undefined ? { to: m.to.map(canonical) } : {}),
    deliveries: m.deliveries.map(deliveryJson),
  };
}

/** One JSON document on stdout (CLI.md `--json`). */
export function jsonDocument(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

// C0/C1 controls (but tab and newline), and the bidi controls that can make text lie about its order.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Text safe to print on a terminal: no escape sequences, no bidi tricks. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, "\uFFFD");
}

/** The text on one line, at most `max` characters. */
export function oneLine(text: string, max = 100): string {
  const flat = terminalSafe(text).replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function deliveryLine(d: DeliveryView): string {
  const status = d.status.padEnd(9);
  const why = d.status === "failed" ? `  ${d.error ?? "failed"}${d.detail ? `: ${oneLine(d.detail, 120)}` : ""}` : "";
  return `  ${status} ${terminalSafe(canonical(d.recipient))}${why}`;
}

export function deliveryLines(deliveries: readonly DeliveryView[]): string {
  return deliveries.map((d) => `${deliveryLine(d)}\n`).join("");
}

/** A compact listing of received messages, one block each. */
export function inboxListing(messages: readonly ReceivedMessage[]): string {
  if (messages.length === 0) return "No messages.\n";
  return messages
    .map((m) => {
      const head = `${shortUtc(m.receivedAt)}  ${terminalSafe(canonical(m.sender))} → ${terminalSafe(canonical(m.recipient))}`;
      const subject = m.name ? `  ${oneLine(m.name, 100)}\n` : "";
      const reply = m.inReplyTo ? `, in reply to ${terminalSafe(m.inReplyTo)}` : "";
      return `${head}\n${subject}  ${oneLine(m.content)}\n  (${terminalSafe(m.message)}${reply})\n`;
    })
    .join("\n");
}

/** A compact listing of sent messages with where each delivery stands. */
export function outboxListing(messages: readonly SentMessage[]): string {
  if (messages.length === 0) return "No messages.\n";
  return messages
    .map((m) => {
      const head = `${shortUtc(m.published)}  from ${terminalSafe(canonical(m.sender))}`;
      const subject = m.name ? `  ${oneLine(m.name, 100)}\n` : "";
      const reply = m.inReplyTo ? `, in reply to ${terminalSafe(m.inReplyTo)}` : "";
      return `${head}\n${subject}  ${oneLine(m.content)}\n  (${terminalSafe(m.message)}${reply})\n${deliveryLines(m.deliveries)}`;
    })
    .join("\n");
}
