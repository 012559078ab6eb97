/**
 * The receiver role, E_R: answering `notify`/`authorize` (PROTOCOL.md §3/§4 step 2),
 * the dialback it then makes (steps 3–4), and `deliver` (step 6, §5).
 */
import type { SitePolicy, SiteSettings } from "../api.js";
import { PmError, jsonResponse, type ErrorCode } from "../errors.js";
import { escapeHtmlText, outputLimit } from "../sanitize.js";
import { hashSecret, keyOf, newSecret } from "../secrets.js";
import { DuplicateKeyError } from "../store/types.js";
import { discoverAttempt, planRetry, postAttempt } from "./attempt.js";
import { mutate, type Engine, type StepContext } from "./engine.js";
import { identityRedirectRefusal } from "../discovery/identity.js";
import { type AuthorizeRequest, type DeliverRequest, encodeForm, type Failure, type NotifyRequest, tokenVerdict, verdictFor } from "@indiepm/protocol";
import { siteSettings } from "./policy.js";
import { HANDSHAKE_CAP_RETRY_AFTER_SECONDS, MAX_ACTIVE_HANDSHAKES_PER_SENDER_HOST, senderHostOf } from "./rate-limit.js";
import { checkVouch, vouchingContact } from "./vouch.js";
import { enqueueWebhook } from "./webhooks.js";
import type { HandshakeDoc, InboxDoc, SecretDoc } from "./records.js";
import { MESSAGE_TOKEN_LIFETIME_MS } from "./sender.js";

/** How precisely a standing token's `lastUsedAt` is kept. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * §2 "the site named" (404) then §7 policy (403), for notify and authorize: the block
 * list first and before any fetch; a sender the policy refuses may still be admitted by
 * its `vouch` page in `contacts` mode (the only fetch made before answering). Resolves
 * `{ vouch }` when the vouch admitted it: the handshake and its token keep it (see `mayDeliver`).
 */
async function admit(engine: Engine, policies: Record<string, SitePolicy>, req: { sender: string; recipient: string; vouch?: string }): Promise<{ vouch?: string }> {
  if (!engine.sites.has(req.recipient)) throw new PmError("unknown_recipient", `This server holds no inbox for ${req.recipient}.`);
  const settings = await siteSettings(engine.store, policies, req.recipient);
  const verdict = verdictFor(settings, req.sender);
  if (verdict === "allowed") return {};
  if (verdict === "refused" && settings.policy === "contacts" && req.vouch) {
    await checkVouch(engine.http, req.vouch, req.sender, [...settings.contacts, ...settings.wroteTo], engine.log);
    return { vouch: req.vouch };
  }
  throw new PmError("forbidden", `${req.recipient} does not accept messages from ${req.sender}.`);
}

/**
 * §3 step 2: `notify`. Stores the dialback work before answering 202 (§6 Durability).
 * A message already stored, or a handshake for it under way, starts nothing new.
 */
export async function answerNotify(engine: Engine, policies: Record<string, SitePolicy>, req: NotifyRequest): Promise<Response> {
  const admitted = await admit(engine, policies, req);
  const accepted = jsonResponse({ status: "accepted" }, 202);
  if (await engine.store.get("inbox", keyOf(req.recipient, req.sender, req.message))) return accepted;
  const id = keyOf("notify", req.recipient, req.sender, req.message);
  await startHandshake(engine, id, { kind: "notify", sender: req.sender, recipient: req.recipient, message: req.message, ...admitted });
  return accepted;
}

/** §4 step 2: `authorize`. As notify, for the code C. */
export async function answerAuthorize(engine: Engine, policies: Record<string, SitePolicy>, req: AuthorizeRequest): Promise<Response> {
  const admitted = await admit(engine, policies, req);
  const id = keyOf("authorize", req.recipient, req.sender, hashSecret(req.code));
  await startHandshake(engine, id, { kind: "authorize", sender: req.sender, recipient: req.recipient, code: req.code, ...admitted });
  return jsonResponse({ status: "accepted" }, 202);
}

/**
 * Stores the dialback work of a notify/authorize (§6 Durability), unless the same one is
 * under way. §6 Abuse: at most `MAX_ACTIVE_HANDSHAKES_PER_SENDER_HOST` under way per
 * sender host name; past it `429 rate_limited` with `Retry-After` — the answer §2 has for
 * "too many", which an honest sender retries after the wait (§6 Retries), where a 202
 * that started nothing would leave it waiting for a `request` that never comes.
 */
