/**
 * IndieAuth discovery (§4.1, §4.1.1) of the endpoints beyond sign-in: the token endpoint
 * (and the introspection and revocation endpoints) from the metadata document, else the
 * page's `rel=token_endpoint`.
 */
import type { FetchedPage } from "@indiepm/core";
import { describe, expect, it } from "vitest";
import { authorizationLinksFromPage, processMetadata } from "../src/indieauth.js";

function page(html: string, link?: string): FetchedPage {
  const headers = new Headers({ "content-type": "text/html; charset=utf-8" });
  if (link) headers.set("link", link);
  const url = "https://alice.example/";
  return { url, status: 200, headers, body: new TextEncoder().encode(html), truncated: false, redirects: [url] } as FetchedPage;
}

const META = "https://alice.example/.well-known/oauth-authorization-server";

describe("the token endpoint is discovered with the authorization endpoint", () => {
  it("from the metadata document, with the introspection and revocation endpoints", () => {
    const server = processMetadata(
      {
        issuer: "https://alice.example/",
        authorization_endpoint: "https://alice.example/auth",
        token_endpoint: "https://alice.example/token",
        introspection_endpoint: "https://alice.example/introspect",
        revocation_endpoint: "https://alice.example/revoke",
      },
      META,
      { dev: false },
    );
    expect(server).toEqual({
      authorizationEndpoint: "https://alice.example/auth",
      issuer: "https://alice.example/",
      metadataUrl: META,
      tokenEndpoint: "https://alice.example/token",
      introspectionEndpoint: "https://alice.example/introspect",
      revocationEndpoint: "https://alice.example/revoke",
    });
  });

  it.each([
    ["missing", undefined],
    ["not a URL", "not a url"],
    ["refused by the URL policy (http in production)", "http://alice.example/token"],
  ])("a token endpoint %s is left out; signing in still works", (_, token_endpoint) => {
    const server = processMetadata({ issuer: "https://alice.example/", authorization_endpoint: "https://alice.example/auth", token_endpoint }, META, {
      dev: false,
    });
    expect(server.authorizationEndpoint).toBe("https://alice.example/auth");
    expect(server).not.toHaveProperty("tokenEndpoint");
  });

  it("from rel=token_endpoint in the page of an older server, relative to the page", () => {
    expect(authorizationLinksFromPage(page(`<link rel="authorization_endpoint" href="/auth"><link rel="token_endpoint" href="/token">`))).toEqual({
      authorizationEndpoint: "https://alice.example/auth",
      tokenEndpoint: "https://alice.example/token",
    });
  });

  it("the Link header comes before the page's <link>", () => {
    const found = authorizationLinksFromPage(
      page(`<link rel="authorization_endpoint" href="/auth"><link rel="token_endpoint" href="/token-in-html">`, `</token-in-header>; rel="token_endpoint"`),
    );
    expect(found.tokenEndpoint).toBe("https://alice.example/token-in-header");
  });

  it("with a metadata link, only the metadata URL is taken from the page", () => {
    expect(
      authorizationLinksFromPage(
        page(`<link rel="indieauth-metadata" href="/meta"><link rel="authorization_endpoint" href="/auth"><link rel="token_endpoint" href="/token">`),
      ),
    ).toEqual({ metadata: "https://alice.example/meta" });
  });
});
