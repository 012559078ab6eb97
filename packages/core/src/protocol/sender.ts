/**
 * The sender role, E_S: delivering what this server's sites write (PROTOCOL.md §3 steps
 * 1–2 and 6, §4 steps 1–2 and 6) and answering the receiver's dialback (§3 steps 3 and
 * 5, §4 steps 3 and 5).
 */
import { PmError, jsonResponse, type ErrorCode } from "../errors.js";
import { hashSecret, keyOf, newSecret } from "../secrets.js";
import type { Flow } from "../types.js";
import { discoverAttempt, planRetry, postAttempt } from "./attempt.js";
import { describe, discoverStep, mutate, type Engine, type StepContext } from "./engine.js";
import { codeIsLive, encodeForm, type Failure, type GrantRequest, type RequestRequest, type VerifyRequest } from "@indiepm/protocol";
import { rememberContact } from "./policy.js";
import type { DeliveryDoc, DeliveryStage, GrantDoc, OutboxDoc, SecretDoc } from "./records.js";
import { describeForPeer } from "../http/peer-description.js";

/** §4 step 2: codes live at most 5 minutes. */
export const CODE_LIFETIME_MS = 5 * 60_000;
/** §3 step 4: message tokens live at most 10 minutes. */
export const MESSAGE_TOKEN_LIFETIME_MS = 10 * 60_000;
/** §4: a sender starts a new handshake when its token has less than a minute left. */
export const TOKEN_RENEW_MARGIN_MS = 60_000;

const ctxOf = (d: DeliveryDoc, step: number): StepContext => ({ flow: d.flow, step, message: d.message, sender: d.sender, recipient: d.recipient });

// ---------------------------------------------------------------------------
// The delivery queue's work on one delivery
// ---------------------------------------------------------------------------

/** Takes one due delivery one stage further (§3/§4). Never throws for protocol failures. */
export async function runDelivery(engine: Engine, doc: DeliveryDoc): Promise<void> {
  if (doc.status !== "pending") return;
  const now = engine.now();
  if (doc.firstTriedAt === undefined) {
    doc = (await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, () => ({ firstTriedAt: now }))) ?? doc;
  }
  switch (doc.stage) {
    case "discover":
      return startDelivery(engine, doc);
    case "awaiting-request":
    case "awaiting-grant":
      // §6: no request/grant within the wait counts as a retryable failure.
      return retry(engine, doc, doc.stage, { code: "timeout", detail: `${doc.endpoint ?? "the recipient's endpoint"} did not come back with ${doc.stage === "awaiting-request" ? "request" : "grant"} in time.` });
    case "deliver":
      return deliver(engine, doc);
  }
}

/**
 * §3/§4 step 1 (discover E_R), then step 2 (notify or authorize) or, holding a token,
 * step 6. §6: a page naming no endpoint, or a final 4xx other than 408/429, ends the delivery.
 */
async function startDelivery(engine: Engine, doc: DeliveryDoc): Promise<void> {
  const found = await discoverAttempt(engine, doc.recipient, ctxOf(doc, 1));
  if (found.kind !== "ok") return settle(engine, doc, "discover", found);
  return doc.flow === "message" ? notify(engine, doc, found.value) : authorizeOrDeliver(engine, doc, found.value);
}

/** §3 step 2: `notify`. The delivery waits for `request` before the POST, so an early one is not missed. */
async function notify(engine: Engine, doc: DeliveryDoc, endpoint: string): Promise<void> {
  const waiting = await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
    d.status === "pending" && d.stage === "discover"
      ? { stage: "awaiting-request", endpoint, nextAttemptAt: engine.now() + engine.retry.handshakeTimeoutMs, updatedAt: engine.now() }
      : null,
  );
  if (!waiting) return;
  const form = encodeForm({ action: "notify", sender: doc.sender, recipient: doc.recipient, message: doc.message, vouch: doc.vouch });
  const outcome = await postAttempt(engine, endpoint, form, ctxOf(doc, 2), [202]);
  if (outcome.kind === "ok") return;
  return settle(engine, waiting, "awaiting-request", outcome);
}

