/**
 * The delivery job, run by the sender's endpoint E_S for what its sites write (one per
 * recipient): PROTOCOL.md §3 steps 1, 2 and 6, §4 steps 1, 2 and 6, on the shared attempt
 * lifecycle (protocol/attempt.ts). Steps 3 and 5 are the sender's answers to the
 * receiver's dialback: actions/verify.ts, actions/request.ts, actions/grant.ts.
 */
import type { ErrorCode } from "../../errors.js";
import { hashSecret, keyOf, newSecret } from "../../secrets.js";
import { discoverAttempt, planRetry, postAttempt, staleCachedEndpoint } from "../attempt.js";
import { mutate, NO_LEASE, type Engine, type Lease, type StepContext } from "../engine.js";
import { deliverForm, encodeForm, type Failure } from "@indiepm/protocol";
import { changeSettings } from "../../settings.js";
import type { DeliveryDoc, DeliveryStage, GrantDoc, OutboxDoc, SecretDoc } from "../records.js";
import type { Store } from "../../store/types.js";
import { CODE_LIFETIME_MS, TOKEN_RENEW_MARGIN_MS, UNSTORED_MESSAGE_GRACE_MS, UNSTORED_MESSAGE_RETRY_MS } from "../../limits.js";

const ctxOf = (d: DeliveryDoc, step: number): StepContext => ({ flow: d.flow, step, message: d.message, sender: d.sender, recipient: d.recipient });

/**
 * Takes one due delivery one stage further (§3/§4). Never throws for protocol failures.
 * `lease`: the job's (jobs/queue.ts), which each of its requests needs; a `LeaseLost`
 * ends the try as it is.
 */
export async function runDelivery(engine: Engine, doc: DeliveryDoc, lease: Lease = NO_LEASE): Promise<void> {
  if (doc.status !== "pending") return;
  const now = engine.now();
  if (doc.firstTriedAt === undefined) {
    doc = (await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, () => ({ firstTriedAt: now }))) ?? doc;
  }
  switch (doc.stage) {
    case "discover":
      return startDelivery(engine, doc, lease);
    case "awaiting-request":
    case "awaiting-grant":
      // §6: no request/grant within the wait counts as a retryable failure.
      return retry(engine, doc, doc.stage, {
        code: "timeout",
        detail: `${doc.endpoint ?? "the recipient's endpoint"} did not come back with ${doc.stage === "awaiting-request" ? "request" : "grant"} in time.`,
      });
    case "deliver":
      return deliver(engine, doc, lease);
  }
}

/**
 * §3/§4 step 1 (discover E_R), then step 2 (notify or authorize) or, holding a token,
 * step 6. §6: a page naming no endpoint, or a final 4xx other than 408/429, ends the delivery.
 * Step 1 may reuse an endpoint R's page let us cache (§1); `cached` says it did, and a
 * failure at it then sends the delivery back to step 1 afresh instead of settling.
 */
async function startDelivery(engine: Engine, doc: DeliveryDoc, lease: Lease): Promise<void> {
  const found = await discoverAttempt(engine, doc.recipient, ctxOf(doc, 1), undefined, { cached: true, lease });
  if (found.kind !== "ok") return settle(engine, doc, "discover", found);
  return doc.flow === "message" ? notify(engine, doc, found.value, found.cached, lease) : authorizeOrDeliver(engine, doc, found.value, found.cached, lease);
}

/**
 * §3 step 2: `notify`. The delivery waits for `request` before the POST, so an early one is
 * not missed. That wait is written as the delivery's `nextAttemptAt`, which ends the lease:
 * so the lease is ensured before it, and the POST runs on what is left (its signal still cuts it).
 */
async function notify(engine: Engine, doc: DeliveryDoc, endpoint: string, cached: boolean, lease: Lease): Promise<void> {
  await lease.ensure();
  const waiting = await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
    d.status === "pending" && d.stage === "discover"
      ? { stage: "awaiting-request", endpoint, nextAttemptAt: engine.now() + engine.retry.handshakeTimeoutMs, updatedAt: engine.now() }
      : null,
  );
  if (!waiting) return;
  const form = encodeForm({ action: "notify", sender: doc.sender, recipient: doc.recipient, message: doc.message, vouch: doc.vouch });
  const outcome = await postAttempt(engine, endpoint, form, ctxOf(doc, 2), [202], { signal: lease.signal });
  if (outcome.kind === "ok") return;
  if (cached && staleCachedEndpoint(engine, doc.recipient, outcome)) return rediscover(engine, waiting, "awaiting-request", outcome);
  return settle(engine, waiting, "awaiting-request", outcome);
}

