/**
 * Pure checks of issued codes and tokens (PROTOCOL.md §3 step 6, §4 steps 3, 5 and 6,
 * §6 Secrets): state in, verdict out. The caller has looked the secret up by its hash.
 */

/**
 * What the verdicts read of an issued code or token (core's stored `SecretDoc` is one):
 * its kind, the sites (and message) it is bound to, and its life.
 */
export interface IssuedSecret {
  /** `code` (§4 step 2), `message-token` (§3 step 4) or `standing-token` (§4 step 4). */
  kind: "code" | "message-token" | "standing-token";
  sender: string;
  recipient: string;
  /** Message tokens: the message they were issued for. */
  message?: string;
  expiresAt: number;
  /** Single-use secrets: when used up. */
  usedAt?: number;
  /** Codes withdrawn after `endpoint_mismatch` (§4 step 5); tokens revoked by the owner. */
  revokedAt?: number;
}

/**
 * §4 steps 3 and 5: a code is live when it is a code, issued for exactly (S, R), not used,
 * not withdrawn, not expired. Anything else is `invalid_code`.
 */
export function codeIsLive<T extends IssuedSecret>(doc: T | null, sender: string, recipient: string, now: number): doc is T {
  return (
    !!doc &&
    doc.kind === "code" &&
    doc.sender === sender &&
    doc.recipient === recipient &&
    doc.usedAt === undefined &&
    doc.revokedAt === undefined &&
    doc.expiresAt > now
  );
}

export type TokenVerdict = { ok: true; duplicate: boolean } | { ok: false; why: string };

/**
 * §3 step 6 / §4 step 6: may `deliver` of (S, R, M) present this token? A message token
 * already used for the same (S, R, M) and not expired answers `duplicate` (a sender
 * retrying after a lost answer); everything else that does not match is 401.
 */
export function tokenVerdict(doc: IssuedSecret | null, req: { sender: string; recipient: string; message: string }, now: number): TokenVerdict {
  if (!doc || doc.kind === "code") return { ok: false, why: "The token is unknown." };
  if (doc.revokedAt !== undefined) return { ok: false, why: "The token was revoked." };
  if (doc.expiresAt <= now) return { ok: false, why: "The token has expired." };
  if (doc.sender !== req.sender || doc.recipient !== req.recipient) return { ok: false, why: "The token was issued for other sites." };
  if (doc.kind === "message-token") {
    if (doc.message !== req.message) return { ok: false, why: "The token was issued for another message." };
    return { ok: true, duplicate: doc.usedAt !== undefined };
  }
  return { ok: true, duplicate: false };
}
