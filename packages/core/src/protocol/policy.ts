/**
 * PROTOCOL.md §7 "Who may write", the stored half: reading and changing a site's
 * settings. The pure verdicts (`allowsSender`, `verdictFor`, `blockedBy`,
 * `effectiveSettings`, `parseBlockEntry`) are `@indiepm/protocol`'s (policy.ts).
 *
 * What applies to a site is the owner's stored settings (the `settings` collection,
 * changed from the web inbox or the owner API) on top of the `policies` option: the
 * stored `policy` wins over the configured one; contacts and block lists add up.
 */
import { effectiveSettings, parseBlockEntry, WRITE_POLICIES, type SitePolicy, type SiteSettings } from "@indiepm/protocol";
import type { SettingsChange } from "../api.js";
import { PmError } from "../errors.js";
import { DuplicateKeyError, patchFrom, type Store } from "../store/types.js";
import { parseSiteUrl, refusalOf, type UrlPolicy } from "../urls.js";
import type { SettingsDoc } from "./records.js";

const union = (...lists: (readonly string[] | undefined)[]): string[] => [...new Set(lists.flatMap((l) => l ?? []))];

/** The settings of `site` as they apply now. */
export async function siteSettings(store: Store, policies: Record<string, SitePolicy>, site: string): Promise<SiteSettings> {
  return effectiveSettings(site, policies[site], await store.get<SettingsDoc>("settings", site));
}

/**
 * Changes the stored settings of `site` with a compare-and-set on `rev`, retrying on a
 * concurrent change: `change` gets the current document (or `null`) and returns the fields to set (`undefined`: remove).
 */
export async function changeSettings(store: Store, site: string, change: (doc: SettingsDoc | null) => Partial<SettingsDoc> | null): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const doc = await store.get<SettingsDoc>("settings", site);
    const patch = change(doc);
    if (!patch) return;
    if (!doc) {
      try {
        await store.insert<SettingsDoc>("settings", { ...patch, _id: site, rev: 1 } as SettingsDoc);
        return;
      } catch (error) {
        if (error instanceof DuplicateKeyError) continue;
        throw error;
      }
    }
    if (await store.update<SettingsDoc>("settings", site, patchFrom<SettingsDoc>({ ...patch, rev: (doc.rev ?? 0) + 1 }), { rev: doc.rev ?? null })) return;
  }
  throw new PmError("store_error", `Could not change the settings of ${site}: too much concurrent change.`);
}

/** Records that `site` wrote to `recipient`: the automatic half of §7's contacts. */
export async function rememberContact(store: Store, site: string, recipient: string): Promise<void> {
  await changeSettings(store, site, (doc) => (doc?.wroteTo?.includes(recipient) ? null : { wroteTo: [...(doc?.wroteTo ?? []), recipient] }));
}

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
    const patch: Partial<SettingsDoc> = {};
    if (change.policy !== undefined) patch.policy = change.policy;
    if (webhook !== undefined) patch.webhook = webhook ?? undefined;
    if (add.length || remove.length) {
      patch.contacts = union(doc?.contacts, add).filter((c) => !remove.includes(c));
      if (remove.length) patch.wroteTo = (doc?.wroteTo ?? []).filter((c) => !remove.includes(c));
    }
    if (block.length || unblock.length) patch.blocked = union(doc?.blocked, block).filter((c) => !unblock.includes(c));
    return patch;
  });
}
