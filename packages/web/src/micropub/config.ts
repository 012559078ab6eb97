/**
 * What the Micropub endpoint tells an app (W3C Micropub §3.7 Querying): `q=config` and
 * `q=syndicate-to`. Every app's syndication toggles become a recipient picker: each of the
 * site's contacts (added, and everyone it wrote to) is a destination whose `uid` is the
 * contact's site URL; `visibility: ["private"]` makes Quill show its visibility selector
 * with the one value this endpoint takes. And the limits the endpoint keeps, in one place.
 */
import { BODY_LIMITS, blockedBy, MAX_RECIPIENTS, type PmServer } from "@indiepm/core";
import { siteLabel } from "../pages.js";

export const MICROPUB_LIMITS = Object.freeze({
  /**
   * A request body: a message's 64 KiB of text, its HTML and room for the rest, as the web
   * compose's forms (below what a transport reads before the route is known, so this limit
   * is the one that answers). Past it: 413, and nothing more is read.
   */
  maxBodyBytes: BODY_LIMITS.webForm,
  /**
   * Recipients of one post: the engine's one cap for every way of sending (core limits.ts
   * `MAX_RECIPIENTS`), which `PmServer.send` keeps before any recipient is looked up.
   */
  maxRecipients: MAX_RECIPIENTS,
  /** Requests a minute per client address, counted before the token is checked (each check may ask the site's token endpoint). */
  requestsPerClientPerMinute: 60,
  /** Posts a minute per site (each may make this server look up its recipients). */
  postsPerSitePerMinute: 30,
  /** Destinations `q=config` lists at most. */
  maxSyndicateTo: 500,
});

/** One `syndicate-to` destination (Micropub §3.7.3): a contact. */
export interface SyndicationTarget {
  uid: string;
  name: string;
}

/** The site's contacts as destinations: its added contacts, then everyone it wrote to, less those it blocked; named by their kept h-card (nothing fetched). */
export async function syndicationTargets(pm: PmServer, site: string): Promise<SyndicationTarget[]> {
  const settings = await pm.settings(site);
  const sites = [...new Set([...settings.contacts, ...settings.wroteTo])]
    .filter((s) => s !== site && !blockedBy(settings.blocked, s))
    .slice(0, MICROPUB_LIMITS.maxSyndicateTo);
  const names = new Map((await pm.people(sites, { read: false })).map((p) => [p.site, p.name]));
  return sites.map((s) => ({ uid: s, name: names.get(s) ?? siteLabel(s) }));
}

/** `q=config` (§3.7.1). */
export async function micropubConfig(pm: PmServer, site: string) {
  return {
    visibility: ["private"],
    "syndicate-to": await syndicationTargets(pm, site),
    "post-types": [{ type: "note", name: "Private message", properties: ["content", "name", "in-reply-to", "category", "mp-syndicate-to", "visibility"] }],
    q: ["config", "syndicate-to"],
  };
}
