/**
 * IndieAuth for a Microsub channel (issue 13): indiepm as a client asking a channel for a
 * token with scope `create`, as Micropub apps ask Aperture. The channel's address (its
 * profile URL) advertises its own `authorization_endpoint`, `token_endpoint` and
 * `micropub` (`discoverChannel`, one fetch, plus the metadata document when it names
 * one); the owner approves there; the code comes back and is redeemed at the token
 * endpoint for an access token (`redeemForToken`, IndieAuth §5.3.3, with the PKCE
 * verifier). Every request goes through the guarded `HttpClient` (PROTOCOL.md §6).
 */
import { linksInHtml, parseLinkHeader, refusalOf, type FetchedPage, type HttpClient, type UrlPolicy } from "@indiepm/core";
import { WebInboxError } from "./errors.js";
import { authorizationLinksFromPage, authorizationUrl, postCodeRedemption, processMetadata } from "./indieauth.js";

const LIMITS = { maxRedirects: 5, timeoutMs: 5_000, maxBytes: 1024 * 1024 } as const;

/** Where a channel is authorized, where its tokens are issued, and where it takes posts. */
export interface ChannelEndpoints {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  micropub: string;
  /** From the metadata document; the callback's `iss` must equal it. */
  issuer?: string;
}

/** The owner's channel address as typed: an absolute http(s) URL the policy allows. */
export function channelAddress(input: string, policy: UrlPolicy): string {
  const text = input.trim();
  if (text === "") throw new WebInboxError("discovery_failed", "Enter the address of your Microsub channel.");
  if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol))
    throw new WebInboxError("discovery_failed", "Enter the whole address of your channel, starting with https://.");
  const refusal = refusalOf(new URL(text), policy);
  if (refusal) throw new WebInboxError("discovery_failed", `This address cannot be used: ${refusal}.`);
  return new URL(text).href;
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

/** Pure: the page's `rel=micropub` (the `Link` header first, then `<link>`), absolute. */
export function micropubLinkFromPage(page: FetchedPage): string | undefined {
  const header = parseLinkHeader(page.headers.get("link")).find((l) => l.rel.includes("micropub"));
  if (header && URL.canParse(header.target, page.url)) return new URL(header.target, page.url).href;
  if (!/^\s*(text\/html|application\/xhtml\+xml)/i.test(page.headers.get("content-type") ?? "")) return undefined;
  return linksInHtml(new TextDecoder().decode(page.body), page.url).find((l) => l.element === "link" && l.rel.includes("micropub"))?.href;
}

function allowed(url: string | undefined, what: string, address: string, policy: UrlPolicy): string {
  if (!url) throw new WebInboxError("no_authorization_endpoint", `${address} names no ${what}, so indiepm cannot be authorized there; use an API key instead.`);
  const refusal = refusalOf(new URL(url), policy);
  if (refusal) throw new WebInboxError("no_authorization_endpoint", `The ${what} ${url} cannot be used: ${refusal}.`);
  return new URL(url).href;
}

/** Discovers a channel's endpoints from its address (IndieAuth §4.1, Micropub §5.3). @throws WebInboxError naming what is missing */
export async function discoverChannel(http: HttpClient, address: string, policy: UrlPolicy): Promise<ChannelEndpoints> {
  const page = await fetchPage(http, address, "Your channel");
  const micropub = allowed(micropubLinkFromPage(page), "Micropub endpoint (rel=micropub)", address, policy);
  const links = authorizationLinksFromPage(page);
  if (links.metadata) {
    const meta = await fetchPage(http, links.metadata, "The channel's IndieAuth metadata");
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(meta.body));
    } catch (cause) {
      throw new WebInboxError("discovery_failed", `The IndieAuth metadata at ${links.metadata} is not JSON.`, { cause });
    }
    const server = processMetadata(json, links.metadata, policy);
    return {
      authorizationEndpoint: server.authorizationEndpoint,
      tokenEndpoint: allowed(server.tokenEndpoint, "token endpoint", address, policy),
      micropub,
      ...(server.issuer ? { issuer: server.issuer } : {}),
    };
  }
  return {
    authorizationEndpoint: allowed(links.authorizationEndpoint, "authorization endpoint (rel=authorization_endpoint)", address, policy),
    tokenEndpoint: allowed(links.tokenEndpoint, "token endpoint (rel=token_endpoint)", address, policy),
    micropub,
  };
}

/** IndieAuth §5.2 with `scope=create`: the URL the owner's browser is sent to, to let indiepm post into the channel. */
export function channelAuthorizationUrl(p: {
  authorizationEndpoint: string;
  clientId: string;
  redirectUri: string;
  state: string;
  challenge: string;
  me: string;
}): string {
  const url = new URL(authorizationUrl(p));
  url.searchParams.set("scope", "create");
  return url.href;
}

/** What the token endpoint gave (IndieAuth §5.3.3). */
export interface ChannelToken {
  accessToken: string;
  scope: string[];
  /** The profile URL the token is for (the channel's), when named. */
  me?: string;
}

/** Pure (IndieAuth §5.3.3): the access token of the token endpoint's answer; it must carry scope `create` (or leave `scope` out: the one asked). */
export function processTokenResponse(status: number, json: unknown, endpoint: string): ChannelToken {
  const body = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
  if (status !== 200 || typeof body.access_token !== "string" || !/^[\x21-\x7e]{1,4096}$/.test(body.access_token)) {
    const why =
      typeof body.error === "string"
        ? ` (${body.error.slice(0, 60)}${typeof body.error_description === "string" ? `: ${body.error_description.slice(0, 200)}` : ""})`
        : "";
    throw new WebInboxError("redeem_failed", `The channel's token endpoint ${endpoint} gave no access token: it answered ${status}${why}.`);
  }
  if (typeof body.token_type === "string" && body.token_type.toLowerCase() !== "bearer")
    throw new WebInboxError("redeem_failed", `The channel's token endpoint ${endpoint} gave a ${body.token_type.slice(0, 40)} token, not a Bearer token.`);
  // RFC 6749 §5.1: `scope` may be left out when it is the one asked (`create`), as Indiekit's token endpoint does.
  const scope = body.scope === undefined ? ["create"] : typeof body.scope === "string" ? body.scope.split(/\s+/).filter(Boolean) : [];
  // Aperture grants "post" apps "create"; a token without it could not post into the channel.
  if (!scope.includes("create") && !scope.includes("post"))
    throw new WebInboxError("redeem_failed", `The channel's token endpoint ${endpoint} did not grant the create scope, so indiepm could not post there.`);
  const me = typeof body.me === "string" && URL.canParse(body.me) && /^https?:$/.test(new URL(body.me).protocol) ? new URL(body.me).href : undefined;
  return { accessToken: body.access_token, scope, ...(me ? { me } : {}) };
}

/** IndieAuth §5.3.3: redeems the code at the channel's token endpoint for an access token (the PKCE verifier with it). */
export async function redeemForToken(
  http: HttpClient,
  p: { tokenEndpoint: string; code: string; clientId: string; redirectUri: string; verifier: string },
): Promise<ChannelToken> {
  const answer = await postCodeRedemption(http, p.tokenEndpoint, p, `The channel's token endpoint ${p.tokenEndpoint}`);
  return processTokenResponse(answer.status, answer.json, p.tokenEndpoint);
}
