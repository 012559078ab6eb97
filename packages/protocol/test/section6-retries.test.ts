/** PROTOCOL.md §6 "Retries": back-off, answer classification, when a job gives up. */
import { describe, expect, it } from "vitest";
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
  type PeerAnswer,
} from "../src/retry.js";

const answer = (status: number, json?: unknown, headers: Record<string, string> = {}): PeerAnswer & { url: string; text: string } => ({
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
    expect(nextTry(job, { attempts: cap - 1, firstTriedAt: start }, 0, DEFAULT_RETRY, start, () => 0)).toEqual({
      kind: "give-up",
      why: expect.stringContaining(`${cap} tries`),
    });
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
    expect(classifyWebhookAnswer(answer(429, undefined, { "retry-after": new Date(30_000).toUTCString() }), 0)).toMatchObject({
      kind: "retry",
      afterMs: 30_000,
    });
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
