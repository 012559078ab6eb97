/**
 * The client side of IndieAuth (https://indieauth.spec.indieweb.org/), for signing the
 * owner in with their own site: discovery (§4.1: `rel=indieauth-metadata`, then the
 * metadata document; the older `rel=authorization_endpoint` as a fallback), the
 * authorization request with PKCE S256 and `state` (§5.2), checking the response's
 * `iss` (§5.2.1), redeeming the code at the authorization endpoint for the profile URL
 * only (§5.3.2, no token), and confirming the `me` returned (§5.4). Each network call
 * is separate from the pure check of its answer (`…FromPage`, `process…`), and every
 * request goes through the engine's guarded `HttpClient` (PROTOCOL.md §6).
 */
import { createHash } from "node:crypto";
import { linksInHtml, newSecret, parseLinkHeader, refusalOf, type FetchedPage, type HttpClient, type UrlPolicy } from "@indiepm/core";
import { WebInboxError } from "./errors.js";

/** Where the owner's site sends them to sign in, and where its tokens are issued and checked. */
export interface AuthorizationServer {
  authorizationEndpoint: string;
  /** From the metadata document; the response's `iss` must equal it. Absent for `rel=authorization_endpoint`. */
  issuer?: string;
  /** The metadata document's URL (`rel=indieauth-metadata`), when the site has one. */
  metadataUrl?: string;
  /**
   * IndieAuth §5.3.3 / §4.1.1 `token_endpoint`: from the metadata document, else the page's
   * `rel=token_endpoint` (older servers). Absent when the site names none, or one the URL
   * policy refuses (signing in needs no token endpoint, so that is not an error here).
   */
  tokenEndpoint?: string;
  /** IndieAuth §6.1 `introspection_endpoint` (metadata only). */
  introspectionEndpoint?: string;
  /** IndieAuth §7 `revocation_endpoint` (metadata only). */
  revocationEndpoint?: string;
}

const LIMITS = { maxRedirects: 5, timeoutMs: 5_000, maxBytes: 1024 * 1024 } as const;

/**
 * IndieAuth §3.2 profile URLs, as a sign-in form takes them: a bare domain gets
 * `https://` (IndieAuth §4.1: "clients MAY start with an HTTPS request"), the path
 * defaults to `/`; no fragment, user or password.
 */
export function normalizeProfileUrl(input: string, policy: UrlPolicy): string {
  const text = input.trim();
  if (text === "") throw new WebInboxError("invalid_profile_url", "Enter the address of your site, such as example.com.");
  // Development mode: a bare loopback or IP address means http (nothing there speaks TLS).
  const local = policy.dev && /^(localhost|127\.|\[::1\]|\d+\.\d+\.\d+\.\d+)/i.test(text);
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${local ? "http" : "https"}://${text}`;
  if (!URL.canParse(withScheme)) throw new WebInboxError("invalid_profile_url", `${text} is not a site address.`);
  const url = new URL(withScheme);
  const refusal = refusalOf(url, policy);
  if (refusal) throw new WebInboxError("invalid_profile_url", `${text} cannot be used: ${refusal}.`);
  if (url.hash) throw new WebInboxError("invalid_profile_url", "A site address has no #fragment.");
  return url.href;
}

/**
 * Pure (IndieAuth §4.1): from the fetched profile page, the metadata URL (`Link` header
 * first, then `<link>`), else the `rel=authorization_endpoint` and `rel=token_endpoint`
 * of older servers.
 */
export function authorizationLinksFromPage(page: FetchedPage): { metadata?: string; authorizationEndpoint?: string; tokenEndpoint?: string } {
  const headerLinks = parseLinkHeader(page.headers.get("link"));
  const fromHeader = (rel: string) => {
    const link = headerLinks.find((l) => l.rel.includes(rel));
    return link && URL.canParse(link.target, page.url) ? new URL(link.target, page.url).href : undefined;
  };
  const type = page.headers.get("content-type") ?? "";
  const htmlLinks = /^\s*(text\/html|application\/xhtml\+xml)/i.test(type)
    ? linksInHtml(new TextDecoder().decode(page.body), page.url).filter((l) => l.element === "link")
    : [];
  const fromHtml = (rel: string) => htmlLinks.find((l) => l.rel.includes(rel))?.href;
  const metadata = fromHeader("indieauth-metadata") ?? fromHtml("indieauth-metadata");
  if (metadata) return { metadata };
  const authorizationEndpoint = fromHeader("authorization_endpoint") ?? fromHtml("authorization_endpoint");
  if (!authorizationEndpoint) return {};
  const tokenEndpoint = fromHeader("token_endpoint") ?? fromHtml("token_endpoint");
  return tokenEndpoint ? { authorizationEndpoint, tokenEndpoint } : { authorizationEndpoint };
}

