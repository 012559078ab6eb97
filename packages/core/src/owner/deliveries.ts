/**
 * Deliveries the owner should see (issue 12, "failures you can see"): those that failed
 * (given up, §6) and those stuck (still pending after at least one failed try, waiting for
 * their next one), with the reason in plain words; and what the owner does about one:
 * **retry now** or **cancel**.
 *
 * - Retry now: a pending delivery is due at once (`nextAttemptAt` = now); a failed or
 *   cancelled one is pending again from step 1 with a fresh budget of tries (`attempts` 0,
 *   the §6 horizon counted from its next try). The queue is woken; on a shared store the
 *   instance that answers takes it up itself (by its lease, jobs/queue.ts), the others at
 *   their next look.
 * - Cancel: a pending or failed delivery becomes `cancelled` and is never tried again. The
 *   change is a compare-and-set on `rev` (`mutate`), and every write a running try makes
 *   (jobs/delivery.ts, actions/request.ts, actions/grant.ts) needs `pending`, so a lease
 *   holder mid-run cannot bring it back; only a `deliver` the recipient already accepted
 *   is still recorded, as `delivered` (it was).
 *
 * Both are indexed reads by (sender, status): failed deliveries stay listed until the owner
 * retries or cancels them; pending ones of a site are few (those in flight).
 */
import type { DeliveryProblem, DeliveryProblemQuery } from "../api.js";
import type { ErrorCode } from "../errors.js";
import { mutate } from "../store/mutate.js";
import type { DeliveryDoc, OutboxDoc } from "../protocol/records.js";
import { JOB_LEASE_MS } from "../limits.js";
import { keyOf } from "../secrets.js";
import type { DeliveryView } from "../types.js";
import { deliveryView, type OwnerContext } from "./messages.js";

/** At most this many of a site's pending deliveries are looked at for stuck ones (and counted). */
export const STUCK_SCAN_LIMIT = 1000;

