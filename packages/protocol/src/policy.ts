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
 * The pure verdicts live here; reading and changing the stored settings is
 * `@indiepm/core`'s (settings.ts there).
 */
import { PmError } from "./errors.js";
import { parseSiteUrl } from "./urls.js";

/** §7 receiver policy of one site. */
export type WritePolicy = "anyone" | "contacts" | "nobody";

export interface SitePolicy {
  policy?: WritePolicy;
  /** Site URLs that may always write (contacts mode). */
  contacts?: string[];
  /**
   * Sites that may never write; wins over everything (§7). Each entry is a site URL
   * (exactly that site) or `host:NAME` (every site on that host: `host:spam.example`
   * refuses `https://spam.example/` and `https://spam.example/~x/`; with a port, as
   * `host:spam.example:8443`, only sites on that port).
   */
  blocked?: string[];
}

/** §7 and notifications of one site, as they apply now: stored changes plus configuration. */
export interface SiteSettings {
  site: string;
  policy: WritePolicy;
  /** Contacts added by hand (configured ones included). */
  contacts: string[];
  /** Contacts kept automatically: the sites this site wrote to. */
  wroteTo: string[];
  /** Site URLs and `host:NAME` entries, as `SitePolicy.blocked`. */
  blocked: string[];
  /** Where a small JSON document is POSTed for each new message. */
  webhook?: string;
  /**
   * Correspondents the owner muted: their messages arrive (this is not §7) but raise no
   * unread count, banner or notification in the web inbox. Always present in what
   * `effectiveSettings` answers; optional for settings built by hand.
   */
  muted?: string[];
  /** What the server's `policies` option fixes; the owner's changes cannot remove it. */
  configured: SitePolicy;
}

/** What the owner changed of a site's settings, as stored (core's `SettingsDoc` is one). */
export interface StoredSettings {
  policy?: WritePolicy;
  contacts?: string[];
  wroteTo?: string[];
  blocked?: string[];
  webhook?: string;
  muted?: string[];
}

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
    throw new PmError(
      "invalid_request",
      `${field}: ${JSON.stringify(text)} is not a host entry; write host: and a host name, as host:spam.example (or host:spam.example:8443 for one port).`,
    );
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
export function effectiveSettings(site: string, configured: SitePolicy | undefined, doc: StoredSettings | null): SiteSettings {
  return {
    site,
    policy: doc?.policy ?? configured?.policy ?? "anyone",
    contacts: union(configured?.contacts, doc?.contacts),
    wroteTo: union(doc?.wroteTo),
    blocked: union(configured?.blocked, doc?.blocked),
    ...(doc?.webhook ? { webhook: doc.webhook } : {}),
    muted: union(doc?.muted),
    configured: configured ?? {},
  };
}

/**
 * §7 check at step 2 (and at `deliver`, for the block list): `blocked`, `refused` (by
 * the policy; a vouch may still admit a first contact), or `allowed`.
 */
export function verdictFor(settings: SiteSettings, sender: string): "allowed" | "blocked" | "refused" {
  if (blockedBy(settings.blocked, sender)) return "blocked";
  return allowsSender({ policy: settings.policy, contacts: settings.contacts }, sender, settings.wroteTo) ? "allowed" : "refused";
}
