/**
 * PROTOCOL.md §7 "Who may write": each recipient site is `anyone` (default),
 * `contacts` or `nobody`, plus a block list that always wins. Contacts are the sites it
 * has written to (kept automatically when a delivery succeeds) and those added by hand.
 *
 * What applies to a site is the owner's stored settings (the `settings` collection,
 * changed from the web inbox or the owner API) on top of the `policies` option: the
 * stored `policy` wins over the configured one; contacts and block lists add up.
 */
import type { SettingsChange, SitePolicy, SiteSettings, WritePolicy } from "../api.js";
import { PmError } from "../errors.js";
import { DuplicateKeyError, type Store } from "../store/types.js";
import { parseSiteUrl, refusalOf, type UrlPolicy } from "../urls.js";
import type { SettingsDoc } from "./records.js";

export const WRITE_POLICIES: readonly WritePolicy[] = ["anyone", "contacts", "nobody"];

/** Pure: may `sender` write to a site with this policy, given the sites it wrote to? */
export function allowsSender(policy: SitePolicy | undefined, sender: string, wroteTo: readonly string[]): boolean {
  if (policy?.blocked?.includes(sender)) return false;
  switch (policy?.policy ?? "anyone") {
    case "anyone":
      return true;
    case "nobody":
      return false;
    case "contacts":
      return (policy?.contacts ?? []).includes(sender) || wroteTo.includes(sender);
  }
}

const union = (...lists: (readonly string[] | undefined)[]): string[] => [...new Set(lists.flatMap((l) => l ?? []))];

/** Pure: the settings that apply, from the configured policy and the stored document. */
export function effectiveSettings(site: string, configured: SitePolicy | undefined, doc: SettingsDoc | null): SiteSettings {
  return {
    site,
    policy: doc?.policy ?? configured?.policy ?? "anyone",
    contacts: union(configured?.contacts, doc?.contacts),
    wroteTo: union(doc?.wroteTo),
    blocked: union(configured?.blocked, doc?.blocked),
    ...(doc?.webhook ? { webhook: doc.webhook } : {}),
    configured: configured ?? {},
  };
}

/** The settings of `site` as they apply now. */
export async function siteSettings(store: Store, policies: Record<string, SitePolicy>, site: string): Promise<SiteSettings> {
  return effectiveSettings(site, policies[site], await store.get<SettingsDoc>("settings", site));
}

/**
 * §7 check at step 2 (and at `deliver`, for the block list): `blocked`, `refused` (by
 * the policy; a vouch may still admit a first contact), or `allowed`.
 */
export function verdictFor(settings: SiteSettings, sender: string): "allowed" | "blocked" | "refused" {
  if (settings.blocked.includes(sender)) return "blocked";
  return allowsSender({ policy: settings.policy, contacts: settings.contacts }, sender, settings.wroteTo) ? "allowed" : "refused";
}

/**
 * Changes the stored settings of `site` with a compare-and-set on `rev`, retrying on a
 * concurrent change: `change` gets the current document (or `null`) and returns the fields to set.
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
    if (await store.update("settings", site, { ...patch, rev: (doc.rev ?? 0) + 1 }, { rev: doc.rev ?? null })) return;
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
  // Contacts and blocked sites are other people's sites: any http(s) site URL, as §7 compares them.
  const sites = (field: keyof SettingsChange): string[] => {
    const value = change[field];
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw bad(`${field} must be a list of site URLs.`);
    return value.map((v) => parseSiteUrl(v.trim(), field, { dev: true }));
  };
  const add = sites("addContacts");
  const remove = sites("removeContacts");
  const block = sites("block");
  const unblock = sites("unblock");
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
