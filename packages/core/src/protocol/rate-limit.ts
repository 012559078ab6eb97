/**
 * PROTOCOL.md §6 "Abuse": `notify` and `authorize` make the receiver fetch a URL, so
 * they are rate limited — 60 a minute per sender site across all recipients, 300 a
 * minute per client address, counting the requests that reach the check. A fixed
 * one-minute window per key, in memory: limits protect this process, and a restart
 * forgetting them is harmless.
 *
 * What a stranger can make this keep is bounded (issue 9 item 4): a sender is counted
 * only for a client under its own limit (a refused flood adds no keys), keys are fixed
 * size (a hash of the sender URL; a client's /64 or IPv4 address), and the table holds
 * at most `MAX_RATE_LIMIT_KEYS` (limits.ts), evicting the oldest window first.
 *
 * Several processes on one store (`Store.shared`) count together instead
 * (`SharedRateLimiter`): the same rule, the windows kept by the store (`SharedStore.hit`),
 * so a client spreading its requests over the instances behind a load balancer meets one limit.
 */
import { hash } from "node:crypto";
import { canonicalIp } from "../http/addresses.js";
import { MAX_RATE_LIMIT_KEYS, RATE_LIMIT_WINDOW_MS } from "../limits.js";
import type { SharedStore } from "../store/types.js";

export interface RateLimitOptions {
  perSenderPerMinute: number;
  perClientPerMinute: number;
}

interface Window {
  start: number;
  count: number;
}

/**
 * The key one client address is counted under: an IPv4 address as a dotted quad (also
 * when written as IPv4-mapped IPv6, `::ffff:192.0.2.1`), an IPv6 address by its /64 —
 * the smallest block one subscriber is given, so 2001:db8::1 and 2001:db8::2 are one
 * client. Anything else (not an IP) by a hash of its text.
 */
export function clientKeyOf(address: string): string {
  const ip = canonicalIp(address);
  if (ip === undefined) return `#${digest(address)}`;
  if (!ip.includes(":")) return ip;
  const groups = ip.split(":");
  if (groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff") {
    const [hi, lo] = [parseInt(groups[6]!, 16), parseInt(groups[7]!, 16)];
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
  }
  return `${groups.slice(0, 4).join(":")}::/64`;
}

/** The host name a sender site is capped by (`MAX_ACTIVE_HANDSHAKES_PER_SENDER_HOST`): lowercase, without port. */
export function senderHostOf(site: string): string {
  return new URL(site).hostname;
}

function digest(text: string): string {
  return hash("sha256", text, "base64url");
}

/** What federation.ts asks: `RateLimiter` (one process) or `SharedRateLimiter` (several on one store). */
export interface RequestLimiter {
  /** Counts one notify/authorize; the seconds to wait when the client or the sender is over its limit, else `undefined`. */
  hit(sender: string, clientAddress: string | undefined, now: number): number | undefined | Promise<number | undefined>;
}

/** The seconds until a window that started at `start` ends (at least 1). */
const waitOf = (start: number, now: number): number => Math.max(1, Math.ceil((start + RATE_LIMIT_WINDOW_MS - now) / 1000));

export class RateLimiter implements RequestLimiter {
  /** Keyed windows, in the order their windows started (a reset window moves to the end). */
  readonly #windows = new Map<string, Window>();
  readonly #options: RateLimitOptions;
  readonly #maxKeys: number;

  constructor(options: RateLimitOptions, maxKeys = MAX_RATE_LIMIT_KEYS) {
    this.#options = options;
    this.#maxKeys = maxKeys;
  }

  /** How many keys are held (for tests and benchmarks). */
  get size(): number {
    return this.#windows.size;
  }

  /**
   * Counts one request for the client address and, when the client is under its limit,
   * the sender site; returns the seconds to wait when either is over its limit, else
   * `undefined`. A client over its limit does not count against the sender it names:
   * it could otherwise lock an innocent site out, and add a key per request.
   */
  hit(sender: string, clientAddress: string | undefined, now: number): number | undefined {
    this.#sweep(now);
    if (clientAddress) {
      const wait = this.#count(`c ${clientKeyOf(clientAddress)}`, this.#options.perClientPerMinute, now);
      if (wait !== undefined) return wait;
    }
    return this.#count(`s ${digest(sender)}`, this.#options.perSenderPerMinute, now);
  }

  #count(key: string, limit: number, now: number): number | undefined {
    let w = this.#windows.get(key);
    if (!w || now - w.start >= RATE_LIMIT_WINDOW_MS) {
      this.#windows.delete(key);
      if (this.#windows.size >= this.#maxKeys) this.#evictOldest();
      w = { start: now, count: 0 };
      this.#windows.set(key, w);
    }
    // Past the limit the count stops: a refused client costs no more than one key.
    if (w.count <= limit) w.count++;
    return w.count > limit ? waitOf(w.start, now) : undefined;
  }

  #evictOldest(): void {
    const oldest = this.#windows.keys().next();
    if (!oldest.done) this.#windows.delete(oldest.value);
  }

  /** Drops ended windows: they are in start order, so it stops at the first live one. */
  #sweep(now: number): void {
    for (const [key, w] of this.#windows) {
      if (now - w.start < RATE_LIMIT_WINDOW_MS) break;
      this.#windows.delete(key);
    }
  }
}

/**
 * `RateLimiter`'s rule counted across every process sharing the store: the same keys
 * (fixed size), the client first and the sender only when the client is under its
 * limit, a fixed window from a key's first hit, counting stopped past the limit (a
 * refused client costs one row, which the store removes when its window ends).
 */
export class SharedRateLimiter implements RequestLimiter {
  readonly #shared: SharedStore;
  readonly #options: RateLimitOptions;

  constructor(shared: SharedStore, options: RateLimitOptions) {
    this.#shared = shared;
    this.#options = options;
  }

  async hit(sender: string, clientAddress: string | undefined, now: number): Promise<number | undefined> {
    if (clientAddress) {
      const wait = await this.#count(`c ${clientKeyOf(clientAddress)}`, this.#options.perClientPerMinute, now);
      if (wait !== undefined) return wait;
    }
    return this.#count(`s ${digest(sender)}`, this.#options.perSenderPerMinute, now);
  }

  async #count(key: string, limit: number, now: number): Promise<number | undefined> {
    const w = await this.#shared.hit(`notify ${key}`, RATE_LIMIT_WINDOW_MS, now, limit);
    return w.count > limit ? waitOf(w.start, now) : undefined;
  }
}
