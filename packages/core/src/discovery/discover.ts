/**
 * PROTOCOL.md §1 Discovery: W3C Webmention endpoint discovery (Webmention §3.1.2) with
 * the rel value `pm`. `discoverEndpoint` makes the one GET; `endpointFromResponse`
 * decides from what came back, so the rules can be read (and tested) apart from the
 * network.
 */
import { PmError } from "../errors.js";
import { DEFAULT_HTTP_LIMITS } from "../http/client.js";
import type { FetchedPage, HttpClient, HttpGetOptions, RedirectHop } from "../http/types.js";
import { siteRefusalOf, type UrlPolicy } from "../urls.js";
import { cacheLifetimeMs, createPmLinkFinder, findPmLink, type PmLinkFinder, type PmLinkFinderOptions, type PmLinkMatch } from "@indiepm/protocol";

/** §1 limits: 5 redirects, 5 s in all, 1 MiB read — the client's GET defaults (`DEFAULT_HTTP_LIMITS`). */
export const DISCOVERY_LIMITS: Readonly<DiscoveryLimits> = Object.freeze({
  maxRedirects: DEFAULT_HTTP_LIMITS.maxRedirects,
  timeoutMs: DEFAULT_HTTP_LIMITS.getTimeoutMs,
  maxBytes: DEFAULT_HTTP_LIMITS.getMaxBytes,
});

export interface DiscoveryLimits {
  maxRedirects: number;
  timeoutMs: number;
  maxBytes: number;
}

/** What §1 found for a site. `endpoint` is `null` exactly when `source` is `"none"`. */
export interface Discovery {
  /** The endpoint URL (WHATWG serialization), or `null`: the page names no endpoint (§1 step 5). */
  endpoint: string | null;
  /** The final URL of the response, after redirects (§1 step 4). */
  url: string;
  /** Where the endpoint came from: a `Link` header (§1 step 2), the HTML (step 3), or nowhere. */
  source: "link-header" | "html" | "none";
  /**
   * Every answer on the way, in order: each redirect (URL and 3xx status), then the final
   * answer. §6 Identity reads it at §3/§4 step 3 (`identityRedirectRefusal`).
   */
  chain: RedirectHop[];
  /**
   * How long a cache may reuse `endpoint` (§1: "as long as the response's Cache-Control
   * allows"), in ms, from the final answer's `Cache-Control`/`Expires`/`Date`/`Age`;
   * absent when not at all. Only a found endpoint carries it.
   */
  cacheForMs?: number;
}

const HTML_TYPES = new Set(["text/html", "application/xhtml+xml"]);

/**
 * PROTOCOL.md §1: finds the pm endpoint of `siteUrl`. GETs it (≤ 5 redirects, each hop
 * checked by §6; ≤ 5 s; ≤ 1 MiB, stopping at the first match), then applies
 * `endpointFromResponse`. `limits` exists for tests and tools; the protocol's are the defaults.
 * @throws PmError `discovery_failed` (non-2xx final answer, redirect loop or more than 5
 *   redirects), `address_refused` (§6, or an endpoint the URL rules refuse), `timeout`,
 *   `network_error`, as the client reports them.
 */
export async function discoverEndpoint(
  siteUrl: string,
  http: HttpClient,
  policy: UrlPolicy,
  limits: Partial<DiscoveryLimits> = {},
  /** Cuts the GET short (a job's lease, protocol/jobs/queue.ts): the client then throws its reason. */
  signal?: AbortSignal,
): Promise<Discovery> {
  let finder: PmLinkFinder | undefined;
  let bodyMatters: boolean | undefined;
  const stopWhen: HttpGetOptions["stopWhen"] = (chunk, response) => {
    // Decided once per answer: the body cannot matter after a non-2xx answer, when a
    // Link header wins, or when it is not HTML.
    bodyMatters ??= isSuccess(response.status) && !findPmLink(response.headers.get("link")) && isHtml(response.headers);
    if (!bodyMatters) return true;
    finder ??= createPmLinkFinder(finderOptionsFor(response.headers));
    return finder.write(chunk);
  };
  const page = await http.get(siteUrl, { ...DISCOVERY_LIMITS, ...limits, stopWhen, ...(signal ? { signal } : {}) });
  return endpointFromResponse(page, policy, finder?.end());
}

