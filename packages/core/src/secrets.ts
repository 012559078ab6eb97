/**
 * Codes and tokens (PROTOCOL.md §2 Formats, §6 Secrets): 32 random bytes from the
 * CSPRNG as base64url (43 characters), kept only as SHA-256 hashes, compared in
 * constant time.
 */
import { hash, randomBytes, timingSafeEqual } from "node:crypto";

/** A new code or token: 32 bytes from the CSPRNG, base64url, 43 characters. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** The only form in which an issued secret is stored (hex SHA-256). */
export function hashSecret(secret: string): string {
  return hash("sha256", secret, "hex");
}

/**
 * Constant-time comparison of a presented secret with a stored hash. Lookups by hash
 * already hide the secret's bytes from timing; this guards the final comparison.
 */
export function secretMatches(presented: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(presented), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A stable key for composite identities (recipient, sender, message …). */
export function keyOf(...parts: string[]): string {
  return hash("sha256", JSON.stringify(parts), "base64url");
}
