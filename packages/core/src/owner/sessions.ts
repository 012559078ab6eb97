/**
 * `OwnerSessions` (api.ts): secrets of the owner's browser — signed-in sessions and
 * IndieAuth sign-ins under way — kept like every other secret here (§6 Secrets): 32
 * random bytes, stored only as their SHA-256, expiring. Expired ones are swept as new
 * ones are made.
 */
import type { OwnerSessions } from "../api.js";
import { PmError } from "../errors.js";
import type { SessionDoc } from "../protocol/records.js";
import { OWNER_SESSION_SWEEP_BATCH } from "../limits.js";
import { hashSecret, newSecret } from "../secrets.js";
import type { Store } from "../store/types.js";

export function createOwnerSessions(store: Store, now: () => number): OwnerSessions {
  const live = (doc: SessionDoc | null, kind: string) =>
    doc && doc.kind === kind && doc.expiresAt > now() ? { data: doc.data, createdAt: doc.createdAt, expiresAt: doc.expiresAt } : null;
  const valid = (secret: unknown): secret is string => typeof secret === "string" && secret.length >= 16 && secret.length <= 200;
  return {
    async create(kind, data, lifetimeMs) {
      if (!(lifetimeMs > 0)) throw new PmError("invalid_request", "A session needs a positive lifetime.");
      const t = now();
      for (const old of await store.find<SessionDoc>("sessions", { range: { field: "expiresAt", lte: t }, limit: OWNER_SESSION_SWEEP_BATCH }))
        await store.remove("sessions", old._id);
      const secret = newSecret();
      await store.insert<SessionDoc>("sessions", { _id: hashSecret(secret), kind, data, createdAt: t, expiresAt: t + lifetimeMs });
      return secret;
    },
    async get(kind, secret) {
      if (!valid(secret)) return null;
      return live(await store.get<SessionDoc>("sessions", hashSecret(secret)), kind);
    },
    async take(kind, secret) {
      if (!valid(secret)) return null;
      const id = hashSecret(secret);
      const found = live(await store.get<SessionDoc>("sessions", id), kind);
      // Only the caller whose remove took it away may use it.
      return found && (await store.remove("sessions", id)) ? found : null;
    },
    async remove(kind, secret) {
      if (!valid(secret)) return false;
      const id = hashSecret(secret);
      const doc = await store.get<SessionDoc>("sessions", id);
      return !!doc && doc.kind === kind && store.remove("sessions", id);
    },
  };
}
