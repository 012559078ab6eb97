/**
 * What the owner's web inbox keeps from one request to the next when several processes
 * share the store (issue 11, `Store.shared`): consecutive requests of one browser may land
 * on different instances behind a load balancer, so nothing it checks may live in one
 * process's memory. Sessions and sign-ins under way are in the store already
 * (owner/sessions.ts); this adds a key every instance holds alike (the sign-in form's
 * HMAC), single-use claims (its tokens), and counters (its limit). On a store of one
 * process `PmServer.shared` is absent and the inbox keeps these in memory, writing nothing.
 */
import type { SharedOwnerState } from "../api.js";
import type { SessionDoc } from "../protocol/records.js";
import { keyOf, newSecret } from "../secrets.js";
import { DuplicateKeyError, type SharedStore, type Store } from "../store/types.js";

/** Kept with the owner's sessions; a key never expires, a claim when what it claims does (swept with expired sessions). */
const KEY_KIND = "shared-key";
const CLAIM_KIND = "shared-claim";

export function createSharedOwnerState(store: Store, shared: SharedStore, now: () => number): SharedOwnerState {
  const keys = new Map<string, Promise<string>>();

  /** The stored key, made by the first instance that asks (of two at once, the insert that lost reads the winner's). */
  async function loadKey(name: string): Promise<string> {
    const id = keyOf(KEY_KIND, name);
    const read = async () => {
      const doc = await store.get<SessionDoc>("sessions", id);
      return doc?.kind === KEY_KIND && typeof doc.data.key === "string" ? doc.data.key : undefined;
    };
    const found = await read();
    if (found) return found;
    const t = now();
    try {
      await store.insert<SessionDoc>("sessions", { _id: id, kind: KEY_KIND, data: { key: newSecret() }, createdAt: t, expiresAt: Number.MAX_SAFE_INTEGER });
    } catch (error) {
      if (!(error instanceof DuplicateKeyError)) throw error;
    }
    const made = await read();
    if (!made) throw new Error(`The shared key ${name} could not be read back from the store.`);
    return made;
  }

  return {
    key(name) {
      let found = keys.get(name);
      if (!found) {
        found = loadKey(name);
        keys.set(name, found);
        // A store that failed is asked again next time.
        found.catch(() => keys.delete(name));
      }
      return found;
    },
    async claim(kind, id, expiresAt) {
      try {
        await store.insert<SessionDoc>("sessions", { _id: keyOf(CLAIM_KIND, kind, id), kind: CLAIM_KIND, data: {}, createdAt: now(), expiresAt });
        return true;
      } catch (error) {
        if (error instanceof DuplicateKeyError) return false;
        throw error;
      }
    },
    hit: (key, windowMs, at, cap) => shared.hit(key, windowMs, at, cap),
  };
}
