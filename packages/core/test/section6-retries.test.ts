/** PROTOCOL.md §6 "Retries" and "Abuse": back-off, answer classification, rate limits. */
import { describe, expect, it } from "vitest";
import type { PostAnswer } from "../src/http/types.js";
import { clientKeyOf, RateLimiter } from "../src/protocol/rate-limit.js";
import { PmError } from "../src/errors.js";
import {
  backoffDelay,
  classifyAnswer,
  classifyFailure,
  classifyWebhookAnswer,
  DEFAULT_RETRY,
  JOB_LIMITS,
  MIN_RETRY_DELAY_MS,
  nextTry,
  retryAfterMs,
  retryDelay,
  type JobKind,
} from "../src/protocol/retry.js";

const answer = (status: number, json?: unknown, headers: Record<string, string> = {}): PostAnswer => ({
  url: "https://pm.bob.example.net/",
  status,
  headers: new Headers(headers),
  text: json === undefined ? "" : JSON.stringify(json),
  json,
});

describe("§6 Retries: exponential back-off with jitter", () => {
  it("doubles from the base delay, with half of it random", () => {
    expect(backoffDelay(1, DEFAULT_RETRY, () => 0)).toBe(2_500);
    expect(backoffDelay(1, DEFAULT_RETRY, () => 1)).toBe(5_000);
    expect(backoffDelay(3, DEFAULT_RETRY, () => 1)).toBe(20_000);
  });
  it("is capped at the longest delay", () => {
    expect(backoffDelay(60, DEFAULT_RETRY, () => 1)).toBe(DEFAULT_RETRY.maxDelayMs);
  });
  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(retryAfterMs("120", 0)).toBe(120_000);
    expect(retryAfterMs(new Date(30_000).toUTCString(), 0)).toBe(30_000);
    expect(retryAfterMs("soon", 0)).toBeUndefined();
  });
});

describe("§6 Retries: Retry-After lengthens the back-off, never shortens it (issue 9 item 3)", () => {
  const schedule = { ...DEFAULT_RETRY, baseDelayMs: 2_000, maxDelayMs: 8_000 };
  it.each([
    ["Retry-After: 0", 0, 1, 1_000],
    ["a date in the past (0 ms)", retryAfterMs(new Date(0).toUTCString(), 60_000), 1, 1_000],
    ["none", undefined, 3, 4_000],
    ["shorter than the back-off", 500, 2, 2_000],
  ])("%s: the back-off", (_name, after, attempt, expected) => {
    expect(retryDelay(attempt, schedule, after, () => 0)).toBe(expected);
  });
  it("a longer Retry-After is honoured, even past maxDelayMs (§6: 429 after its Retry-After)", () => {
    expect(retryDelay(1, schedule, 30_000, () => 1)).toBe(30_000);
  });
  it("never less than the floor, whatever the schedule", () => {
    expect(retryDelay(1, { ...schedule, baseDelayMs: 0.001, maxDelayMs: 0.001 }, 0, () => 0)).toBe(MIN_RETRY_DELAY_MS);
  });
});

describe("§6 Retries: when a job gives up (retry.ts JOB_LIMITS)", () => {
  const start = 1_000_000;
  it.each<[JobKind, number]>([
    ["delivery", 160],
    ["handshake", 12],
    ["webhook", 160],
  ])("a %s gives up at its attempt cap (%i tries)", (job, cap) => {
    expect(JOB_LIMITS[job].maxAttempts).toBe(cap);
    expect(nextTry(job, { attempts: cap - 2, firstTriedAt: start }, undefined, DEFAULT_RETRY, start, () => 0)).toMatchObject({ kind: "retry" });
    expect(nextTry(job, { attempts: cap - 1, firstTriedAt: start }, 0, DEFAULT_RETRY, start, () => 0)).toEqual({ kind: "give-up", why: expect.stringContaining(`${cap} tries`) });
  });
  it.each<[JobKind, number]>([
    ["delivery", DEFAULT_RETRY.giveUpAfterMs],
    ["handshake", 60 * 60_000],
    ["webhook", DEFAULT_RETRY.giveUpAfterMs],
  ])("a %s gives up when its next try would fall after its horizon (%i ms)", (job, horizon) => {
    // A Retry-After of 100 s, longer than the back-off: the next try is 100 s ahead.
    const at = (now: number) => nextTry(job, { attempts: 3, firstTriedAt: start }, 100_000, DEFAULT_RETRY, start + now, () => 0).kind;
    expect(at(horizon - 100_000)).toBe("retry");
    expect(at(horizon - 99_999)).toBe("give-up");
  });
  it.each<[JobKind]>([["delivery"], ["handshake"]])("with the default schedule the horizon, not the cap, ends a %s", (job) => {
    // The most tries the horizon allows: every back-off at the short end of its jitter.
    const horizon = Math.min(DEFAULT_RETRY.giveUpAfterMs, JOB_LIMITS[job].horizonMs);
    let elapsed = 0;
    let tries = 1;
    while (elapsed + retryDelay(tries, DEFAULT_RETRY, undefined, () => 0) <= horizon) elapsed += retryDelay(tries++, DEFAULT_RETRY, undefined, () => 0);
    expect(tries).toBeLessThan(JOB_LIMITS[job].maxAttempts);
  });
});

