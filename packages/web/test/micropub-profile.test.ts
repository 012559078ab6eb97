/**
 * Issue 13: the DM profile URL. Each site the server holds has a public page at
 * `<inbox>/me/<slug>/` naming the site's own IndieAuth (`authorization_endpoint`,
 * `token_endpoint`, `indieauth-metadata`) and indiepm's Micropub endpoint for it, in
 * `<link>` elements and the `Link` header; `<inbox>/me/` is that page for one site and a
 * list for several. No sign-in; a site whose IndieAuth cannot be found gets a page that
 * says so, never a 500.
 */
import { createServer } from "node:http";
import { createMemoryStore, createPmServer, linksInHtml, parseLinkHeader } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import { closeServer, listenLoopback, startDevAuthorizationServer } from "@indiepm/test-support";
import { afterEach, describe, expect, it } from "vitest";
import { createWebInbox } from "../src/index.js";
import { micropubUrl, profileSlug, profileUrl, siteOfSlug } from "../src/micropub/profile.js";
import { CONTENT_SECURITY_POLICY } from "../src/security.js";
import { Browser, quiet, startInboxHost, startSharedHost } from "./support.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** rel → href from the `<link>` elements of the page's head, and from its `Link` header. */
async function linksOf(response: Response): Promise<{ head: Record<string, string>; header: Record<string, string>; text: string }> {
  const text = await response.text();
  const head = Object.fromEntries(
    linksInHtml(text, response.url)
      .filter((l) => l.element === "link")
      .flatMap((l) => l.rel.map((rel) => [rel, l.href])),
  );
  const header = Object.fromEntries(parseLinkHeader(response.headers.get("link")).flatMap((l) => l.rel.map((rel) => [rel, l.target])));
  return { head, header, text };
}

