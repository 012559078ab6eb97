/**
 * PROTOCOL.md "URLs" and §2 Formats: canonical comparison, production vs development
 * URL rules, message IDs.
 */
import { describe, expect, it } from "vitest";
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
  it.each(["", "messages/1", "https://x/#f", "https://x/ü", "https://x/a b", "https://x/%zz", "1https://x/"])("refuses %j", (id) =>
    expect(isMessageId(id)).toBe(false),
  );
});
