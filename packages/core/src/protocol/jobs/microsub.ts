/**
 * Pushes to a Microsub channel (issue 13): when a site has a Microsub target
 * (owner/microsub.ts), each new message stored for it (§5 `deliver`, 201) queues one push —
 * stored before the 201, in the `webhooks` collection with `kind: "microsub"`, so the work
 * queue runs it beside the webhooks and it survives a restart — and the queue POSTs the
 * message as a jf2 `entry` to the channel's Micropub endpoint (`application/jf2+json`,
 * `Authorization: Bearer` the channel token or API key: Aperture's and Ekster's channel
 * contract) through the guarded client, retried like a webhook (§6, attempt.ts).
 *
 * The entry is made when it is pushed, from the message as stored then and the sender's
 * kept h-card (owner/profiles.ts): a message deleted meanwhile is not pushed, and a retry
 * names the sender once their card is known. A 401 or 403 is final, and the target is
 * marked refused, so nothing more is queued for it until the owner authorizes again.
 */
import type { ErrorCode } from "../../errors.js";
import { profileKey, type ProfileDoc } from "../../owner/profiles.js";
import { keyOf } from "../../secrets.js";
import { changeSettings } from "../../settings.js";
import type { Success } from "../attempt.js";
import { LeaseLost, mutate, NO_LEASE, type Engine, type Lease } from "../engine.js";
import type { InboxDoc, MicrosubTargetDoc, SettingsDoc, WebhookDoc } from "../records.js";
import { classifyFailure, classifyWebhookAnswer, type Failure } from "@indiepm/protocol";
import { firstTry, queueNotice, retryNotice } from "./webhook.js";

/** The media type of a jf2 document (Aperture takes it as the entry itself). */
export const JF2_CONTENT_TYPE = "application/jf2+json";

/** What the owner reads when the channel refused the key (401 or 403). */
export const MICROSUB_REFUSED = "The channel refused the key; authorize again.";

/** The sender as a jf2 card: their kept h-card's name (else their host), their site, their photo's URL when known. */
export function microsubAuthor(sender: string, profile: Pick<ProfileDoc, "name" | "photoUrl"> | null): Record<string, string> {
  const host = URL.canParse(sender) ? new URL(sender).host : sender;
  return { type: "card", name: profile?.name || host, url: sender, ...(profile?.photoUrl ? { photo: profile.photoUrl } : {}) };
}

/**
 * Pure: the jf2 entry of a received message. `url` is its conversation in the web inbox
 * (which needs sign-in), with a fragment naming the message: Aperture keeps one entry per
 * `url` in a source, so two messages of one conversation need two URLs.
 */
export function microsubEntry(m: InboxDoc, inboxUrl: string, author: Record<string, string>): Record<string, unknown> {
  const base = inboxUrl.endsWith("/") ? inboxUrl : `${inboxUrl}/`;
  const fragment = `#pm-${keyOf(m.recipient, m.sender, m.message).slice(0, 16)}`;
  const url = m.conversation === undefined ? `${base}${fragment}` : new URL(`c/${encodeURIComponent(m.conversation)}${fragment}`, base).href;
  return {
    type: "entry",
    author,
    ...(m.name !== undefined ? { name: m.name } : {}),
    content: { text: m.content, ...(m.contentHtml !== undefined ? { html: m.contentHtml } : {}) },
    published: m.published,
    url,
  };
}

/** Queues the push of `m` to `target`; once per message. Nothing while the channel refuses the key. */
export async function enqueueMicrosub(engine: Engine, target: MicrosubTargetDoc, m: InboxDoc): Promise<void> {
  if (target.refusedAt !== undefined) return;
  await queueNotice(engine, {
    _id: keyOf("microsub", m.recipient, m.sender, m.message),
    kind: "microsub",
    site: m.recipient,
    url: target.micropub,
    payload: { recipient: m.recipient, sender: m.sender, message: m.message },
  });
}

