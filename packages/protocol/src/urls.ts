/**
 * URL rules of PROTOCOL.md ("URLs"): site URLs follow IndieAuth's profile-URL rules,
 * comparison is on the WHATWG serialization, production accepts only https with a
 * domain-name host, development mode also http, IP addresses, loopback and private.
 */
import { PmError } from "./errors.js";

export interface UrlPolicy {
  /** Development mode (PROTOCOL.md "URLs", §6): http, IP hosts, loopback/private allowed. */
  dev: boolean;
}

/** Canonical form used for every comparison: `new URL(u).href` and nothing more. */
export function canonicalUrl(value: string | URL): string {
  return new URL(String(value)).href;
}

// IPv4 in dotted decimal without leading zeros (what `URL` serializes any IPv4 form to).
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
// The characters of an IPv6 address (with embedded IPv4) and of a zone ID after `%`.
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;
const ZONE_ID = /^[0-9A-Za-z.:-]+$/;

/**
 * A hostname (as `URL.hostname` gives it) that is an IPv4 or IPv6 literal. Node's
 * `net.isIP` rule without `node:net`: IPv6 syntax is what the WHATWG URL parser accepts
 * between brackets, so the rule runs in any runtime with `URL`.
 */
export function isIpHost(hostname: string): boolean {
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (IPV4.test(bare)) return true;
  const zone = bare.indexOf("%");
  const address = zone === -1 ? bare : bare.slice(0, zone);
  if (zone !== -1 && !ZONE_ID.test(bare.slice(zone + 1))) return false;
  return address.includes(":") && IPV6_CHARS.test(address) && URL.canParse(`http://[${address}]/`);
}

/** Names that mean this machine whatever DNS says (RFC 6761 §6.3). */
export function isLocalhostName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost");
}

/**
 * Why `url` is refused under the policy, or `undefined` when it is acceptable as a
 * site, endpoint or fetch target. Production: `https:` and a domain-name host that is
 * not `localhost`. Development: `http:` or `https:`, any host.
 */
export function refusalOf(url: URL, policy: UrlPolicy): string | undefined {
  if (url.protocol !== "https:" && url.protocol !== "http:") return `${url.protocol} is not an http(s) URL`;
  if (url.username || url.password) return "a URL with a user name or password is not allowed";
  if (policy.dev) return undefined;
  if (url.protocol !== "https:") return "production servers accept only https URLs (use development mode for http)";
  if (isIpHost(url.hostname)) return "production servers accept only domain names, not IP addresses";
  if (isLocalhostName(url.hostname)) return "production servers do not accept localhost";
  return undefined;
}

/**
 * PROTOCOL.md §2 Formats: site and endpoint URLs are at most 2,048 characters (longer:
 * `invalid_request`). Every such URL is stored, keyed on and fetched, so this is what
 * bounds what one request can make the server keep.
 */
export const MAX_URL_LENGTH = 2048;

/** §2 Formats: why a site or endpoint URL is too long (the text as given, or its canonical form), else `undefined`. */
export function lengthRefusalOf(value: string): string | undefined {
  return value.length > MAX_URL_LENGTH ? `longer than ${MAX_URL_LENGTH} characters (PROTOCOL.md §2)` : undefined;
}

/**
 * Why `url` is refused as a site or endpoint (PROTOCOL.md "URLs" and §2 Formats): the
 * rules of `refusalOf`, and at most `MAX_URL_LENGTH` characters. Discovery applies it to
 * the endpoints it finds (§1 step 5).
 */
export function siteRefusalOf(url: URL, policy: UrlPolicy): string | undefined {
  return refusalOf(url, policy) ?? lengthRefusalOf(url.href);
}

/**
 * Parses a site URL (`sender`, `recipient`, `to`, `vouch`; PROTOCOL.md "URLs"): http(s), no
 * fragment, no user or password, at most 2,048 characters as sent and as canonicalized;
 * returns its canonical form.
 * @throws PmError `invalid_request` naming `field`.
 */
export function parseSiteUrl(value: string, field: string, policy: UrlPolicy): string {
  // Before parsing: a 240 KB "URL" costs nothing more than its length check.
  const tooLong = lengthRefusalOf(value);
  if (tooLong) throw new PmError("invalid_request", `${field} is ${tooLong}.`);
  const url = parseHttpUrl(value, field, policy);
  if (url.hash || value.includes("#")) throw new PmError("invalid_request", `${field} must not have a fragment.`);
  // Percent-encoding and IDNA can make the canonical form longer than what was sent.
  const canonicalTooLong = lengthRefusalOf(url.href);
  if (canonicalTooLong) throw new PmError("invalid_request", `${field} is ${canonicalTooLong} once canonicalized.`);
  return url.href;
}

/** Parses an endpoint URL (`endpoint`): as a site URL, except that a query is common. */
export function parseEndpointUrl(value: string, field: string, policy: UrlPolicy): string {
  return parseSiteUrl(value, field, policy);
}

function parseHttpUrl(value: string, field: string, policy: UrlPolicy): URL {
  let url: URL;
  try {
    url = new URL(value); // parsed once: a body full of URLs costs one parse each
  } catch {
    throw new PmError("invalid_request", `${field} is not an absolute URL.`);
  }
  const refusal = refusalOf(url, policy);
  if (refusal) throw new PmError("invalid_request", `${field} is refused: ${refusal}.`);
  return url;
}

// RFC 3986 §3: scheme ":" hier-part [ "?" query ], no fragment; ASCII only.
const URI_CHARS = /^[A-Za-z0-9\-._~:/?[\]@!$&'()*+,;=%]*$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;

/** The longest message ID (PROTOCOL.md §2, Formats). */
export const MAX_MESSAGE_ID_LENGTH = 512;

/** True when `value` is a message ID of §2: an absolute URI, ASCII, no fragment, ≤ 512 characters. */
export function isMessageId(value: string): boolean {
  return value.length > 0 && value.length <= MAX_MESSAGE_ID_LENGTH && SCHEME.test(value) && URI_CHARS.test(value) && !BAD_PERCENT.test(value);
}

/** Host of a URL for display ("alice.example.org", "127.0.0.1:4001"). */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
