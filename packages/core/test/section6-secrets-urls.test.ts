/**
 * PROTOCOL.md "URLs" and §6 "Secrets": canonical comparison, production vs development
 * URL rules, and codes/tokens (32 CSPRNG bytes, base64url, stored as hashes).
 */
import { describe, expect, it } from "vitest";
import { hashSecret, newSecret, secretMatches } from "../src/secrets.js";
import { canonicalUrl, isMessageId, parseSiteUrl, refusalOf } from "../src/urls.js";

describe("URLs: canonical form is the WHATWG serialization and nothing more", () => {
  it.each([
    ["https://Alice.Example.org", "https://alice.example.org/"],
    ["https://alice.example.org:443/", "https://alice.example.org/"],
    ["https://alice.example.org/a/../b", "https://alice.example.org/b"],
    ["https://alice.example.org/?q", "https://alice.example.org/?q"],
  ])("%s → %s", (input, canonical) => expect(canonicalUrl(input)).toBe(canonical));
  it("a trailing slash in a path matters", () => {
    expect(canonicalUrl("https://a.example/me")).not.toBe(canonicalUrl("https://a.example/me/"));
  });
});

describe("URLs: production accepts only https with a domain name", () => {
  const prod = { dev: false };
  const dev = { dev: true };
  it.each([
    ["http://alice.example.org/", "only https"],
    ["https://127.0.0.1/", "not IP addresses"],
    ["https://[::1]/", "not IP addresses"],
    ["https://localhost/", "localhost"],
    ["https://app.localhost/", "localhost"],
    ["ftp://alice.example.org/", "not an http(s) URL"],
    ["https://u:p@alice.example.org/", "user name or password"],
  ])("refuses %s in production", (url, reason) => {
    expect(refusalOf(new URL(url), prod)).toMatch(reason);
  });
  it.each(["http://127.0.0.1:4001/", "http://localhost:8080/", "https://10.0.0.1/"])("development mode accepts %s", (url) => {
    expect(refusalOf(new URL(url), dev)).toBeUndefined();
  });
  it("site URLs have no fragment", () => {
    expect(() => parseSiteUrl("https://alice.example.org/#me", "sender", prod)).toThrow(/fragment/);
  });
});

describe("§2 Formats: message IDs", () => {
  it.each(["https://pm.alice.example.uk/messages/1", "urn:uuid:4f0c6a3e-0e0f-4f39-9e43-3e2b5d1c0a11", "tag:alice.example.org,2026:1"])("accepts %s", (id) =>
    expect(isMessageId(id)).toBe(true),
  );
  it.each(["", "messages/1", "https://x/#f", "https://x/ü", "https://x/a b", "https://x/%zz", "1https://x/"])("refuses %j", (id) => expect(isMessageId(id)).toBe(false));
});

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
