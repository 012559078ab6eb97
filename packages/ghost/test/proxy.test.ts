/**
 * `proxySnippet` (proxy.ts): snapshots of each server × layout, and the option checks as
 * a fixture table. proxy-servers.test.ts runs the snippets in real nginx and Caddy.
 */
import { describe, expect, it } from "vitest";
import { GhostError, pmLinkHeaderValue, proxyLayout, proxySnippet, type ProxyServer } from "../src/index.js";

const LAYOUTS = [
  { name: "path", siteUrl: "https://blog.example/", pmUrl: "https://blog.example/.pm/" },
  { name: "subdomain", siteUrl: "https://blog.example/", pmUrl: "https://pm.blog.example/" },
  { name: "subdirectory Ghost, path", siteUrl: "https://example.org/blog/", pmUrl: "https://example.org/blog/.pm/" },
];
const SERVERS: ProxyServer[] = ["nginx", "caddy"];
const CASES = SERVERS.flatMap((server) => LAYOUTS.map((layout) => ({ server, ...layout })));

describe("proxySnippet", () => {
  it.each(CASES)("$server, $name", ({ server, siteUrl, pmUrl }) => {
    expect(proxySnippet({ server, siteUrl, pmUrl })).toMatchSnapshot();
  });

  it.each(CASES)("$server, $name: names the endpoint in a Link header and routes it to the indiepm server", ({ server, siteUrl, pmUrl }) => {
    const text = proxySnippet({ server, siteUrl, pmUrl, pmUpstream: "http://127.0.0.1:9999", ghostUpstream: "http://127.0.0.1:2368" });
    const link = server === "nginx" ? pmLinkHeaderValue(pmUrl) : pmLinkHeaderValue(pmUrl).replace(/"/g, '\\"');
    expect(text).toContain(link);
    expect(text).toContain("127.0.0.1:9999");
    expect(text).toContain("127.0.0.1:2368");
    expect(text).toContain(`indiepm serve --site ${siteUrl} --public-url ${pmUrl}`);
  });
});

describe("proxyLayout", () => {
  it("a path of the blog", () => {
    expect(proxyLayout({ siteUrl: "https://blog.example/", pmUrl: "https://blog.example/.pm/" })).toMatchObject({ mode: "path", prefix: "/.pm/" });
  });

  it("a subdomain", () => {
    expect(proxyLayout({ siteUrl: "https://blog.example/", pmUrl: "https://pm.blog.example/" })).toMatchObject({ mode: "subdomain", prefix: "/" });
  });

  it.each([
    {
      name: "the pm URL is the site",
      siteUrl: "https://blog.example/",
      pmUrl: "https://blog.example/",
      message: /cannot be the site itself; use a path such as https:\/\/blog.example\/.pm\//,
    },
    {
      name: "no trailing slash",
      siteUrl: "https://blog.example/",
      pmUrl: "https://blog.example/.pm",
      message: /must end with "\/".*https:\/\/blog.example\/.pm\//,
    },
    { name: "under Ghost's admin", siteUrl: "https://blog.example/", pmUrl: "https://blog.example/ghost/pm/", message: /overlaps Ghost's own \/ghost\// },
    {
      name: "under Ghost's ActivityPub route",
      siteUrl: "https://blog.example/",
      pmUrl: "https://blog.example/.ghost/pm/",
      message: /overlaps Ghost's own \/.ghost\//,
    },
    { name: "a query", siteUrl: "https://blog.example/", pmUrl: "https://pm.example/?a=1", message: /no user, query or fragment/ },
    { name: "not a URL", siteUrl: "blog.example", pmUrl: "https://pm.example/", message: /the site URL must be an absolute http\(s\) URL/ },
    { name: "ftp", siteUrl: "https://blog.example/", pmUrl: "ftp://pm.example/", message: /the pm URL must be an http\(s\) URL/ },
    {
      name: "an nginx variable",
      siteUrl: "https://blog.example/",
      pmUrl: "https://blog.example/$host/",
      message: /characters a proxy configuration cannot hold/,
    },
    { name: "same host, other scheme", siteUrl: "https://blog.example/", pmUrl: "http://blog.example/.pm/", message: /must share a scheme/ },
    {
      name: "an upstream with a path",
      siteUrl: "https://blog.example/",
      pmUrl: "https://pm.example/",
      pmUpstream: "http://127.0.0.1:8080/pm",
      message: /the indiepm server must be an origin/,
    },
  ])("refuses $name", ({ message, ...options }) => {
    expect(() => proxyLayout(options)).toThrow(GhostError);
    expect(() => proxyLayout(options)).toThrow(message);
  });

  it("refuses an unknown server", () => {
    expect(() => proxySnippet({ server: "apache" as ProxyServer, siteUrl: "https://blog.example/", pmUrl: "https://blog.example/.pm/" })).toThrow(
      /one of nginx, caddy/,
    );
  });
});