/** §4: deliver with a standing token held for (S → R at E_R), else start (or join) a handshake. */
async function authorizeOrDeliver(engine: Engine, doc: DeliveryDoc, endpoint: string): Promise<void> {
  const grant = await engine.store.get<GrantDoc>("grants", keyOf(doc.sender, doc.recipient, endpoint));
  if (grant && grant.expiresAt - engine.now() > TOKEN_RENEW_MARGIN_MS) {
    const ready = await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
      d.status === "pending" && d.stage === "discover" ? { stage: "deliver", endpoint, updatedAt: engine.now() } : null,
    );
    return ready ? deliver(engine, ready) : undefined;
  }
  await withLock(`${doc.sender} ${doc.recipient} ${endpoint}`, () => authorize(engine, doc, endpoint));
}

/** §4 step 2: issue code C for (S, R, E_R) and send `authorize`; deliveries to the same R join one handshake. */
async function authorize(engine: Engine, doc: DeliveryDoc, endpoint: string): Promise<void> {
  const now = engine.now();
  const open = await engine.store.find<SecretDoc>("secrets", {
    where: { kind: "code", sender: doc.sender, recipient: doc.recipient, endpoint },
    range: { field: "awaitUntil", gt: now },
  });
  const joinable = open.find((c) => c.usedAt === undefined && c.revokedAt === undefined && c.expiresAt > now);
  if (joinable) {
    await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
      d.status === "pending" && d.stage === "discover"
        ? { stage: "awaiting-grant", endpoint, handshake: joinable._id, freshHandshake: true, nextAttemptAt: joinable.awaitUntil ?? now, updatedAt: now }
        : null,
    );
    return;
  }
  const code = newSecret();
  const codeDoc: SecretDoc = {
    _id: hashSecret(code),
    kind: "code",
    sender: doc.sender,
    recipient: doc.recipient,
    endpoint,
    createdAt: now,
    expiresAt: now + CODE_LIFETIME_MS,
    awaitUntil: now + engine.retry.handshakeTimeoutMs,
  };
  await engine.store.insert("secrets", codeDoc);
  const waiting = await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
    d.status === "pending" && d.stage === "discover"
      ? { stage: "awaiting-grant", endpoint, handshake: codeDoc._id, freshHandshake: true, nextAttemptAt: codeDoc.awaitUntil!, updatedAt: now }
      : null,
  );
  if (!waiting) return;
  const form = encodeForm({ action: "authorize", sender: doc.sender, recipient: doc.recipient, code, vouch: doc.vouch });
  const outcome = await postAttempt(engine, endpoint, form, ctxOf(doc, 2), [202]);
  if (outcome.kind === "ok") return;
  // The handshake did not start: no one may join it any more.
  await engine.store.update<SecretDoc>("secrets", codeDoc._id, { set: { awaitUntil: now, revokedAt: engine.now() } });
  return settleWaiting(engine, codeDoc._id, outcome);
}

