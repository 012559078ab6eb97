/**
 * PROTOCOL.md §7 vouch (the IndieWeb Vouch idea): a first contact to a site in
 * `contacts` mode may name `vouch=URL`, a page on a site the recipient already counts
 * as a contact, which links to the sender's site. The receiver fetches that page —
 * only when it is on a contact's site, so a stranger cannot make it fetch anything
 * else — and admits the sender when the page links to `sender`.
 */
import { linksInHtml } from "@indiepm/protocol";
import { PmError } from "../errors.js";
import { DISCOVERY_LIMITS } from "../discovery/discover.js";
import type { Logger } from "../api.js";
import { describeForPeer } from "../http/peer-description.js";
import type { HttpClient } from "../http/types.js";

/** Pure: the contact whose site `vouch` is on (same origin, path under the contact's), or `undefined`. */
export function vouchingContact(vouch: string, contacts: readonly string[]): string | undefined {
  const page = new URL(vouch);
  return contacts.find((contact) => {
    const site = new URL(contact);
    return site.origin === page.origin && page.pathname.startsWith(site.pathname);
  });
}

/** Pure: does this page (HTML, as fetched from `pageUrl`) link to `sender`? Canonical comparison. */
export function pageLinksTo(html: string, pageUrl: string, sender: string): boolean {
  return linksInHtml(html, pageUrl).some((link) => link.href === sender);
}

/**
 * §7: admits `sender` by its vouch page, or throws: `forbidden` when the page is not on
 * a contact's site or does not link to `sender` (or the page is gone: 4xx),
 * `temporarily_unavailable` when it could not be fetched now (network, 5xx) — saying
 * what kind of failure, never the addresses involved (§2; the detail goes to `log`).
 */
export async function checkVouch(http: HttpClient, vouch: string, sender: string, contacts: readonly string[], log?: Pick<Logger, "warn">): Promise<void> {
  const refused = (why: string) => new PmError("forbidden", `The recipient accepts messages from its contacts only, and the vouch ${why}.`);
  const contact = vouchingContact(vouch, contacts);
  if (!contact) throw refused(`page ${vouch} is not on a contact's site`);
  let page;
  try {
    page = await http.get(vouch, { ...DISCOVERY_LIMITS });
  } catch (error) {
    // The detail (addresses a name resolved to) stays here; the answer says only what kind of failure.
    log?.warn("vouch page could not be fetched", { vouch, sender, detail: error instanceof Error ? error.message : String(error) });
    throw new PmError("temporarily_unavailable", `The vouch page ${vouch} could not be fetched: ${describeForPeer(error)}.`, { cause: error });
  }
  if (page.status >= 500) throw new PmError("temporarily_unavailable", `The vouch page ${vouch} answered ${page.status}.`);
  if (page.status < 200 || page.status > 299) throw refused(`page ${vouch} answered ${page.status}`);
  // A redirect may not carry the vouch off the contact's site.
  if (!vouchingContact(page.url, [contact])) throw refused(`page ${vouch} redirected off the contact's site`);
  const type = page.headers.get("content-type") ?? "";
  if (!/^\s*(text\/html|application\/xhtml\+xml)/i.test(type)) throw refused(`page ${vouch} is not HTML`);
  if (!pageLinksTo(new TextDecoder().decode(page.body), page.url, sender)) throw refused(`page ${vouch} does not link to ${sender}`);
}
