/**
 * A standing token (PROTOCOL.md §4) stored as the engine stores an issued one (by its hash,
 * secrets.ts), for tests that replay `deliver` without a handshake first. Just used, so no
 * "last used" write is due (protocol/actions/deliver.ts): each `deliver` within the minute
 * only reads it.
 */
import { hashSecret } from "../../src/secrets.js";
import type { Store } from "../../src/store/types.js";

export async function insertStandingToken(store: Pick<Store, "insert">, token: string, sender: string, recipient: string): Promise<void> {
  const now = Date.now();
  await store.insert("secrets", {
    _id: hashSecret(token),
    kind: "standing-token",
    sender,
    recipient,
    expiresAt: now + 3_600_000,
    createdAt: now,
    lastUsedAt: now,
  });
}