/** §3/§4 step 6: `deliver` with the token from step 4. */
async function deliver(engine: Engine, doc: DeliveryDoc): Promise<void> {
  const now = engine.now();
  const outbox = await engine.store.get<OutboxDoc>("outbox", keyOf(doc.sender, doc.message));
  if (!outbox) return fail(engine, doc, "deliver", "unknown_message", "The message was deleted before it was delivered.");
  let token: string | undefined;
  let grantId: string | undefined;
  // A single-use token from `request` (§3 step 4) is used whatever flow the delivery
  // started with: the receiver checked R's endpoint for it, and it names this message.
  const messageToken = doc.token && (doc.tokenExpiresAt ?? 0) > now ? doc.token : undefined;
  if (messageToken || doc.flow === "message") {
    token = messageToken;
  } else if (doc.endpoint) {
    grantId = keyOf(doc.sender, doc.recipient, doc.endpoint);
    const grant = await engine.store.get<GrantDoc>("grants", grantId);
    if (grant && grant.expiresAt > now) token = grant.token;
  }
  if (!token || !doc.endpoint) {
    // The token ran out before it could be used: start over with a new handshake.
    await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
      d.status === "pending" && d.stage === "deliver" ? { stage: "discover", token: undefined, tokenExpiresAt: undefined, nextAttemptAt: now, updatedAt: now } : null,
    );
    engine.wake();
    return;
  }
  const form = encodeForm({
    action: "deliver",
    sender: doc.sender,
    recipient: doc.recipient,
    message: doc.message,
    published: outbox.published,
    content: outbox.content,
    "content-html": outbox.contentHtml,
    name: outbox.name,
    "in-reply-to": outbox.inReplyTo,
    to: outbox.to,
  });
  const outcome = await postAttempt(engine, doc.endpoint, form, ctxOf(doc, 6), [201, 200], { authorization: `Bearer ${token}` });
  if (outcome.kind === "ok") {
    // The contact first (§7 "sites it has written to"): whoever sees the delivery delivered sees it too.
    await rememberContact(engine.store, doc.sender, doc.recipient);
    await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
      d.status === "pending" ? { status: "delivered", token: undefined, tokenExpiresAt: undefined, error: undefined, detail: undefined, updatedAt: engine.now() } : null,
    );
    return;
  }
  if (outcome.kind === "invalid_token") {
    // §3 step 6: a message token may have come from anyone who knows M, so a 401 starts
    // one new handshake; §4: so does a 401 on a standing token (dropped), while one on a
    // token from this delivery's own handshake is final. A second 401 is final.
    if (doc.renewedAfter401 || (!messageToken && doc.freshHandshake)) return fail(engine, doc, "deliver", "invalid_token", outcome.detail);
    if (grantId) await engine.store.remove("grants", grantId);
    await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
      d.status === "pending" && d.stage === "deliver"
        ? { stage: "discover", renewedAfter401: true, token: undefined, tokenExpiresAt: undefined, error: "invalid_token", detail: outcome.detail, nextAttemptAt: engine.now(), updatedAt: engine.now() }
        : null,
    );
    engine.wake();
    return;
  }
  return settle(engine, doc, "deliver", outcome);
}

/** Applies a failed attempt of `stage` to a delivery. */
async function settle(engine: Engine, doc: DeliveryDoc, stage: DeliveryStage, outcome: Failure): Promise<void> {
  if (outcome.kind === "retry") return retry(engine, doc, stage, outcome);
  if (outcome.kind === "final") return fail(engine, doc, stage, outcome.code, outcome.detail);
  return fail(engine, doc, stage, "bad_response", `Unexpected 401 at ${stage}: ${outcome.detail}`);
}

/** A failed `authorize` ends the wait of every delivery that joined its handshake. */
async function settleWaiting(engine: Engine, handshake: string, outcome: Failure): Promise<void> {
  const waiting = await engine.store.find<DeliveryDoc>("deliveries", { where: { handshake, status: "pending", stage: "awaiting-grant" } });
  for (const d of waiting) await settle(engine, d, "awaiting-grant", outcome);
}

/** §6 Retries (protocol/attempt.ts): back off and go back to step 1, or give up. */
async function retry(engine: Engine, doc: DeliveryDoc, stage: DeliveryStage, failure: { code: ErrorCode; detail: string; afterMs?: number }): Promise<void> {
  const now = engine.now();
  const { code, detail } = failure;
  const plan = planRetry(engine, "delivery", { attempts: doc.attempts, firstTriedAt: doc.firstTriedAt ?? now }, failure);
  if (plan.kind === "give-up") return fail(engine, doc, stage, code, plan.detail);
  // A retried deliver keeps its token (§3: T stays usable until it runs out; `deliver`
  // starts over when it has); every other stage starts over at step 1.
  const next: DeliveryStage = stage === "deliver" ? "deliver" : "discover";
  await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
    d.status === "pending" && d.stage === stage
      ? { stage: next, attempts: d.attempts + 1, nextAttemptAt: plan.at, error: code, detail, updatedAt: now }
      : null,
  );
}

async function fail(engine: Engine, doc: DeliveryDoc, stage: DeliveryStage, code: ErrorCode, detail: string): Promise<void> {
  await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
    d.status === "pending" && d.stage === stage
      ? { status: "failed", error: code, detail, token: undefined, tokenExpiresAt: undefined, updatedAt: engine.now() }
      : null,
  );
  engine.log.warn("delivery failed", { message: doc.message, recipient: doc.recipient, error: code, detail });
}