async function startHandshake(engine: Engine, id: string, fields: Pick<HandshakeDoc, "kind" | "sender" | "recipient" | "message" | "code" | "vouch">): Promise<void> {
  const existing = await engine.store.get<HandshakeDoc>("handshakes", id);
  if (existing?.state === "active") return;
  const senderHost = senderHostOf(fields.sender);
  if ((await engine.store.count("handshakes", { state: "active", senderHost })) >= MAX_ACTIVE_HANDSHAKES_PER_SENDER_HOST) {
    throw new PmError("rate_limited", `Too many handshakes under way for ${senderHost}; come back later.`, { retryAfter: HANDSHAKE_CAP_RETRY_AFTER_SECONDS });
  }
  const now = engine.now();
  await engine.store.put<HandshakeDoc>("handshakes", {
    _id: id,
    ...fields,
    senderHost,
    state: "active",
    rev: (existing?.rev ?? 0) + 1,
    attempts: 0,
    nextAttemptAt: now,
    createdAt: now,
    updatedAt: now,
  });
  engine.wake();
}

/**
 * §3/§4 steps 3–4, run by the queue: discover E_S' from S (this, not the notify, proves
 * who speaks for S), `verify`, then issue T and send `request` or `grant`. Every try
 * follows the shared lifecycle (protocol/attempt.ts): retried with back-off for at most
 * an hour (retry.ts `JOB_LIMITS.handshake`; the sender notifies again anyway).
 */
export async function runHandshake(engine: Engine, doc: HandshakeDoc): Promise<void> {
  if (doc.state !== "active") return;
  const flow = doc.kind === "notify" ? "message" : "token";
  const ctx: StepContext = { flow, step: 3, sender: doc.sender, recipient: doc.recipient, ...(doc.message ? { message: doc.message } : {}) };
  // §6 Identity: a temporary redirect to another origin does not speak for S (final, nothing verified).
  const found = await discoverAttempt(engine, doc.sender, ctx, (d) => {
    const why = identityRedirectRefusal(d.chain);
    return why === undefined ? undefined : { kind: "final", code: "discovery_failed", detail: why };
  });
  if (found.kind !== "ok") return settle(engine, doc, found);
  const endpoint = found.value;

  const verify = encodeForm({ action: "verify", sender: doc.sender, recipient: doc.recipient, message: doc.message, code: doc.code });
  const verified = await postAttempt(engine, endpoint, verify, ctx, [200]);
  if (verified.kind !== "ok") return settle(engine, doc, verified);
  if ((verified.value as { valid?: unknown } | undefined)?.valid !== true) {
    return end(engine, doc, "failed", "bad_response", `${endpoint} answered verify without "valid": true.`);
  }

  const now = engine.now();
  const token = newSecret();
  // §7: a sender a vouch admitted may deliver on this token in contacts mode (mayDeliver).
  const vouched = doc.vouch ? { vouch: doc.vouch } : {};
  const secret: SecretDoc =
    doc.kind === "notify"
      ? { _id: hashSecret(token), kind: "message-token", sender: doc.sender, recipient: doc.recipient, message: doc.message!, createdAt: now, expiresAt: now + MESSAGE_TOKEN_LIFETIME_MS, ...vouched }
      : { _id: hashSecret(token), kind: "standing-token", sender: doc.sender, recipient: doc.recipient, createdAt: now, expiresAt: now + engine.grantLifetimeSeconds * 1000, ...vouched };
  await engine.store.insert("secrets", secret);
  const step4 =
    doc.kind === "notify"
      ? encodeForm({ action: "request", sender: doc.sender, recipient: doc.recipient, message: doc.message, endpoint: engine.endpoint, token })
      : encodeForm({ action: "grant", sender: doc.sender, recipient: doc.recipient, code: doc.code, endpoint: engine.endpoint, token, expires_in: String(engine.grantLifetimeSeconds) });
  const answered = await postAttempt(engine, endpoint, step4, { ...ctx, step: 4 }, [202]);
  if (answered.kind === "ok") return end(engine, doc, "done");
  if (answered.kind !== "retry" && secret.kind === "standing-token") {
    // A standing token nobody will use is withdrawn rather than left to live for a month.
    await engine.store.update<SecretDoc>("secrets", secret._id, { set: { revokedAt: engine.now() } });
  }
  return settle(engine, doc, answered);
}

/** A failed step 3–4 try: retried, or the end (a 401 is no answer these actions have: final). */
async function settle(engine: Engine, doc: HandshakeDoc, failure: Failure): Promise<void> {
  if (failure.kind === "retry") return again(engine, doc, failure);
  return end(engine, doc, "failed", failure.kind === "invalid_token" ? "bad_response" : failure.code, failure.detail);
}

