/**
 * Notifications: when a site has a webhook URL, each new message stored for it (§5
 * `deliver`, 201) queues one small JSON document for that URL — stored before the 201,
 * so it survives a restart — and the work queue POSTs it through the guarded client
 * (§6 "Outgoing requests": webhooks too), retried like deliveries (§6 "Retries", the
 * shared lifecycle of protocol/attempt.ts).
 */
import type { ErrorCode } from "../../errors.js";
import { WEBHOOK_EXCERPT_CHARS } from "../../limits.js";
import { keyOf } from "../../secrets.js";
import { DuplicateKeyError } from "../../store/types.js";
import { planRetry, webhookAttempt } from "../attempt.js";
import { mutate, NO_LEASE, type Engine, type Lease } from "../engine.js";
import type { InboxDoc, WebhookDoc } from "../records.js";
import type { Failure } from "@indiepm/protocol";
import { runMicrosub } from "./microsub.js";

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Pure: the document POSTed for a new message. */
export function webhookPayload(m: InboxDoc): Record<string, unknown> {
  const text = m.content.replace(/\s+/g, " ").trim();
  return {
    type: "message",
    recipient: m.recipient,
    sender: m.sender,
    message: m.message,
    published: m.published,
    receivedAt: iso(m.receivedAt),
    ...(m.name !== undefined ? { name: m.name } : {}),
    excerpt: text.length > WEBHOOK_EXCERPT_CHARS ? `${text.slice(0, WEBHOOK_EXCERPT_CHARS - 1)}…` : text,
  };
}

/** Queues the notification of `m` for `url`; once per message. */
export async function enqueueWebhook(engine: Engine, url: string, m: InboxDoc): Promise<void> {
  await queueNotice(engine, { _id: keyOf("webhook", m.recipient, m.sender, m.message), site: m.recipient, url, payload: webhookPayload(m) });
}

/**
 * Queues one notice of the `webhooks` collection (a webhook's, or a Microsub push,
 * jobs/microsub.ts) as a pending job due now, once per `_id` (a repeat is a no-op), and
 * wakes the queue.
 */
export async function queueNotice(engine: Engine, notice: Pick<WebhookDoc, "_id" | "kind" | "site" | "url" | "payload">): Promise<void> {
  const now = engine.now();
  try {
    await engine.store.insert<WebhookDoc>("webhooks", {
      ...notice,
      status: "pending",
      rev: 0,
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
      updatedAt: now,
    });
  } catch (error) {
    if (!(error instanceof DuplicateKeyError)) throw error;
  }
  engine.wake();
}

/** The notice's first try, recorded once (§6 "Retries" counts from it). */
export async function firstTry(engine: Engine, doc: WebhookDoc): Promise<{ doc: WebhookDoc; firstTriedAt: number }> {
  const firstTriedAt = doc.firstTriedAt ?? engine.now();
  if (doc.firstTriedAt === undefined) doc = (await mutate<WebhookDoc>(engine.store, "webhooks", doc._id, () => ({ firstTriedAt }))) ?? doc;
  return { doc, firstTriedAt };
}

/** After a retryable failure: the next try per §6 written on the notice, or the detail of giving up (nothing written). */
export async function retryNotice(
  engine: Engine,
  doc: WebhookDoc,
  firstTriedAt: number,
  outcome: Failure & { kind: "retry" },
): Promise<{ gaveUp: string } | undefined> {
  const plan = planRetry(engine, "webhook", { attempts: doc.attempts, firstTriedAt }, outcome);
  if (plan.kind === "give-up") return { gaveUp: plan.detail };
  await mutate<WebhookDoc>(engine.store, "webhooks", doc._id, (d) =>
    d.status === "pending" && d.rev === doc.rev
      ? { attempts: d.attempts + 1, nextAttemptAt: plan.at, error: outcome.code, detail: outcome.detail, updatedAt: engine.now() }
      : null,
  );
  return undefined;
}

/** Run by the work queue (`lease`: the job's, jobs/queue.ts): one try of the shared lifecycle; 2xx ends it (the document is removed), 5xx/429/network retry, other answers fail. */
export async function runWebhook(engine: Engine, doc: WebhookDoc, lease: Lease = NO_LEASE): Promise<void> {
  if (doc.kind === "microsub") return runMicrosub(engine, doc, lease);
  if (doc.status !== "pending") return;
  const first = await firstTry(engine, doc);
  doc = first.doc;
  const outcome = await webhookAttempt(engine, doc.url, doc.payload, lease);
  if (outcome.kind === "ok") return finish(engine, doc, "delivered");
  if (outcome.kind !== "retry") return finish(engine, doc, "failed", outcome.kind === "final" ? outcome.code : "bad_response", outcome.detail);
  const gave = await retryNotice(engine, doc, first.firstTriedAt, outcome);
  if (gave) return finish(engine, doc, "failed", outcome.code, gave.gaveUp);
}

async function finish(engine: Engine, doc: WebhookDoc, status: "delivered" | "failed", code?: ErrorCode, detail?: string): Promise<void> {
  if (status === "delivered") {
    await engine.store.remove("webhooks", doc._id);
    return;
  }
  await mutate<WebhookDoc>(engine.store, "webhooks", doc._id, (d) =>
    d.status === "pending" ? { status, error: code, detail, updatedAt: engine.now() } : null,
  );
  engine.log.warn("webhook failed", { site: doc.site, url: doc.url, error: code, detail });
}
