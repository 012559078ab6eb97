/** PROTOCOL.md §6 "Retries" and "Abuse": back-off, answer classification, rate limits. */
import { describe, expect, it } from "vitest";
import type { PostAnswer } from "../src/http/types.js";
import { RateLimiter } from "../src/protocol/rate-limit.js";
import { backoffDelay, classifyAnswer, DEFAULT_RETRY, retryAfterMs } from "../src/protocol/retry.js";

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
});
