/**
 * What a `deliver` was last answered from, per standing token (protocol/actions/deliver.ts):
 * the token's record and its recipient's settings (§7), as read. A later `deliver` with
 * the same token checks them as before, and its write is made only while both are still
 * stored as read (`Store.writeIfUnchanged`, one statement on PostgreSQL): so a steady
 * conversation costs the database one statement per message, not a read and a write, and
 * a token revoked or settings changed on any instance apply from the next `deliver` as
 * when they were read each time. Nothing here is trusted without that check.
 *
 * Bounded: at most `MAX_TOKENS` tokens (the oldest entry goes first), each for `TTL_MS`;
 * only tokens that passed and recipients this server holds are kept, so a stranger
 * without a token cannot grow it.
 */
import type { SecretDoc, SettingsDoc } from "./records.js";

export interface KnownReads {
  secret: SecretDoc;
  settings: SettingsDoc | null;
}

export class DeliverReadCache {
  static readonly MAX_TOKENS = 1_000;
  static readonly TTL_MS = 60_000;
  readonly #tokens = new Map<string, { secret: SecretDoc; recipient: string; until: number }>();
  readonly #settings = new Map<string, { settings: SettingsDoc | null; until: number }>();

  /** The token (by its hash) and `recipient`'s settings as last read, if both are fresh. */
  get(hash: string, recipient: string, now: number): KnownReads | undefined {
    const token = this.#tokens.get(hash);
    const settings = this.#settings.get(recipient);
    if (!token || token.recipient !== recipient || token.until <= now || !settings || settings.until <= now) {
      if (token && token.until <= now) this.#tokens.delete(hash);
      return undefined;
    }
    return { secret: token.secret, settings: settings.settings };
  }

  /** Keeps what a `deliver` that passed was answered from. */
  set(hash: string, recipient: string, reads: KnownReads, now: number): void {
    const until = now + DeliverReadCache.TTL_MS;
    this.#tokens.delete(hash);
    this.#tokens.set(hash, { secret: reads.secret, recipient, until });
    while (this.#tokens.size > DeliverReadCache.MAX_TOKENS) this.#tokens.delete(this.#tokens.keys().next().value as string);
    this.#settings.set(recipient, { settings: reads.settings, until });
  }

  /** Forgets a token whose record this server just changed, or found changed. */
  forget(hash: string): void {
    this.#tokens.delete(hash);
  }

  get size(): number {
    return this.#tokens.size;
  }
}
