/**
 * PROTOCOL.md §7 "Who may write": each recipient site is `anyone` (default),
 * `contacts` or `nobody`, plus a block list that always wins. Contacts are the sites it
 * has written to (kept automatically when a delivery succeeds) and those added by hand.
 *
 * Block-list entries are of two kinds (issue 9 item 10): a site URL blocks exactly that
 * site, as §7 compares URLs; `host:NAME` (`host:spam.example`, `host:127.0.0.1:8080`)
 * blocks every site on that host — `https://spam.example/`, `https://spam.example/~x/` —
 * on any port when NAME has none, on that port only when it has one. `blockedBy` is the
 * one place that reads them.
 *
 * What applies to a site is the owner's stored settings (the `settings` collection,
 * changed from the web inbox or the owner API) on top of the `policies` option: the
 * stored `policy` wins over the configured one; contacts and block lists add up.
 */
import type { SettingsChange, SitePolicy, SiteSettings, WritePolicy } from "../api.js";
import { PmError } from "../errors.js";
import { DuplicateKeyError, patchFrom, type Store } from "../store/types.js";
import { parseSiteUrl, refusalOf, type UrlPolicy } from "../urls.js";
import type { SettingsDoc } from "./records.js";

export const WRITE_POLICIES: readonly WritePolicy[] = ["anyone", "contacts", "nobody"];

/** How a block-list entry that names a host, not one site, starts. */
export const HOST_BLOCK_PREFIX = "host:";

/**
 * Checks one block-list entry and returns its canonical form: a site URL as
 * `parseSiteUrl` gives it, or `host:` and the host in lower case (IDNA applied), its
 * port kept when one is named.
 * @throws PmError `invalid_request` naming `field`.
 */
export function parseBlockEntry(value: string, field: string): string {
  const text = value.trim();
  if (!text.toLowerCase().startsWith(HOST_BLOCK_PREFIX)) return parseSiteUrl(text, field, { dev: true });
  const name = text.slice(HOST_BLOCK_PREFIX.length).trim();
  // Only a host and a port: no path, query, fragment or user (`host:spam.example/x` is refused).
  if (!/^[^/?#@\\\s]+$/.test(name) || !URL.canParse(`http://${name}/`)) {
    throw new PmError("invalid_request", `${field}: ${JSON.stringify(text)} is not a host entry; write host: and a host name, as host:spam.example (or host:spam.example:8443 for one port).`);
  }
  const port = /:(\d+)$/.exec(name)?.[1];
  return `${HOST_BLOCK_PREFIX}${new URL(`http://${name}/`).hostname}${port === undefined ? "" : `:${Number(port)}`}`;
}

/** Pure: does the block list refuse `sender` (a canonical site URL), by its URL or its host? */
export function blockedBy(blocked: readonly string[] | undefined, sender: string): boolean {
  if (!blocked || blocked.length === 0) return false;
  if (blocked.includes(sender)) return true;
  if (!URL.canParse(sender)) return false;
  const url = new URL(sender);
  const withPort = `${url.hostname}:${url.port || (url.protocol === "https:" ? "443" : "80")}`;
  return blocked.some((entry) => entry.startsWith(HOST_BLOCK_PREFIX) && [url.hostname, withPort].includes(entry.slice(HOST_BLOCK_PREFIX.length)));
}

/** Pure: may `sender` write to a site with this policy, given the sites it wrote to? */
export function allowsSender(policy: SitePolicy | undefined, sender: string, wroteTo: readonly string[]): boolean {
  if (blockedBy(policy?.blocked, sender)) return false;
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
  if (blockedBy(settings.blocked, sender)) return "blocked";
  return allowsSender({ policy: settings.policy, contacts: settings.contacts }, sender, settings.wroteTo) ? "allowed" : "refused";
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
