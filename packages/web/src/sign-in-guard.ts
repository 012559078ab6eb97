/**
 * What keeps `POST /signin` from being a fetch amplifier (issue 9 item 10). Each accepted
 * sign-in makes this server fetch the site named and its IndieAuth metadata (IndieAuth
 * §4.1), so, like PROTOCOL.md §6 "Abuse" does for `notify`, it is limited per client
 * address, and the form's pre-sign-in token is good for one post: a script that replays
 * one token gets one fetch, and one that fetches a fresh form for every post is held to
 * the limit. Both live in memory with a bound on their size: they protect this process,
 * and a restart forgetting them is harmless (a form open across a restart is refused
 * once and comes back with a new token).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Default: sign-in posts a minute per client address. */
export const DEFAULT_SIGN_INS_PER_MINUTE = 10;
/** Most client addresses (and used tokens) kept at once; beyond it the oldest go first. */
export const MAX_TRACKED = 10_000;

const WINDOW_MS = 60_000;

/** Drops the oldest entries of a Map (insertion order) until it has room for one more. */
function makeRoom<K, V>(map: Map<K, V>, max: number, expired: (value: V) => boolean): void {
  if (map.size < max) return;
  for (const [key, value] of map) if (expired(value)) map.delete(key);
  for (const key of map.keys()) {
    if (map.size < max) break;
    map.delete(key);
  }
}

/** A fixed one-minute window per client address, in a map of at most `maxClients` entries. */
export class SignInLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly perMinute: number,
    readonly maxClients = MAX_TRACKED,
  ) {}

  /** Counts one sign-in post from `client`; the seconds to wait when it is over the limit, else `undefined`. */
  hit(client: string, now: number): number | undefined {
    let w = this.#windows.get(client);
    if (!w || now - w.start >= WINDOW_MS) {
      this.#windows.delete(client);
      makeRoom(this.#windows, this.maxClients, (x) => now - x.start >= WINDOW_MS);
      w = { start: now, count: 0 };
      this.#windows.set(client, w);
    }
    w.count++;
    return w.count > this.perMinute ? Math.max(1, Math.ceil((w.start + WINDOW_MS - now) / 1000)) : undefined;
  }

  /** How many client addresses are tracked (tests of the bound). */
  get size(): number {
    return this.#windows.size;
  }
}

/**
 * Pre-sign-in tokens: issued by this inbox (an HMAC under a key made at start-up, so a
 * client cannot mint its own), expiring, and single use (the nonces used are kept until
 * the token would have expired, at most `maxUsed` of them).
 */
export class PreSignInTokens {
  readonly #key = randomBytes(32);
  readonly #used = new Map<string, number>();

  constructor(
    readonly lifetimeMs: number,
    readonly maxUsed = MAX_TRACKED,
  ) {}

  #mac(body: string): string {
    return createHmac("sha256", this.#key).update(body).digest("base64url");
  }

  issue(now: number): string {
    const body = `${(now + this.lifetimeMs).toString(36)}.${randomBytes(16).toString("base64url")}`;
    return `${body}.${this.#mac(body)}`;
  }

  /** `true` once for a token this inbox issued that has not expired; `false` for anything else, and ever after. */
  redeem(token: string, now: number): boolean {
    const parts = token.split(".");
    if (parts.length !== 3) return false;
    const [expiry, nonce, mac] = parts as [string, string, string];
    const expected = Buffer.from(this.#mac(`${expiry}.${nonce}`));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    const expiresAt = parseInt(expiry, 36);
    if (!(expiresAt > now) || this.#used.has(nonce)) return false;
    makeRoom(this.#used, this.maxUsed, (at) => at <= now);
    this.#used.set(nonce, expiresAt);
    return true;
  }
}
