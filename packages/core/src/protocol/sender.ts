/**
 * The sender role, E_S: delivering what this server's sites write (PROTOCOL.md §3 steps
 * 1–2 and 6, §4 steps 1–2 and 6) and answering the receiver's dialback (§3 steps 3 and
 * 5, §4 steps 3 and 5).
 */
import { PmError, jsonResponse, type ErrorCode } from "../errors.js";
import { hashSecret, keyOf, newSecret } from "../secrets.js";
import type { Flow } from "../types.js";
import { describe, discoverStep, errorCodeOf, mutate, postStep, type Engine, type StepContext } from "./engine.js";
import { encodeForm } from "./form.js";
import type { GrantRequest, RequestRequest, VerifyRequest } from "./params.js";
import { rememberContact } from "./policy.js";
import type { DeliveryDoc, DeliveryStage, GrantDoc, OutboxDoc, SecretDoc } from "./records.js";
import { backoffDelay, classifyAnswer, type Outcome } from "./retry.js";
import { codeIsLive } from "./tokens.js";

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
      return retry(engine, doc, doc.stage, "timeout", `${doc.endpoint ?? "the recipient's endpoint"} did not come back with ${doc.stage === "awaiting-request" ? "request" : "grant"} in time.`);
    case "deliver":
      return deliver(engine, doc);
  }
}

/** §3/§4 step 1 (discover E_R), then step 2 (notify or authorize) or, holding a token, step 6. */
async function startDelivery(engine: Engine, doc: DeliveryDoc): Promise<void> {
  let endpoint: string | null;
  try {
    endpoint = (await discoverStep(engine, doc.recipient, ctxOf(doc, 1))).endpoint;
  } catch (error) {
    const code = errorCodeOf(error);
    if (code === "address_refused") return fail(engine, doc, "discover", "address_refused", describe(error));
    return retry(engine, doc, "discover", code, describe(error));
  }
  if (!endpoint) return fail(engine, doc, "discover", "no_endpoint", `${doc.recipient} names no rel=pm endpoint.`);
  return doc.flow === "message" ? notify(engine, doc, endpoint) : authorizeOrDeliver(engine, doc, endpoint);
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
  const outcome = await send(engine, endpoint, form, ctxOf(doc, 2), [202]);
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
  const outcome = await send(engine, endpoint, form, ctxOf(doc, 2), [202]);
  if (outcome.kind === "ok") return;
  // The handshake did not start: no one may join it any more.
  await engine.store.update("secrets", codeDoc._id, { awaitUntil: now, revokedAt: engine.now() });
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
  const outcome = await send(engine, doc.endpoint, form, ctxOf(doc, 6), [201, 200], { authorization: `Bearer ${token}` });
  if (outcome.kind === "ok") {
    await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
      d.status === "pending" ? { status: "delivered", token: undefined, tokenExpiresAt: undefined, error: undefined, detail: undefined, updatedAt: engine.now() } : null,
    );
    await rememberContact(engine.store, doc.sender, doc.recipient);
    return;
  }
  if (outcome.kind === "invalid_token") {
    // §4: 401 is final for the message flow and for a token from this delivery's own
    // handshake; otherwise the standing token is dropped and one new handshake made.
    if (messageToken || doc.freshHandshake) return fail(engine, doc, "deliver", "invalid_token", outcome.detail);
    if (grantId) await engine.store.remove("grants", grantId);
    await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
      d.status === "pending" && d.stage === "deliver" ? { stage: "discover", nextAttemptAt: engine.now(), updatedAt: engine.now() } : null,
    );
    engine.wake();
    return;
  }
  return settle(engine, doc, "deliver", outcome);
}

/** POSTs and classifies the answer; network failures are retryable outcomes. */
async function send(engine: Engine, url: string, form: URLSearchParams, ctx: StepContext, expected: number[], headers?: Record<string, string>): Promise<Outcome> {
  try {
    const answer = await postStep(engine, url, form, ctx, headers);
    return classifyAnswer(answer, expected, engine.now());
  } catch (error) {
    const code = errorCodeOf(error);
    if (code === "address_refused") return { kind: "final", code, detail: describe(error) };
    return { kind: "retry", code, detail: describe(error) };
  }
}

/** Applies a non-ok outcome of `stage` to a delivery. */
async function settle(engine: Engine, doc: DeliveryDoc, stage: DeliveryStage, outcome: Exclude<Outcome, { kind: "ok" }>): Promise<void> {
  if (outcome.kind === "retry") return retry(engine, doc, stage, outcome.code, outcome.detail, outcome.afterMs);
  if (outcome.kind === "final") return fail(engine, doc, stage, outcome.code, outcome.detail);
  return fail(engine, doc, stage, "bad_response", `Unexpected 401 at ${stage}: ${outcome.detail}`);
}

