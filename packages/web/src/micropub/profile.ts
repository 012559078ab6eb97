/**
 * The DM profile URL (issue 13): one public page per site this server holds, at
 * `<inbox>/me/<slug>/`, that a Micropub app is signed in with instead of the site itself
 * (as Aperture gives each channel a profile URL). It names the site's own IndieAuth
 * (`authorization_endpoint`, `token_endpoint`, `indieauth-metadata` when the site has
 * one — discovered from the site, discovery.ts) and indiepm's Micropub endpoint for the
 * site, in `<link>` elements and the same `Link` header, so any app that signs in with
 * this address gets a token from the owner's IndieAuth and posts here, never to the
 * site's own publishing endpoint. `<inbox>/me/` is the one profile when the server holds
 * one site, else a list of them. Public: no sign-in, no form.
 */
import { html } from "../html.js";
import type { ResolvedInboxOptions } from "../options.js";
import { layout, messagePage, siteLabel } from "../pages.js";
import { page, redirect } from "../responses.js";
import type { AuthorizationServer } from "../indieauth.js";
import { WebInboxError } from "../errors.js";
import type { SiteDiscovery } from "./discovery.js";

/** A site's slug before collisions: host (`.`→`-`), `-port`, `-path`, in `[a-z0-9_-]`. */
function baseSlug(site: string): string {
  const url = new URL(site);
  const parts = [url.hostname, url.port, url.pathname === "/" ? "" : url.pathname];
  const slug = parts
    .filter(Boolean)
    .join("-")
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^-|-$/g, "");
  return slug || "site";
}

/** Every site's slug, in the order of `sites`: a slug already taken gets `-2`, `-3`… */
function slugs(sites: readonly string[]): Map<string, string> {
  const bySite = new Map<string, string>();
  const taken = new Set<string>();
  for (const site of sites) {
    if (!URL.canParse(site)) continue;
    const canonical = new URL(site).href;
    if (bySite.has(canonical)) continue;
    const base = baseSlug(canonical);
    let slug = base;
    for (let n = 2; taken.has(slug); n++) slug = `${base}-${n}`;
    taken.add(slug);
    bySite.set(canonical, slug);
  }
  return bySite;
}

/** The slug of `site` among `sites` (readable, stable while `sites` keeps its order), or undefined when it is not one of them. */
export function profileSlug(sites: readonly string[], site: string): string | undefined {
  return URL.canParse(site) ? slugs(sites).get(new URL(site).href) : undefined;
}

/** The site a slug names, or undefined. */
export function siteOfSlug(sites: readonly string[], slug: string): string | undefined {
  for (const [site, s] of slugs(sites)) if (s === slug) return site;
  return undefined;
}

function slugOrThrow(sites: readonly string[], site: string): string {
  const slug = profileSlug(sites, site);
  if (!slug) throw new Error(`${site} is not one of this server's sites.`);
  return slug;
}

/** `<inbox>/me/<slug>/`, absolute. @throws when `site` is not one of `sites`. */
export function profileUrl(inboxUrl: string, sites: readonly string[], site: string): string {
  return new URL(`me/${slugOrThrow(sites, site)}/`, inboxUrl).href;
}

/** `<inbox>/me/<slug>/micropub`, absolute. @throws when `site` is not one of `sites`. */
export function micropubUrl(inboxUrl: string, sites: readonly string[], site: string): string {
  return new URL(`me/${slugOrThrow(sites, site)}/micropub`, inboxUrl).href;
}

/** The links a profile names: rel → absolute URL, in the order they are written. */
export function profileLinks(server: AuthorizationServer, micropub: string): [rel: string, href: string][] {
  const links: [string, string][] = [["authorization_endpoint", server.authorizationEndpoint]];
  if (server.tokenEndpoint) links.push(["token_endpoint", server.tokenEndpoint]);
  if (server.metadataUrl) links.push(["indieauth-metadata", server.metadataUrl]);
  links.push(["micropub", micropub]);
  return links;
}

/** `Link` header value: URLs as `URL.href` writes them hold no `>`. */
const linkHeader = (links: [string, string][]) => links.map(([rel, href]) => `<${href}>; rel="${rel}"`).join(", ");