/**
 * PROTOCOL.md §1 steps 2–5 on a fetched page: a non-2xx answer fails; the first `Link`
 * header link with `rel` ∋ `pm` wins, resolved against the final URL; else, for HTML,
 * the first `<link>`/`<a>` with `rel` ∋ `pm`, resolved against the document's base URL
 * (`html` is that element when the caller already streamed the body through a finder;
 * otherwise `page.body` is parsed here). Only `http:`/`https:` results are endpoints;
 * one the URL rules refuse under `policy` is an error.
 * @throws PmError `discovery_failed` for a non-2xx answer (its `peerStatus` says which), `address_refused` for a refused endpoint.
 */
export function endpointFromResponse(page: FetchedPage, policy: UrlPolicy, html?: PmLinkMatch | null): Discovery {
  const chain = chainOf(page);
  const none: Discovery = { endpoint: null, url: page.url, source: "none", chain };
  if (!isSuccess(page.status)) {
    throw new PmError("discovery_failed", `${page.url} answered ${page.status}; discovery needs a 2xx answer (PROTOCOL.md §1).`, { peerStatus: page.status });
  }
  const header = findPmLink(page.headers.get("link"));
  if (header) return accept(resolve(header.target, page.url), "link-header", page, policy) ?? none;
  if (!isHtml(page.headers)) return none;
  const found = html !== undefined ? html : parseBody(page);
  if (!found) return none;
  // A relative <base href> is itself resolved against the page (HTML: "frozen base URL").
  const base = (found.baseHref !== undefined && resolve(found.baseHref, page.url)) || page.url;
  return accept(resolve(found.href, base), "html", page, policy) ?? none;
}

/** The page's hops; a client that gave none: its redirects with status 0 (unknown, so not permanent). */
function chainOf(page: FetchedPage): RedirectHop[] {
  if (page.hops) return page.hops;
  return page.redirects.map((url, i) => ({ url, status: i === page.redirects.length - 1 ? page.status : 0 }));
}

function parseBody(page: FetchedPage): PmLinkMatch | null {
  const finder = createPmLinkFinder(finderOptionsFor(page.headers));
  finder.write(page.body);
  return finder.end();
}

/** §1 step 5: only http(s) is an endpoint; one the URL rules refuse is an error that says so. */
function accept(endpoint: string | undefined, source: Discovery["source"], page: FetchedPage, policy: UrlPolicy): Discovery | undefined {
  const pageUrl = page.url;
  if (endpoint === undefined) return undefined;
  const url = new URL(endpoint);
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  // The URL rules, and §2's 2,048 characters: an endpoint is sent as `endpoint` and stored.
  const refusal = siteRefusalOf(url, policy);
  if (refusal) {
    throw new PmError(
      "address_refused",
      `${pageUrl} names the pm endpoint ${endpoint.slice(0, 200)}${endpoint.length > 200 ? "…" : ""}, which is refused: ${refusal}.`,
    );
  }
  const cacheForMs = cacheLifetimeMs(
    { cacheControl: page.headers.get("cache-control"), expires: page.headers.get("expires"), date: page.headers.get("date"), age: page.headers.get("age") },
    Date.now(),
  );
  return { endpoint, url: pageUrl, source, chain: chainOf(page), ...(cacheForMs > 0 ? { cacheForMs } : {}) };
}

/** WHATWG URL resolution; `undefined` when the reference does not parse (then there is no endpoint). */
function resolve(reference: string, base: string): string | undefined {
  return URL.canParse(reference, base) ? new URL(reference, base).href : undefined;
}

function isSuccess(status: number): boolean {
  return status >= 200 && status <= 299;
}

function mediaType(headers: Headers): string {
  return (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

function isHtml(headers: Headers): boolean {
  return HTML_TYPES.has(mediaType(headers));
}

function finderOptionsFor(headers: Headers): PmLinkFinderOptions {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(headers.get("content-type") ?? "")?.[1];
  return charset === undefined ? {} : { charset };
}
