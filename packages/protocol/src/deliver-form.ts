/**
 * §5: the form of `action=deliver` for one recipient of a message, built in one place:
 * the engine's delivery job POSTs it, and the owner's send checks before it accepts a
 * message that the form fits the §2 body limit, so a message is never accepted that no
 * receiver may take.
 */
import { encodeForm } from "./form.js";
import { type DeliverRequest, MAX_BODY_BYTES } from "./params.js";

/** What a sender stores of a message: §5's parameters but the recipient's (one form per recipient). */
export type DeliverMessage = Omit<DeliverRequest, "action" | "recipient">;

export function deliverForm(outbox: DeliverMessage, recipient: string): URLSearchParams {
  return encodeForm({
    action: "deliver",
    sender: outbox.sender,
    recipient,
    message: outbox.message,
    published: outbox.published,
    content: outbox.content,
    "content-html": outbox.contentHtml,
    name: outbox.name,
    "in-reply-to": outbox.inReplyTo,
    to: outbox.to,
  });
}

/**
 * §2: the encoded form's bytes (percent-encoded: ASCII, one byte a character) over
 * `MAX_BODY_BYTES`, for the longest recipient; 0 when it fits. The forms differ only in
 * `recipient`'s value, so the form is encoded once and the longest encoded recipient added.
 */
export function deliverFormExcess(outbox: DeliverMessage, recipients: readonly string[]): number {
  if (recipients.length === 0) return 0;
  const rest = deliverForm(outbox, "").toString().length;
  let longest = 0;
  for (const recipient of recipients) longest = Math.max(longest, new URLSearchParams({ r: recipient }).toString().length - "r=".length);
  return Math.max(0, rest + longest - MAX_BODY_BYTES);
}
