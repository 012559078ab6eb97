/**
 * The owner's view of a site's webhook (the settings page): a test event sent now, and
 * the last failure of the notifications queued for it (jobs/webhook.ts).
 *
 * A test is one POST of a small `{"type":"test", …}` document through the same guarded
 * client and the same answer rules as a notification (attempt.ts `webhookAttempt`), made
 * while the owner waits: its result is shown at once, and a test is never queued nor
 * retried (a retry over days would answer a question nobody asks any more).
 */
import type { WebhookStatus, WebhookTestResult } from "../api.js";
import { PmError } from "../errors.js";
import type { webhookAttempt } from "../protocol/attempt.js";
import type { Engine } from "../protocol/engine.js";
import type { WebhookDoc } from "../protocol/records.js";
import { siteSettings } from "../settings.js";
import type { SitePolicy } from "@indiepm/protocol";

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Pure: the test document — `type: "test"`, which site it is for, when, and a line of text where a message's excerpt would be. */
export function webhookTestPayload(site: string, now: number): Record<string, unknown> {
  return { type: "test", recipient: site, sentAt: iso(now), excerpt: "A test from your indiepm inbox: this webhook works." };
}

/**
 * POSTs the test document to the site's webhook once, by `attempt` (attempt.ts
 * `webhookAttempt`, handed in by server.ts: owner/ reaches the engine through server.ts).
 * @throws PmError `invalid_request` when the site has no webhook.
 */
export async function testWebhook(
  engine: Engine,
  attempt: typeof webhookAttempt,
  policies: Record<string, SitePolicy>,
  site: string,
): Promise<WebhookTestResult> {
  const { webhook } = await siteSettings(engine.store, policies, site);
  if (!webhook) throw new PmError("invalid_request", "This site has no webhook to test; save its URL first.");
  const started = engine.now();
  const outcome = await attempt(engine, webhook, webhookTestPayload(site, started));
  const base = { url: webhook, at: iso(started), ms: Math.max(0, engine.now() - started) };
  if (outcome.kind === "ok") return { ...base, ok: true, status: outcome.value };
  return { ...base, ok: false, error: outcome.kind === "invalid_token" ? "invalid_token" : outcome.code, detail: outcome.detail };
}

/**
 * The site's queued notifications: how many are still pending, and the one that failed
 * last — given up (`failed`), or waiting for its next try after an error (`retrying`).
 * Delivered notifications are removed (jobs/webhook.ts), so what is left is all there is.
 */
export async function webhookStatus(engine: Engine, site: string): Promise<WebhookStatus> {
  // The same collection queues pushes to a Microsub channel (kind "microsub", owner/microsub.ts): not the webhook's.
  const docs = (await engine.store.find<WebhookDoc>("webhooks", { where: { site } })).filter((d) => d.kind === undefined);
  let last: WebhookDoc | undefined;
  for (const d of docs) if (d.error !== undefined && (!last || d.updatedAt > last.updatedAt)) last = d;
  const pending = docs.filter((d) => d.status === "pending").length;
  if (!last) return { pending };
  return {
    pending,
    lastFailure: {
      at: iso(last.updatedAt),
      url: last.url,
      state: last.status === "pending" ? "retrying" : "failed",
      error: last.error!,
      ...(last.detail !== undefined ? { detail: last.detail } : {}),
      attempts: last.attempts + (last.status === "pending" ? 0 : 1),
      ...(last.status === "pending" ? { nextAttemptAt: iso(last.nextAttemptAt) } : {}),
    },
  };
}
