/** PROTOCOL.md §6 "Abuse": the notify/authorize rate limits. (§6 Retries, pure, is @indiepm/protocol's test/section6-retries.test.ts.) */
import { describe, expect, it } from "vitest";
import { clientKeyOf, RateLimiter } from "../src/protocol/rate-limit.js";

describe("§6 Abuse: notify/authorize rate limits", () => {
  it("allows 60 a minute per sender site, then says when to come back", () => {
    const limiter = new RateLimiter({ perSenderPerMinute: 60, perClientPerMinute: 300 });
    for (let i = 0; i < 60; i++) expect(limiter.hit("https://a.example/", `10.0.0.${i}`, 1_000)).toBeUndefined();
    expect(limiter.hit("https://a.example/", "10.0.1.1", 31_000)).toBe(30);
    expect(limiter.hit("https://b.example/", "10.0.1.1", 31_000)).toBeUndefined();
    expect(limiter.hit("https://a.example/", "10.0.1.1", 61_000)).toBeUndefined();
  });
  it("allows 300 a minute per client address across senders", () => {
    const limiter = new RateLimiter({ perSenderPerMinute: 60, perClientPerMinute: 300 });
    for (let i = 0; i < 300; i++) expect(limiter.hit(`https://s${i}.example/`, "192.0.2.9", 0)).toBeUndefined();
    expect(limiter.hit("https://new.example/", "192.0.2.9", 0)).toBe(60);
  });
  it("does not count the sender of a client over its own limit: a flood cannot lock a site out", () => {
    const limiter = new RateLimiter({ perSenderPerMinute: 5, perClientPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect(limiter.hit("https://victim.example/", "192.0.2.66", 0)).toBeUndefined();
    for (let i = 0; i < 100; i++) expect(limiter.hit("https://victim.example/", "192.0.2.66", 0)).toBe(60);
    // The victim's 5 a minute: 3 used by the flood while under its limit, 2 left for others.
    expect(limiter.hit("https://victim.example/", "198.51.100.1", 0)).toBeUndefined();
    expect(limiter.hit("https://victim.example/", "198.51.100.2", 0)).toBeUndefined();
    expect(limiter.hit("https://victim.example/", "198.51.100.3", 0)).toBe(60);
  });
  it.each([
    ["IPv6 addresses in one /64 share a counter", "2001:db8::1", "2001:db8::2", true],
    ["IPv6 spellings of one /64 share a counter", "2001:db8:0:0:aaaa::1", "2001:0DB8::ffff:0:0:1", true],
    ["IPv6 addresses in different /64s do not", "2001:db8:0:1::1", "2001:db8:0:2::1", false],
    ["IPv4-mapped IPv6 counts as the IPv4 address", "::ffff:192.0.2.7", "192.0.2.7", true],
    ["IPv4-mapped IPv6 in hex counts as the IPv4 address", "::ffff:c000:207", "192.0.2.7", true],
    ["neighbouring IPv4 addresses do not", "192.0.2.7", "192.0.2.8", false],
  ])("%s", (_, first, second, shared) => {
    const limiter = new RateLimiter({ perSenderPerMinute: 1_000, perClientPerMinute: 2 });
    expect(limiter.hit("https://a.example/", first, 0)).toBeUndefined();
    expect(limiter.hit("https://b.example/", first, 0)).toBeUndefined();
    expect(limiter.hit("https://c.example/", second, 0)).toBe(shared ? 60 : undefined);
  });
  it("keys are fixed size and their number is bounded: 10,000 senders of 2,048 characters from 10,000 /64s", () => {
    const limiter = new RateLimiter({ perSenderPerMinute: 60, perClientPerMinute: 300 }, 1_000);
    const pad = "a".repeat(2_000);
    for (let i = 0; i < 10_000; i++) limiter.hit(`https://s${i}.example/${pad}`, `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`, i);
    expect(limiter.size).toBe(1_000);
    expect(clientKeyOf("2001:db8:0:2a::1")).toBe("2001:db8:0:2a::/64");
  });
  it("evicts the oldest window first and drops ended windows", () => {
    const limiter = new RateLimiter({ perSenderPerMinute: 1, perClientPerMinute: 1_000 }, 4);
    expect(limiter.hit("https://old.example/", undefined, 0)).toBeUndefined();
    expect(limiter.hit("https://old.example/", undefined, 1)).toBe(60);
    for (let i = 0; i < 3; i++) limiter.hit(`https://s${i}.example/`, undefined, 10 + i);
    // Full (4 keys): the next key evicts the oldest window, old.example's, which then starts afresh.
    limiter.hit("https://new.example/", undefined, 20);
    expect(limiter.size).toBe(4);
    expect(limiter.hit("https://old.example/", undefined, 30)).toBeUndefined();
    // A minute after the last of them started, every window has ended and is dropped.
    limiter.hit("https://later.example/", undefined, 30 + 60_000);
    expect(limiter.size).toBe(1);
  });
});
