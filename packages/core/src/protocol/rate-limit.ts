/**
 * PROTOCOL.md §6 "Abuse": `notify` and `authorize` make the receiver fetch a URL, so
 * they are rate limited — 60 a minute per sender site across all recipients, 300 a
 * minute per client address, counting the requests that reach the check. A fixed
 * one-minute window per key, in memory: limits protect this process, and a restart
 * forgetting them is harmless.
 */
export interface RateLimitOptions {
  perSenderPerMinute: number;
  perClientPerMinute: number;
}

export const DEFAULT_RATE_LIMITS: RateLimitOptions = { perSenderPerMinute: 60, perClientPerMinute: 300 };

interface Window {
  start: number;
  count: number;
}

export class RateLimiter {
  readonly #windows = new Map<string, Window>();
  readonly #options: RateLimitOptions;
  #lastSweep = 0;

  constructor(options: RateLimitOptions) {
    this.#options = options;
  }

  /**
   * Counts one request for the sender site and the client address; returns the seconds
   * to wait when either is over its limit, else `undefined`.
   */
  hit(sender: string, clientAddress: string | undefined, now: number): number | undefined {
    this.#sweep(now);
    const waits = [this.#count(`s ${sender}`, this.#options.perSenderPerMinute, now)];
    if (clientAddress) waits.push(this.#count(`c ${clientAddress}`, this.#options.perClientPerMinute, now));
    const over = waits.filter((w): w is number => w !== undefined);
    return over.length > 0 ? Math.max(...over) : undefined;
  }

  #count(key: string, limit: number, now: number): number | undefined {
    let w = this.#windows.get(key);
    if (!w || now - w.start >= 60_000) {
      w = { start: now, count: 0 };
      this.#windows.set(key, w);
    }
    w.count++;
    return w.count > limit ? Math.max(1, Math.ceil((w.start + 60_000 - now) / 1000)) : undefined;
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    for (const [key, w] of this.#windows) if (now - w.start >= 60_000) this.#windows.delete(key);
  }
}