/** A failed `authorize` ends the wait of every delivery that joined its handshake. */
async function settleWaiting(engine: Engine, handshake: string, outcome: Exclude<Outcome, { kind: "ok" }>): Promise<void> {
  const waiting = await engine.store.find<DeliveryDoc>("deliveries", { where: { handshake, status: "pending", stage: "awaiting-grant" } });
  for (const d of waiting) await settle(engine, d, "awaiting-grant", outcome);
}

/** §6 Retries: back off (or honour `Retry-After`) and go back to step 1; give up after `giveUpAfterMs`. */
async function retry(engine: Engine, doc: DeliveryDoc, stage: DeliveryStage, code: ErrorCode, detail: string, afterMs?: number): Promise<void> {
  const now = engine.now();
  const attempts = doc.attempts + 1;
  const delay = afterMs ?? backoffDelay(attempts, engine.retry, engine.random);
  if (now + delay - (doc.firstTriedAt ?? now) > engine.retry.giveUpAfterMs) {
    return fail(engine, doc, stage, code, `Gave up retrying; last: ${detail}`);
  }
  // A retried deliver keeps its token (§3: T stays usable until it runs out; `deliver`
  // starts over when it has); every other stage starts over at step 1.
  const next: DeliveryStage = stage === "deliver" ? "deliver" : "discover";
  await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
    d.status === "pending" && d.stage === stage
      ? { stage: next, attempts: d.attempts + 1, nextAttemptAt: now + delay, error: code, detail, updatedAt: now }
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
 * §3 step 4–5: `request`. Looks M up, discovers R afresh and checks it names exactly
 * `endpoint`, keeps T, answers 202; the `deliver` (step 6) follows the answer.
 */
export async function answerRequest(engine: Engine, req: RequestRequest): Promise<Response> {
  const id = keyOf(req.sender, req.recipient, req.message);
  const pending = engine.sites.has(req.sender) ? await engine.store.get<DeliveryDoc>("deliveries", id) : null;
  if (!pending || pending.status !== "pending") {
    throw new PmError("unknown_message", `This endpoint holds no pending message ${req.message} from ${req.sender} to ${req.recipient}.`);
  }
  await checkRecipientEndpoint(engine, req, pending.flow, async (detail) => {
    await mutate<DeliveryDoc>(engine.store, "deliveries", id, (d) =>
      d.status === "pending" ? { status: "failed", error: "endpoint_mismatch", detail, token: undefined, updatedAt: engine.now() } : null,
    );
  });
  const now = engine.now();
  const ready = await mutate<DeliveryDoc>(engine.store, "deliveries", id, (d) =>
    d.status === "pending"
      ? { stage: "deliver", endpoint: req.endpoint, token: req.token, tokenExpiresAt: now + MESSAGE_TOKEN_LIFETIME_MS, nextAttemptAt: now, updatedAt: now }
      : null,
  );
  if (!ready) throw new PmError("unknown_message", `The message ${req.message} is no longer pending.`);
  setImmediate(() => engine.wake());
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
    await engine.store.update("secrets", code._id, { revokedAt: engine.now(), awaitUntil: engine.now() });
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
  if (!(await engine.store.update("secrets", code._id, { usedAt: now, awaitUntil: now }, { usedAt: null, revokedAt: null }))) {
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
 * runs `onMismatch` and is 409 `endpoint_mismatch`.
 */
async function checkRecipientEndpoint(
  engine: Engine,
  req: { sender: string; recipient: string; endpoint: string; message?: string },
  flow: Flow,
  onMismatch: (detail: string) => Promise<void>,
): Promise<void> {
  let named: string | null;
  try {
    named = (await discoverStep(engine, req.recipient, { flow, step: 5, sender: req.sender, recipient: req.recipient, ...(req.message ? { message: req.message } : {}) })).endpoint;
  } catch (error) {
    throw new PmError("temporarily_unavailable", `The recipient site ${req.recipient} could not be fetched: ${describe(error)}`, { cause: error });
  }
  if (named !== req.endpoint) {
    const detail = named
      ? `${req.recipient} names ${named} as its pm endpoint, not ${req.endpoint}.`
      : `${req.recipient} names no pm endpoint, not ${req.endpoint}.`;
    await onMismatch(detail);
    throw new PmError("endpoint_mismatch", detail);
  }
}
