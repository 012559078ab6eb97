/**
 * PROTOCOL.md §7 "Who may write", the stored half: reading and changing a site's
 * settings, for the protocol side (actions/admission.ts, actions/deliver.ts, the delivery
 * job's contacts) and the owner's (owner/settings.ts, export). The pure verdicts
 * (`allowsSender`, `verdictFor`, `blockedBy`, `effectiveSettings`, `parseBlockEntry`) are
 * `@indiepm/protocol`'s (policy.ts).
 *
 * What applies to a site is the owner's stored settings (the `settings` collection,
 * changed from the web inbox or the owner API) on top of the `policies` option: the
 * stored `policy` wins over the configured one; contacts and block lists add up.
 */
import { effectiveSettings, type SitePolicy, type SiteSettings } from "@indiepm/protocol";
import { PmError } from "./errors.js";
import type { SettingsDoc } from "./protocol/records.js";
import { DuplicateKeyError, patchFrom, type Changes, type Store } from "./store/types.js";

/** The settings of `site` as they apply now. */
export async function siteSettings(store: Store, policies: Record<string, SitePolicy>, site: string): Promise<SiteSettings> {
  return effectiveSettings(site, policies[site], await store.get<SettingsDoc>("settings", site));
}

/**
 * Changes the stored settings of `site` with a compare-and-set on `rev`, retrying on a
 * concurrent change: `change` gets the current document (or `null`) and returns the fields to set (`undefined`: remove).
 */
export async function changeSettings(store: Store, site: string, change: (doc: SettingsDoc | null) => Changes<SettingsDoc> | null): Promise<void> {
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
