/**
 * What keeps `POST /signin` from being a fetch amplifier (issue 9 item 10). Each accepted
 * sign-in makes this server fetch the site named and its IndieAuth metadata (IndieAuth
 * §4.1), so, like PROTOCOL.md §6 "Abuse" does for `notify`, it is limited per client
 * address, and the form's pre-sign-in token is good for one post: a script that replays
 * one token gets one fetch, and one that fetches a fresh form for every post is held to
 * the limit. Both live in memory with a bound on their size: they protect this process,
 * and a restart forgetting them is harmless (a form open across a restart is refused
 * once and comes back with a new token).
 *
 * When several processes share the engine's store (`PmServer.shared`, issue 11), the
 * browser's next request may reach another instance: the limit is then counted in the
 * store, the form's HMAC key is one every instance reads from the store, and a token is
 * used up by a claim in the store (`SharedSignInLimiter`, `SharedPreSignInTokens`).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { SharedOwnerState } from "@indiepm/core";

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

/** The seconds until a window that started at `start` ends (at least 1). */
const waitOf = (start: number, now: number): number => Math.max(1, Math.ceil((start + WINDOW_MS - now) / 1000));

/** What sign-in.ts counts sign-in posts with: `SignInLimiter` in memory, or `SharedSignInLimiter`. */
export interface SignInLimit {
  hit(client: string, now: number): number | undefined | Promise<number | undefined>;
}

/** What sign-in.ts issues and redeems form tokens with: `PreSignInTokens` in memory, or `SharedPreSignInTokens`. */
export interface FormTokens {
  issue(now: number): string | Promise<string>;
  redeem(token: string, now: number): boolean | Promise<boolean>;
}

/** A fixed one-minute window per client address, in a map of at most `maxClients` entries. */
export class SignInLimiter implements SignInLimit {
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
    return w.count > this.perMinute ? waitOf(w.start, now) : undefined;
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
export class PreSignInTokens implements FormTokens {
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
    return issueToken(now, this.lifetimeMs, (body) => this.#mac(body));
  }

  /** `true` once for a token this inbox issued that has not expired; `false` for anything else, and ever after. */
  redeem(token: string, now: number): boolean {
    const valid = checkToken(token, now, (body) => this.#mac(body));
    if (!valid || this.#used.has(valid.nonce)) return false;
    makeRoom(this.#used, this.maxUsed, (at) => at <= now);
    this.#used.set(valid.nonce, valid.expiresAt);
    return true;
  }
}

/** A token: its expiry (base 36), a random nonce, and their HMAC. */
function issueToken(now: number, lifetimeMs: number, mac: (body: string) => string): string {
  const body = `${(now + lifetimeMs).toString(36)}.${randomBytes(16).toString("base64url")}`;
  return `${body}.${mac(body)}`;
}

/** The nonce and expiry of a token whose HMAC holds and which has not expired, else `undefined`. */
function checkToken(token: string, now: number, mac: (body: string) => string): { nonce: string; expiresAt: number } | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [expiry, nonce, given] = parts as [string, string, string];
  const expected = Buffer.from(mac(`${expiry}.${nonce}`));
  const sent = Buffer.from(given);
  if (sent.length !== expected.length || !timingSafeEqual(sent, expected)) return undefined;
  const expiresAt = parseInt(expiry, 36);
  return expiresAt > now ? { nonce, expiresAt } : undefined;
}

/** The sign-in limit counted across every instance sharing the store: the same fixed window per client, in the store. */
export class SharedSignInLimiter implements SignInLimit {
  constructor(
    readonly perMinute: number,
    readonly shared: SharedOwnerState,
  ) {}

  async hit(client: string, now: number): Promise<number | undefined> {
    // Fixed size, whatever the client key: a hash.
    const key = `signin ${createHash("sha256").update(client).digest("base64url")}`;
    const w = await this.shared.hit(key, WINDOW_MS, now, this.perMinute);
    return w.count > this.perMinute ? waitOf(w.start, now) : undefined;
  }
}

/**
 * Pre-sign-in tokens any instance sharing the store accepts: the HMAC key is the store's
 * (`SharedOwnerState.key`, read once per process), and a token is used up by a claim of
 * its nonce in the store, which one request on one instance wins.
 */
export class SharedPreSignInTokens implements FormTokens {
  #key: Promise<Buffer> | undefined;

  constructor(
    readonly lifetimeMs: number,
    readonly shared: SharedOwnerState,
  ) {}

  async #mac(): Promise<(body: string) => string> {
    this.#key ??= this.shared.key("web-presignin").then(
      (key) => Buffer.from(key, "utf8"),
      (error: unknown) => {
        this.#key = undefined;
        throw error;
      },
    );
    const key = await this.#key;
    return (body) => createHmac("sha256", key).update(body).digest("base64url");
  }

  async issue(now: number): Promise<string> {
    return issueToken(now, this.lifetimeMs, await this.#mac());
  }

  async redeem(token: string, now: number): Promise<boolean> {
    const valid = checkToken(token, now, await this.#mac());
    return !!valid && (await this.shared.claim("web-presignin", valid.nonce, valid.expiresAt));
  }
}
