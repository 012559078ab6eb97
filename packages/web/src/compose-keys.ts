/**
 * One-time compose keys (issue 12): every compose and reply form carries a random key
 * (`key`), and the message it sends takes an ID made from that key and the signed-in
 * session (an HMAC under the session's own secret form token), so posting the same form
 * twice — Back and Send again, a double click, a reload of the POST — names the same
 * message. The store remembers it as it remembers every message: the outbox's unique
 * key (sender, ID) lets one write win on any instance sharing the store, and the second
 * post is sent to the message already there instead of sending it again. A form of an
 * earlier session (signed in again since) makes another ID: nothing of it was sent.
 */
import { createHmac, randomBytes } from "node:crypto";
import { DuplicateKeyError, PmError, type PmServer, type SendInput, type SendOptions, type SentMessage, type ThreadItem } from "@indiepm/core";
import { replyTargets } from "./pages.js";
import { sendRefusalSentence } from "./pages/send.js";

/** What a key looks like (app.js makes them too, the same way: 18 random bytes, base64url). */
const KEY = /^[A-Za-z0-9_-]{22,64}$/;

/** How long a second post waits for the first one's message to be written (a double click). */
const WAIT_FOR_FIRST_MS = 3_000;

/** A new key for a form. */
export function newComposeKey(): string {
  return randomBytes(18).toString("base64url");
}

/** The message ID the form with `key` sends under, in the session whose form token is `csrf`; `undefined` for a missing or malformed key. */
export function messageIdFor(endpoint: string, csrf: string, key: string | null): string | undefined {
  if (!key || !KEY.test(key)) return undefined;
  const h = createHmac("sha256", csrf).update(`indiepm compose key\n${key}`).digest("hex");
  return new URL(`messages/${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`, endpoint).href;
}

/** What `sendOnce` did: sent now (`sent`), or found the message this form already sent (`again`). */
export type SendOnce = { message: string; sent: SentMessage; again?: undefined } | { message: string; again: true; sent?: undefined };

/**
 * Sends `input` under the ID of `key`, once: a message of `input.from` already sent under
 * it (or being written by a post of the same form at this moment) is answered as `again`.
 */
export async function sendOnce(pm: PmServer, csrf: string, key: string | null, input: SendInput, options: SendOptions): Promise<SendOnce> {
  const id = messageIdFor(pm.endpoint, csrf, key);
  if (id === undefined) {
    const sent = await pm.send(input, options);
    return { message: sent.message, sent };
  }
  if (await sentBefore(pm, input.from, id)) return { message: id, again: true };
  try {
    const sent = await pm.send({ ...input, id }, options);
    return { message: sent.message, sent };
  } catch (error) {
    // The same form posted at once: the other post's write won (its deliveries or its message were there first).
    if (error instanceof DuplicateKeyError || (error instanceof PmError && error.code === "invalid_request")) {
      const deadline = Date.now() + WAIT_FOR_FIRST_MS;
      do {
        if (await sentBefore(pm, input.from, id)) return { message: id, again: true };
        if (!(error instanceof DuplicateKeyError)) break;
        await new Promise((r) => setTimeout(r, 100));
      } while (Date.now() < deadline);
    }
    throw error;
  }
}

/** The notice after a send: sent, sent with a recipient to be tried again (core owner/recipients.ts), or sent before by this form. */
export function sentNotice(done: SendOnce): "sent" | "sent-retrying" | "already-sent" {
  if (done.again) return "already-sent";
  return done.sent.deliveries.some((d) => d.status === "pending" && d.detail) ? "sent-retrying" : "sent";
}

async function sentBefore(pm: PmServer, site: string, id: string): Promise<boolean> {
  const { sent } = await pm.getMessage(id);
  return sent !== null && sent.sender === new URL(site).href;
}

/**
 * A reply form's send, for a thread and for a person's page alike: to the participants of
 * `last`, the message answered (PROTOCOL.md §5: computed here, never from the form), with
 * "Re: " before `subject` where it has none; once per form key. Not checked first: the
 * people of a thread are not typed, and a reply refused for one of them could never be sent
 * to the rest (a delivery that finds no endpoint fails at once). A refusal of the message
 * itself comes back as its sentence for the owner.
 */
export async function sendReply(
  pm: PmServer,
  session: { site: string; csrf: string },
  key: string | null,
  last: ThreadItem,
  subject: string | undefined,
  content: string,
): Promise<{ done: SendOnce; refused?: undefined } | { refused: string; done?: undefined }> {
  const to = replyTargets(session.site, last);
  const re = subject && !/^re:/i.test(subject) ? `Re: ${subject}` : subject;
  const input: SendInput = {
    from: session.site,
    to,
    content,
    inReplyTo: last.message,
    ...(re ? { subject: re } : {}),
    ...(last.to === undefined && to.length > 1 ? { hideRecipients: true } : {}),
  };
  try {
    return { done: await sendOnce(pm, session.csrf, key, input, {}) };
  } catch (error) {
    if (error instanceof PmError && (error.code === "invalid_request" || error.code === "too_large")) return { refused: sendRefusalSentence(error) };
    throw error;
  }
}
