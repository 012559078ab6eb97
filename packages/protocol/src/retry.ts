/**
 * PROTOCOL.md §6 "Retries", as pure functions: which answers are final, how long to wait
 * before the next try (exponential back-off with jitter, never less than it whatever a
 * peer's `Retry-After` says), and when a job gives up (its horizon or its attempt cap).
 * `@indiepm/core`'s protocol/attempt.ts runs this lifecycle for every outgoing job.
 */
import { PmError, type ErrorCode } from "./errors.js";

/** What the classification reads of a peer's answer to a POST (core's `PostAnswer` is one). */
export interface PeerAnswer {
  status: number;
  headers: Headers;
  /** The parsed body when it was JSON, else `undefined`. */
  json: unknown;
}

export interface RetrySchedule {
  baseDelayMs: number;
  maxDelayMs: number;
  giveUpAfterMs: number;
  handshakeTimeoutMs: number;
}

export const DEFAULT_RETRY: RetrySchedule = {
  baseDelayMs: 5_000,
  maxDelayMs: 60 * 60_000,
  giveUpAfterMs: 3 * 24 * 60 * 60_000,
  handshakeTimeoutMs: 60_000,
};

/** The outgoing jobs that retry: deliveries (sender role), handshakes (receiver role, steps 3–4), webhooks. */
export type JobKind = "delivery" | "handshake" | "webhook";

export interface JobLimits {
  /** Tries in all, the first included: a hard bound whatever the options or a peer's `Retry-After` say. */
  maxAttempts: number;
  /** The longest the job may take from its first try; `retry.giveUpAfterMs` applies when it is shorter. */
  horizonMs: number;
}

/**
 * How long and how often each kind of job is tried — the one place these numbers live.
 * Horizons as §6 says (deliveries 3 days by default; handshakes 1 hour, since the sender
 * notifies again anyway; webhooks like deliveries). The caps sit just above what the
 * default schedule reaches within the horizon (deliveries 81–153 tries in 3 days with the
 * jitter, handshakes 10–11 in an hour), so with the defaults the horizon ends a job and
 * the cap bites only when options or answers would make tries denser.
 */
export const JOB_LIMITS: Readonly<Record<JobKind, Readonly<JobLimits>>> = {
  delivery: { maxAttempts: 160, horizonMs: Number.POSITIVE_INFINITY },
  handshake: { maxAttempts: 12, horizonMs: 60 * 60_000 },
  webhook: { maxAttempts: 160, horizonMs: Number.POSITIVE_INFINITY },
};

/** The shortest wait between two tries of a job, against a schedule whose delays round to nothing. */
export const MIN_RETRY_DELAY_MS = 10;

/**
 * Delay before retry number `attempt` (1 = the first retry): base·2^(attempt−1), capped,
 * with "equal jitter" (half fixed, half random) so many senders do not retry in step.
 */