export function profilePage(base: string, p: { site: string; profile: string; links: [string, string][] }) {
  const name = siteLabel(p.site);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${name}: private messages from Micropub apps · indiepm</title>
${p.links.map(([rel, href]) => html`<link rel="${rel}" href="${href}">\n`)}<link rel="stylesheet" href="${base}static/style.css">
<link rel="icon" href="${base}static/icon.svg" type="image/svg+xml">
</head>
<body>
<main id="main" class="card narrow">
<h1>Private messages for <a href="${p.site}">${name}</a></h1>
<p>This is ${name}'s private-message address for Micropub apps such as Quill, Indigenous or the Micro.blog apps. Sign in to the app with this address, using ${name}'s own sign-in:</p>
<p><code>${p.profile}</code></p>
<p>What you write there is sent as a private message, only to the people you pick. It is never published on ${name}.</p>
</main>
</body>
</html>
`;
}

function listPage(base: string, profiles: { site: string; profile: string }[]) {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Private-message addresses · indiepm</title>
<link rel="stylesheet" href="${base}static/style.css">
<link rel="icon" href="${base}static/icon.svg" type="image/svg+xml">
</head>
<body>
<main id="main" class="card narrow">
<h1>Private-message addresses</h1>
<p>Each site this server holds has its own address for Micropub apps. Sign in to the app with the address of your site:</p>
<ul>${profiles.map((p) => html`<li><a href="${p.profile}">${siteLabel(p.site)}</a></li>`)}</ul>
</main>
</body>
</html>
`;
}

export interface ProfilePages {
  /** `GET /me/`: the one profile, or the list of them. */
  index(request: Request): Promise<Response>;
  /** `GET /me/:id/`. */
  profile(request: Request, params: Record<string, string>): Promise<Response>;
  /** `GET /me` and `GET /me/:id`: to the address with its slash. */
  withSlash(request: Request, params: Record<string, string>): Promise<Response>;
}

export function createProfilePages(inbox: Pick<ResolvedInboxOptions, "pm" | "url" | "base" | "logger">, discovery: SiteDiscovery): ProfilePages {
  const { base } = inbox;
  const notFound = () =>
    page(messagePage({ base }, "Not found", "There is no private-message address here. Ask the owner for the address of their site."), 404);

  async function show(site: string): Promise<Response> {
    const sites = inbox.pm.sites;
    const profile = profileUrl(inbox.url.href, sites, site);
    const name = siteLabel(site);
    let server: AuthorizationServer;
    try {
      server = await discovery.get(site);
    } catch (error) {
      inbox.logger?.warn("DM profile: the site's IndieAuth could not be discovered", { site, error: error instanceof Error ? error.message : String(error) });
      return unavailable(
        `${name}'s sign-in (IndieAuth) could not be found just now, so Micropub apps cannot sign in with this address. Try again in a few minutes.`,
        error instanceof WebInboxError ? `${error.code}: ${error.message}` : String(error),
      );
    }
    if (!server.tokenEndpoint) {
      return unavailable(
        `${name} names no IndieAuth token endpoint, so Micropub apps cannot get a token for this address. The owner can add one to the site.`,
        server.metadataUrl ? `no token_endpoint in ${server.metadataUrl}` : `no rel="token_endpoint" at ${site}`,
      );
    }
    const links = profileLinks(server, micropubUrl(inbox.url.href, sites, site));
    return page(profilePage(base, { site, profile, links }), 200, { link: linkHeader(links) });
  }

  /** 503: a sentence for people, what went wrong only in a details line. */
  function unavailable(text: string, detail: string): Response {
    const title = "Not available just now";
    return page(
      layout(
        { base },
        title,
        html`<section class="card narrow"><h1>${title}</h1><p>${text}</p><details class="tech"><summary>Details</summary><p><code>${detail}</code></p></details></section>`,
      ),
      503,
      { "retry-after": "60" },
    );
  }

  return {
    async index() {
      const sites = inbox.pm.sites;
      if (sites.length === 1) return show(sites[0]!);
      if (sites.length === 0) return notFound();
      return page(
        listPage(
          base,
          sites.map((site) => ({ site, profile: profileUrl(inbox.url.href, sites, site) })),
        ),
      );
    },
    async profile(_request, params) {
      const site = siteOfSlug(inbox.pm.sites, params.id ?? "");
      return site ? show(site) : notFound();
    },
    async withSlash(_request, params) {
      return redirect(params.id ? `${base}me/${params.id}/` : `${base}me/`);
    },
  };
}