/** §6 Retries (protocol/attempt.ts): the next try after the back-off, or give up. */
async function again(engine: Engine, doc: HandshakeDoc, failure: { code: ErrorCode; detail: string; afterMs?: number }): Promise<void> {
  const now = engine.now();
  const plan = planRetry(engine, "handshake", { attempts: doc.attempts, firstTriedAt: doc.createdAt }, failure);
  if (plan.kind === "give-up") return end(engine, doc, "failed", failure.code, plan.detail);
  await mutate<HandshakeDoc>(engine.store, "handshakes", doc._id, (d) =>
    d.state === "active" && d.rev === doc.rev ? { attempts: d.attempts + 1, nextAttemptAt: plan.at, error: failure.code, detail: failure.detail, updatedAt: now } : null,
  );
}

async function end(engine: Engine, doc: HandshakeDoc, state: "done" | "failed", code?: ErrorCode, detail?: string): Promise<void> {
  await mutate<HandshakeDoc>(engine.store, "handshakes", doc._id, (d) =>
    d.state === "active" && d.rev === doc.rev ? { state, error: code, detail, code: undefined, updatedAt: engine.now() } : null,
  );
  if (state === "failed") engine.log.warn("handshake failed", { kind: doc.kind, sender: doc.sender, recipient: doc.recipient, error: code, detail });
}

/**
 * §3 step 6 / §4 step 6 / §5: `deliver`. The bearer token must be live and bound to
 * (S, R) — and to M in the message flow. The message is stored once per (R, S, M): a
 * repeat answers `200 duplicate` and changes nothing.
 */
export async function checkDeliverToken(engine: Engine, req: DeliverRequest, bearer: string | undefined): Promise<SecretDoc> {
  if (!bearer) throw new PmError("invalid_token", "A deliver needs Authorization: Bearer with the token from request or grant.");
  const secret = await engine.store.get<SecretDoc>("secrets", hashSecret(bearer));
  const verdict = tokenVerdict(secret, req, engine.now());
  if (!verdict.ok) throw new PmError("invalid_token", verdict.why);
  return secret!;
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

/** Sanitizing under way, per engine and message: a retry waits for it rather than sanitizing again. */
const sanitizing = new WeakMap<Engine, Map<string, { html: string; done: Promise<string> }>>();

/**
 * §5 `content-html`, sanitized in the engine's worker pool; when the pool is over budget
 * or full, the message's plain `content`, escaped (§5: a sender sends its text too).
 */
function sanitizedHtml(engine: Engine, id: string, req: DeliverRequest & { contentHtml: string }): Promise<string> {
  let running = sanitizing.get(engine);
  if (!running) sanitizing.set(engine, (running = new Map()));
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

export async function answerDeliver(engine: Engine, policies: Record<string, SitePolicy>, req: DeliverRequest, secret: SecretDoc): Promise<Response> {
  if (!engine.sites.has(req.recipient)) throw new PmError("unknown_recipient", `This server holds no inbox for ${req.recipient}.`);
  const settings = await siteSettings(engine.store, policies, req.recipient);
  if (!mayDeliver(settings, req.sender, secret)) {
    throw new PmError("forbidden", `${req.recipient} does not accept messages from ${req.sender}.`);
  }
  const now = engine.now();
  // §3 step 6: T is used up by the 201 (or by a 200 duplicate); presented again for the
  // same (S, R, M) before it expires, it gets 200 duplicate and changes nothing.
  if (secret.kind === "message-token" && secret.usedAt !== undefined) return jsonResponse({ status: "duplicate" }, 200);
  const id = keyOf(req.recipient, req.sender, req.message);
  // A message already stored is a duplicate before anything is sanitized: a sender's
  // retry (after its 10 s time-out) costs a lookup, not another sanitizing.
  let duplicate = (await engine.store.get("inbox", id)) !== null;
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
    try {
      await engine.store.insert("inbox", doc);
    } catch (error) {
      if (!(error instanceof DuplicateKeyError)) throw error;
      duplicate = true;
    }
  }
  if (secret.kind === "message-token") {
    await engine.store.update<SecretDoc>("secrets", secret._id, { set: { usedAt: now, usedFor: req.message, lastUsedAt: now } }, { usedAt: null });
    await engine.store.update<HandshakeDoc>("handshakes", keyOf("notify", req.recipient, req.sender, req.message), { set: { state: "done", updatedAt: now } });
  } else if (secret.lastUsedAt === undefined || now - secret.lastUsedAt >= LAST_USED_RESOLUTION_MS) {
    // "Last used" is for the owner's eye: a minute's resolution saves a store write per
    // message in a busy conversation (bench/delivery.js: one append instead of two).
    await engine.store.update<SecretDoc>("secrets", secret._id, { set: { lastUsedAt: now } });
  }
  if (!duplicate && doc && settings.webhook) await enqueueWebhook(engine, settings.webhook, doc);
  return duplicate ? jsonResponse({ status: "duplicate" }, 200) : jsonResponse({ status: "delivered" }, 201);
}
