/** PROTOCOL.md §6 "Secrets": codes and tokens (32 CSPRNG bytes, base64url, stored as hashes). (The URL rules are @indiepm/protocol's test/urls.test.ts.) */
import { describe, expect, it } from "vitest";
import { hashSecret, newSecret, secretMatches } from "../src/secrets.js";

describe("§6 Secrets", () => {
  it("are 32 random bytes as base64url: 43 characters", () => {
    const secret = newSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret, "base64url")).toHaveLength(32);
  });
  it("never repeat", () => {
    const seen = new Set(Array.from({ length: 1000 }, newSecret));
    expect(seen.size).toBe(1000);
  });
  it("are stored as SHA-256 hashes and compared against them", () => {
    const secret = newSecret();
    const stored = hashSecret(secret);
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(stored).not.toContain(secret);
    expect(secretMatches(secret, stored)).toBe(true);
    expect(secretMatches(newSecret(), stored)).toBe(false);
    expect(secretMatches(secret, "00")).toBe(false);
  });
});
