/**
 * PROTOCOL.md §7 "Who may write": each recipient site is `anyone` (default),
 * `contacts` or `nobody`, plus a block list that always wins. Contacts are the sites it
 * has written to (kept automatically when a delivery succeeds) and those added by hand.
 */
import type { SitePolicy } from "../api.js";
import type { Store } from "../store/types.js";
import type { SettingsDoc } from "./records.js";

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

/** §7 check at step 2 (and at `deliver`, for the block list), reading the contacts kept. */
export async function mayWrite(store: Store, policies: Record<string, SitePolicy>, recipient: string, sender: string): Promise<boolean> {
  const policy = policies[recipient];
  if (!policy) return true;
  const settings = policy.policy === "contacts" ? await store.get<SettingsDoc>("settings", recipient) : null;
  return allowsSender(policy, sender, settings?.wroteTo ?? []);
}

/** Records that `site` wrote to `recipient`: the automatic half of §7's contacts. */
export async function rememberContact(store: Store, site: string, recipient: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const doc = await store.get<SettingsDoc>("settings", site);
    if (doc?.wroteTo?.includes(recipient)) return;
    if (!doc) {
      try {
        await store.insert<SettingsDoc>("settings", { _id: site, wroteTo: [recipient] });
        return;
      } catch {
        continue;
      }
    }
    const wroteTo = [...(doc.wroteTo ?? []), recipient];
    if (await store.update("settings", site, { wroteTo }, { _id: site })) return;
  }
}