/** §4: deliver with a standing token held for (S → R at E_R), else start (or join) a handshake. */
async function authorizeOrDeliver(engine: Engine, doc: DeliveryDoc, endpoint: string, cached: boolean, lease: Lease): Promise<void> {
  const ready = await withStandingToken(engine, doc, endpoint);
  if (ready !== undefined) return ready ? deliver(engine, ready, lease, cached) : undefined;
  let granted: DeliveryDoc | null | undefined;
  await withLock(engine, `${doc.sender} ${doc.recipient} ${endpoint}`, async () => {
    // The handshake this delivery waited behind may have ended with a token meanwhile (its
    // code then used, so nothing left to join): take it rather than start another.
    granted = await withStandingToken(engine, doc, endpoint);
    if (granted === undefined) await authorize(engine, doc, endpoint, cached, lease);
  });
  if (granted) await deliver(engine, granted, lease, cached);
}

/**
 * With a standing token for (S → R at E_R) that is not about to expire: the delivery moved
 * on to step 6 (`null` when it was no longer waiting for that); `undefined` without one.
 */
async function withStandingToken(engine: Engine, doc: DeliveryDoc, endpoint: string): Promise<DeliveryDoc | null | undefined> {
  const grant = await engine.store.get<GrantDoc>("grants", keyOf(doc.sender, doc.recipient, endpoint));
  if (!grant || grant.expiresAt - engine.now() <= TOKEN_RENEW_MARGIN_MS) return undefined;
  return mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
    d.status === "pending" && d.stage === "discover" ? { stage: "deliver", endpoint, updatedAt: engine.now() } : null,
  );
}

/**
 * §4 step 2: issue code C for (S, R, E_R) and send `authorize`; deliveries to the same R
 * join one handshake. As for `notify`, the wait written before the POST ends the lease,
 * so it is ensured before the code is issued.
 */
async function authorize(engine: Engine, doc: DeliveryDoc, endpoint: string, cached: boolean, lease: Lease): Promise<void> {
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
  await lease.ensure();
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
  const outcome = await postAttempt(engine, endpoint, form, ctxOf(doc, 2), [202], { signal: lease.signal });
  if (outcome.kind === "ok") return;
  // The handshake did not start: no one may join it any more.
  await engine.store.update<SecretDoc>("secrets", codeDoc._id, { set: { awaitUntil: now, revokedAt: engine.now() } });
  if (cached && staleCachedEndpoint(engine, doc.recipient, outcome)) {
    const joined = await engine.store.find<DeliveryDoc>("deliveries", { where: { handshake: codeDoc._id, status: "pending", stage: "awaiting-grant" } });
    for (const d of joined) await rediscover(engine, d, "awaiting-grant", outcome);
    return;
  }
  return settleWaiting(engine, codeDoc._id, outcome);
}