const lockChains = new Map<string, Promise<void>>();
/** Serializes handshakes per (S, R, E_R) in this process so concurrent deliveries share one. */
function withLock(key: string, task: () => Promise<void>): Promise<void> {
  const chain = lockChains.get(key) ?? Promise.resolve();
  const next = chain.then(task, task);
  lockChains.set(key, next);
  void next.finally(() => {
    if (lockChains.get(key) === next) lockChains.delete(key);
  });
  return next;
}

// ---------------------------------------------------------------------------
// Answering the receiver (E_S' in §3/§4)
// ---------------------------------------------------------------------------

/**
 * §3 step 3 / §4 step 3: `verify`. Yes for a message M from S with R among its
 * recipients, or for a live code this server issued for exactly (S, R). Verify does not
 * use a code up.
 */
export async function answerVerify(engine: Engine, req: VerifyRequest): Promise<Response> {
  if (req.message !== undefined) {
    const outbox = engine.sites.has(req.sender) ? await engine.store.get<OutboxDoc>("outbox", keyOf(req.sender, req.message)) : null;
    if (!outbox || !outbox.recipients.includes(req.recipient)) {
      throw new PmError("unknown_message", `This endpoint holds no message ${req.message} from ${req.sender} to ${req.recipient}.`);
    }
    return jsonResponse({ valid: true }, 200);
  }
  await liveCode(engine, req.sender, req.recipient, req.code);
  return jsonResponse({ valid: true }, 200);
}

/** The code doc when `code` is live and was issued for exactly (S, R); else `invalid_code`. */
async function liveCode(engine: Engine, sender: string, recipient: string, code: string): Promise<SecretDoc> {
  const doc = engine.sites.has(sender) ? await engine.store.get<SecretDoc>("secrets", hashSecret(code)) : null;
  if (!codeIsLive(doc, sender, recipient, engine.now())) {
    throw new PmError("invalid_code", "The code is unknown, expired, used, or was issued for other sites.");
  }
  return doc;
}

/**
 * §3 steps 4–5: `request`. Looks M up, discovers R afresh and checks it names exactly
 * `endpoint`, keeps T, answers 202; the `deliver` (step 6) follows the answer.
 *
 * M is no secret (every recipient of a group message learns it), so a `request` alone
 * cannot end a delivery or take it over: a 409 ends it only when R now names an endpoint
 * other than the one step 2 notified (the recipient moved), and the first token a valid
 * `request` brought is kept while it lives — a later one changes nothing (a 401 to it
 * starts one new handshake instead, `deliver`).
 */
export async function answerRequest(engine: Engine, req: RequestRequest): Promise<Response> {
  const id = keyOf(req.sender, req.recipient, req.message);
  const pending = engine.sites.has(req.sender) ? await engine.store.get<DeliveryDoc>("deliveries", id) : null;
  if (!pending || pending.status !== "pending") {
    throw new PmError("unknown_message", `This endpoint holds no pending message ${req.message} from ${req.sender} to ${req.recipient}.`);
  }
  await checkRecipientEndpoint(engine, req, pending.flow, async (detail, named) => {
    const notified = pending.endpoint;
    if (!named || !notified || named === notified) return;
    await mutate<DeliveryDoc>(engine.store, "deliveries", id, (d) =>
      d.status === "pending" && d.endpoint === notified
        ? { status: "failed", error: "endpoint_mismatch", detail: `${detail} It named ${notified} when notified: the recipient moved.`, token: undefined, tokenExpiresAt: undefined, updatedAt: engine.now() }
        : null,
    );
  });
  const now = engine.now();
  let kept = false;
  const ready = await mutate<DeliveryDoc>(engine.store, "deliveries", id, (d) => {
    if (d.status !== "pending") return null;
    kept = d.token !== undefined && (d.tokenExpiresAt ?? 0) > now;
    return kept ? null : { stage: "deliver", endpoint: req.endpoint, token: req.token, tokenExpiresAt: now + MESSAGE_TOKEN_LIFETIME_MS, nextAttemptAt: now, updatedAt: now };
  });
  if (!ready && !kept) throw new PmError("unknown_message", `The message ${req.message} is no longer pending.`);
  if (ready) setImmediate(() => engine.wake());
  return jsonResponse({ status: "accepted" }, 202);
}