/** Pure (IndieAuth §4.1.1): the authorization server from its metadata document. */
export function processMetadata(json: unknown, metadataUrl: string, policy: UrlPolicy): AuthorizationServer {
  const doc = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
  const endpoint = doc.authorization_endpoint;
  const issuer = doc.issuer;
  if (typeof endpoint !== "string" || !URL.canParse(endpoint)) {
    throw new WebInboxError("no_authorization_endpoint", `The IndieAuth metadata at ${metadataUrl} names no authorization_endpoint.`);
  }
  if (typeof issuer !== "string" || !URL.canParse(issuer))
    throw new WebInboxError("discovery_failed", `The IndieAuth metadata at ${metadataUrl} names no issuer.`);
  // §4.1.1: the issuer is a prefix of the metadata URL (same origin, at least).
  if (new URL(issuer).origin !== new URL(metadataUrl).origin) {
    throw new WebInboxError("discovery_failed", `The IndieAuth metadata at ${metadataUrl} names an issuer on another origin.`);
  }
  const server: AuthorizationServer = { authorizationEndpoint: checkEndpoint(endpoint, policy), issuer, metadataUrl };
  const tokenEndpoint = optionalEndpoint(doc.token_endpoint, policy);
  const introspectionEndpoint = optionalEndpoint(doc.introspection_endpoint, policy);
  const revocationEndpoint = optionalEndpoint(doc.revocation_endpoint, policy);
  if (tokenEndpoint) server.tokenEndpoint = tokenEndpoint;
  if (introspectionEndpoint) server.introspectionEndpoint = introspectionEndpoint;
  if (revocationEndpoint) server.revocationEndpoint = revocationEndpoint;
  return server;
}

function checkEndpoint(url: string, policy: UrlPolicy): string {
  const parsed = new URL(url);
  const refusal = refusalOf(parsed, policy);
  if (refusal) throw new WebInboxError("no_authorization_endpoint", `The authorization endpoint ${url} cannot be used: ${refusal}.`);
  return parsed.href;
}

/** An endpoint other than the authorization endpoint: absent when missing, malformed or refused by the policy. */
function optionalEndpoint(value: unknown, policy: UrlPolicy): string | undefined {
  if (typeof value !== "string" || !URL.canParse(value)) return undefined;
  const parsed = new URL(value);
  return refusalOf(parsed, policy) ? undefined : parsed.href;
}

