/**
 * §5: the form of `action=deliver` for one recipient of a message, built in one place:
 * the engine's delivery job POSTs it, and the owner's send checks before it accepts a
 * message that the form fits the §2 body limit, so a message is never accepted that no
 * receiver may take.
 */
import { encodeForm } from "./form.js";
import { MAX_BODY_BYTES } from "./params.js";

/** What a sender stores of a message, as §5 names its parameters. */
export interface DeliverMessage {
  sender: string;
  message: string;
  published: string;
  content: string;
  contentHtml?: string;
  name?: string;
  inReplyTo?: string;
  /** The recipients shown (a group conversation); absent: `recipient` alone. */
  to?: string[];
}

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

/** §2: the encoded form's bytes (percent-encoded: ASCII, one byte a character) over `MAX_BODY_BYTES`, for the longest recipient; 0 when it fits. */
export function deliverFormExcess(outbox: DeliverMessage, recipients: readonly string[]): number {
  let longest = 0;
  for (const recipient of recipients) longest = Math.max(longest, deliverForm(outbox, recipient).toString().length);
  return Math.max(0, longest - MAX_BODY_BYTES);
}