/** One jf2 POST to the channel through the guarded client: 2xx is taken, 401/403 refused the key (final), 429/5xx/network retried, the rest final. */
export async function microsubAttempt(
  engine: Engine,
  target: Pick<MicrosubTargetDoc, "micropub" | "token">,
  entry: unknown,
  /** The job's (jobs/queue.ts): ensured before the POST, its signal carried; a `LeaseLost` is thrown on. */
  lease: Lease = NO_LEASE,
): Promise<Success<number> | Failure> {
  if (!engine.http.postJson) return { kind: "final", code: "invalid_config", detail: "The outbound HTTP client cannot POST JSON (it has no postJson)." };
  await lease.ensure();
  try {
    const answer = await engine.http.postJson(target.micropub, entry, {
      contentType: JF2_CONTENT_TYPE,
      headers: { authorization: `Bearer ${target.token}`, accept: "application/json" },
      ...(lease.signal ? { signal: lease.signal } : {}),
    });
    if (answer.status === 401 || answer.status === 403) return { kind: "final", code: "invalid_token", detail: `The channel answered ${answer.status}.` };
    const outcome = classifyWebhookAnswer(answer, engine.now());
    if (outcome.kind === "ok") return { kind: "ok", value: outcome.status };
    return { ...outcome, detail: `The channel answered ${answer.status}.` };
  } catch (error) {
    if (error instanceof LeaseLost) throw error;
    return classifyFailure(error);
  }
}

/** Run by the work queue (through jobs/webhook.ts): one try of the shared lifecycle, as a webhook's. */
export async function runMicrosub(engine: Engine, doc: WebhookDoc, lease: Lease = NO_LEASE): Promise<void> {
  if (doc.status !== "pending") return;
  const { recipient, sender, message } = doc.payload as { recipient: string; sender: string; message: string };
  const [settings, m] = await Promise.all([
    engine.store.get<SettingsDoc>("settings", doc.site),
    engine.store.get<InboxDoc>("inbox", keyOf(recipient, sender, message)),
  ]);
  const target = settings?.microsub;
  // The target was removed or refused meanwhile, or the message deleted: nothing to push.
  if (!target || target.refusedAt !== undefined || !m) {
    await engine.store.remove("webhooks", doc._id);
    return;
  }
  const first = await firstTry(engine, doc);
  doc = first.doc;
  const profile = await engine.store.get<ProfileDoc>("profiles", profileKey(sender));
  const outcome = await microsubAttempt(engine, target, microsubEntry(m, target.inboxUrl, microsubAuthor(sender, profile)), lease);
  if (outcome.kind === "ok") {
    await engine.store.remove("webhooks", doc._id);
    await noteTarget(engine, doc.site, target, { lastPushAt: engine.now() });
    return;
  }
  if (outcome.kind !== "retry") {
    const code: ErrorCode = outcome.kind === "final" ? outcome.code : "invalid_token";
    if (code === "invalid_token") await noteTarget(engine, doc.site, target, { refusedAt: engine.now() });
    return fail(engine, doc, target, code, outcome.detail);
  }
  const gave = await retryNotice(engine, doc, first.firstTriedAt, outcome);
  if (gave) return fail(engine, doc, target, outcome.code, gave.gaveUp);
}

/** Records on the target what happened, if it is still the one pushed to (not saved again since). */
async function noteTarget(engine: Engine, site: string, target: MicrosubTargetDoc, fields: Pick<MicrosubTargetDoc, "lastPushAt" | "refusedAt">): Promise<void> {
  await changeSettings(engine.store, site, (doc) =>
    doc?.microsub && doc.microsub.savedAt === target.savedAt && doc.microsub.micropub === target.micropub ? { microsub: { ...doc.microsub, ...fields } } : null,
  );
}

async function fail(engine: Engine, doc: WebhookDoc, target: MicrosubTargetDoc, code: ErrorCode, detail: string): Promise<void> {
  await mutate<WebhookDoc>(engine.store, "webhooks", doc._id, (d) =>
    d.status === "pending" ? { status: "failed", error: code, detail, updatedAt: engine.now() } : null,
  );
  // The channel's address and why; never its key (nor a query, where Ekster's older URLs carry one).
  const url = new URL(target.micropub);
  engine.log.warn("microsub push failed", { site: doc.site, url: `${url.origin}${url.pathname}`, error: code, detail });
}
