/** The owner's changes to a site's §7 settings (owner API `PATCH /api/settings`, the web inbox). */
import { parseBlockEntry, WRITE_POLICIES } from "@indiepm/protocol";
import type { SettingsChange } from "../api.js";
import { PmError } from "../errors.js";
import type { SettingsDoc } from "../protocol/records.js";
import { changeSettings } from "../settings.js";
import type { Changes, Store } from "../store/types.js";
import { parseSiteUrl, refusalOf, type UrlPolicy } from "../urls.js";

const union = (...lists: (readonly string[] | undefined)[]): string[] => [...new Set(lists.flatMap((l) => l ?? []))];

/**
 * Checks a `SettingsChange` and applies it. Site URLs are compared canonically
 * (PROTOCOL.md "URLs"); the webhook is held to the URL rules of §6 under `urlPolicy`.
 * @throws PmError `invalid_request` naming the field.
 */
export async function applySettingsChange(store: Store, site: string, change: SettingsChange, urlPolicy: UrlPolicy): Promise<void> {
  const bad = (text: string) => new PmError("invalid_request", text);
  if (!change || typeof change !== "object" || Array.isArray(change)) throw bad("The settings change must be an object.");
  if (change.policy !== undefined && !WRITE_POLICIES.includes(change.policy)) throw bad('policy must be "anyone", "contacts" or "nobody".');
  // Contacts are other people's sites: any http(s) site URL, as §7 compares them.
  const sites = (field: keyof SettingsChange): string[] => {
    const value = change[field];
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw bad(`${field} must be a list of site URLs.`);
    return value.map((v) => parseSiteUrl(v.trim(), field, { dev: true }));
  };
  const add = sites("addContacts");
  const remove = sites("removeContacts");
  const entries = (field: "block" | "unblock"): string[] => {
    const value = change[field];
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw bad(`${field} must be a list of site URLs or host:NAME entries.`);
    return value.map((v) => parseBlockEntry(v, field));
  };
  const mute = sites("mute");
  const unmute = sites("unmute");
  const block = entries("block");
  const unblock = entries("unblock");
  let webhook: string | null | undefined = change.webhook;
  if (webhook !== undefined && webhook !== null) {
    if (typeof webhook !== "string") throw bad("webhook must be a URL or null.");
    webhook = webhook.trim();
    if (webhook === "") webhook = null;
    else {
      if (!URL.canParse(webhook)) throw bad("webhook is not an absolute URL.");
      const refusal = refusalOf(new URL(webhook), urlPolicy);
      if (refusal) throw bad(`webhook is refused: ${refusal}.`);
      webhook = new URL(webhook).href;
    }
  }
  await changeSettings(store, site, (doc) => {
    const patch: Changes<SettingsDoc> = {};
    if (change.policy !== undefined) patch.policy = change.policy;
    if (webhook !== undefined) patch.webhook = webhook ?? undefined;
    if (add.length || remove.length) {
      patch.contacts = union(doc?.contacts, add).filter((c) => !remove.includes(c));
      if (remove.length) patch.wroteTo = (doc?.wroteTo ?? []).filter((c) => !remove.includes(c));
    }
    if (mute.length || unmute.length) patch.muted = union(doc?.muted, mute).filter((c) => !unmute.includes(c));
    if (block.length || unblock.length) patch.blocked = union(doc?.blocked, block).filter((c) => !unblock.includes(c));
    return patch;
  });
}
