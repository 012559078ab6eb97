/**
 * The owner's Microsub channel (issue 13): where each new message is pushed as jf2 (the
 * push itself is protocol/jobs/microsub.ts). A site has at most one target: the channel's
 * Micropub endpoint and the channel token or API key, kept in the site's settings
 * document. The key is a secret: `microsubStatus` shows only its last 4 characters, the
 * export leaves it out (settings.ts `siteSettings` names the fields it exports), and no
 * log line carries it.
 */
import type { MicrosubStatus, MicrosubTargetInput } from "../api.js";
import { PmError } from "../errors.js";
import type { MicrosubTargetDoc, SettingsDoc, WebhookDoc } from "../protocol/records.js";
import { changeSettings } from "../settings.js";
import type { Store } from "../store/types.js";
import { refusalOf, type UrlPolicy } from "../urls.js";

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Longest key taken; channel tokens and API keys are far shorter (Aperture's: 32 characters). */
export const MICROSUB_KEY_MAX = 4096;

function checkedUrl(value: unknown, field: string, policy: UrlPolicy): string {
  if (typeof value !== "string" || !URL.canParse(value.trim())) throw new PmError("invalid_request", `${field} is not an absolute URL.`);
  const url = new URL(value.trim());
  const refusal = refusalOf(url, policy);
  if (refusal) throw new PmError("invalid_request", `${field} is refused: ${refusal}.`);
  return url.href;
}

/**
 * Saves the site's target, replacing any: the Micropub endpoint is held to the URL rules
 * of §6 under `policy`; the key must be one header-safe token. A new target starts with
 * no refusal and no last push.
 * @throws PmError `invalid_request` naming the field.
 */
export async function setMicrosub(store: Store, policy: UrlPolicy, site: string, input: MicrosubTargetInput, now: number): Promise<void> {
  if (!input || typeof input !== "object") throw new PmError("invalid_request", "The Microsub target must be an object.");
  const micropub = checkedUrl(input.micropub, "micropub", policy);
  const inboxUrl = checkedUrl(input.inboxUrl, "inboxUrl", { dev: true });
  const token = typeof input.token === "string" ? input.token.trim() : "";
  if (token === "") throw new PmError("invalid_request", "token is empty: paste the channel's API key.");
  if (token.length > MICROSUB_KEY_MAX || !/^[\x21-\x7e]+$/.test(token))
    throw new PmError("invalid_request", "token is not a key: it must be one word of printable characters, without spaces.");
  if (input.via !== "indieauth" && input.via !== "api-key") throw new PmError("invalid_request", 'via must be "indieauth" or "api-key".');
  const me = input.me === undefined ? undefined : checkedUrl(input.me, "me", policy);
  const target: MicrosubTargetDoc = { micropub, token, via: input.via, inboxUrl, savedAt: now, ...(me ? { me } : {}) };
  await changeSettings(store, site, () => ({ microsub: target }));
}

/** Removes the site's target and every push queued or failed for it. `true` when there was one. */
export async function clearMicrosub(store: Store, site: string): Promise<boolean> {
  let had = false;
  await changeSettings(store, site, (doc) => {
    had = doc?.microsub !== undefined;
    return had ? { microsub: undefined } : null;
  });
  for (const d of await store.find<WebhookDoc>("webhooks", { where: { site } })) if (d.kind === "microsub") await store.remove("webhooks", d._id);
  return had;
}

/** The site's target as the owner may see it (the key's last 4 characters only), with its last push and last failure; `null` without one. */
export async function microsubStatus(store: Store, site: string): Promise<MicrosubStatus | null> {
  const target = (await store.get<SettingsDoc>("settings", site))?.microsub;
  if (!target) return null;
  const docs = (await store.find<WebhookDoc>("webhooks", { where: { site } })).filter((d) => d.kind === "microsub" && d.updatedAt >= target.savedAt);
  let last: WebhookDoc | undefined;
  for (const d of docs) if (d.error !== undefined && (!last || d.updatedAt > last.updatedAt)) last = d;
  // A failure the channel has since recovered from (a later push got through) is history.
  if (last && target.lastPushAt !== undefined && target.lastPushAt > last.updatedAt && target.refusedAt === undefined) last = undefined;
  return {
    micropub: target.micropub,
    via: target.via,
    ...(target.me ? { me: target.me } : {}),
    keyEnd: target.token.length >= 8 ? target.token.slice(-4) : "",
    savedAt: iso(target.savedAt),
    ...(target.lastPushAt !== undefined ? { lastPushAt: iso(target.lastPushAt) } : {}),
    ...(target.refusedAt !== undefined ? { refusedAt: iso(target.refusedAt) } : {}),
    pending: docs.filter((d) => d.status === "pending").length,
    ...(last
      ? {
          lastFailure: {
            at: iso(last.updatedAt),
            state: last.status === "pending" ? ("retrying" as const) : ("failed" as const),
            error: last.error!,
            ...(last.detail !== undefined ? { detail: last.detail } : {}),
            attempts: last.attempts + (last.status === "pending" ? 0 : 1),
            ...(last.status === "pending" ? { nextAttemptAt: iso(last.nextAttemptAt) } : {}),
          },
        }
      : {}),
  };
}