/** The `_id` of the delivery of `message` from `sender` to `recipient` (records.ts). */
export function deliveryId(sender: string, recipient: string, message: string): string {
  return keyOf(sender, recipient, message);
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function hostOf(site: string): string {
  try {
    return new URL(site).host;
  } catch {
    return site;
  }
}

/** Why a delivery has not arrived, in words an owner reads (the code and the peer's sentence stay for a details line). */
export function plainReason(error: ErrorCode | undefined, recipient: string): string {
  const host = hostOf(recipient);
  switch (error) {
    case "network_error":
      return `The server of ${host} could not be reached.`;
    case "timeout":
      return `The server of ${host} did not answer in time.`;
    case "no_endpoint":
      return `${host} does not take private messages.`;
    case "discovery_failed":
      return `The site ${host} could not be read.`;
    case "address_refused":
      return `${host} is at an address this server does not send to.`;
    case "forbidden":
      return `${host} does not accept messages from you.`;
    case "invalid_token":
    case "invalid_code":
    case "endpoint_mismatch":
      return `The server of ${host} could not confirm the message came from you.`;
    case "unknown_recipient":
      return `The server named by ${host} does not keep its messages.`;
    case "unknown_message":
      return "The message was deleted before it was delivered.";
    case "too_large":
      return `The message is too large for ${host}.`;
    case "rate_limited":
      return `The server of ${host} asked for fewer messages for a while.`;
    case "server_error":
    case "bad_response":
      return `The server of ${host} had a problem with the message.`;
    case "temporarily_unavailable":
      return `The server of ${host} is busy or down for maintenance.`;
    case "invalid_request":
      return `The server of ${host} refused the message.`;
    case "expired":
      return `It was tried for as long as allowed without reaching ${host}.`;
    case "store_error":
      return "This server could not keep track of the delivery.";
    case "cancelled":
      return "You cancelled it.";
    default:
      return `It has not reached ${host} yet.`;
  }
}

/** The message's chat (its correspondents, owner/chats.ts), where it has been filed in one. */
function chatOf(outbox: OutboxDoc | null): string | undefined {
  const chat = (outbox as { chat?: unknown } | null)?.chat;
  return typeof chat === "string" ? chat : undefined;
}

function stateOf(d: DeliveryDoc): DeliveryProblem["state"] | undefined {
  if (d.status === "failed") return "failed";
  if (d.status === "pending" && d.attempts > 0) return "stuck";
  return undefined;
}

function problemOf(d: DeliveryDoc, outbox: OutboxDoc | null): DeliveryProblem {
  const state = stateOf(d)!;
  const chat = chatOf(outbox);
  return {
    id: d._id,
    site: d.sender,
    recipient: d.recipient,
    message: d.message,
    state,
    attempts: d.attempts,
    ...(state === "stuck" ? { nextAttemptAt: iso(d.nextAttemptAt) } : {}),
    ...(d.error ? { error: d.error } : {}),
    ...(d.detail ? { detail: d.detail } : {}),
    reason: plainReason(d.error, d.recipient),
    updatedAt: iso(d.updatedAt),
    ...(outbox?.conversation ? { conversation: outbox.conversation } : {}),
    ...(chat ? { chat } : {}),
    ...(outbox?.name !== undefined ? { subject: outbox.name } : {}),
    ...(outbox ? { snippet: outbox.content.slice(0, 140) } : {}),
    ...(outbox ? { createdAt: iso(outbox.createdAt) } : {}),
  };
}

/** The sites a query is about: one of this server's, or all. */
function sitesOf(ctx: OwnerContext, site: string | undefined): string[] {
  if (site === undefined) return [...ctx.sites];
  return ctx.sites.has(site) ? [site] : [];
}

async function failedOf(ctx: OwnerContext, site: string, limit: number): Promise<DeliveryDoc[]> {
  return ctx.store.find<DeliveryDoc>("deliveries", { where: { sender: site, status: "failed" }, sort: { field: "updatedAt", order: "desc" }, limit });
}

async function stuckOf(ctx: OwnerContext, site: string): Promise<DeliveryDoc[]> {
  const pending = await ctx.store.find<DeliveryDoc>("deliveries", {
    where: { sender: site, status: "pending" },
    sort: { field: "updatedAt", order: "desc" },
    limit: STUCK_SCAN_LIMIT,
  });
  return pending.filter((d) => d.attempts > 0);
}

/** Failed and stuck deliveries of a site (or every site), the latest change first. */
export async function listDeliveryProblems(ctx: OwnerContext, query: DeliveryProblemQuery = {}): Promise<DeliveryProblem[]> {
  const limit = Math.min(Math.max(1, Math.floor(query.limit ?? 100)), 1000);
  const docs: DeliveryDoc[] = [];
  for (const site of sitesOf(ctx, query.site)) {
    if (query.state !== "stuck") docs.push(...(await failedOf(ctx, site, limit)));
    if (query.state !== "failed") docs.push(...(await stuckOf(ctx, site)));
  }
  docs.sort((a, b) => b.updatedAt - a.updatedAt || (a._id < b._id ? -1 : 1));
  const shown = docs.slice(0, limit);
  const ids = shown.map((d) => keyOf(d.sender, d.message));
  const outboxes = ctx.store.getMany
    ? await ctx.store.getMany<OutboxDoc>("outbox", ids)
    : await Promise.all(ids.map((id) => ctx.store.get<OutboxDoc>("outbox", id)));
  return shown.map((d, i) => problemOf(d, outboxes[i] ?? null));
}

/** How many deliveries of a site (or of all) failed, and how many are stuck: two indexed reads per site. */
export async function countDeliveryProblems(ctx: OwnerContext, query: { site?: string } = {}): Promise<{ failed: number; stuck: number }> {
  let failed = 0;
  let stuck = 0;
  for (const site of sitesOf(ctx, query.site)) {
    failed += await ctx.store.count("deliveries", { sender: site, status: "failed" });
    stuck += (await stuckOf(ctx, site)).length;
  }
  return { failed, stuck };
}

/**
 * On a store several processes share, a try under way holds the delivery's lease
 * (jobs/queue.ts `runLeased`): `nextAttemptAt` at most `JOB_LEASE_MS` ahead, `leasedBy` set.
 * That try is the retry: moving `nextAttemptAt` to now would let another instance take the
 * lease and run it a second time beside it. (A back-off as short as a lease looks the same,
 * and is as soon.) On a store of one process the queue never runs a job twice at once.
 */
function underWay(ctx: OwnerContext, d: DeliveryDoc, now: number): boolean {
  return ctx.store.shared !== undefined && d.status === "pending" && d.leasedBy !== undefined && d.nextAttemptAt > now && d.nextAttemptAt - now <= JOB_LEASE_MS;
}

/** Retry now (see the top of this file). `site`: only a delivery of this site. Resolves the delivery as it is now, or `null` (unknown, delivered, another site's). */
export async function retryDelivery(ctx: OwnerContext, wake: () => void, id: string, site?: string): Promise<DeliveryView | null> {
  const now = ctx.now();
  const current = await ctx.store.get<DeliveryDoc>("deliveries", id);
  if (current && (site === undefined || current.sender === site) && underWay(ctx, current, now)) return deliveryView(current);
  const changed = await mutate<DeliveryDoc>(ctx.store, "deliveries", id, (d) => {
    if (site !== undefined && d.sender !== site) return null;
    if (d.status === "pending") {
      // Waiting for the receiver's request/grant, or backing off: from step 1 (or step 6 with the token held), now.
      const stage = d.stage === "deliver" ? "deliver" : "discover";
      return { stage, nextAttemptAt: now, updatedAt: now };
    }
    if (d.status !== "failed" && d.status !== "cancelled") return null;
    return {
      status: "pending",
      stage: "discover",
      attempts: 0,
      firstTriedAt: undefined,
      nextAttemptAt: now,
      handshake: undefined,
      freshHandshake: undefined,
      renewedAfter401: undefined,
      token: undefined,
      tokenExpiresAt: undefined,
      error: undefined,
      detail: undefined,
      updatedAt: now,
    };
  });
  if (!changed) return null;
  wake();
  return deliveryView(changed);
}

/** Cancel (see the top of this file). Resolves the delivery as it is now, or `null` (unknown, delivered, already cancelled, another site's). */
export async function cancelDelivery(ctx: OwnerContext, id: string, site?: string): Promise<DeliveryView | null> {
  const now = ctx.now();
  const changed = await mutate<DeliveryDoc>(ctx.store, "deliveries", id, (d) =>
    (site === undefined || d.sender === site) && (d.status === "pending" || d.status === "failed")
      ? // The last error and its detail stay (what happened before); the lease, if any, is let go.
        { status: "cancelled", token: undefined, tokenExpiresAt: undefined, leasedBy: undefined, updatedAt: now }
      : null,
  );
  return changed ? deliveryView(changed) : null;
}