async function fetchPage(http: HttpClient, url: string, what: string): Promise<FetchedPage> {
  let page: FetchedPage;
  try {
    page = await http.get(url, { ...LIMITS, headers: { accept: "text/html, application/json;q=0.9, */*;q=0.1" } });
  } catch (error) {
    throw new WebInboxError("discovery_failed", `${what} ${url} could not be fetched: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  if (page.status < 200 || page.status > 299) throw new WebInboxError("discovery_failed", `${what} ${url} answered ${page.status}.`);
  return page;
}

/** IndieAuth §4.1: discovers the authorization server of a profile URL. */
export async function discoverAuthorizationServer(http: HttpClient, profileUrl: string, policy: UrlPolicy): Promise<AuthorizationServer> {
  const page = await fetchPage(http, profileUrl, "Your site");
  const links = authorizationLinksFromPage(page);
  if (links.metadata) {
    const meta = await fetchPage(http, links.metadata, "The IndieAuth metadata");
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(meta.body));
    } catch (cause) {
      throw new WebInboxError("discovery_failed", `The IndieAuth metadata at ${links.metadata} is not JSON.`, { cause });
    }
    return processMetadata(json, links.metadata, policy);
  }
  if (links.authorizationEndpoint) {
    const server: AuthorizationServer = { authorizationEndpoint: checkEndpoint(links.authorizationEndpoint, policy) };
    const tokenEndpoint = optionalEndpoint(links.tokenEndpoint, policy);
    if (tokenEndpoint) server.tokenEndpoint = tokenEndpoint;
    return server;
  }
  throw new WebInboxError(
    "no_authorization_endpoint",
    `${profileUrl} advertises no IndieAuth authorization endpoint (rel="indieauth-metadata" or rel="authorization_endpoint").`,
  );
}

/** RFC 7636 PKCE with S256: a 43-character verifier and its challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = newSecret();
  return { verifier, challenge: pkceChallenge(verifier) };
}

export function pkceChallenge(verifier: string): string {
  return createHash("sha256").update(verifier, "ascii").digest("base64url");
}

/** IndieAuth §5.2: the URL the owner's browser is sent to. Authentication only: no scope. */
export function authorizationUrl(p: {
  authorizationEndpoint: string;
  clientId: string;
  redirectUri: string;
  state: string;
  challenge: string;
  me: string;
}): string {
  const url = new URL(p.authorizationEndpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", p.clientId);
  url.searchParams.set("redirect_uri", p.redirectUri);
  url.searchParams.set("state", p.state);
  url.searchParams.set("code_challenge", p.challenge);
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("me", p.me);
  return url.href;
}

/** Pure (IndieAuth §5.3.3): the canonical `me` of the authorization endpoint's answer. */
export function processProfileResponse(status: number, json: unknown, endpoint: string): string {
  const body = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
  if (status !== 200 || typeof body.me !== "string" || !URL.canParse(body.me)) {
    const why =
      typeof body.error === "string" ? ` (${body.error}${typeof body.error_description === "string" ? `: ${body.error_description.slice(0, 200)}` : ""})` : "";
    throw new WebInboxError("redeem_failed", `The authorization endpoint ${endpoint} did not confirm who you are: it answered ${status}${why}.`);
  }
  const me = new URL(body.me);
  if (me.hash || me.username || me.password || (me.protocol !== "https:" && me.protocol !== "http:")) {
    throw new WebInboxError("redeem_failed", `The authorization endpoint ${endpoint} answered a me that is not a profile URL.`);
  }
  return me.href;
}

/** IndieAuth §5.3.2: redeems the code at the authorization endpoint for the profile URL. */
export async function redeemCode(
  http: HttpClient,
  p: { authorizationEndpoint: string; code: string; clientId: string; redirectUri: string; verifier: string },
): Promise<string> {
  const answer = await postCodeRedemption(http, p.authorizationEndpoint, p, `The authorization endpoint ${p.authorizationEndpoint}`);
  return processProfileResponse(answer.status, answer.json, p.authorizationEndpoint);
}

/**
 * IndieAuth §5.3.1: the code, with its PKCE verifier, POSTed to `endpoint` (the
 * authorization endpoint for the profile, §5.3.2, or the token endpoint for an access
 * token, §5.3.3); unreachable is `redeem_failed`, a sentence starting with `who`.
 */
export async function postCodeRedemption(
  http: HttpClient,
  endpoint: string,
  p: { code: string; clientId: string; redirectUri: string; verifier: string },
  who: string,
): Promise<{ status: number; json: unknown }> {
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code: p.code,
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    code_verifier: p.verifier,
  });
  try {
    return await http.postForm(endpoint, form, { headers: { accept: "application/json" } });
  } catch (error) {
    throw new WebInboxError("redeem_failed", `${who} could not be reached: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/**
 * IndieAuth §5.4 "Authorization Server Confirmation" (once "Differing User Profile URLs"):
 * the `me` returned is taken as is only when it is exactly the URL the sign-in started
 * with. A different `me` counts only when it is on the same host as that URL and,
 * discovered afresh, names the very authorization endpoint (and issuer) that was used:
 * the site it names has then chosen that authorization server itself. Otherwise the
 * sign-in fails with `me_mismatch` and opens no session at all — not for the `me`
 * returned, which the server may not speak for, and not for the URL entered, which the
 * server did not confirm (it answered with someone else).
 */
export async function verifyMe(http: HttpClient, me: string, entered: string, server: AuthorizationServer, policy: UrlPolicy): Promise<void> {
  if (me === entered) return;
  if (new URL(me).host !== new URL(entered).host) {
    throw new WebInboxError("me_mismatch", `Signed in as ${me}, which is on another host than ${entered}, the site this sign-in started with.`);
  }
  const again = await discoverAuthorizationServer(http, me, policy).catch((error: unknown) => {
    throw new WebInboxError("me_mismatch", `Signed in as ${me}, which could not be checked: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  });
  if (again.authorizationEndpoint !== server.authorizationEndpoint || (again.issuer ?? null) !== (server.issuer ?? null)) {
    throw new WebInboxError("me_mismatch", `Signed in as ${me}, but that site names another authorization endpoint than the one ${entered} sent you to.`);
  }
}
