/**
 * `action=deliver`, answered by the recipient's endpoint E_R: PROTOCOL.md §3 step 6,
 * §4 step 6 and §5 (the message). Stores the message and queues its webhook (jobs/webhook.ts)
 * and its push to a Microsub channel (jobs/microsub.ts).
 */
import type { SitePolicy, SiteSettings } from "../../api.js";
import { PmError, jsonResponse } from "../../errors.js";
import { LAST_USED_RESOLUTION_MS } from "../../limits.js";
import { escapeHtmlText, outputLimit } from "../../sanitize.js";
import { hashSecret, keyOf } from "../../secrets.js";
import { getEach } from "../../store/together.js";
import type { Engine } from "../engine.js";
import { type DeliverRequest, effectiveSettings, tokenVerdict, verdictFor } from "@indiepm/protocol";
import { vouchingContact } from "../vouch.js";
import { enqueueWebhook } from "../jobs/webhook.js";
import { enqueueMicrosub } from "../jobs/microsub.js";
import { chatKey } from "../../owner/chats.js";
import { conversationFields, writeMessage } from "../../owner/conversations.js";
import type { HandshakeDoc, InboxDoc, SecretDoc, SettingsDoc } from "../records.js";
import type { GivenDoc } from "../../store/types.js";

/** What answering a `deliver` reads (`checkDeliverToken`). */
export interface DeliverReads {
  /** The bearer token's record, live and bound to this request. */
  secret: SecretDoc;
  /** The recipient's stored settings (§7), or `null`. */
  settings: SettingsDoc | null;
  /** Whether the message is stored already (a duplicate); `false` when not read (`given`). */
  stored: boolean;
  /**
   * Present when the token and settings are those an earlier `deliver` read
   * (protocol/deliver-reads.ts): the message is written only while they are stored as
   * given, and `reread` reads them as they are when they are not.
   */
  given?: { docs: readonly GivenDoc[]; reread(): Promise<DeliverReads> };
}

/**
 * §3 step 6 / §4 step 6 / §5: `deliver`. The bearer token must be live and bound to
 * (S, R) — and to M in the message flow. The message is stored once per (R, S, M): a
 * repeat answers `200 duplicate` and changes nothing.
 *
 * Read with the token, at once (`getEach`: one statement on PostgreSQL), is what the
 * answer needs next: the recipient's settings and whether the message is stored. Nothing
 * but the token is looked at before it passes, and the rest in §2's order (answerDeliver).
 *
 * A standing token that passed lately, with a plain-text message (nothing to sanitize, so
 * no need to know of a duplicate first), is checked against its record as then read
 * (`engine.deliverReads`), and nothing is read: the message's write is made only while
 * the token and settings are still stored so (`given`), else all is read again.
 */
export async function checkDeliverToken(engine: Engine, req: DeliverRequest, bearer: string | undefined, fresh = false): Promise<DeliverReads> {
  if (!bearer) throw new PmError("invalid_token", "A deliver needs Authorization: Bearer with the token from request or grant.");
  const hash = hashSecret(bearer);
  const known = engine.deliverReads;
  if (known && !fresh && req.contentHtml === undefined) {
    const reads = known.get(hash, req.recipient, engine.now());
    if (reads && tokenVerdict(reads.secret, req, engine.now()).ok) {
      const docs: GivenDoc[] = [
        ["secrets", hash, reads.secret],
        ["settings", req.recipient, reads.settings],
      ];
      return { ...reads, stored: false, given: { docs, reread: () => checkDeliverToken(engine, req, bearer, true) } };
    }
  }
  const [secret, settings, stored] = await getEach(engine.store, [
    ["secrets", hash],
    ["settings", req.recipient],
    ["inbox", keyOf(req.recipient, req.sender, req.message)],
  ]);
  const verdict = tokenVerdict(secret as SecretDoc | null, req, engine.now());
  if (!verdict.ok) {
    known?.forget(hash);
    throw new PmError("invalid_token", verdict.why);
  }
  const reads = { secret: secret as SecretDoc, settings: settings as SettingsDoc | null };
  // Only standing tokens (a message token is used once) for a site held here: a stranger cannot grow the cache.
  if (known && reads.secret.kind !== "message-token" && engine.sites.has(req.recipient)) known.set(hash, req.recipient, reads, engine.now());
  return { ...reads, stored: stored !== null };
}

/**
 * §7 at `deliver` (§2: after the token and the site): the policy and the block list hold
 * for tokens granted before they changed. A token stays valid (401 is for tokens) but is
 * refused with 403 while the policy refuses its sender, and works again if it is let back.
 * A sender a vouch admitted at step 2 is no contact: its token carries the vouch page,
 * which admits it in `contacts` mode while the page's site is still a contact. Pure.
 */
export function mayDeliver(settings: SiteSettings, sender: string, secret: Pick<SecretDoc, "vouch">): boolean {
  const verdict = verdictFor(settings, sender);
  if (verdict === "allowed") return true;
  if (verdict === "blocked" || settings.policy !== "contacts" || !secret.vouch) return false;
  return vouchingContact(secret.vouch, [...settings.contacts, ...settings.wroteTo]) !== undefined;
}

