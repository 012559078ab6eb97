/**
 * The dialback job, run by the recipient's endpoint E_R after it answers `notify` or
 * `authorize` (actions/notify.ts, actions/authorize.ts): PROTOCOL.md §3/§4 step 3
 * (discover E_S' from S, `verify`) and step 4 (issue T, `request` or `grant`), on the
 * shared attempt lifecycle (protocol/attempt.ts).
 */
import { PmError, type ErrorCode } from "../../errors.js";
import { hashSecret, newSecret } from "../../secrets.js";
import { discoverAttempt, planRetry, postAttempt } from "../attempt.js";
import { mutate, NO_LEASE, type Engine, type Lease, type StepContext } from "../engine.js";
import { identityRedirectRefusal } from "../../discovery/identity.js";
import { encodeForm, type Failure } from "@indiepm/protocol";
import { senderHostOf } from "../rate-limit.js";
import type { HandshakeDoc, SecretDoc } from "../records.js";
import { HANDSHAKE_CAP_RETRY_AFTER_SECONDS, MAX_ACTIVE_HANDSHAKES_PER_SENDER_HOST, MESSAGE_TOKEN_LIFETIME_MS } from "../../limits.js";

/**
 * Stores the dialback work of a notify/authorize (§6 Durability), unless the same one is
 * under way. §6 Abuse: at most `MAX_ACTIVE_HANDSHAKES_PER_SENDER_HOST` under way per
 * sender host name; past it `429 rate_limited` with `Retry-After` — the answer §2 has for
 * "too many", which an honest sender retries after the wait (§6 Retries), where a 202
 * that started nothing would leave it waiting for a `request` that never comes.
 */
export async function startDialback(
  engine: Engine,
  id: string,
  fields: Pick<HandshakeDoc, "kind" | "sender" | "recipient" | "message" | "code" | "vouch">,
): Promise<void> {
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
 * an hour (retry.ts `JOB_LIMITS.handshake`; the sender notifies again anyway). `lease`: the
 * job's (jobs/queue.ts), which each request needs; a `LeaseLost` ends the try as it is.
 */
export async function runDialback(engine: Engine, doc: HandshakeDoc, lease: Lease = NO_LEASE): Promise<void> {
  if (doc.state !== "active") return;
  const flow = doc.kind === "notify" ? "message" : "token";
  const ctx: StepContext = { flow, step: 3, sender: doc.sender, recipient: doc.recipient, ...(doc.message ? { message: doc.message } : {}) };
  // §6 Identity: a temporary redirect to another origin does not speak for S (final, nothing verified).
  const found = await discoverAttempt(
    engine,
    doc.sender,
    ctx,
    (d) => {
      const why = identityRedirectRefusal(d.chain);
      return why === undefined ? undefined : { kind: "final", code: "discovery_failed", detail: why };
    },
    { lease },
  );
  if (found.kind !== "ok") return settle(engine, doc, found);
  const endpoint = found.value;

  const verify = encodeForm({ action: "verify", sender: doc.sender, recipient: doc.recipient, message: doc.message, code: doc.code });
  const verified = await postAttempt(engine, endpoint, verify, ctx, [200], { lease });
  if (verified.kind !== "ok") return settle(engine, doc, verified);
  if ((verified.value as { valid?: unknown } | undefined)?.valid !== true) {
    return end(engine, doc, "failed", "bad_response", `${endpoint} answered verify without "valid": true.`);
  }

  // Ensured before T is issued, so no token is made for a request that cannot start.
  await lease.ensure();
  const now = engine.now();
  const token = newSecret();
  // §7: a sender a vouch admitted may deliver on this token in contacts mode (mayDeliver).
  const vouched = doc.vouch ? { vouch: doc.vouch } : {};
  const secret: SecretDoc =
    doc.kind === "notify"
      ? {
          _id: hashSecret(token),
          kind: "message-token",
          sender: doc.sender,
          recipient: doc.recipient,
          message: doc.message!,
          createdAt: now,
          expiresAt: now + MESSAGE_TOKEN_LIFETIME_MS,
          ...vouched,
        }
      : {
          _id: hashSecret(token),
          kind: "standing-token",
          sender: doc.sender,
          recipient: doc.recipient,
          createdAt: now,
          expiresAt: now + engine.grantLifetimeSeconds * 1000,
          ...vouched,
        };
  await engine.store.insert("secrets", secret);
  const step4 =
    doc.kind === "notify"
      ? encodeForm({ action: "request", sender: doc.sender, recipient: doc.recipient, message: doc.message, endpoint: engine.endpoint, token })
      : encodeForm({
          action: "grant",
          sender: doc.sender,
          recipient: doc.recipient,
          code: doc.code,
          endpoint: engine.endpoint,
          token,
          expires_in: String(engine.grantLifetimeSeconds),
        });
  const answered = await postAttempt(engine, endpoint, step4, { ...ctx, step: 4 }, [202], { lease });
  if (answered.kind === "ok") return end(engine, doc, "done");
  const mayHaveBeenTaken = answered.kind === "retry" && (answered.code === "network_error" || answered.code === "timeout");
  if (secret.kind === "standing-token" && !mayHaveBeenTaken) {
    // A standing token nobody will use is withdrawn rather than left to live for a month:
    // any answer but 202 (a retry issues a new one). Only when no answer came may the
    // sender hold it, so it stays.
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
    d.state === "active" && d.rev === doc.rev
      ? { attempts: d.attempts + 1, nextAttemptAt: plan.at, error: failure.code, detail: failure.detail, updatedAt: now }
      : null,
  );
}

async function end(engine: Engine, doc: HandshakeDoc, state: "done" | "failed", code?: ErrorCode, detail?: string): Promise<void> {
  await mutate<HandshakeDoc>(engine.store, "handshakes", doc._id, (d) =>
    d.state === "active" && d.rev === doc.rev ? { state, error: code, detail, code: undefined, updatedAt: engine.now() } : null,
  );
  if (state === "failed") engine.log.warn("handshake failed", { kind: doc.kind, sender: doc.sender, recipient: doc.recipient, error: code, detail });
}
