/**
 * PROTOCOL.md §1: "A server MAY cache a discovery result for as long as the response's
 * `Cache-Control` allows (default: not at all)." How long that is, read as a private
 * cache would (RFC 9111): the answer's freshness lifetime, pure, from its headers.
 */

/** The headers of a response that decide its freshness (values as `Headers.get` gives them). */
export interface CacheHeaders {
  cacheControl?: string | null;
  expires?: string | null;
  date?: string | null;
  age?: string | null;
}

/**
 * For how many milliseconds a private cache may reuse the answer without asking again;
 * 0 means not at all. `no-store` and `no-cache` forbid reuse; `private` is fine (we are
 * the one consumer); `s-maxage` is for shared caches and ignored; `must-revalidate` only
 * forbids reuse after expiry, which no reuse here ever does. `max-age=N` (the first one;
 * a malformed one means 0) wins over `Expires`, which counts from the answer's `Date`
 * (else `now`); an `Expires` that does not parse is in the past. Without either: 0.
 * `Age` is taken off.
 */
export function cacheLifetimeMs(headers: CacheHeaders, now: number): number {
  const directives = parseDirectives(headers.cacheControl ?? "");
  if (directives.has("no-store") || directives.has("no-cache")) return 0;
  let lifetimeMs: number;
  if (directives.has("max-age")) {
    const seconds = deltaSeconds(directives.get("max-age"));
    if (seconds === undefined) return 0;
    lifetimeMs = seconds * 1000;
  } else if (headers.expires != null) {
    const expires = httpDate(headers.expires);
    if (expires === undefined) return 0;
    const date = headers.date != null ? httpDate(headers.date) : undefined;
    lifetimeMs = expires - (date ?? now);
  } else {
    return 0;
  }
  const age = headers.age != null ? deltaSeconds(headers.age) : undefined;
  return Math.max(0, lifetimeMs - (age ?? 0) * 1000);
}

/** Directive names (lowercased) and their values, the first of each name kept. */
function parseDirectives(value: string): Map<string, string | undefined> {
  const directives = new Map<string, string | undefined>();
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!name || directives.has(name)) continue;
    let arg = eq === -1 ? undefined : part.slice(eq + 1).trim();
    if (arg !== undefined && arg.length >= 2 && arg.startsWith('"') && arg.endsWith('"')) arg = arg.slice(1, -1);
    directives.set(name, arg);
  }
  return directives;
}

/** RFC 9111 delta-seconds: digits only; `undefined` for anything else. Huge values are capped by the caller's own bound. */
function deltaSeconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Math.min(Number(value.trim()), 2 ** 31);
}

function httpDate(value: string): number | undefined {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