describe("profile slugs (pure)", () => {
  it("host with . → -, the port and the path appended, readable", () => {
    const sites = ["https://alice.example.org/", "http://127.0.0.1:4001/", "https://example.com/~bob/"];
    expect(sites.map((s) => profileSlug(sites, s))).toEqual(["alice-example-org", "127-0-0-1-4001", "example-com-bob"]);
  });

  it("a slug already taken gets -2, -3 in the order of the sites; each slug names its site back", () => {
    const sites = ["https://a.example/", "http://a.example/", "https://a-example/", "https://a.example/x"];
    const slugs = sites.map((s) => profileSlug(sites, s));
    expect(slugs).toEqual(["a-example", "a-example-2", "a-example-3", "a-example-x"]);
    for (const [i, slug] of slugs.entries()) expect(siteOfSlug(sites, slug!)).toBe(sites[i]);
  });

  it("every slug fits the router's :id segment", () => {
    const sites = ["http://[::1]:4001/", "https://xn--bcher-kva.example/a b/ü", "https://example.com/%3Cscript%3E"];
    for (const s of sites) expect(profileSlug(sites, s)).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("a site the server does not hold has no slug, an unknown slug no site", () => {
    expect(profileSlug(["https://a.example/"], "https://b.example/")).toBeUndefined();
    expect(siteOfSlug(["https://a.example/"], "b-example")).toBeUndefined();
    expect(() => profileUrl("https://pm.example/", ["https://a.example/"], "https://b.example/")).toThrow();
  });

  it("the profile and Micropub URLs are under the inbox", () => {
    expect(profileUrl("https://pm.example/inbox/", ["https://a.example/"], "https://a.example/")).toBe("https://pm.example/inbox/me/a-example/");
    expect(micropubUrl("https://pm.example/inbox/", ["https://a.example/"], "https://a.example/")).toBe("https://pm.example/inbox/me/a-example/micropub");
  });
});

describe("one site", () => {
  it("/me/<slug>/ names the site's IndieAuth and its Micropub endpoint, in the head and the Link header, without sign-in", async () => {
    const host = await startInboxHost();
    closers.push(host.close);
    const slug = profileSlug(host.pm.sites, host.site)!;
    const response = await fetch(`${host.pmUrl}me/${slug}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    const { head, header, text } = await linksOf(response);
    const expected = {
      authorization_endpoint: host.auth.authorizationEndpoint,
      token_endpoint: host.auth.tokenEndpoint,
      "indieauth-metadata": host.auth.metadataUrl,
      micropub: `${host.pmUrl}me/${slug}/micropub`,
    };
    expect(head).toMatchObject(expected);
    expect(header).toEqual(expected);
    expect(text).toContain("private-message address for Micropub apps");
    expect(text).toContain(`${host.pmUrl}me/${slug}/`);
    expect(text).not.toMatch(/<script|<style| style=/);
  });

  it("/me/ is the same profile; /me and /me/<slug> go to the address with its slash", async () => {
    const host = await startInboxHost();
    closers.push(host.close);
    const slug = profileSlug(host.pm.sites, host.site)!;
    const index = await linksOf(await fetch(`${host.pmUrl}me/`));
    expect(index.header.micropub).toBe(`${host.pmUrl}me/${slug}/micropub`);
    const bare = await fetch(`${host.pmUrl}me`, { redirect: "manual" });
    expect(bare.headers.get("location")).toBe("/me/");
    const noSlash = await fetch(`${host.pmUrl}me/${slug}`, { redirect: "manual" });
    expect(noSlash.headers.get("location")).toBe(`/me/${slug}/`);
  });

  it("a site named only by rel=authorization_endpoint and rel=token_endpoint: those, no metadata link", async () => {
    const host = await startInboxHost();
    closers.push(host.close);
    host.siteHead.links = [`<${host.auth.authorizationEndpoint}>; rel="authorization_endpoint", <${host.auth.tokenEndpoint}>; rel="token_endpoint"`];
    const { header } = await linksOf(await fetch(`${host.pmUrl}me/`));
    expect(Object.keys(header).sort()).toEqual(["authorization_endpoint", "micropub", "token_endpoint"]);
  });

  it("an unknown slug: 404 page", async () => {
    const host = await startInboxHost();
    closers.push(host.close);
    const response = await fetch(`${host.pmUrl}me/someone-else/`);
    expect(response.status).toBe(404);
    expect(response.headers.get("link")).toBeNull();
    expect(await response.text()).toContain("no private-message address here");
  });

  it.each([
    ["names no IndieAuth", [] as string[], "could not be found", "no_authorization_endpoint"],
    ["names no token endpoint", ['<AUTH>; rel="authorization_endpoint"'], "names no IndieAuth token endpoint", 'no rel="token_endpoint"'],
  ])("a site that %s: a 503 page that says so, what went wrong in a details line, no links", async (_, links, words, detail) => {
    const host = await startInboxHost();
    closers.push(host.close);
    host.siteHead.links = links.map((l) => l.replace("AUTH", host.auth.authorizationEndpoint));
    const response = await fetch(`${host.pmUrl}me/`);
    expect(response.status).toBe(503);
    expect(response.headers.get("link")).toBeNull();
    const text = await response.text();
    const [sentence, details] = text.split('<details class="tech">');
    expect(sentence).toContain(words);
    expect(sentence).not.toContain(detail.replace(/"/g, "&quot;"));
    expect(details).toContain(detail.replace(/"/g, "&quot;"));
  });

  it("a site that is down: 503, not 500", async () => {
    const host = await startInboxHost();
    closers.push(host.close);
    const pm = createPmServer({ endpoint: host.pmUrl, sites: ["http://127.0.0.1:9/"], store: createMemoryStore(), dev: true, logger: quiet });
    const inbox = createWebInbox({ server: pm, url: host.pmUrl, logger: quiet });
    closers.push(() => inbox.close());
    const response = await inbox.handle(new Request(`${host.pmUrl}me/`));
    expect(response.status).toBe(503);
  });
});

describe("Settings: Write from Micropub apps", () => {
  it("shows the signed-in site's DM profile URL to copy, and that URL is its profile", async () => {
    const host = await startInboxHost();
    closers.push(host.close);
    const browser = new Browser();
    await browser.signIn(host);
    const settings = await (await browser.fetch(`${host.pmUrl}settings`)).text();
    expect(settings).toContain("Write from Micropub apps");
    const shown = /id="micropub-profile" type="text" readonly value="([^"]+)"/.exec(settings)?.[1];
    expect(shown).toBe(profileUrl(host.pmUrl, host.pm.sites, host.site));
    const { header } = await linksOf(await fetch(shown!));
    expect(header.micropub).toBe(`${shown}micropub`);
  });
});

describe("several sites", () => {
  it("/me/ lists each site's profile; each profile names that site's own authorization server", async () => {
    const shared = await startSharedHost();
    closers.push(shared.close);
    const pmUrl = new URL("/", shared.pm.endpoint).href;
    const list = await fetch(`${pmUrl}me/`);
    expect(list.status).toBe(200);
    const text = await list.text();
    for (const site of [shared.alice, shared.bob]) expect(text).toContain(`href="${profileUrl(pmUrl, shared.pm.sites, site)}"`);
    expect(list.headers.get("link")).toBeNull();
    const alice = await linksOf(await fetch(profileUrl(pmUrl, shared.pm.sites, shared.alice)));
    const bob = await linksOf(await fetch(profileUrl(pmUrl, shared.pm.sites, shared.bob)));
    expect(alice.header.authorization_endpoint).toBe(shared.aliceAuth.authorizationEndpoint);
    expect(bob.header.authorization_endpoint).toBe(shared.bobAuth.authorizationEndpoint);
    expect(alice.head.micropub).not.toBe(bob.head.micropub);
  });
});

describe("escaping", () => {
  it("a site address with & and ' is written escaped in the page, and read back as it was", async () => {
    const siteServer = createServer((_req, res) => {
      res.setHeader("content-type", "text/html; charset=utf-8");
      res.setHeader("link", auth.linkHeader);
      res.end("<!doctype html><title>x</title>");
    });
    const pmServer = createServer();
    const origin = await listenLoopback(siteServer);
    const pmUrl = await listenLoopback(pmServer);
    const site = `${origin}a&b'c/`;
    const auth = await startDevAuthorizationServer({ sites: [site] });
    const pm = createPmServer({ endpoint: pmUrl, sites: [site], store: createMemoryStore(), dev: true, logger: quiet });
    const inbox = createWebInbox({ server: pm, url: pmUrl, logger: quiet });
    pmServer.on("request", createNodeHandler({ handle: (r, c) => inbox.handle(r, c) }, { logger: quiet }));
    closers.push(async () => {
      await Promise.all([siteServer, pmServer].map(closeServer));
      await auth.close();
      await inbox.close();
    });
    const response = await fetch(`${pmUrl}me/`);
    const { text } = await linksOf(response.clone());
    expect(response.status).toBe(200);
    expect(text).toContain(`href="${site.replace("&", "&amp;").replace("'", "&#39;")}"`);
    expect(text).not.toContain(`a&b'c`);
  });
});