/** §3/§4 step 6: `deliver` with the token from step 4; `cached`: its endpoint came from the §1 cache just now. */
async function deliver(engine: Engine, doc: DeliveryDoc, lease: Lease, cached = false): Promise<void> {
  const now = engine.now();
  const outbox = await engine.store.get<OutboxDoc>("outbox", keyOf(doc.sender, doc.message));
  if (!outbox) {
    // Written just now, its message may still be on its way to the store (PmServer.send).
    if (now - doc.createdAt < UNSTORED_MESSAGE_GRACE_MS) return waitForMessage(engine, doc);
    return fail(engine, doc, "deliver", "unknown_message", "The message was deleted before it was delivered.");
  }
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
      d.status === "pending" && d.stage === "deliver"
        ? { stage: "discover", token: undefined, tokenExpiresAt: undefined, nextAttemptAt: now, updatedAt: now }
        : null,
    );
    engine.wake();
    return;
  }
  const form = deliverForm(outbox, doc.recipient);
  const outcome = await postAttempt(engine, doc.endpoint, form, ctxOf(doc, 6), [201, 200], { headers: { authorization: `Bearer ${token}` }, lease });
  if (outcome.kind === "ok") {
    // The contact first (§7 "sites it has written to"): whoever sees the delivery delivered sees it too.
    await rememberContact(engine.store, doc.sender, doc.recipient);
    // Cancelled by the owner while this `deliver` was on its way (owner/deliveries.ts): R has it, so it was delivered.
    await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
      d.status === "pending" || d.status === "cancelled"
        ? { status: "delivered", token: undefined, tokenExpiresAt: undefined, error: undefined, detail: undefined, updatedAt: engine.now() }
        : null,
    );
    return;
  }
  if (outcome.kind === "invalid_token") {
    // §3 step 6: a message token may have come from anyone who knows M, so a 401 starts
    // one new handshake; §4: so does a 401 on a standing token (dropped), while one on a
    // token from this delivery's own handshake is final. A second 401 is final. A 401
    // from a cached endpoint does not count: R may have moved, so step 1 runs afresh (§1).
    if (cached) engine.discoveryCache.delete(doc.recipient);
    if (!cached && (doc.renewedAfter401 || (!messageToken && doc.freshHandshake))) return fail(engine, doc, "deliver", "invalid_token", outcome.detail);
    if (grantId) await engine.store.remove("grants", grantId);
    await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
      d.status === "pending" && d.stage === "deliver"
        ? {
            stage: "discover",
            renewedAfter401: cached ? d.renewedAfter401 : true,
            token: undefined,
            tokenExpiresAt: undefined,
            error: "invalid_token",
            detail: outcome.detail,
            nextAttemptAt: engine.now(),
            updatedAt: engine.now(),
          }
        : null,
    );
    engine.wake();
    return;
  }
  if (cached && staleCachedEndpoint(engine, doc.recipient, outcome)) return rediscover(engine, doc, "deliver", outcome);
  return settle(engine, doc, "deliver", outcome);
}

/**
 * §1: a failed attempt at an endpoint from the cache is not yet a refusal: the delivery
 * goes back to step 1 now, discovering afresh (the entry is gone), without counting an attempt.
 */
async function rediscover(engine: Engine, doc: DeliveryDoc, stage: DeliveryStage, outcome: Failure): Promise<void> {
  const now = engine.now();
  const error: ErrorCode = outcome.kind === "invalid_token" ? "invalid_token" : outcome.code;
  await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
    d.status === "pending" && d.stage === stage ? { stage: "discover", nextAttemptAt: now, error, detail: outcome.detail, updatedAt: now } : null,
  );
  engine.wake();
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
    d.status === "pending" && d.stage === stage ? { stage: next, attempts: d.attempts + 1, nextAttemptAt: plan.at, error: code, detail, updatedAt: now } : null,
  );
}

/** Step 6 again shortly, without counting a try: the message is being written (`UNSTORED_MESSAGE_GRACE_MS`). */
async function waitForMessage(engine: Engine, doc: DeliveryDoc): Promise<void> {
  const now = engine.now();
  await mutate<DeliveryDoc>(engine.store, "deliveries", doc._id, (d) =>
    d.status === "pending" && d.stage === "deliver" ? { nextAttemptAt: now + UNSTORED_MESSAGE_RETRY_MS, updatedAt: now } : null,
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

/**
 * Serializes handshakes per (S, R, E_R) so concurrent deliveries share one: in this
 * engine by a chain per key, and on a store several processes share also by its lock
 * (`SharedStore.withLock`), taken inside the chain, so one process waits for it on one
 * connection however many of its deliveries wait.
 */
function withLock(engine: Engine, key: string, task: () => Promise<void>): Promise<void> {
  const locks = engine.handshakeLocks;
  const chain = locks.get(key) ?? Promise.resolve();
  const shared = engine.store.shared;
  const locked = shared ? () => shared.withLock(`handshake ${key}`, task) : task;
  const next = chain.then(locked, locked);
  locks.set(key, next);
  // then(forget, forget), not finally: finally's promise rejects with `next` and nobody
  // awaits it, an unhandled rejection that ends the process (a store error in the task, or
  // the shared lock's while the database is down).
  const forget = () => {
    if (locks.get(key) === next) locks.delete(key);
  };
  next.then(forget, forget);
  return next;
}

/** Records that `site` wrote to `recipient`: the automatic half of §7's contacts. */
async function rememberContact(store: Store, site: string, recipient: string): Promise<void> {
  await changeSettings(store, site, (doc) => (doc?.wroteTo?.includes(recipient) ? null : { wroteTo: [...(doc?.wroteTo ?? []), recipient] }));
}