/**
 * §4 steps 4–5: `grant`. Checks C, checks `endpoint` against C and against what R names
 * now, then uses C up, keeps T for (S → R at E_R) and answers 202; the waiting
 * deliveries follow.
 */
export async function answerGrant(engine: Engine, req: GrantRequest): Promise<Response> {
  const code = await liveCode(engine, req.sender, req.recipient, req.code);
  const withdraw = async (detail: string) => {
    await engine.store.update<SecretDoc>("secrets", code._id, { set: { revokedAt: engine.now(), awaitUntil: engine.now() } });
    const waiting = await engine.store.find<DeliveryDoc>("deliveries", { where: { handshake: code._id, status: "pending" } });
    for (const d of waiting) {
      await mutate<DeliveryDoc>(engine.store, "deliveries", d._id, (cur) =>
        cur.status === "pending" && cur.handshake === code._id ? { status: "failed", error: "endpoint_mismatch", detail, updatedAt: engine.now() } : null,
      );
    }
  };
  if (req.endpoint !== code.endpoint) {
    const detail = `The grant names ${req.endpoint}, but the code was issued for ${code.endpoint}.`;
    await withdraw(detail);
    throw new PmError("endpoint_mismatch", detail);
  }
  await checkRecipientEndpoint(engine, req, "token", withdraw);
  const now = engine.now();
  if (!(await engine.store.update<SecretDoc>("secrets", code._id, { set: { usedAt: now, awaitUntil: now } }, { usedAt: null, revokedAt: null }))) {
    throw new PmError("invalid_code", "The code is unknown, expired, used, or was issued for other sites.");
  }
  await engine.store.put<GrantDoc>("grants", {
    _id: keyOf(req.sender, req.recipient, req.endpoint),
    sender: req.sender,
    recipient: req.recipient,
    endpoint: req.endpoint,
    token: req.token,
    grantedAt: now,
    expiresAt: now + req.expiresIn * 1000,
  });
  // Every delivery to R waiting for a grant can go now (not only those of this code).
  const waiting = await engine.store.find<DeliveryDoc>("deliveries", { where: { sender: req.sender, recipient: req.recipient, status: "pending", stage: "awaiting-grant" } });
  for (const d of waiting) {
    await mutate<DeliveryDoc>(engine.store, "deliveries", d._id, (cur) =>
      cur.status === "pending" && cur.stage === "awaiting-grant" ? { stage: "deliver", endpoint: req.endpoint, nextAttemptAt: now, updatedAt: now } : null,
    );
  }
  setImmediate(() => engine.wake());
  return jsonResponse({ status: "accepted" }, 202);
}

/**
 * §3 step 5 / §4 step 5 (§6 Identity): R must name exactly `endpoint` now. Discovers R
 * without any cache; a fetch failure is 503 (the delivery stays pending), a mismatch
 * runs `onMismatch` (with the endpoint R names now, if any) and is 409 `endpoint_mismatch`.
 */
async function checkRecipientEndpoint(
  engine: Engine,
  req: { sender: string; recipient: string; endpoint: string; message?: string },
  flow: Flow,
  onMismatch: (detail: string, named: string | null) => Promise<void>,
): Promise<void> {
  let named: string | null;
  try {
    named = (await discoverStep(engine, req.recipient, { flow, step: 5, sender: req.sender, recipient: req.recipient, ...(req.message ? { message: req.message } : {}) })).endpoint;
  } catch (error) {
    // §2: the answer says what kind of failure, never the addresses involved; the detail is logged here.
    engine.log.warn("recipient site could not be fetched at step 5", { recipient: req.recipient, detail: describe(error) });
    throw new PmError("temporarily_unavailable", `The recipient site ${req.recipient} could not be fetched: ${describeForPeer(error)}.`, { cause: error });
  }
  if (named !== req.endpoint) {
    const detail = named
      ? `${req.recipient} names ${named} as its pm endpoint, not ${req.endpoint}.`
      : `${req.recipient} names no pm endpoint, not ${req.endpoint}.`;
    await onMismatch(detail, named);
    throw new PmError("endpoint_mismatch", detail);
  }
}
