/**
 * `pmLink({ endpoint })`: makes an existing site discoverable (PROTOCOL.md §1 step 2) by
 * adding `Link: <endpoint>; rel="pm"` to its HTML responses. Framework-neutral (types
 * from `node:http`, like helmet): works with Express, connect, or a bare node:http server.
 *
 * The header is decided when the headers are written (the on-headers technique, without
 * the dependency): only then is the response's content type known.
 */
import type { IncomingMessage, OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { linkHeaderNamesPm, pmLinkHeaderValue } from "@indiepm/protocol";
import { checkKnownKeys, checkUrl, configError, isPlainObject, looksLikeMiddlewareCall, shown } from "./validate.js";

const FACTORY = "pmLink";

export interface PmLinkOptions {
  /** The pm endpoint's absolute URL (what `indiepm()` is mounted at, as the world sees it). */
  endpoint: string;
}

export type PmLinkMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** Content types that §1 step 3 reads as HTML; a page of either gets the Link. */
const HTML_TYPES = new Set(["text/html", "application/xhtml+xml"]);

/** True when a `Link` header value already has a link whose rel list contains `pm` (§1 step 2; `@indiepm/protocol`'s rule). */
export function linkNamesPm(value: string): boolean {
  return linkHeaderNamesPm(value);
}

function headerValues(value: OutgoingHttpHeader | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

/** Moves the headers given to `writeHead` onto the response, as on-headers does, so they can be read. */
function applyWriteHeadHeaders(res: ServerResponse, headers: unknown): void {
  if (Array.isArray(headers)) {
    // node:http accepts a flat [name, value, name, value…] list or a list of pairs.
    const pairs: unknown[][] = headers.every(Array.isArray)
      ? (headers as unknown[][])
      : Array.from({ length: Math.floor(headers.length / 2) }, (_, i) => [headers[2 * i], headers[2 * i + 1]]);
    for (const [name, value] of pairs) {
      if (typeof name === "string" && value !== undefined) res.appendHeader(name, value as string | string[]);
    }
  } else if (typeof headers === "object" && headers !== null) {
    for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
      if (value !== undefined) res.setHeader(name, value);
    }
  }
}

function addPmLink(res: ServerResponse, linkValue: string): void {
  const type = String(res.getHeader("content-type") ?? "")
    .split(";")[0]!
    .trim()
    .toLowerCase();
  if (!HTML_TYPES.has(type)) return;
  const links = headerValues(res.getHeader("link"));
  if (links.some(linkNamesPm)) return;
  res.setHeader("link", [...links, linkValue].join(", "));
}

/**
 * Creates the middleware. Mount it at the app level, before the routes that render pages:
 *
 * ```js
 * app.use(pmLink({ endpoint: "https://example.com/pm/" }));
 * ```
 * @throws IndiePmExpressError `invalid_config` when `endpoint` is not an absolute http(s) URL.
 */
export function pmLink(options: PmLinkOptions): PmLinkMiddleware;
export function pmLink(...args: unknown[]): PmLinkMiddleware {
  if (looksLikeMiddlewareCall(args)) {
    throw configError(FACTORY, "it appears you wrote `app.use(pmLink)`, but it should be `app.use(pmLink({ endpoint }))`.");
  }
  const options = args[0];
  if (!isPlainObject(options)) {
    throw configError(FACTORY, `options must be an object such as { endpoint: "https://example.com/pm/" }, got ${shown(options)}.`);
  }
  checkKnownKeys(FACTORY, options, ["endpoint"]);
  if (options.endpoint === undefined) {
    throw configError(FACTORY, 'option `endpoint` is required: the pm endpoint\'s absolute URL, e.g. "https://example.com/pm/".');
  }
  const endpoint = checkUrl(FACTORY, "endpoint", options.endpoint, { production: false });
  const linkValue = pmLinkHeaderValue(endpoint);

  return function pmLinkMiddleware(_req, res, next) {
    const writeHead = res.writeHead;
    const original = writeHead as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
    res.writeHead = function patchedWriteHead(this: ServerResponse, statusCode: number, ...rest: unknown[]) {
      // Once sent, node:http refuses a second writeHead itself; let it say so.
      if (this.headersSent) return original.call(this, statusCode, ...rest);
      const reason = typeof rest[0] === "string" ? rest[0] : undefined;
      applyWriteHeadHeaders(this, reason === undefined ? rest[0] : rest[1]);
      addPmLink(this, linkValue);
      return reason === undefined ? original.call(this, statusCode) : original.call(this, statusCode, reason);
    } as ServerResponse["writeHead"];
    next();
  };
}