/**
 * §5 `content-html`, sanitized in the engine's worker pool; when the pool is over budget
 * or full, the message's plain `content`, escaped (§5: a sender sends its text too).
 */
function sanitizedHtml(engine: Engine, id: string, req: DeliverRequest & { contentHtml: string }): Promise<string> {
  // Sanitizing under way for this message: a retry waits for it rather than sanitizing again.
  const running = engine.sanitizing;
  const same = running.get(id);
  if (same && same.html === req.contentHtml) return same.done;
  const done = engine.sanitizer
    .sanitize(req.contentHtml)
    .then((outcome) => {
      if (outcome.kind === "sanitized") return outcome.html;
      engine.log.warn("content-html stored as text", { why: outcome.kind, sender: req.sender, recipient: req.recipient, message: req.message });
      return escapeHtmlText(req.content, outputLimit(Buffer.byteLength(req.contentHtml, "utf8")));
    })
    .finally(() => {
      if (running.get(id)?.done === done) running.delete(id);
    });
  running.set(id, { html: req.contentHtml, done });
  return done;
}

export async function answerDeliver(engine: Engine, policies: Record<string, SitePolicy>, req: DeliverRequest, read: DeliverReads): Promise<Response> {
  const { secret } = read;
  if (!engine.sites.has(req.recipient)) throw new PmError("unknown_recipient", `This server holds no inbox for ${req.recipient}.`);
  const settings = effectiveSettings(req.recipient, policies[req.recipient], read.settings);
  if (!mayDeliver(settings, req.sender, secret)) {
    // A refusal is of what is stored now, never of what an earlier deliver read.
    if (read.given) return answerDeliver(engine, policies, req, await read.given.reread());
    throw new PmError("forbidden", `${req.recipient} does not accept messages from ${req.sender}.`);
  }
  const now = engine.now();
  // §3 step 6: T is used up by the 201 (or by a 200 duplicate); presented again for the
  // same (S, R, M) before it expires, it gets 200 duplicate and changes nothing.
  if (secret.kind === "message-token" && secret.usedAt !== undefined) return jsonResponse({ status: "duplicate" }, 200);
  const id = keyOf(req.recipient, req.sender, req.message);
  // A message already stored is a duplicate before anything is sanitized: a sender's
  // retry (after its 10 s time-out) costs the lookup read with the token, not another sanitizing.
  let duplicate = read.stored;
  let doc: InboxDoc | undefined;
  if (!duplicate) {
    const contentHtml = req.contentHtml === undefined ? undefined : await sanitizedHtml(engine, id, { ...req, contentHtml: req.contentHtml });
    doc = {
      _id: id,
      message: req.message,
      sender: req.sender,
      recipient: req.recipient,
      content: req.content,
      published: req.published,
      receivedAt: now,
      ...(req.name !== undefined ? { name: req.name } : {}),
      ...(contentHtml !== undefined ? { contentHtml } : {}),
      ...(req.inReplyTo !== undefined ? { inReplyTo: req.inReplyTo } : {}),
      ...(req.to !== undefined ? { to: req.to } : {}),
    };
    Object.assign(doc, await conversationFields(engine.store, "in", doc));
    doc.chat = chatKey("in", doc);
    // With its summaries: one statement on PostgreSQL for a message that starts its conversation. One stored meanwhile is a duplicate.
    const written = await writeMessage(engine.store, "in", doc, read.given?.docs, engine.chatWrites);
    if (written === null && read.given) {
      // The token or the settings changed since they were read: answered from them as they are now.
      engine.deliverReads?.forget(secret._id);
      return answerDeliver(engine, policies, req, await read.given.reread());
    }
    duplicate = !written;
  }
  if (secret.kind === "message-token") {
    await engine.store.update<SecretDoc>("secrets", secret._id, { set: { usedAt: now, usedFor: req.message, lastUsedAt: now } }, { usedAt: null });
    await engine.store.update<HandshakeDoc>("handshakes", keyOf("notify", req.recipient, req.sender, req.message), { set: { state: "done", updatedAt: now } });
  } else if (secret.lastUsedAt === undefined || now - secret.lastUsedAt >= LAST_USED_RESOLUTION_MS) {
    // "Last used" is for the owner's eye: a minute's resolution saves a store write per
    // message in a busy conversation (bench/delivery.js: one append instead of two).
    await engine.store.update<SecretDoc>("secrets", secret._id, { set: { lastUsedAt: now } });
    // Its record changed: the next deliver reads it again rather than find it changed.
    engine.deliverReads?.forget(secret._id);
  }
  if (!duplicate && doc) engine.correspondent?.(req.sender);
  // A muted correspondent's message is stored and listed, but announced nowhere (owner/live.ts).
  if (!duplicate && doc && settings.webhook && !settings.muted?.includes(req.sender)) await enqueueWebhook(engine, settings.webhook, doc);
  if (!duplicate && doc && read.settings?.microsub && !settings.muted?.includes(req.sender)) await enqueueMicrosub(engine, read.settings.microsub, doc);
  return duplicate ? jsonResponse({ status: "duplicate" }, 200) : jsonResponse({ status: "delivered" }, 201);
}
