/**
 * PROTOCOL.md §1: "A server MAY cache a discovery result for as long as the response's
 * `Cache-Control` allows (default: not at all)." The sender's cache of recipients'
 * endpoints, used for §3/§4 step 1 only (never for step 3's identity, step 5's afresh
 * check, or vouch pages). Bounded: at most `maxEntries` sites (the least recently used
 * goes first) and `maxAgeMs` whatever the page allows. Keyed by the canonical site URL;
 * one per `Engine`.
 */

/** The bounds of an engine's discovery cache. */
export const DISCOVERY_CACHE_LIMITS = Object.freeze({ maxEntries: 10_000, maxAgeMs: 60 * 60 * 1000 });

interface Entry {
  endpoint: string;
  expiresAt: number;
}

export class DiscoveryCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;

  constructor(limits: { maxEntries: number; maxAgeMs: number } = DISCOVERY_CACHE_LIMITS) {
    this.#maxEntries = limits.maxEntries;
    this.#maxAgeMs = limits.maxAgeMs;
  }

  /** The endpoint `site` named, while its answer is still fresh at `now`. */
  get(site: string, now: number): string | undefined {
    const key = canonical(site);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= now) return undefined;
    this.#entries.set(key, entry); // most recently used last
    return entry.endpoint;
  }

  /** Remembers `endpoint` for `site` for `lifetimeMs` (capped at the maximum age); 0 or less remembers nothing. */
  set(site: string, endpoint: string, lifetimeMs: number, now: number): void {
    const key = canonical(site);
    this.#entries.delete(key);
    const ms = Math.min(lifetimeMs, this.#maxAgeMs);
    if (!(ms > 0) || this.#maxEntries <= 0) return;
    this.#entries.set(key, { endpoint, expiresAt: now + ms });
    while (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** Forgets `site`: its cached endpoint failed, so the next try discovers afresh. */
  delete(site: string): void {
    this.#entries.delete(canonical(site));
  }

  get size(): number {
    return this.#entries.size;
  }
}

function canonical(site: string): string {
  return URL.canParse(site) ? new URL(site).href : site;
}