describe("§6 Retries: which failures before an answer are final (amended 2026-12-04: discovery)", () => {
  const discovery = (status: number) => new PmError("discovery_failed", `answered ${status}`, { peerStatus: status });
  it.each([400, 401, 403, 404, 410, 451, 499])("a discovery whose final answer is %i is final", (status) => {
    expect(classifyFailure(discovery(status))).toMatchObject({ kind: "final", code: "discovery_failed" });
  });
  it.each([408, 429, 500, 502, 503])("a discovery whose final answer is %i is retried", (status) => {
    expect(classifyFailure(discovery(status))).toMatchObject({ kind: "retry", code: "discovery_failed" });
  });
  it.each([
    [new PmError("discovery_failed", "Redirect loop"), "retry"],
    [new PmError("timeout", "slow"), "retry"],
    [new PmError("network_error", "refused"), "retry"],
    [new Error("anything else"), "retry"],
    [new PmError("address_refused", "loopback"), "final"],
    [new PmError("invalid_config", "no postJson"), "final"],
  ])("%s is %s", (error, kind) => {
    expect(classifyFailure(error).kind).toBe(kind);
  });
});

describe("§6 Retries: the owner's webhook answers plain HTTP", () => {
  it.each([
    [204, {}, "ok"],
    [429, { "retry-after": "0" }, "retry"],
    [503, {}, "retry"],
    [500, {}, "retry"],
    [301, {}, "final"],
    [401, {}, "final"],
    [404, {}, "final"],
  ])("%i is %s", (status, headers, kind) => {
    expect(classifyWebhookAnswer(answer(status, undefined, headers as Record<string, string>), 0).kind).toBe(kind);
  });
  it("reads Retry-After as an HTTP date too, like every other job", () => {
    expect(classifyWebhookAnswer(answer(429, undefined, { "retry-after": new Date(30_000).toUTCString() }), 0)).toMatchObject({ kind: "retry", afterMs: 30_000 });
  });
});

describe("§6 Retries: which answers are final", () => {
  it.each([
    ["invalid_request", 400],
    ["unknown_recipient", 404],
    ["unknown_message", 404],
    ["forbidden", 403],
    ["too_large", 413],
    ["endpoint_mismatch", 409],
    ["invalid_code", 400],
  ])("%s is final", (code, status) => {
    expect(classifyAnswer(answer(status, { error: code, error_description: "x" }), [202], 0)).toMatchObject({ kind: "final", code });
  });
  it.each([500, 502, 503, 504])("%i is retried", (status) => {
    expect(classifyAnswer(answer(status), [202], 0).kind).toBe("retry");
  });
  it("429 is retried after its Retry-After", () => {
    expect(classifyAnswer(answer(429, { error: "rate_limited" }, { "retry-after": "7" }), [202], 0)).toMatchObject({ kind: "retry", afterMs: 7000 });
  });
  it("401 invalid_token is its own outcome (final after one new handshake)", () => {
    expect(classifyAnswer(answer(401, { error: "invalid_token" }), [201, 200], 0).kind).toBe("invalid_token");
  });
  it("the expected success statuses are ok", () => {
    expect(classifyAnswer(answer(201, { status: "delivered" }), [201, 200], 0).kind).toBe("ok");
    expect(classifyAnswer(answer(200, { status: "duplicate" }), [201, 200], 0).kind).toBe("ok");
  });
});

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