export function backoffDelay(attempt: number, schedule: RetrySchedule, random: () => number = Math.random): number {
  const exp = Math.min(schedule.maxDelayMs, schedule.baseDelayMs * 2 ** Math.max(0, Math.min(attempt - 1, 40)));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/**
 * §6: the wait before retry number `attempt`: the back-off (capped by `maxDelayMs`), or
 * the peer's `Retry-After` when that is longer, never less than `MIN_RETRY_DELAY_MS`.
 * `Retry-After` only lengthens a wait: `0`, or a date in the past, is the back-off (the
 * loop of issue 9 item 3). A longer one is honoured as §6 asks, up to the job's horizon.
 */
export function retryDelay(attempt: number, schedule: RetrySchedule, retryAfter: number | undefined, random: () => number = Math.random): number {
  return Math.max(MIN_RETRY_DELAY_MS, backoffDelay(attempt, schedule, random), retryAfter ?? 0);
}

/** What a job does after a failed try: wait `delayMs`, or give up (`why` says which limit). */
export type NextTry = { kind: "retry"; delayMs: number } | { kind: "give-up"; why: string };

/**
 * §6: after a failed try of a `job` that has failed `attempts` times before and was first
 * tried at `firstTriedAt`: gives up at the job's attempt cap, or when the next try would
 * fall after its horizon; otherwise waits `retryDelay`.
 */
export function nextTry(
  job: JobKind,
  progress: { attempts: number; firstTriedAt: number },
  retryAfter: number | undefined,
  schedule: RetrySchedule,
  now: number,
  random: () => number = Math.random,
): NextTry {
  const limits = JOB_LIMITS[job];
  const tries = progress.attempts + 1;
  if (tries >= limits.maxAttempts) return { kind: "give-up", why: `after ${tries} tries (the most a ${job} makes)` };
  const delayMs = retryDelay(tries, schedule, retryAfter, random);
  const horizonMs = Math.min(schedule.giveUpAfterMs, limits.horizonMs);
  if (now + delayMs - progress.firstTriedAt > horizonMs)
    return {
      kind: "give-up",
      why: `after ${Math.round((now - progress.firstTriedAt) / 1000)} s (a ${job} is tried for at most ${Math.round(horizonMs / 1000)} s)`,
    };
  return { kind: "retry", delayMs };
}

/** §6: the answers that end a delivery for good. */
export const FINAL_CODES: ReadonlySet<string> = new Set([
  "invalid_request",
  "unknown_recipient",
  "unknown_message",
  "forbidden",
  "too_large",
  "endpoint_mismatch",
  "invalid_code",
]);

/** How an answer to one of our requests is to be taken. */
export type Outcome =
  | { kind: "ok"; status: number }
  | { kind: "final"; code: ErrorCode; detail: string }
  | { kind: "retry"; code: ErrorCode; detail: string; afterMs?: number }
  /** 401 `invalid_token` (§3 step 6, §4: final after one new handshake). */
  | { kind: "invalid_token"; detail: string };

/** Every outcome but success. */
export type Failure = Exclude<Outcome, { kind: "ok" }>;

/** `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`; a date in the past is 0. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** §6: 429 and 5xx are retried, 429 and 503 after their `Retry-After`; `undefined` for any other answer. */
function retryable(answer: PeerAnswer, code: string | undefined, detail: string, now: number): Failure | undefined {
  const { status } = answer;
  if (status !== 429 && status < 500) return undefined;
  const afterMs = status === 429 || status === 503 ? retryAfterMs(answer.headers.get("retry-after"), now) : undefined;
  const retryCode: ErrorCode = status === 429 ? "rate_limited" : code === "temporarily_unavailable" ? code : "server_error";
  return { kind: "retry", code: retryCode, detail, ...(afterMs !== undefined ? { afterMs } : {}) };
}

/**
 * §2/§6: classifies a peer's answer. `expected` are the success statuses for the
 * action (202 for notify/authorize/request/grant, 200 for verify, 201/200 for deliver).
 */
export function classifyAnswer(answer: PeerAnswer, expected: readonly number[], now: number): Outcome {
  const { status } = answer;
  const body = (answer.json && typeof answer.json === "object" ? answer.json : {}) as Record<string, unknown>;
  const code = typeof body.error === "string" ? body.error : undefined;
  const description = typeof body.error_description === "string" ? body.error_description.slice(0, 300) : "";
  const detail = `${status}${code ? ` ${code}` : ""}${description ? `: ${description}` : ""}`;
  if (expected.includes(status)) return { kind: "ok", status };
  const again = retryable(answer, code, detail, now);
  if (again) return again;
  if (status === 401 || code === "invalid_token") return { kind: "invalid_token", detail };
  if (code && FINAL_CODES.has(code)) return { kind: "final", code: code as ErrorCode, detail };
  if (status >= 400) return { kind: "final", code: "bad_response", detail };
  // A 2xx or 3xx that is not what §2 says: the peer is confused; try again later.
  return { kind: "retry", code: "bad_response", detail };
}

/** The owner's webhook is plain HTTP, not §2: any 2xx is success, 429/5xx are retried as §6 says, the rest is final. */
export function classifyWebhookAnswer(answer: PeerAnswer, now: number): Outcome {
  const detail = `The webhook answered ${answer.status}.`;
  if (answer.status >= 200 && answer.status <= 299) return { kind: "ok", status: answer.status };
  return retryable(answer, undefined, detail, now) ?? { kind: "final", code: "bad_response", detail };
}

/**
 * §6: a request that failed before any answer (network, time-out, refused address), or
 * a discovery that failed. `address_refused` and a misconfigured client are final, and
 * so (§6, amended 2026-12-04) is a discovery whose final answer was a 4xx other than 408
 * and 429; the rest is retried.
 */
export function classifyFailure(error: unknown): Failure {
  const code: ErrorCode = error instanceof PmError ? error.code : "network_error";
  const detail = error instanceof Error ? error.message : String(error);
  if (code === "address_refused" || code === "invalid_config") return { kind: "final", code, detail };
  const peerStatus = error instanceof PmError ? error.peerStatus : undefined;
  if (code === "discovery_failed" && peerStatus !== undefined && peerStatus >= 400 && peerStatus <= 499 && peerStatus !== 408 && peerStatus !== 429) {
    return { kind: "final", code, detail };
  }
  return { kind: "retry", code, detail };
}
